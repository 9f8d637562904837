// Package v1 holds the kustomize.toolkit.fluxcd.io/v1 API: the Kustomization kind, which builds a
// kustomize overlay from a source artifact and applies it to a cluster.
// +kubebuilder:object:generate=true
// +groupName=kustomize.toolkit.fluxcd.io
package v1
