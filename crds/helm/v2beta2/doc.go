// Package v2beta2 holds the deprecated helm.toolkit.fluxcd.io/v2beta2 HelmRelease API as Flux
// served it, so that older manifests still decode; objects are converted to v2 for storage.
// +kubebuilder:object:generate=true
// +groupName=helm.toolkit.fluxcd.io
package v2beta2
