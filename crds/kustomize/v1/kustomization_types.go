package v1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/converge-gitops/converge/crds/meta"
)

const (
	// KustomizationKind is the kind name.
	KustomizationKind = "Kustomization"
	// KustomizationFinalizer is the finalizer the controller puts on Kustomizations.
	KustomizationFinalizer = "finalizers.fluxcd.io"
	// MaxConditionMessageLength caps the length of condition messages.
	MaxConditionMessageLength = 20000

	// EnabledValue turns an object annotation on.
	EnabledValue = "enabled"
	// DisabledValue turns an object annotation off.
	DisabledValue = "disabled"
	// MergeValue is the SSAAnnotation value that merges with fields owned by other managers.
	MergeValue = "Merge"
	// IfNotPresentValue is the SSAAnnotation value that only creates an object when missing.
	IfNotPresentValue = "IfNotPresent"
	// IgnoreValue is the SSAAnnotation value that never applies the object.
	IgnoreValue = "Ignore"

	// DeletionPolicyMirrorPrune deletes the applied objects on deletion only when spec.prune is true.
	DeletionPolicyMirrorPrune = "MirrorPrune"
	// DeletionPolicyDelete deletes the applied objects when the Kustomization is deleted.
	DeletionPolicyDelete = "Delete"
	// DeletionPolicyWaitForTermination deletes the applied objects and waits until they are gone.
	DeletionPolicyWaitForTermination = "WaitForTermination"
	// DeletionPolicyOrphan leaves the applied objects in place when the Kustomization is deleted.
	DeletionPolicyOrphan = "Orphan"
)

// KustomizationSpec is the desired state of a Kustomization.
type KustomizationSpec struct {
	// CommonMetadata holds labels and annotations set on every applied object, overriding
	// existing keys.
	// +optional
	CommonMetadata *CommonMetadata `json:"commonMetadata,omitempty"`

	// DependsOn lists Kustomizations that must be ready before this one is reconciled.
	// +optional
	DependsOn []DependencyReference `json:"dependsOn,omitempty"`

	// Decryption configures decryption of encrypted manifests before they are applied.
	// +optional
	Decryption *Decryption `json:"decryption,omitempty"`

	// Interval between reconciliations (jitter may be added).
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +required
	Interval metav1.Duration `json:"interval"`

	// RetryInterval is the delay before retrying a failed reconciliation; Interval when unset.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	RetryInterval *metav1.Duration `json:"retryInterval,omitempty"`

	// KubeConfig targets a remote cluster; ServiceAccountName is then impersonated there.
	// +optional
	KubeConfig *meta.KubeConfigReference `json:"kubeConfig,omitempty"`

	// Path inside the artifact of the directory to build; the artifact root when empty.
	// +optional
	Path string `json:"path,omitempty"`

	// PostBuild configures steps run on the built manifests, such as variable substitution.
	// +optional
	PostBuild *PostBuild `json:"postBuild,omitempty"`

	// Prune deletes previously applied objects that are no longer in the build.
	// +required
	Prune bool `json:"prune"`

	// DeletionPolicy says what happens to applied objects when the Kustomization is deleted;
	// MirrorPrune when empty.
	// +kubebuilder:validation:Enum=MirrorPrune;Delete;WaitForTermination;Orphan
	// +optional
	DeletionPolicy string `json:"deletionPolicy,omitempty"`

	// HealthChecks lists objects whose readiness is assessed after applying.
	// +optional
	HealthChecks []meta.NamespacedObjectKindReference `json:"healthChecks,omitempty"`

	// NamePrefix is prepended to the names of all built objects.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=200
	// +kubebuilder:validation:Optional
	// +optional
	NamePrefix string `json:"namePrefix,omitempty"`

	// NameSuffix is appended to the names of all built objects.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=200
	// +kubebuilder:validation:Optional
	// +optional
	NameSuffix string `json:"nameSuffix,omitempty"`

	// Patches are strategic-merge or JSON6902 patches applied to the build, with optional targets.
	// +optional
	Patches []Patch `json:"patches,omitempty"`

	// Images overrides image names, tags or digests in the build.
	// +optional
	Images []Image `json:"images,omitempty"`

	// ServiceAccountName is the service account impersonated when applying.
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// SourceRef is the source whose artifact holds the manifests.
	// +required
	SourceRef CrossNamespaceSourceReference `json:"sourceRef"`

	// Suspend stops future reconciliations; a running one is not interrupted.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// TargetNamespace sets the namespace of all namespaced objects in the build.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Optional
	// +optional
	TargetNamespace string `json:"targetNamespace,omitempty"`

	// Timeout bounds build, apply and health checking; derived from Interval when unset.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// Force recreates objects whose update fails on an immutable field.
	// +kubebuilder:default:=false
	// +optional
	Force bool `json:"force,omitempty"`

	// Wait assesses the health of every applied object; HealthChecks is then ignored.
	// +optional
	Wait bool `json:"wait,omitempty"`

	// BuildMetadata asks kustomize to annotate built objects with origin and/or transformer data.
	// +optional
	BuildMetadata []BuildMetadataOption `json:"buildMetadata,omitempty"`

	// Components are paths, relative to Path, of kustomize components to include.
	// +optional
	Components []string `json:"components,omitempty"`

	// IgnoreMissingComponents drops Components paths that do not exist instead of failing.
	// +optional
	IgnoreMissingComponents bool `json:"ignoreMissingComponents,omitempty"`

	// HealthCheckExprs are CEL health checks for custom kinds, used when Wait or HealthChecks is set.
	// +optional
	HealthCheckExprs []CustomHealthCheck `json:"healthCheckExprs,omitempty"`

	// Ignore lists JSON pointer paths left out of drift detection and apply.
	// +optional
	Ignore []IgnoreRule `json:"ignore,omitempty"`
}

