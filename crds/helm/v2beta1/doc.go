// Package v2beta1 holds the deprecated helm.toolkit.fluxcd.io/v2beta1 HelmRelease API as Flux
// served it, so that older manifests still decode; objects are converted to v2 for storage.
// Types whose wire form did not change in v2beta2 are aliases of the v2beta2 ones.
// +kubebuilder:object:generate=true
// +groupName=helm.toolkit.fluxcd.io
package v2beta1
