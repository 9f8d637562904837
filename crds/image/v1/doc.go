// Package v1 holds the image.toolkit.fluxcd.io/v1 API: ImageRepository and ImagePolicy
// (image reflection) and ImageUpdateAutomation (writing policy results back to Git). It is the
// storage version; v1beta2 objects convert to it (see crds/convert).
// +kubebuilder:object:generate=true
// +groupName=image.toolkit.fluxcd.io
package v1
