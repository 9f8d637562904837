// Package meta holds the types, condition types, reasons and annotations that every Flux API group shares.
// They match Flux's published meta API field for field so that objects written by Flux decode here.
// +kubebuilder:object:generate=true
package meta

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types shared by all kinds.
const (
	ReadyCondition             = "Ready"
	StalledCondition           = "Stalled"
	ReconcilingCondition       = "Reconciling"
	HealthyCondition           = "Healthy"
	FetchFailedCondition       = "FetchFailed"
	ArtifactInStorageCondition = "ArtifactInStorage"
	SourceVerifiedCondition    = "SourceVerified"
)

// Condition reasons shared by all kinds.
const (
	SucceededReason               = "Succeeded"
	FailedReason                  = "Failed"
	ProgressingReason             = "Progressing"
	ProgressingWithRetryReason    = "ProgressingWithRetry"
	SuspendedReason               = "Suspended"
	DependencyNotReadyReason      = "DependencyNotReady"
	ReconciliationSucceededReason = "ReconciliationSucceeded"
	ReconciliationFailedReason    = "ReconciliationFailed"
	HealthCheckFailedReason       = "HealthCheckFailed"
	InvalidPathReason             = "InvalidPath"
	InvalidURLReason              = "InvalidURL"
	InvalidCELExpressionReason    = "InvalidCELExpression"
	ArtifactFailedReason          = "ArtifactFailed"
	BuildFailedReason             = "BuildFailed"
	AccessDeniedReason            = "AccessDenied"
)

// Annotations and labels Flux defines on objects.
const (
	// ReconcileRequestAnnotation asks for an out-of-schedule reconciliation; its value is echoed in
	// status.lastHandledReconcileAt once handled.
	ReconcileRequestAnnotation = "reconcile.fluxcd.io/requestedAt"
	// ForceRequestAnnotation asks for a forced (e.g. Helm) reconciliation when equal to the request value.
	ForceRequestAnnotation = "reconcile.fluxcd.io/forceAt"
	// ResetRequestAnnotation asks for the failure counters of a HelmRelease to be reset.
	ResetRequestAnnotation = "reconcile.fluxcd.io/resetAt"
	// ReconcileAnnotation set to "disabled" on a managed object stops its reconciliation.
	ReconcileAnnotation = "kustomize.toolkit.fluxcd.io/reconcile"
	// SSAAnnotation picks the apply policy of a managed object: "Override", "Merge", "IfNotPresent", "Ignore".
	SSAAnnotation = "kustomize.toolkit.fluxcd.io/ssa"
	// PruneAnnotation set to "disabled" keeps a managed object when it leaves the source.
	PruneAnnotation = "kustomize.toolkit.fluxcd.io/prune"
	// ForceAnnotation set to "enabled" recreates a managed object whose immutable fields changed.
	ForceAnnotation = "kustomize.toolkit.fluxcd.io/force"
	// SubstituteAnnotation set to "disabled" skips variable substitution for an object.
	SubstituteAnnotation = "kustomize.toolkit.fluxcd.io/substitute"
	// DisabledValue is the value that turns one of the annotations above off.
	DisabledValue = "disabled"
	// EnabledValue is the value that turns one of the annotations above on.
	EnabledValue = "enabled"
)

// LocalObjectReference names an object in the referring object's namespace.
type LocalObjectReference struct {
	// Name of the referent.
	// +required
	Name string `json:"name"`
}

