// Package v1 holds the source.toolkit.fluxcd.io/v1 API: the storage version of every source kind
// (GitRepository, HelmRepository, HelmChart, Bucket, OCIRepository, ExternalArtifact).
// +kubebuilder:object:generate=true
// +groupName=source.toolkit.fluxcd.io
package v1
