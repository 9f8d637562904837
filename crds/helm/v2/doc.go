// Package v2 holds the helm.toolkit.fluxcd.io/v2 API, the storage version of the HelmRelease kind,
// which installs and upgrades a Helm chart release from a source.
// +kubebuilder:object:generate=true
// +groupName=helm.toolkit.fluxcd.io
package v2
