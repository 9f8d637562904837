// Package v1beta2 holds the image.toolkit.fluxcd.io/v1beta2 API: ImageRepository and ImagePolicy
// (image reflection) and ImageUpdateAutomation (writing policy results back to Git).
// +kubebuilder:object:generate=true
// +groupName=image.toolkit.fluxcd.io
package v1beta2
