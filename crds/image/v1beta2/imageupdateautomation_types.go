package v1beta2

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/converge-gitops/converge/crds/meta"
)

// ImageUpdateAutomation kind name and finalizer.
const (
	ImageUpdateAutomationKind      = "ImageUpdateAutomation"
	ImageUpdateAutomationFinalizer = "finalizers.fluxcd.io"
)

// ImageUpdateAutomationSpec is the desired state of an ImageUpdateAutomation.
type ImageUpdateAutomationSpec struct {
	// SourceRef names the GitRepository to update.
	// +required
	SourceRef CrossNamespaceSourceReference `json:"sourceRef"`

	// GitSpec holds the checkout, commit and push settings; needed in practice.
	// +optional
	GitSpec *GitSpec `json:"git,omitempty"`

	// Interval is the minimum period between automation runs.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +required
	Interval metav1.Duration `json:"interval"`

	// PolicySelector restricts the ImagePolicies applied by label; all in the namespace when unset.
	// +optional
	PolicySelector *metav1.LabelSelector `json:"policySelector,omitempty"`

	// Update says how files are rewritten; the Setters strategy at the root by default.
	// +kubebuilder:default={"strategy":"Setters"}
	Update *UpdateStrategy `json:"update,omitempty"`

	// Suspend stops further automation runs.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// UpdateStrategyName names an update strategy.
// +kubebuilder:validation:Enum=Setters
type UpdateStrategyName string

// UpdateStrategySetters rewrites fields marked with kyaml setter comments ($imagepolicy markers).
const UpdateStrategySetters UpdateStrategyName = "Setters"

// UpdateStrategy selects how manifests are updated and where.
type UpdateStrategy struct {
	// Strategy to use.
	// +optional
	// +kubebuilder:default=Setters
	Strategy UpdateStrategyName `json:"strategy,omitempty"`

	// Path of the directory to update, relative to the repository root; the root when empty.
	// +optional
	Path string `json:"path,omitempty"`
}

// ImageUpdateAutomationStatus is the observed state of an ImageUpdateAutomation.
type ImageUpdateAutomationStatus struct {
	// LastAutomationRunTime is when the last run completed, with or without changes.
	// +optional
	LastAutomationRunTime *metav1.Time `json:"lastAutomationRunTime,omitempty"`

	// LastPushCommit is the SHA of the last commit pushed.
	// +optional
	LastPushCommit string `json:"lastPushCommit,omitempty"`

	// LastPushTime is when the last commit was pushed.
	// +optional
	LastPushTime *metav1.Time `json:"lastPushTime,omitempty"`

	// ObservedGeneration is the last generation reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions of the ImageUpdateAutomation.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedPolicies are the policies, with their latest image, that the last run applied.
	// +optional
	ObservedPolicies ObservedPolicies `json:"observedPolicies,omitempty"`

	// ObservedSourceRevision is the source revision seen by the last run.
	// +optional
	ObservedSourceRevision string `json:"observedSourceRevision,omitempty"`

	meta.ReconcileRequestStatus `json:",inline"`
}

// ObservedPolicies maps ImagePolicy names to their latest image.
type ObservedPolicies map[string]ImageRef

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=iua;imgupd;imgauto,categories=all;fluxcd;fluxcd-images
// +kubebuilder:deprecatedversion:warning="v1beta2 ImageUpdateAutomation is deprecated, upgrade to v1"
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].status",description=""
// +kubebuilder:printcolumn:name="Status",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].message",description=""
// +kubebuilder:printcolumn:name="Last run",type="string",JSONPath=".status.lastAutomationRunTime",priority=1
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description=""
// +kubebuilder:metadata:annotations="kustomize.toolkit.fluxcd.io/substitute=disabled"

// ImageUpdateAutomation commits the images elected by ImagePolicies back to a Git repository.
type ImageUpdateAutomation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ImageUpdateAutomationSpec `json:"spec,omitempty"`
	// +kubebuilder:default={"observedGeneration":-1}
	Status ImageUpdateAutomationStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ImageUpdateAutomationList is a list of ImageUpdateAutomations.
type ImageUpdateAutomationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ImageUpdateAutomation `json:"items"`
}

// GetConditions returns the automation's status conditions.
func (in *ImageUpdateAutomation) GetConditions() []metav1.Condition {
	return in.Status.Conditions
}

// SetConditions replaces the automation's status conditions.
func (in *ImageUpdateAutomation) SetConditions(conditions []metav1.Condition) {
	in.Status.Conditions = conditions
}

// GetRequeueAfter returns the automation interval.
func (in *ImageUpdateAutomation) GetRequeueAfter() time.Duration {
	return in.Spec.Interval.Duration
}

// GetUpdateStrategy returns spec.update with its defaults applied (Setters, repository root).
func (in *ImageUpdateAutomation) GetUpdateStrategy() UpdateStrategy {
	u := UpdateStrategy{Strategy: UpdateStrategySetters}
	if in.Spec.Update != nil {
		u.Path = in.Spec.Update.Path
		if in.Spec.Update.Strategy != "" {
			u.Strategy = in.Spec.Update.Strategy
		}
	}
	return u
}