// BuildMetadataOption is a kind of build metadata kustomize can add to built objects.
// +kubebuilder:validation:Enum=originAnnotations;transformerAnnotations
type BuildMetadataOption string

const (
	// BuildMetadataOriginAnnotations annotates objects with the file they came from.
	BuildMetadataOriginAnnotations BuildMetadataOption = "originAnnotations"
	// BuildMetadataTransformerAnnotations annotates objects with the transformers that changed them.
	BuildMetadataTransformerAnnotations BuildMetadataOption = "transformerAnnotations"
)

// CommonMetadata holds labels and annotations added to every applied object.
type CommonMetadata struct {
	// Annotations to set.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`

	// Labels to set.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
}

// IgnoreRule excludes JSON pointer paths of selected objects from drift detection and apply.
type IgnoreRule struct {
	// Paths are RFC 6901 JSON pointers to ignore.
	// +required
	Paths []string `json:"paths"`

	// Target selects the objects the rule applies to; all objects when unset.
	// +optional
	Target *Selector `json:"target,omitempty"`
}

// Decryption configures how encrypted manifests are decrypted.
type Decryption struct {
	// Provider is the decryption engine.
	// +kubebuilder:validation:Enum=sops
	// +required
	Provider string `json:"provider"`

	// ServiceAccountName is used for keyless authentication to cloud KMS services; static
	// credentials in SecretRef take precedence.
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// SecretRef names a Secret holding decryption keys and KMS credentials.
	// +optional
	SecretRef *meta.LocalObjectReference `json:"secretRef,omitempty"`
}

// SubstituteStrategy says when post-build variable substitution runs.
type SubstituteStrategy string

const (
	// SubstituteStrategyWithVariables substitutes only when at least one variable is defined.
	SubstituteStrategyWithVariables SubstituteStrategy = "WithVariables"
	// SubstituteStrategyAlways substitutes even with no variables, so defaults like ${x:=y} apply.
	SubstituteStrategyAlways SubstituteStrategy = "Always"
)

// PostBuild configures steps run on the built manifests.
type PostBuild struct {
	// SubstituteStrategy says when substitution runs; WithVariables when empty.
	// +kubebuilder:validation:Enum=WithVariables;Always
	// +optional
	SubstituteStrategy SubstituteStrategy `json:"substituteStrategy,omitempty"`

	// Substitute maps variable names to values replaced in ${var} expressions.
	// +optional
	Substitute map[string]string `json:"substitute,omitempty"`

	// SubstituteFrom lists ConfigMaps and Secrets whose data keys are variable names.
	// +optional
	SubstituteFrom []SubstituteReference `json:"substituteFrom,omitempty"`
}