// NamespacedObjectReference names an object, optionally in another namespace.
type NamespacedObjectReference struct {
	// Name of the referent.
	// +required
	Name string `json:"name"`

	// Namespace of the referent, when not the referring object's.
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// NamespacedObjectKindReference names an object by kind, optionally in another namespace.
type NamespacedObjectKindReference struct {
	// APIVersion of the referent.
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`

	// Kind of the referent.
	// +required
	Kind string `json:"kind"`

	// Name of the referent.
	// +required
	Name string `json:"name"`

	// Namespace of the referent, when not the referring object's.
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// SecretKeyReference names a key in a Secret in the referring object's namespace.
type SecretKeyReference struct {
	// Name of the Secret.
	// +required
	Name string `json:"name"`

	// Key in the Secret; when empty a kind-specific default applies.
	// +optional
	Key string `json:"key,omitempty"`
}

// KubeConfigReference points at a kubeconfig used to reach a remote cluster.
// +kubebuilder:validation:XValidation:rule="has(self.configMapRef) || has(self.secretRef)",message="exactly one of spec.kubeConfig.configMapRef or spec.kubeConfig.secretRef must be specified"
// +kubebuilder:validation:XValidation:rule="!has(self.configMapRef) || !has(self.secretRef)",message="exactly one of spec.kubeConfig.configMapRef or spec.kubeConfig.secretRef must be specified"
type KubeConfigReference struct {
	// SecretRef holds the kubeconfig, under key "value" or "value.yaml" unless Key says otherwise.
	// +optional
	SecretRef *SecretKeyReference `json:"secretRef,omitempty"`

	// ConfigMapRef holds a provider-based kubeconfig (no credentials).
	// +optional
	ConfigMapRef *LocalObjectReference `json:"configMapRef,omitempty"`
}

// ValuesReference points at a key of a ConfigMap or Secret whose content is merged into values.
type ValuesReference struct {
	// Kind of the values referent.
	// +kubebuilder:validation:Enum=Secret;ConfigMap
	// +required
	Kind string `json:"kind"`

	// Name of the values referent, in the referring object's namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// ValuesKey is the data key to read, "values.yaml" by default.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[\-._a-zA-Z0-9]+$`
	// +optional
	ValuesKey string `json:"valuesKey,omitempty"`

	// TargetPath is a YAML dot path at which the value is set, instead of merging the whole document.
	// +kubebuilder:validation:MaxLength=250
	// +kubebuilder:validation:Pattern=`^([a-zA-Z0-9_\-.\\\/]|\[[0-9]{1,5}\])+$`
	// +optional
	TargetPath string `json:"targetPath,omitempty"`

	// Optional marks the reference as optional: a missing referent or key is then not an error.
	// +optional
	Optional bool `json:"optional,omitempty"`

	// Literal sets the referenced value at TargetPath as a string, without parsing it as YAML.
	// +optional
	Literal bool `json:"literal,omitempty"`
}

// GetValuesKey returns ValuesKey or its default.
func (in ValuesReference) GetValuesKey() string {
	if in.ValuesKey == "" {
		return "values.yaml"
	}
	return in.ValuesKey
}

// ReconcileRequestStatus records the last handled reconcile request annotation value.
type ReconcileRequestStatus struct {
	// LastHandledReconcileAt holds the value of the most recent reconcile request annotation handled.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`
}

// ForceRequestStatus records the last handled force request annotation value.
type ForceRequestStatus struct {
	// LastHandledForceAt holds the value of the most recent force request annotation handled.
	// +optional
	LastHandledForceAt string `json:"lastHandledForceAt,omitempty"`
}

// Artifact describes a source artifact: a tarball in the artifact store with a revision and digest.
type Artifact struct {
	// Path is the artifact's path relative to the store root.
	// +required
	Path string `json:"path"`

	// URL is the HTTP address the artifact can be downloaded from.
	// +required
	URL string `json:"url"`

	// Revision is a human-readable identifier of the source revision, e.g. "main@sha1:<hex>".
	// +required
	Revision string `json:"revision"`

	// Digest is the digest of the artifact file, "<algorithm>:<hex>".
	// +required
	// +kubebuilder:validation:Pattern="^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$"
	Digest string `json:"digest"`

	// LastUpdateTime is when the artifact last changed.
	// +required
	LastUpdateTime metav1.Time `json:"lastUpdateTime"`

	// Size is the artifact size in bytes.
	// +optional
	Size *int64 `json:"size,omitempty"`

	// Metadata holds upstream metadata, e.g. OCI annotations.
	// +optional
	Metadata map[string]string `json:"metadata,omitempty"`
}

// HasRevision reports whether the artifact has the given revision.
func (in *Artifact) HasRevision(revision string) bool {
	return in != nil && in.Revision == revision
}

// HasDigest reports whether the artifact has the given digest.
func (in *Artifact) HasDigest(digest string) bool {
	return in != nil && in.Digest == digest
}
