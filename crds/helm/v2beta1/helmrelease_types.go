package v2beta1

import (
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	"github.com/converge-gitops/converge/crds/helm/v2beta2"
	"github.com/converge-gitops/converge/crds/meta"
)

const (
	// HelmReleaseKind is the kind name.
	HelmReleaseKind = "HelmRelease"
	// HelmReleaseFinalizer is the finalizer the controller puts on HelmReleases.
	HelmReleaseFinalizer = "finalizers.fluxcd.io"
)

// Types unchanged between v2beta1 and v2beta2.
type (
	// CrossNamespaceObjectReference points at the source a chart template fetches the chart from.
	// +kubebuilder:object:generate=false
	CrossNamespaceObjectReference = v2beta2.CrossNamespaceObjectReference
	// HelmChartTemplateObjectMeta holds the metadata of the templated HelmChart.
	// +kubebuilder:object:generate=false
	HelmChartTemplateObjectMeta = v2beta2.HelmChartTemplateObjectMeta
	// ValuesReference points at a ConfigMap or Secret key holding values.
	// +kubebuilder:object:generate=false
	ValuesReference = v2beta2.ValuesReference
	// PostRenderer is one post-rendering step.
	// +kubebuilder:object:generate=false
	PostRenderer = v2beta2.PostRenderer
	// Kustomize is a kustomize post-renderer, with the deprecated patch fields.
	// +kubebuilder:object:generate=false
	Kustomize = v2beta2.Kustomize
	// Install configures Helm install actions.
	// +kubebuilder:object:generate=false
	Install = v2beta2.Install
	// InstallRemediation configures remediation of failed installs.
	// +kubebuilder:object:generate=false
	InstallRemediation = v2beta2.InstallRemediation
	// Upgrade configures Helm upgrade actions.
	// +kubebuilder:object:generate=false
	Upgrade = v2beta2.Upgrade
	// UpgradeRemediation configures remediation of failed upgrades.
	// +kubebuilder:object:generate=false
	UpgradeRemediation = v2beta2.UpgradeRemediation
	// Rollback configures Helm rollback actions.
	// +kubebuilder:object:generate=false
	Rollback = v2beta2.Rollback
	// Uninstall configures Helm uninstall actions.
	// +kubebuilder:object:generate=false
	Uninstall = v2beta2.Uninstall
	// CRDsPolicy says how CRDs in a chart's crds directory are handled.
	// +kubebuilder:object:generate=false
	CRDsPolicy = v2beta2.CRDsPolicy
	// RemediationStrategy is how a failed upgrade is remediated.
	// +kubebuilder:object:generate=false
	RemediationStrategy = v2beta2.RemediationStrategy
)

// CRD policies and remediation strategies, as in v2beta2.
const (
	Skip                         = v2beta2.Skip
	Create                       = v2beta2.Create
	CreateReplace                = v2beta2.CreateReplace
	RollbackRemediationStrategy  = v2beta2.RollbackRemediationStrategy
	UninstallRemediationStrategy = v2beta2.UninstallRemediationStrategy
)

// HelmReleaseSpec is the desired state of a Helm release.
type HelmReleaseSpec struct {
	// Chart is the template of the HelmChart object created for this release.
	// +required
	Chart *HelmChartTemplate `json:"chart,omitempty"`

	// ChartRef points at a source object holding the chart artifact. Provisional in v2beta1:
	// accepted so that v2 objects read back as v2beta1 keep it.
	// +optional
	ChartRef *v2beta2.CrossNamespaceSourceReference `json:"chartRef,omitempty"`

	// Interval between reconciliations.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +required
	Interval metav1.Duration `json:"interval"`

	// KubeConfig targets a remote cluster.
	// +optional
	KubeConfig *meta.KubeConfigReference `json:"kubeConfig,omitempty"`

	// Suspend stops future reconciliations.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// ReleaseName is the Helm release name; "[TargetNamespace-]Name" when empty.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=53
	// +kubebuilder:validation:Optional
	// +optional
	ReleaseName string `json:"releaseName,omitempty"`

	// TargetNamespace is the namespace the release is installed in.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Optional
	// +optional
	TargetNamespace string `json:"targetNamespace,omitempty"`

	// StorageNamespace is where Helm stores release data.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Optional
	// +optional
	StorageNamespace string `json:"storageNamespace,omitempty"`

	// DependsOn lists HelmReleases that must be ready first.
	// +optional
	DependsOn []meta.NamespacedObjectReference `json:"dependsOn,omitempty"`

	// Timeout for each Kubernetes operation of a Helm action; 5m when unset.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// MaxHistory is the number of release versions Helm keeps; 0 is unlimited, 10 when unset.
	// +optional
	MaxHistory *int `json:"maxHistory,omitempty"`

	// ServiceAccountName is the service account impersonated for Helm actions.
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// PersistentClient reuses one Kubernetes client per reconciliation; true when unset.
	// +optional
	PersistentClient *bool `json:"persistentClient,omitempty"`

	// DriftDetection configures drift detection. Provisional in v2beta1.
	// +optional
	DriftDetection *v2beta2.DriftDetection `json:"driftDetection,omitempty"`

	// Install configures Helm install actions.
	// +optional
	Install *Install `json:"install,omitempty"`

	// Upgrade configures Helm upgrade actions.
	// +optional
	Upgrade *Upgrade `json:"upgrade,omitempty"`

	// Test configures Helm test actions.
	// +optional
	Test *Test `json:"test,omitempty"`

	// Rollback configures Helm rollback actions.
	// +optional
	Rollback *Rollback `json:"rollback,omitempty"`

	// Uninstall configures Helm uninstall actions.
	// +optional
	Uninstall *Uninstall `json:"uninstall,omitempty"`

	// ValuesFrom lists ConfigMap and Secret keys merged into the values, in order.
	ValuesFrom []ValuesReference `json:"valuesFrom,omitempty"`

	// Values are inline values, merged after ValuesFrom.
	// +optional
	Values *apiextensionsv1.JSON `json:"values,omitempty"`

	// PostRenderers are applied to the rendered manifests in order.
	// +optional
	PostRenderers []PostRenderer `json:"postRenderers,omitempty"`
}