// SubstituteReference names a ConfigMap or Secret providing substitution variables.
type SubstituteReference struct {
	// Kind of the referent.
	// +kubebuilder:validation:Enum=Secret;ConfigMap
	// +required
	Kind string `json:"kind"`

	// Name of the referent, in the Kustomization's namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// Optional treats a missing referent as empty instead of failing.
	// +kubebuilder:default:=false
	// +optional
	Optional bool `json:"optional,omitempty"`
}

// KustomizationStatus is the observed state of a Kustomization.
type KustomizationStatus struct {
	meta.ReconcileRequestStatus `json:",inline"`

	// ObservedGeneration is the last generation reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions describe the reconciliation state.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// LastAppliedRevision is the source revision last applied successfully.
	// +optional
	LastAppliedRevision string `json:"lastAppliedRevision,omitempty"`

	// LastAppliedOriginRevision is the origin revision (e.g. the OCI revision annotation) of the
	// artifact last applied successfully.
	// +optional
	LastAppliedOriginRevision string `json:"lastAppliedOriginRevision,omitempty"`

	// LastAttemptedRevision is the source revision of the last reconciliation attempt.
	// +optional
	LastAttemptedRevision string `json:"lastAttemptedRevision,omitempty"`

	// Inventory lists the objects applied successfully.
	// +optional
	Inventory *ResourceInventory `json:"inventory,omitempty"`

	// History records the most recent reconciliations.
	// +optional
	History History `json:"history,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:resource:shortName=ks,categories=all;fluxcd;fluxcd-appliers
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description=""
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].status",description=""
// +kubebuilder:printcolumn:name="Status",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].message",description=""
// +kubebuilder:metadata:annotations="kustomize.toolkit.fluxcd.io/substitute=disabled"

// Kustomization builds a kustomize overlay from a source artifact and applies it to a cluster.
type Kustomization struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec KustomizationSpec `json:"spec,omitempty"`
	// +kubebuilder:default:={"observedGeneration":-1}
	Status KustomizationStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// KustomizationList is a list of Kustomizations.
type KustomizationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Kustomization `json:"items"`
}

// GetConditions returns the status conditions.
func (in Kustomization) GetConditions() []metav1.Condition {
	return in.Status.Conditions
}

// SetConditions replaces the status conditions.
func (in *Kustomization) SetConditions(conditions []metav1.Condition) {
	in.Status.Conditions = conditions
}

// GetRequeueAfter returns the reconciliation interval.
func (in Kustomization) GetRequeueAfter() time.Duration {
	return in.Spec.Interval.Duration
}

// GetRetryInterval returns the delay before retrying a failure: RetryInterval, else Interval.
func (in Kustomization) GetRetryInterval() time.Duration {
	if in.Spec.RetryInterval != nil {
		return in.Spec.RetryInterval.Duration
	}
	return in.GetRequeueAfter()
}

// GetTimeout returns Timeout, or Interval minus 30s when unset; never less than 30s.
func (in Kustomization) GetTimeout() time.Duration {
	d := in.Spec.Interval.Duration - 30*time.Second
	if in.Spec.Timeout != nil {
		d = in.Spec.Timeout.Duration
	}
	return max(d, 30*time.Second)
}

// GetDeletionPolicy returns DeletionPolicy, MirrorPrune when empty.
func (in Kustomization) GetDeletionPolicy() string {
	if in.Spec.DeletionPolicy == "" {
		return DeletionPolicyMirrorPrune
	}
	return in.Spec.DeletionPolicy
}

// GetDependsOn returns the dependencies.
func (in Kustomization) GetDependsOn() []DependencyReference {
	return in.Spec.DependsOn
}

// GetSubstituteStrategy returns the post-build substitute strategy, WithVariables when unset.
func (in Kustomization) GetSubstituteStrategy() SubstituteStrategy {
	if in.Spec.PostBuild == nil || in.Spec.PostBuild.SubstituteStrategy == "" {
		return SubstituteStrategyWithVariables
	}
	return in.Spec.PostBuild.SubstituteStrategy
}

// GetLastHandledReconcileRequest returns the last handled reconcile request annotation value.
func (in Kustomization) GetLastHandledReconcileRequest() string {
	return in.Status.LastHandledReconcileAt
}
