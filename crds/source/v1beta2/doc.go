// Package v1beta2 holds the deprecated source.toolkit.fluxcd.io/v1beta2 API (GitRepository,
// HelmRepository, HelmChart, Bucket, OCIRepository), served so that
// existing manifests still decode; objects are stored as v1 (see crds/convert).
// +kubebuilder:object:generate=true
// +groupName=source.toolkit.fluxcd.io
package v1beta2
