package v2beta2

import (
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/crds/meta"
)

const (
	// HelmReleaseKind is the kind name.
	HelmReleaseKind = "HelmRelease"
	// HelmReleaseFinalizer is the finalizer the controller puts on HelmReleases.
	HelmReleaseFinalizer = "finalizers.fluxcd.io"
)

// defaultMaxHistory is the default number of Helm release versions kept.
const defaultMaxHistory = 5

// Kustomize is a post-renderer that patches the rendered manifests with kustomize.
type Kustomize struct {
	// Patches are strategic-merge or JSON6902 patches with optional targets.
	// +optional
	Patches []kustomizev1.Patch `json:"patches,omitempty"`

	// PatchesStrategicMerge are inline strategic-merge patches. Deprecated: use Patches.
	// +optional
	PatchesStrategicMerge []apiextensionsv1.JSON `json:"patchesStrategicMerge,omitempty"`

	// PatchesJSON6902 are JSON patches with targets. Deprecated: use Patches.
	// +optional
	PatchesJSON6902 []JSON6902Patch `json:"patchesJson6902,omitempty"`

	// Images overrides image names, tags or digests.
	// +optional
	Images []kustomizev1.Image `json:"images,omitempty"`
}

// PostRenderer is one post-rendering step.
type PostRenderer struct {
	// Kustomize patches the rendered manifests.
	// +optional
	Kustomize *Kustomize `json:"kustomize,omitempty"`
}

