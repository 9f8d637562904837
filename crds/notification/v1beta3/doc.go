// Package v1beta3 holds the notification.toolkit.fluxcd.io/v1beta3 API: the Provider and Alert kinds.
// Both are static configuration objects: Flux gives them no status in this version.
// +kubebuilder:object:generate=true
// +groupName=notification.toolkit.fluxcd.io
package v1beta3