// HelmChartTemplate is the template of the HelmChart object the controller creates.
type HelmChartTemplate struct {
	// ObjectMeta holds labels and annotations for the HelmChart.
	// +optional
	ObjectMeta *HelmChartTemplateObjectMeta `json:"metadata,omitempty"`

	// Spec holds the HelmChart spec.
	// +required
	Spec HelmChartTemplateSpec `json:"spec"`
}

// HelmChartTemplateSpec is the spec of the templated HelmChart.
type HelmChartTemplateSpec struct {
	// Chart is the chart name or path in the source.
	// +required
	Chart string `json:"chart"`

	// Version is a semver constraint; latest when "*".
	// +kubebuilder:default:=*
	// +optional
	Version string `json:"version,omitempty"`

	// SourceRef is the source the chart is fetched from.
	// +required
	SourceRef CrossNamespaceObjectReference `json:"sourceRef"`

	// Interval at which the HelmChart checks its source.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`

	// ReconcileStrategy says what produces a new chart artifact: ChartVersion or Revision.
	// +kubebuilder:validation:Enum=ChartVersion;Revision
	// +kubebuilder:default:=ChartVersion
	// +optional
	ReconcileStrategy string `json:"reconcileStrategy,omitempty"`

	// ValuesFiles are paths in the source merged, in order, as the chart's default values.
	// +optional
	ValuesFiles []string `json:"valuesFiles,omitempty"`

	// ValuesFile is a values file merged before ValuesFiles. Deprecated: use ValuesFiles.
	// +optional
	// +deprecated
	ValuesFile string `json:"valuesFile,omitempty"`

	// Verify configures signature verification of OCI charts.
	// +optional
	Verify *HelmChartTemplateVerification `json:"verify,omitempty"`
}

// GetValuesFiles returns ValuesFile (when set) followed by ValuesFiles.
func (in HelmChartTemplateSpec) GetValuesFiles() []string {
	if in.ValuesFile == "" {
		return in.ValuesFiles
	}
	return append([]string{in.ValuesFile}, in.ValuesFiles...)
}

// HelmChartTemplateVerification configures signature verification of an OCI chart.
type HelmChartTemplateVerification struct {
	// Provider is the signing technology.
	// +kubebuilder:validation:Enum=cosign
	// +kubebuilder:default:=cosign
	Provider string `json:"provider"`

	// SecretRef names a Secret holding the trusted public keys.
	// +optional
	SecretRef *meta.LocalObjectReference `json:"secretRef,omitempty"`
}

// Test configures Helm test actions.
type Test struct {
	// Enable runs Helm tests after install and upgrade.
	// +optional
	Enable bool `json:"enable,omitempty"`

	// Timeout for each Kubernetes operation of the tests.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// IgnoreFailures skips remediation when tests fail.
	// +optional
	IgnoreFailures bool `json:"ignoreFailures,omitempty"`
}

