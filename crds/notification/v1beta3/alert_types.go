package v1beta3

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/converge-gitops/converge/crds/meta"
	notificationv1 "github.com/converge-gitops/converge/crds/notification/v1"
)

// AlertKind is the Alert kind name.
const AlertKind string = "Alert"

// Event severities an Alert can filter on.
const (
	EventSeverityInfo  string = "info"
	EventSeverityError string = "error"
)

// AlertSpec selects events from a set of objects and routes them to a Provider.
type AlertSpec struct {
	// ProviderRef names the Provider, in the Alert's namespace, that receives the events.
	// +required
	ProviderRef meta.LocalObjectReference `json:"providerRef"`

	// EventSeverity is the lowest severity forwarded: 'info' forwards everything, 'error' only errors.
	// +kubebuilder:validation:Enum=info;error
	// +kubebuilder:default:=info
	// +optional
	EventSeverity string `json:"eventSeverity,omitempty"`

	// EventSources are the objects whose events are matched, by kind, name (or '*') and labels.
	// +required
	EventSources []notificationv1.CrossNamespaceObjectReference `json:"eventSources"`

	// InclusionList holds Go regular expressions; when set, only matching messages are forwarded.
	// +optional
	InclusionList []string `json:"inclusionList,omitempty"`

	// EventMetadata is added to each forwarded event's metadata, never overriding existing keys.
	// +optional
	EventMetadata map[string]string `json:"eventMetadata,omitempty"`

	// ExclusionList holds Go regular expressions; matching messages are dropped.
	// +optional
	ExclusionList []string `json:"exclusionList,omitempty"`

	// Summary is a short description added to events. Deprecated in favour of EventMetadata.
	// +kubebuilder:validation:MaxLength:=255
	// +optional
	// +deprecated
	Summary string `json:"summary,omitempty"`

	// Suspend stops event handling for this Alert.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:storageversion
// +kubebuilder:resource:categories=all;fluxcd;fluxcd-notifications
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description=""
// +kubebuilder:metadata:annotations="kustomize.toolkit.fluxcd.io/substitute=disabled"

// Alert routes events from Flux objects to a Provider.
type Alert struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec AlertSpec `json:"spec,omitempty"`
}

// +kubebuilder:object:root=true

// AlertList is a list of Alerts.
type AlertList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Alert `json:"items"`
}

// GetEventSeverity returns spec.eventSeverity, 'info' when unset.
func (in *Alert) GetEventSeverity() string {
	if in.Spec.EventSeverity == "" {
		return EventSeverityInfo
	}
	return in.Spec.EventSeverity
}
