// Package v1 holds the notification.toolkit.fluxcd.io/v1 API: the Receiver kind and the
// cross-namespace object reference that Alerts and Receivers share.
// +kubebuilder:object:generate=true
// +groupName=notification.toolkit.fluxcd.io
package v1
