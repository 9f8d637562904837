// Package v1beta1 holds the source.extensions.fluxcd.io/v1beta1 API: the ArtifactGenerator kind,
// which composes new ExternalArtifacts from the artifacts of Flux sources.
// +kubebuilder:object:generate=true
// +groupName=source.extensions.fluxcd.io
package v1beta1
