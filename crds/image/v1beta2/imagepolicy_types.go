package v1beta2

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/converge-gitops/converge/crds/meta"
)

// ImagePolicyKind is the ImagePolicy kind name.
const ImagePolicyKind = "ImagePolicy"

// Sort orders for the alphabetical and numerical policies.
const (
	OrderAscending  = "asc"
	OrderDescending = "desc"
)

// ImagePolicySpec is the desired state of an ImagePolicy: how to pick the latest image.
// +kubebuilder:validation:XValidation:rule="!has(self.interval) || (has(self.digestReflectionPolicy) && self.digestReflectionPolicy == 'Always')", message="spec.interval is only accepted when spec.digestReflectionPolicy is set to 'Always'"
// +kubebuilder:validation:XValidation:rule="has(self.interval) || !has(self.digestReflectionPolicy) || self.digestReflectionPolicy != 'Always'", message="spec.interval must be set when spec.digestReflectionPolicy is set to 'Always'"
type ImagePolicySpec struct {
	// ImageRepositoryRef names the ImageRepository whose tags are evaluated.
	// +required
	ImageRepositoryRef meta.NamespacedObjectReference `json:"imageRepositoryRef"`

	// Policy is the ordering rule used to elect the latest tag.
	// +required
	Policy ImagePolicyChoice `json:"policy"`

	// FilterTags narrows the tags considered; all tags when unset.
	// +optional
	FilterTags *TagFilter `json:"filterTags,omitempty"`

	// DigestReflectionPolicy controls status.latestRef.digest: Never (empty), IfNotPresent
	// (set once while the tag is unchanged) or Always (refreshed every interval).
	// +kubebuilder:default:=Never
	DigestReflectionPolicy ReflectionPolicy `json:"digestReflectionPolicy,omitempty"`

	// Interval between digest refreshes; only allowed, and required, with reflection policy Always.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`

	// Suspend stops further policy evaluations.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// ReflectionPolicy says when a registry value is copied into the object.
// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
type ReflectionPolicy string

// Reflection policy values.
const (
	// ReflectAlways refreshes the value every time, overwriting the previous one.
	ReflectAlways ReflectionPolicy = "Always"
	// ReflectIfNotPresent sets the value only while it is empty.
	ReflectIfNotPresent ReflectionPolicy = "IfNotPresent"
	// ReflectNever never sets the value.
	ReflectNever ReflectionPolicy = "Never"
)

// ImagePolicyChoice holds exactly one of the ordering policies.
type ImagePolicyChoice struct {
	// SemVer elects the highest tag within a semantic version range.
	// +optional
	SemVer *SemVerPolicy `json:"semver,omitempty"`

	// Alphabetical elects a tag by lexical order.
	// +optional
	Alphabetical *AlphabeticalPolicy `json:"alphabetical,omitempty"`

	// Numerical elects a tag by numeric order.
	// +optional
	Numerical *NumericalPolicy `json:"numerical,omitempty"`
}

// SemVerPolicy elects the highest semver tag in a range.
type SemVerPolicy struct {
	// Range is a semver constraint, e.g. '>=1.0.0 <2.0.0'.
	// +required
	Range string `json:"range"`
}

// AlphabeticalPolicy elects a tag by lexical order.
type AlphabeticalPolicy struct {
	// Order: 'asc' elects the last tag in ascending order (Z over A), 'desc' the first.
	// +kubebuilder:default:="asc"
	// +kubebuilder:validation:Enum=asc;desc
	// +optional
	Order string `json:"order,omitempty"`
}

// NumericalPolicy elects a tag by numeric order.
type NumericalPolicy struct {
	// Order: 'asc' elects the largest number, 'desc' the smallest.
	// +kubebuilder:default:="asc"
	// +kubebuilder:validation:Enum=asc;desc
	// +optional
	Order string `json:"order,omitempty"`
}

// TagFilter keeps only tags matching a regular expression, optionally rewriting them first.
type TagFilter struct {
	// Pattern is the regular expression tags must match.
	// +optional
	Pattern string `json:"pattern"`

	// Extract is a replacement template (e.g. '$ts') applied with Pattern before ordering.
	// +optional
	Extract string `json:"extract"`
}

// ImageRef is an image reference split into name, tag and optional digest.
type ImageRef struct {
	// Name is the image name without tag or digest.
	// +required
	Name string `json:"name"`

	// Tag is the image tag.
	// +required
	Tag string `json:"tag"`

	// Digest is the image digest, when known.
	// +optional
	Digest string `json:"digest,omitempty"`
}

// String renders the reference as name:tag[@digest].
func (in *ImageRef) String() string {
	s := in.Name + ":" + in.Tag
	if in.Digest != "" {
		s += "@" + in.Digest
	}
	return s
}

// ImagePolicyStatus is the observed state of an ImagePolicy.
type ImagePolicyStatus struct {
	// LatestRef is the image elected by the policy.
	LatestRef *ImageRef `json:"latestRef,omitempty"`

	// ObservedPreviousRef is the previously elected image, kept to report changes.
	// +optional
	ObservedPreviousRef *ImageRef `json:"observedPreviousRef,omitempty"`

	// ObservedGeneration is the last generation reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions of the ImagePolicy.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	meta.ReconcileRequestStatus `json:",inline"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=imgpol;imagepol,categories=all;fluxcd;fluxcd-images
// +kubebuilder:deprecatedversion:warning="v1beta2 ImagePolicy is deprecated, upgrade to v1"
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.status.latestRef.name`
// +kubebuilder:printcolumn:name="Tag",type=string,JSONPath=`.status.latestRef.tag`
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].status",description=""
// +kubebuilder:printcolumn:name="Status",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].message",description=""
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description=""

// ImagePolicy elects the latest image of an ImageRepository according to a policy.
type ImagePolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ImagePolicySpec `json:"spec,omitempty"`
	// +kubebuilder:default={"observedGeneration":-1}
	Status ImagePolicyStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ImagePolicyList is a list of ImagePolicies.
type ImagePolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ImagePolicy `json:"items"`
}

// GetConditions returns the ImagePolicy's status conditions.
func (in *ImagePolicy) GetConditions() []metav1.Condition {
	return in.Status.Conditions
}

// SetConditions replaces the ImagePolicy's status conditions.
func (in *ImagePolicy) SetConditions(conditions []metav1.Condition) {
	in.Status.Conditions = conditions
}

// GetDigestReflectionPolicy returns spec.digestReflectionPolicy, Never when unset.
func (in *ImagePolicy) GetDigestReflectionPolicy() ReflectionPolicy {
	if in.Spec.DigestReflectionPolicy != "" {
		return in.Spec.DigestReflectionPolicy
	}
	return ReflectNever
}

// GetInterval returns the digest refresh interval (10m by default) under reflection policy
// Always, and zero otherwise: the policy is then driven only by ImageRepository changes.
func (in *ImagePolicy) GetInterval() time.Duration {
	if in.GetDigestReflectionPolicy() != ReflectAlways {
		return 0
	}
	if in.Spec.Interval == nil || in.Spec.Interval.Duration == 0 {
		return 10 * time.Minute
	}
	return in.Spec.Interval.Duration
}

// GetRequeueAfter returns GetInterval: zero means no periodic requeue.
func (in *ImagePolicy) GetRequeueAfter() time.Duration {
	return in.GetInterval()
}