// HelmReleaseStatus is the observed state of a HelmRelease.
type HelmReleaseStatus struct {
	// ObservedGeneration is the last generation observed.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// ObservedPostRenderersDigest is the digest of the post-renderers last reconciled successfully.
	// +optional
	ObservedPostRenderersDigest string `json:"observedPostRenderersDigest,omitempty"`

	meta.ReconcileRequestStatus `json:",inline"`

	// Conditions describe the reconciliation state.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// LastAppliedRevision is the chart revision last released successfully.
	// +optional
	LastAppliedRevision string `json:"lastAppliedRevision,omitempty"`

	// LastAttemptedRevision is the chart revision of the last attempt.
	// +optional
	LastAttemptedRevision string `json:"lastAttemptedRevision,omitempty"`

	// LastAttemptedValuesChecksum is the SHA1 of the values of the last attempt.
	// +optional
	LastAttemptedValuesChecksum string `json:"lastAttemptedValuesChecksum,omitempty"`

	// LastReleaseRevision is the version of the last successful release.
	// +optional
	LastReleaseRevision int `json:"lastReleaseRevision,omitempty"`

	// HelmChart is "<namespace>/<name>" of the HelmChart created for the release.
	// +optional
	HelmChart string `json:"helmChart,omitempty"`

	// Failures counts failed reconciliations of the current desired state.
	// +optional
	Failures int64 `json:"failures,omitempty"`

	// InstallFailures counts failed installs of the current desired state.
	// +optional
	InstallFailures int64 `json:"installFailures,omitempty"`

	// UpgradeFailures counts failed upgrades of the current desired state.
	// +optional
	UpgradeFailures int64 `json:"upgradeFailures,omitempty"`

	// StorageNamespace is the Helm storage namespace of the current release. Provisional.
	// +optional
	StorageNamespace string `json:"storageNamespace,omitempty"`

	// History of releases. Provisional.
	// +optional
	History helmv2.Snapshots `json:"history,omitempty"`

	// LastAttemptedGeneration is the last generation a reconciliation was attempted for. Provisional.
	// +optional
	LastAttemptedGeneration int64 `json:"lastAttemptedGeneration,omitempty"`

	// LastAttemptedConfigDigest is the digest of the values of the last attempt. Provisional.
	// +optional
	LastAttemptedConfigDigest string `json:"lastAttemptedConfigDigest,omitempty"`

	// LastAttemptedReleaseAction is the last release action performed. Provisional.
	// +optional
	LastAttemptedReleaseAction string `json:"lastAttemptedReleaseAction,omitempty"`

	// LastHandledForceAt is the last force request annotation value handled. Provisional.
	// +optional
	LastHandledForceAt string `json:"lastHandledForceAt,omitempty"`

	// LastHandledResetAt is the last reset request annotation value handled. Provisional.
	// +optional
	LastHandledResetAt string `json:"lastHandledResetAt,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=hr,categories=all;fluxcd;fluxcd-appliers
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description=""
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].status",description=""
// +kubebuilder:printcolumn:name="Status",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].message",description=""
// +kubebuilder:deprecatedversion:warning="v2beta1 HelmRelease is deprecated, upgrade to v2"

// HelmRelease is the deprecated v2beta1 form of a Helm release of a chart from a source.
type HelmRelease struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec HelmReleaseSpec `json:"spec,omitempty"`
	// +kubebuilder:default:={"observedGeneration":-1}
	Status HelmReleaseStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// HelmReleaseList is a list of v2beta1 HelmReleases.
type HelmReleaseList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []HelmRelease `json:"items"`
}

// GetConditions returns the status conditions.
func (in HelmRelease) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *HelmRelease) SetConditions(conditions []metav1.Condition) {
	in.Status.Conditions = conditions
}

// GetRequeueAfter returns the reconciliation interval.
func (in HelmRelease) GetRequeueAfter() time.Duration { return in.Spec.Interval.Duration }

// GetReleaseName returns ReleaseName, or "[TargetNamespace-]Name".
func (in HelmRelease) GetReleaseName() string {
	if in.Spec.ReleaseName != "" {
		return in.Spec.ReleaseName
	}
	if in.Spec.TargetNamespace != "" {
		return in.Spec.TargetNamespace + "-" + in.Name
	}
	return in.Name
}

// GetReleaseNamespace returns TargetNamespace, or the HelmRelease's namespace.
func (in HelmRelease) GetReleaseNamespace() string {
	if in.Spec.TargetNamespace != "" {
		return in.Spec.TargetNamespace
	}
	return in.Namespace
}

// GetStorageNamespace returns StorageNamespace, or the HelmRelease's namespace.
func (in HelmRelease) GetStorageNamespace() string {
	if in.Spec.StorageNamespace != "" {
		return in.Spec.StorageNamespace
	}
	return in.Namespace
}

// GetTimeout returns Timeout, 5m when unset.
func (in HelmRelease) GetTimeout() metav1.Duration {
	if in.Spec.Timeout == nil {
		return metav1.Duration{Duration: 5 * time.Minute}
	}
	return *in.Spec.Timeout
}

// GetMaxHistory returns MaxHistory, 10 when unset (the v2beta1 default).
func (in HelmRelease) GetMaxHistory() int {
	if in.Spec.MaxHistory == nil {
		return 10
	}
	return *in.Spec.MaxHistory
}