// HelmReleaseSpec is the desired state of a Helm release.
// +kubebuilder:validation:XValidation:rule="(has(self.chart) && !has(self.chartRef)) || (!has(self.chart) && has(self.chartRef))", message="either chart or chartRef must be set"
type HelmReleaseSpec struct {
	// Chart is the template of the HelmChart object created for this release.
	// +optional
	Chart *HelmChartTemplate `json:"chart,omitempty"`

	// ChartRef points at a source object holding the chart artifact; exclusive with Chart.
	// +optional
	ChartRef *CrossNamespaceSourceReference `json:"chartRef,omitempty"`

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

	// MaxHistory is the number of release versions Helm keeps; 0 is unlimited, 5 when unset.
	// +optional
	MaxHistory *int `json:"maxHistory,omitempty"`

	// ServiceAccountName is the service account impersonated for Helm actions.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// PersistentClient reuses one Kubernetes client per reconciliation; true when unset.
	// +optional
	PersistentClient *bool `json:"persistentClient,omitempty"`

	// DriftDetection configures detection and correction of cluster drift.
	// +optional
	DriftDetection *DriftDetection `json:"driftDetection,omitempty"`

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

// DriftDetectionMode says what is done about drift.
type DriftDetectionMode string

const (
	DriftDetectionEnabled  DriftDetectionMode = "enabled"
	DriftDetectionWarn     DriftDetectionMode = "warn"
	DriftDetectionDisabled DriftDetectionMode = "disabled"
)

// IgnoreRule excludes JSON pointer paths of selected objects from drift detection.
type IgnoreRule struct {
	// Paths are RFC 6901 JSON pointers to ignore.
	// +required
	Paths []string `json:"paths"`

	// Target selects the objects the rule applies to; all when unset.
	// +optional
	Target *kustomizev1.Selector `json:"target,omitempty"`
}

// DriftDetection configures drift detection.
type DriftDetection struct {
	// Mode of drift detection; disabled when empty.
	// +kubebuilder:validation:Enum=enabled;warn;disabled
	// +optional
	Mode DriftDetectionMode `json:"mode,omitempty"`

	// Ignore lists paths left out of the comparison.
	// +optional
	Ignore []IgnoreRule `json:"ignore,omitempty"`
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

// HelmChartTemplateObjectMeta holds the metadata of the templated HelmChart.
type HelmChartTemplateObjectMeta struct {
	// Labels for the HelmChart.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`

	// Annotations for the HelmChart.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// HelmChartTemplateSpec is the spec of the templated HelmChart.
type HelmChartTemplateSpec struct {
	// Chart is the chart name or path in the source.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
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

	// IgnoreMissingValuesFiles skips missing ValuesFiles instead of failing.
	// +optional
	IgnoreMissingValuesFiles bool `json:"ignoreMissingValuesFiles,omitempty"`

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
	// +kubebuilder:validation:Enum=cosign;notation
	// +kubebuilder:default:=cosign
	Provider string `json:"provider"`

	// SecretRef names a Secret holding the trusted public keys.
	// +optional
	SecretRef *meta.LocalObjectReference `json:"secretRef,omitempty"`
}

// Install configures Helm install actions.
type Install struct {
	// Timeout for each Kubernetes operation of the install.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// Remediation configures what happens after a failed install.
	// +optional
	Remediation *InstallRemediation `json:"remediation,omitempty"`

	// DisableWait skips waiting for objects to become ready.
	// +optional
	DisableWait bool `json:"disableWait,omitempty"`

	// DisableWaitForJobs skips waiting for jobs to complete.
	// +optional
	DisableWaitForJobs bool `json:"disableWaitForJobs,omitempty"`

	// DisableHooks skips chart hooks.
	// +optional
	DisableHooks bool `json:"disableHooks,omitempty"`

	// DisableOpenAPIValidation skips validating rendered manifests against the OpenAPI schema.
	// +optional
	DisableOpenAPIValidation bool `json:"disableOpenAPIValidation,omitempty"`

	// Replace reuses the release name of a deleted release still in history.
	// +optional
	Replace bool `json:"replace,omitempty"`

	// SkipCRDs skips installing CRDs. Deprecated: use CRDs: Skip.
	// +deprecated
	// +optional
	SkipCRDs bool `json:"skipCRDs,omitempty"`

	// CRDs is the CRD policy on install: Skip, Create (default) or CreateReplace.
	// +kubebuilder:validation:Enum=Skip;Create;CreateReplace
	// +optional
	CRDs CRDsPolicy `json:"crds,omitempty"`

	// CreateNamespace creates the target namespace if missing.
	// +optional
	CreateNamespace bool `json:"createNamespace,omitempty"`
}

// InstallRemediation configures remediation of failed installs.
type InstallRemediation struct {
	// Retries after a failure; negative is unlimited.
	// +optional
	Retries int `json:"retries,omitempty"`

	// IgnoreTestFailures skips remediation when tests fail after install.
	// +optional
	IgnoreTestFailures *bool `json:"ignoreTestFailures,omitempty"`

	// RemediateLastFailure remediates the last failure once retries are exhausted.
	// +optional
	RemediateLastFailure *bool `json:"remediateLastFailure,omitempty"`
}

// CRDsPolicy says how CRDs in a chart's crds directory are handled.
type CRDsPolicy string

const (
	Skip          CRDsPolicy = "Skip"
	Create        CRDsPolicy = "Create"
	CreateReplace CRDsPolicy = "CreateReplace"
)

// Upgrade configures Helm upgrade actions.
type Upgrade struct {
	// Timeout for each Kubernetes operation of the upgrade.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// Remediation configures what happens after a failed upgrade.
	// +optional
	Remediation *UpgradeRemediation `json:"remediation,omitempty"`

	// DisableWait skips waiting for objects to become ready.
	// +optional
	DisableWait bool `json:"disableWait,omitempty"`

	// DisableWaitForJobs skips waiting for jobs to complete.
	// +optional
	DisableWaitForJobs bool `json:"disableWaitForJobs,omitempty"`

	// DisableHooks skips chart hooks.
	// +optional
	DisableHooks bool `json:"disableHooks,omitempty"`

	// DisableOpenAPIValidation skips validating rendered manifests against the OpenAPI schema.
	// +optional
	DisableOpenAPIValidation bool `json:"disableOpenAPIValidation,omitempty"`

	// Force replaces objects instead of merging.
	// +optional
	Force bool `json:"force,omitempty"`

	// PreserveValues reuses the previous release's values.
	// +optional
	PreserveValues bool `json:"preserveValues,omitempty"`

	// CleanupOnFail deletes objects created by a failed upgrade.
	// +optional
	CleanupOnFail bool `json:"cleanupOnFail,omitempty"`

	// CRDs is the CRD policy on upgrade: Skip (default), Create or CreateReplace.
	// +kubebuilder:validation:Enum=Skip;Create;CreateReplace
	// +optional
	CRDs CRDsPolicy `json:"crds,omitempty"`
}

// UpgradeRemediation configures remediation of failed upgrades.
type UpgradeRemediation struct {
	// Retries after a failure; negative is unlimited.
	// +optional
	Retries int `json:"retries,omitempty"`

	// IgnoreTestFailures skips remediation when tests fail after upgrade.
	// +optional
	IgnoreTestFailures *bool `json:"ignoreTestFailures,omitempty"`

	// RemediateLastFailure remediates the last failure once retries are exhausted.
	// +optional
	RemediateLastFailure *bool `json:"remediateLastFailure,omitempty"`

	// Strategy of remediation: rollback (default) or uninstall.
	// +kubebuilder:validation:Enum=rollback;uninstall
	// +optional
	Strategy *RemediationStrategy `json:"strategy,omitempty"`
}

// RemediationStrategy is how a failed upgrade is remediated.
type RemediationStrategy string

const (
	RollbackRemediationStrategy  RemediationStrategy = "rollback"
	UninstallRemediationStrategy RemediationStrategy = "uninstall"
)

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

	// Filters select tests to run or exclude.
	Filters *[]Filter `json:"filters,omitempty"`
}

// Filter includes or excludes one named test.
type Filter struct {
	// Name of the test.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// Exclude leaves the test out.
	// +optional
	Exclude bool `json:"exclude,omitempty"`
}

// Rollback configures Helm rollback actions.
type Rollback struct {
	// Timeout for each Kubernetes operation of the rollback.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// DisableWait skips waiting for objects to become ready.
	// +optional
	DisableWait bool `json:"disableWait,omitempty"`

	// DisableWaitForJobs skips waiting for jobs to complete.
	// +optional
	DisableWaitForJobs bool `json:"disableWaitForJobs,omitempty"`

	// DisableHooks skips chart hooks.
	// +optional
	DisableHooks bool `json:"disableHooks,omitempty"`

	// Recreate restarts pods of managed workloads.
	// +optional
	Recreate bool `json:"recreate,omitempty"`

	// Force replaces objects instead of merging.
	// +optional
	Force bool `json:"force,omitempty"`

	// CleanupOnFail deletes objects created by a failed rollback.
	// +optional
	CleanupOnFail bool `json:"cleanupOnFail,omitempty"`
}

// Uninstall configures Helm uninstall actions.
type Uninstall struct {
	// Timeout for each Kubernetes operation of the uninstall.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// DisableHooks skips chart hooks.
	// +optional
	DisableHooks bool `json:"disableHooks,omitempty"`

	// KeepHistory deletes the objects but keeps the release history.
	// +optional
	KeepHistory bool `json:"keepHistory,omitempty"`

	// DisableWait skips waiting for objects to be deleted.
	// +optional
	DisableWait bool `json:"disableWait,omitempty"`

	// DeletionPropagation policy for deleted objects.
	// +kubebuilder:default=background
	// +kubebuilder:validation:Enum=background;foreground;orphan
	// +optional
	DeletionPropagation *string `json:"deletionPropagation,omitempty"`
}

// ReleaseAction is a Helm action performed on a release.
type ReleaseAction string

const (
	ReleaseActionInstall ReleaseAction = "install"
	ReleaseActionUpgrade ReleaseAction = "upgrade"
)

// HelmReleaseStatus is the observed state of a HelmRelease.
type HelmReleaseStatus struct {
	// ObservedGeneration is the last generation observed.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// ObservedPostRenderersDigest is the digest of the post-renderers last reconciled successfully.
	// +optional
	ObservedPostRenderersDigest string `json:"observedPostRenderersDigest,omitempty"`

	// LastAttemptedGeneration is the last generation a reconciliation was attempted for.
	// +optional
	LastAttemptedGeneration int64 `json:"lastAttemptedGeneration,omitempty"`

	// Conditions describe the reconciliation state.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// HelmChart is "<namespace>/<name>" of the HelmChart created for the release.
	// +optional
	HelmChart string `json:"helmChart,omitempty"`

	// StorageNamespace is the Helm storage namespace of the current release.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Optional
	// +optional
	StorageNamespace string `json:"storageNamespace,omitempty"`

	// History of releases, back to the last successful one.
	// +optional
	History helmv2.Snapshots `json:"history,omitempty"`

	// LastAttemptedReleaseAction is the last release action performed.
	// +kubebuilder:validation:Enum=install;upgrade
	// +optional
	LastAttemptedReleaseAction ReleaseAction `json:"lastAttemptedReleaseAction,omitempty"`

	// Failures counts failed reconciliations of the current desired state.
	// +optional
	Failures int64 `json:"failures,omitempty"`

	// InstallFailures counts failed installs of the current desired state.
	// +optional
	InstallFailures int64 `json:"installFailures,omitempty"`

	// UpgradeFailures counts failed upgrades of the current desired state.
	// +optional
	UpgradeFailures int64 `json:"upgradeFailures,omitempty"`

	// LastAppliedRevision is the chart revision last released successfully.
	// Deprecated: see History.
	// +optional
	LastAppliedRevision string `json:"lastAppliedRevision,omitempty"`

	// LastAttemptedRevision is the chart revision of the last attempt.
	// +optional
	LastAttemptedRevision string `json:"lastAttemptedRevision,omitempty"`

	// LastAttemptedRevisionDigest is the artifact digest of the last attempt (OCI sources only).
	// +optional
	LastAttemptedRevisionDigest string `json:"lastAttemptedRevisionDigest,omitempty"`

	// LastAttemptedValuesChecksum is the SHA1 of the values of the last attempt.
	// Deprecated: use LastAttemptedConfigDigest.
	// +optional
	LastAttemptedValuesChecksum string `json:"lastAttemptedValuesChecksum,omitempty"`

	// LastReleaseRevision is the version of the last successful release.
	// Deprecated: use History.
	// +optional
	LastReleaseRevision int `json:"lastReleaseRevision,omitempty"`

	// LastAttemptedConfigDigest is the digest of the values of the last attempt.
	// +optional
	LastAttemptedConfigDigest string `json:"lastAttemptedConfigDigest,omitempty"`

	// LastHandledForceAt is the last force request annotation value handled.
	// +optional
	LastHandledForceAt string `json:"lastHandledForceAt,omitempty"`

	// LastHandledResetAt is the last reset request annotation value handled.
	// +optional
	LastHandledResetAt string `json:"lastHandledResetAt,omitempty"`

	meta.ReconcileRequestStatus `json:",inline"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=hr,categories=all;fluxcd;fluxcd-appliers
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description=""
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].status",description=""
// +kubebuilder:printcolumn:name="Status",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].message",description=""
// +kubebuilder:deprecatedversion:warning="v2beta2 HelmRelease is deprecated, upgrade to v2"

// HelmRelease is the deprecated v2beta2 form of a Helm release of a chart from a source.
type HelmRelease struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec HelmReleaseSpec `json:"spec,omitempty"`
	// +kubebuilder:default:={"observedGeneration":-1}
	Status HelmReleaseStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// HelmReleaseList is a list of v2beta2 HelmReleases.
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

// GetMaxHistory returns MaxHistory, 5 when unset.
func (in HelmRelease) GetMaxHistory() int {
	if in.Spec.MaxHistory == nil {
		return defaultMaxHistory
	}
	return *in.Spec.MaxHistory
}
