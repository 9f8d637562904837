package v2

import (
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/crds/meta"
)

const (
	// HelmReleaseKind is the kind name.
	HelmReleaseKind = "HelmRelease"
	// HelmReleaseFinalizer is the finalizer the controller puts on HelmReleases.
	HelmReleaseFinalizer = "finalizers.fluxcd.io"
	// SourceIndexKey is the field index key of HelmReleases by source.
	SourceIndexKey string = ".metadata.source"
)

// defaultMaxHistory is the default number of Helm release versions kept.
const defaultMaxHistory = 5

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

	// KubeConfig targets a remote cluster; ServiceAccountName is then impersonated there.
	// +optional
	KubeConfig *meta.KubeConfigReference `json:"kubeConfig,omitempty"`

	// Suspend stops future reconciliations; a running one is not interrupted.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// ReleaseName is the Helm release name; "[TargetNamespace-]Name" when empty.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=53
	// +kubebuilder:validation:Optional
	// +optional
	ReleaseName string `json:"releaseName,omitempty"`

	// TargetNamespace is the namespace the release is installed in; the HelmRelease's when empty.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Optional
	// +optional
	TargetNamespace string `json:"targetNamespace,omitempty"`

	// StorageNamespace is where Helm stores release data; the HelmRelease's namespace when empty.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Optional
	// +optional
	StorageNamespace string `json:"storageNamespace,omitempty"`

	// DependsOn lists HelmReleases that must be ready before this one is reconciled.
	// +optional
	DependsOn []DependencyReference `json:"dependsOn,omitempty"`

	// Timeout for each Kubernetes operation of a Helm action (e.g. hook jobs); 5m when unset.
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

	// PersistentClient reuses one Kubernetes client for a whole reconciliation; true when unset.
	// +optional
	PersistentClient *bool `json:"persistentClient,omitempty"`

	// DriftDetection configures detection and correction of cluster drift from the release.
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

	// CommonMetadata holds labels and annotations set on every rendered object.
	// +optional
	CommonMetadata *CommonMetadata `json:"commonMetadata,omitempty"`

	// PostRenderers are applied to the rendered manifests in order.
	// +optional
	PostRenderers []PostRenderer `json:"postRenderers,omitempty"`

	// PostRenderStrategy says how hooks are passed to post-renderers: nohooks, combined or separate.
	// +kubebuilder:validation:Enum=nohooks;combined;separate
	// +optional
	PostRenderStrategy PostRenderStrategy `json:"postRenderStrategy,omitempty"`

	// WaitStrategy chooses how Helm waits for applied objects to become ready.
	// +optional
	WaitStrategy *WaitStrategy `json:"waitStrategy,omitempty"`

	// HealthCheckExprs are CEL health checks for custom kinds, used when waiting with the poller.
	// +optional
	HealthCheckExprs []kustomizev1.CustomHealthCheck `json:"healthCheckExprs,omitempty"`
}

// Kustomize is a post-renderer that patches the rendered manifests with kustomize.
type Kustomize struct {
	// Patches are strategic-merge or JSON6902 patches with optional targets.
	// +optional
	Patches []kustomizev1.Patch `json:"patches,omitempty"`

	// Images overrides image names, tags or digests.
	// +optional
	Images []kustomizev1.Image `json:"images,omitempty"`
}

// CommonMetadata holds labels and annotations added to every rendered object.
type CommonMetadata struct {
	// Annotations to set.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`

	// Labels to set.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
}

// PostRenderer is one post-rendering step.
type PostRenderer struct {
	// Kustomize patches the rendered manifests.
	// +optional
	Kustomize *Kustomize `json:"kustomize,omitempty"`
}

// PostRenderStrategy says how hooks are passed to post-renderers.
type PostRenderStrategy string

const (
	// PostRenderStrategyNoHooks keeps hooks away from post-renderers (Helm 3 behaviour).
	PostRenderStrategyNoHooks PostRenderStrategy = "nohooks"
	// PostRenderStrategyCombined passes hooks and templates together (Helm 4 default).
	PostRenderStrategyCombined PostRenderStrategy = "combined"
	// PostRenderStrategySeparate passes hooks and templates as separate streams.
	PostRenderStrategySeparate PostRenderStrategy = "separate"
)

// DriftDetectionMode says what is done about drift between the release manifest and the cluster.
type DriftDetectionMode string

const (
	// DriftDetectionEnabled detects drift and corrects it with an upgrade.
	DriftDetectionEnabled DriftDetectionMode = "enabled"
	// DriftDetectionWarn detects drift and only reports it.
	DriftDetectionWarn DriftDetectionMode = "warn"
	// DriftDetectionDisabled does not look for drift (the default).
	DriftDetectionDisabled DriftDetectionMode = "disabled"
)

var (
	// DriftDetectionMetadataKey is the label or annotation that excludes an object from drift
	// detection when set to DriftDetectionDisabledValue.
	DriftDetectionMetadataKey = GroupVersion.Group + "/driftDetection"
	// DriftDetectionDisabledValue is the value of DriftDetectionMetadataKey that excludes an object.
	DriftDetectionDisabledValue = "disabled"
)

// IgnoreRule excludes JSON pointer paths of selected objects from drift detection.
type IgnoreRule struct {
	// Paths are RFC 6901 JSON pointers to ignore.
	// +required
	Paths []string `json:"paths"`

	// Target selects the objects the rule applies to; all release objects when unset.
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

// GetMode returns Mode, disabled when empty.
func (d DriftDetection) GetMode() DriftDetectionMode {
	if d.Mode == "" {
		return DriftDetectionDisabled
	}
	return d.Mode
}

// MustDetectChanges reports whether drift must be looked for (enabled or warn).
func (d DriftDetection) MustDetectChanges() bool {
	m := d.GetMode()
	return m == DriftDetectionEnabled || m == DriftDetectionWarn
}

// HelmChartTemplate is the template of the HelmChart object the controller creates, in the
// namespace of the referenced source.
type HelmChartTemplate struct {
	// ObjectMeta holds labels and annotations for the HelmChart.
	// +optional
	ObjectMeta *HelmChartTemplateObjectMeta `json:"metadata,omitempty"`

	// Spec holds the HelmChart spec.
	// +required
	Spec HelmChartTemplateSpec `json:"spec"`
}

// GetInterval returns the chart interval, or def when unset.
func (in HelmChartTemplate) GetInterval(def metav1.Duration) metav1.Duration {
	if in.Spec.Interval == nil {
		return def
	}
	return *in.Spec.Interval
}

// GetNamespace returns the source namespace, or def when unset.
func (in HelmChartTemplate) GetNamespace(def string) string {
	if in.Spec.SourceRef.Namespace == "" {
		return def
	}
	return in.Spec.SourceRef.Namespace
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
	// Chart is the chart name (repositories) or path (Git, Bucket) in the source.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +required
	Chart string `json:"chart"`

	// Version is a semver constraint, ignored for Git and Bucket sources; latest when "*".
	// +kubebuilder:default:=*
	// +optional
	Version string `json:"version,omitempty"`

	// SourceRef is the source the chart is fetched from.
	// +required
	SourceRef CrossNamespaceObjectReference `json:"sourceRef"`

	// Interval at which the HelmChart checks its source; the HelmRelease interval when unset.
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

	// IgnoreMissingValuesFiles skips missing ValuesFiles instead of failing.
	// +optional
	IgnoreMissingValuesFiles bool `json:"ignoreMissingValuesFiles,omitempty"`

	// Verify configures signature verification of OCI charts.
	// +optional
	Verify *HelmChartTemplateVerification `json:"verify,omitempty"`
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

// WaitStrategyName names a way of waiting for objects to become ready.
type WaitStrategyName string

const (
	// WaitStrategyPoller polls object status with kstatus.
	WaitStrategyPoller WaitStrategyName = "poller"
	// WaitStrategyLegacy uses Helm 3's waiting logic.
	WaitStrategyLegacy WaitStrategyName = "legacy"
)

// WaitStrategy chooses how Helm waits for applied objects.
type WaitStrategy struct {
	// Name of the strategy.
	// +kubebuilder:validation:Enum=poller;legacy
	// +required
	Name WaitStrategyName `json:"name"`
}

// Remediation is implemented by InstallRemediation and UpgradeRemediation.
// +kubebuilder:object:generate=false
type Remediation interface {
	GetRetries() int
	MustIgnoreTestFailures(bool) bool
	MustRemediateLastFailure() bool
	GetStrategy() RemediationStrategy
	GetFailureCount(hr *HelmRelease) int64
	IncrementFailureCount(hr *HelmRelease)
	RetriesExhausted(hr *HelmRelease) bool
	IsUninstallAfterUpgrade() bool
}

// Strategy is implemented by Install and Upgrade.
// +kubebuilder:object:generate=false
type Strategy interface {
	GetRetry(defaultToRetryOnFailure bool) Retry
}

// Retry is implemented by the retry-on-failure strategies.
// +kubebuilder:object:generate=false
type Retry interface {
	GetRetryInterval() time.Duration
}

// Install configures Helm install actions.
type Install struct {
	// Timeout for each Kubernetes operation of the install; spec.timeout when unset.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// Strategy for handling a failed install; RemediateOnFailure when unset.
	// +optional
	Strategy *InstallStrategy `json:"strategy,omitempty"`

	// Remediation configures what happens after a failed install.
	// +optional
	Remediation *InstallRemediation `json:"remediation,omitempty"`

	// DisableTakeOwnership stops Helm from adopting existing objects.
	// +optional
	DisableTakeOwnership bool `json:"disableTakeOwnership,omitempty"`

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

	// DisableSchemaValidation skips validating values against the chart's JSON schema.
	// +optional
	DisableSchemaValidation bool `json:"disableSchemaValidation,omitempty"`

	// Replace reuses the release name if it belongs to a deleted release still in history.
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

	// CreateNamespace creates the target namespace if missing (it is never deleted).
	// +optional
	CreateNamespace bool `json:"createNamespace,omitempty"`

	// ServerSideApply applies objects server-side; true by default.
	// +optional
	ServerSideApply *bool `json:"serverSideApply,omitempty"`
}

// GetTimeout returns Timeout, or def when unset.
func (in Install) GetTimeout(def metav1.Duration) metav1.Duration {
	if in.Timeout == nil {
		return def
	}
	return *in.Timeout
}

// GetRemediation returns the install remediation settings.
func (in Install) GetRemediation() Remediation {
	if in.Remediation == nil {
		return InstallRemediation{}
	}
	return *in.Remediation
}

// GetRetry returns the retry strategy when RetryOnFailure is in effect, else nil.
func (in Install) GetRetry(defaultToRetryOnFailure bool) Retry {
	if in.Strategy == nil {
		if defaultToRetryOnFailure {
			return &InstallStrategy{Name: string(ActionStrategyRetryOnFailure)}
		}
		return nil
	}
	if in.Strategy.Name != string(ActionStrategyRetryOnFailure) {
		return nil
	}
	return in.Strategy
}

// GetDisableWait reports whether waiting is disabled.
func (in Install) GetDisableWait() bool { return in.DisableWait }

// InstallStrategy chooses how a failed install is handled.
// +kubebuilder:validation:XValidation:rule="!has(self.retryInterval) || self.name != 'RemediateOnFailure'", message=".retryInterval cannot be set when .name is 'RemediateOnFailure'"
type InstallStrategy struct {
	// Name of the strategy.
	// +kubebuilder:validation:Enum=RemediateOnFailure;RetryOnFailure
	// +required
	Name string `json:"name"`

	// RetryInterval between retries with RetryOnFailure; 5m when unset.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	RetryInterval *metav1.Duration `json:"retryInterval,omitempty"`
}

// GetRetryInterval returns RetryInterval, 5m when unset.
func (in InstallStrategy) GetRetryInterval() time.Duration {
	if in.RetryInterval == nil {
		return 5 * time.Minute
	}
	return in.RetryInterval.Duration
}

// InstallRemediation configures remediation (uninstall) of failed installs.
type InstallRemediation struct {
	// Retries is the number of retries after a failure; negative is unlimited, 0 by default.
	// +optional
	Retries int `json:"retries,omitempty"`

	// IgnoreTestFailures skips remediation when tests fail after install; Test.IgnoreFailures
	// when unset.
	// +optional
	IgnoreTestFailures *bool `json:"ignoreTestFailures,omitempty"`

	// RemediateLastFailure remediates the last failure once retries are exhausted; false when unset.
	// +optional
	RemediateLastFailure *bool `json:"remediateLastFailure,omitempty"`
}

// GetRetries returns Retries.
func (in InstallRemediation) GetRetries() int { return in.Retries }

// MustIgnoreTestFailures returns IgnoreTestFailures, or def when unset.
func (in InstallRemediation) MustIgnoreTestFailures(def bool) bool {
	if in.IgnoreTestFailures == nil {
		return def
	}
	return *in.IgnoreTestFailures
}

// MustRemediateLastFailure returns RemediateLastFailure, false when unset.
func (in InstallRemediation) MustRemediateLastFailure() bool {
	return in.RemediateLastFailure != nil && *in.RemediateLastFailure
}

// GetStrategy returns uninstall: a failed install is always remediated by uninstalling.
func (in InstallRemediation) GetStrategy() RemediationStrategy { return UninstallRemediationStrategy }

// GetFailureCount returns status.installFailures.
func (in InstallRemediation) GetFailureCount(hr *HelmRelease) int64 { return hr.Status.InstallFailures }

// IncrementFailureCount increments status.installFailures.
func (in InstallRemediation) IncrementFailureCount(hr *HelmRelease) { hr.Status.InstallFailures++ }

// RetriesExhausted reports whether no retries remain.
func (in InstallRemediation) RetriesExhausted(hr *HelmRelease) bool {
	return in.Retries >= 0 && in.GetFailureCount(hr) > int64(in.Retries)
}

// IsUninstallAfterUpgrade is always false for installs.
func (in InstallRemediation) IsUninstallAfterUpgrade() bool { return false }

// CRDsPolicy says how CRDs in a chart's crds directory are handled.
type CRDsPolicy string

const (
	// Skip neither creates nor updates CRDs.
	Skip CRDsPolicy = "Skip"
	// Create creates missing CRDs and leaves existing ones alone.
	Create CRDsPolicy = "Create"
	// CreateReplace creates missing CRDs and replaces existing ones; none are deleted.
	CreateReplace CRDsPolicy = "CreateReplace"
)

// ServerSideApplyMode says whether upgrades and rollbacks apply server-side.
type ServerSideApplyMode string

const (
	// ServerSideApplyEnabled applies server-side.
	ServerSideApplyEnabled ServerSideApplyMode = "enabled"
	// ServerSideApplyDisabled applies client-side.
	ServerSideApplyDisabled ServerSideApplyMode = "disabled"
	// ServerSideApplyAuto follows what the previous release used.
	ServerSideApplyAuto ServerSideApplyMode = "auto"
)

// ChartNameChangeStrategy says what is done when the chart name of a release changes.
type ChartNameChangeStrategy string

const (
	// ChartNameChangeStrategyInPlaceUpdate upgrades the existing release.
	ChartNameChangeStrategyInPlaceUpdate ChartNameChangeStrategy = "InPlaceUpdate"
	// ChartNameChangeStrategyReinstall uninstalls the release and installs it again.
	ChartNameChangeStrategyReinstall ChartNameChangeStrategy = "Reinstall"
)

// Upgrade configures Helm upgrade actions.
type Upgrade struct {
	// Timeout for each Kubernetes operation of the upgrade; spec.timeout when unset.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// Strategy for handling a failed upgrade; RemediateOnFailure when unset.
	// +optional
	Strategy *UpgradeStrategy `json:"strategy,omitempty"`

	// Remediation configures what happens after a failed upgrade.
	// +optional
	Remediation *UpgradeRemediation `json:"remediation,omitempty"`

	// DisableTakeOwnership stops Helm from adopting existing objects.
	// +optional
	DisableTakeOwnership bool `json:"disableTakeOwnership,omitempty"`

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

	// DisableSchemaValidation skips validating values against the chart's JSON schema.
	// +optional
	DisableSchemaValidation bool `json:"disableSchemaValidation,omitempty"`

	// Force replaces objects instead of merging (client-side apply only).
	// +optional
	Force bool `json:"force,omitempty"`

	// PreserveValues reuses the previous release's values, merging in the new ones.
	// +optional
	PreserveValues bool `json:"preserveValues,omitempty"`

	// CleanupOnFail deletes objects created by a failed upgrade.
	// +optional
	CleanupOnFail bool `json:"cleanupOnFail,omitempty"`

	// CRDs is the CRD policy on upgrade: Skip (default), Create or CreateReplace.
	// +kubebuilder:validation:Enum=Skip;Create;CreateReplace
	// +optional
	CRDs CRDsPolicy `json:"crds,omitempty"`

	// ServerSideApply mode: enabled, disabled or auto (default).
	// +kubebuilder:validation:Enum=enabled;disabled;auto
	// +optional
	ServerSideApply ServerSideApplyMode `json:"serverSideApply,omitempty"`

	// ChartNameChangeStrategy for a changed chart name: Reinstall (default) or InPlaceUpdate.
	// +kubebuilder:validation:Enum=InPlaceUpdate;Reinstall
	// +optional
	ChartNameChangeStrategy ChartNameChangeStrategy `json:"chartNameChangeStrategy,omitempty"`
}

// GetTimeout returns Timeout, or def when unset.
func (in Upgrade) GetTimeout(def metav1.Duration) metav1.Duration {
	if in.Timeout == nil {
		return def
	}
	return *in.Timeout
}

// GetChartNameChangeStrategy returns ChartNameChangeStrategy, Reinstall when empty.
func (in Upgrade) GetChartNameChangeStrategy() ChartNameChangeStrategy {
	if in.ChartNameChangeStrategy == "" {
		return ChartNameChangeStrategyReinstall
	}
	return in.ChartNameChangeStrategy
}

// GetRemediation returns the upgrade remediation settings.
func (in Upgrade) GetRemediation() Remediation {
	if in.Remediation == nil {
		return UpgradeRemediation{}
	}
	return *in.Remediation
}

// GetRetry returns the retry strategy when RetryOnFailure is in effect, else nil.
func (in Upgrade) GetRetry(defaultToRetryOnFailure bool) Retry {
	if in.Strategy == nil {
		if defaultToRetryOnFailure {
			return &UpgradeStrategy{Name: string(ActionStrategyRetryOnFailure)}
		}
		return nil
	}
	if in.Strategy.Name != string(ActionStrategyRetryOnFailure) {
		return nil
	}
	return in.Strategy
}

// GetDisableWait reports whether waiting is disabled.
func (in Upgrade) GetDisableWait() bool { return in.DisableWait }

// UpgradeStrategy chooses how a failed upgrade is handled.
// +kubebuilder:validation:XValidation:rule="!has(self.retryInterval) || self.name == 'RetryOnFailure'", message=".retryInterval can only be set when .name is 'RetryOnFailure'"
type UpgradeStrategy struct {
	// Name of the strategy.
	// +kubebuilder:validation:Enum=RemediateOnFailure;RetryOnFailure
	// +required
	Name string `json:"name"`

	// RetryInterval between retries with RetryOnFailure; 5m when unset.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	RetryInterval *metav1.Duration `json:"retryInterval,omitempty"`
}

// GetRetryInterval returns RetryInterval, 5m when unset.
func (in UpgradeStrategy) GetRetryInterval() time.Duration {
	if in.RetryInterval == nil {
		return 5 * time.Minute
	}
	return in.RetryInterval.Duration
}

// UpgradeRemediation configures remediation of failed upgrades.
type UpgradeRemediation struct {
	// Retries is the number of retries after a failure; negative is unlimited, 0 by default.
	// +optional
	Retries int `json:"retries,omitempty"`

	// IgnoreTestFailures skips remediation when tests fail after upgrade; Test.IgnoreFailures
	// when unset.
	// +optional
	IgnoreTestFailures *bool `json:"ignoreTestFailures,omitempty"`

	// RemediateLastFailure remediates the last failure once retries are exhausted; defaults to
	// Retries > 0.
	// +optional
	RemediateLastFailure *bool `json:"remediateLastFailure,omitempty"`

	// Strategy of remediation: rollback (default) or uninstall.
	// +kubebuilder:validation:Enum=rollback;uninstall
	// +optional
	Strategy *RemediationStrategy `json:"strategy,omitempty"`
}

// GetRetries returns Retries.
func (in UpgradeRemediation) GetRetries() int { return in.Retries }

// MustIgnoreTestFailures returns IgnoreTestFailures, or def when unset.
func (in UpgradeRemediation) MustIgnoreTestFailures(def bool) bool {
	if in.IgnoreTestFailures == nil {
		return def
	}
	return *in.IgnoreTestFailures
}

// MustRemediateLastFailure returns RemediateLastFailure, Retries > 0 when unset.
func (in UpgradeRemediation) MustRemediateLastFailure() bool {
	if in.RemediateLastFailure == nil {
		return in.Retries > 0
	}
	return *in.RemediateLastFailure
}

// GetStrategy returns Strategy, rollback when unset.
func (in UpgradeRemediation) GetStrategy() RemediationStrategy {
	if in.Strategy == nil {
		return RollbackRemediationStrategy
	}
	return *in.Strategy
}

// GetFailureCount returns status.upgradeFailures.
func (in UpgradeRemediation) GetFailureCount(hr *HelmRelease) int64 { return hr.Status.UpgradeFailures }

// IncrementFailureCount increments status.upgradeFailures.
func (in UpgradeRemediation) IncrementFailureCount(hr *HelmRelease) { hr.Status.UpgradeFailures++ }

// RetriesExhausted reports whether no retries remain.
func (in UpgradeRemediation) RetriesExhausted(hr *HelmRelease) bool {
	return in.Retries >= 0 && in.GetFailureCount(hr) > int64(in.Retries)
}

// IsUninstallAfterUpgrade reports whether a failed upgrade is remediated by uninstalling.
func (in UpgradeRemediation) IsUninstallAfterUpgrade() bool {
	return in.GetStrategy() == UninstallRemediationStrategy
}

// ActionStrategyName names an install or upgrade failure strategy.
type ActionStrategyName string

const (
	// ActionStrategyRemediateOnFailure remediates failed actions.
	ActionStrategyRemediateOnFailure ActionStrategyName = "RemediateOnFailure"
	// ActionStrategyRetryOnFailure retries failed actions without remediation.
	ActionStrategyRetryOnFailure ActionStrategyName = "RetryOnFailure"
)

// RemediationStrategy is how a failed upgrade is remediated.
type RemediationStrategy string

const (
	// RollbackRemediationStrategy rolls back to the previous release.
	RollbackRemediationStrategy RemediationStrategy = "rollback"
	// UninstallRemediationStrategy uninstalls the release.
	UninstallRemediationStrategy RemediationStrategy = "uninstall"
)

// Test configures Helm test actions.
type Test struct {
	// Enable runs Helm tests after install and upgrade.
	// +optional
	Enable bool `json:"enable,omitempty"`

	// Timeout for each Kubernetes operation of the tests; spec.timeout when unset.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// IgnoreFailures skips remediation when tests fail; overridable per install and upgrade.
	// +optional
	IgnoreFailures bool `json:"ignoreFailures,omitempty"`

	// Filters select tests to run or exclude.
	Filters *[]Filter `json:"filters,omitempty"`
}

// GetTimeout returns Timeout, or def when unset.
func (in Test) GetTimeout(def metav1.Duration) metav1.Duration {
	if in.Timeout == nil {
		return def
	}
	return *in.Timeout
}

// GetFilters returns the filters, or nil.
func (in Test) GetFilters() []Filter {
	if in.Filters == nil {
		return nil
	}
	return *in.Filters
}

// Filter includes or excludes one named test.
type Filter struct {
	// Name of the test.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// Exclude leaves the test out instead of selecting it.
	// +optional
	Exclude bool `json:"exclude,omitempty"`
}

// Rollback configures Helm rollback actions.
type Rollback struct {
	// Timeout for each Kubernetes operation of the rollback; spec.timeout when unset.
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

	// Recreate restarted pods of managed workloads. Deprecated: has no effect with Helm 4.
	// +optional
	Recreate bool `json:"recreate,omitempty"`

	// Force replaces objects instead of merging (client-side apply only).
	// +optional
	Force bool `json:"force,omitempty"`

	// CleanupOnFail deletes objects created by a failed rollback.
	// +optional
	CleanupOnFail bool `json:"cleanupOnFail,omitempty"`

	// ServerSideApply mode: enabled, disabled or auto (default).
	// +kubebuilder:validation:Enum=enabled;disabled;auto
	// +optional
	ServerSideApply ServerSideApplyMode `json:"serverSideApply,omitempty"`
}

// GetTimeout returns Timeout, or def when unset.
func (in Rollback) GetTimeout(def metav1.Duration) metav1.Duration {
	if in.Timeout == nil {
		return def
	}
	return *in.Timeout
}

// GetDisableWait reports whether waiting is disabled.
func (in Rollback) GetDisableWait() bool { return in.DisableWait }

// Uninstall configures Helm uninstall actions.
type Uninstall struct {
	// Timeout for each Kubernetes operation of the uninstall; spec.timeout when unset.
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

// GetTimeout returns Timeout, or def when unset.
func (in Uninstall) GetTimeout(def metav1.Duration) metav1.Duration {
	if in.Timeout == nil {
		return def
	}
	return *in.Timeout
}

// GetDeletionPropagation returns DeletionPropagation, background when unset.
func (in Uninstall) GetDeletionPropagation() string {
	if in.DeletionPropagation == nil {
		return "background"
	}
	return *in.DeletionPropagation
}

// GetDisableWait reports whether waiting is disabled.
func (in Uninstall) GetDisableWait() bool { return in.DisableWait }

// ReleaseAction is a Helm action performed on a release.
type ReleaseAction string

const (
	ReleaseActionInstall              ReleaseAction = "install"
	ReleaseActionUpgrade              ReleaseAction = "upgrade"
	ReleaseActionRollback             ReleaseAction = "rollback"
	ReleaseActionUninstall            ReleaseAction = "uninstall"
	ReleaseActionUninstallRemediation ReleaseAction = "uninstall-remediation"
)

// HelmReleaseStatus is the observed state of a HelmRelease.
type HelmReleaseStatus struct {
	// ObservedGeneration is the last generation observed.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// ObservedPostRenderersDigest is the digest of the post-renderers last reconciled successfully.
	// +optional
	ObservedPostRenderersDigest string `json:"observedPostRenderersDigest,omitempty"`

	// ObservedCommonMetadataDigest is the digest of the common metadata last reconciled successfully.
	// +optional
	ObservedCommonMetadataDigest string `json:"observedCommonMetadataDigest,omitempty"`

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
	History Snapshots `json:"history,omitempty"`

	// Inventory lists the objects of the current release.
	// +optional
	Inventory *ResourceInventory `json:"inventory,omitempty"`

	// LastAttemptedReleaseAction is the last release action (install or upgrade) performed; it
	// selects the active retry or remediation settings.
	// +kubebuilder:validation:Enum=install;upgrade
	// +optional
	LastAttemptedReleaseAction ReleaseAction `json:"lastAttemptedReleaseAction,omitempty"`

	// LastAttemptedReleaseActionDuration is how long the last release action took.
	// +kubebuilder:validation:Type=string
	// +optional
	LastAttemptedReleaseActionDuration *metav1.Duration `json:"lastAttemptedReleaseActionDuration,omitempty"`

	// Failures counts failed reconciliations of the current desired state.
	// +optional
	Failures int64 `json:"failures,omitempty"`

	// InstallFailures counts failed installs of the current desired state.
	// +optional
	InstallFailures int64 `json:"installFailures,omitempty"`

	// UpgradeFailures counts failed upgrades of the current desired state.
	// +optional
	UpgradeFailures int64 `json:"upgradeFailures,omitempty"`

	// LastAttemptedRevision is the chart revision of the last attempt; for OCI sources the first
	// 12 digest characters are appended as build metadata.
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

	// LastHandledResetAt is the last reset request annotation value handled.
	// +optional
	LastHandledResetAt string `json:"lastHandledResetAt,omitempty"`

	meta.ReconcileRequestStatus `json:",inline"`
	meta.ForceRequestStatus     `json:",inline"`
}

// ClearHistory empties History.
func (in *HelmReleaseStatus) ClearHistory() { in.History = nil }

// ClearFailures resets the failure counters.
func (in *HelmReleaseStatus) ClearFailures() {
	in.Failures = 0
	in.InstallFailures = 0
	in.UpgradeFailures = 0
}

// GetHelmChart splits HelmChart into namespace and name ("", "" when unset or malformed).
func (in HelmReleaseStatus) GetHelmChart() (string, string) {
	if ns, name, ok := strings.Cut(in.HelmChart, string(types.Separator)); ok {
		return ns, name
	}
	return "", ""
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:resource:shortName=hr,categories=all;fluxcd;fluxcd-appliers
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description=""
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].status",description=""
// +kubebuilder:printcolumn:name="Status",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].message",description=""
// +kubebuilder:metadata:annotations="kustomize.toolkit.fluxcd.io/substitute=disabled"

// HelmRelease installs, upgrades, tests and remediates a Helm release of a chart from a source.
type HelmRelease struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec HelmReleaseSpec `json:"spec,omitempty"`
	// +kubebuilder:default:={"observedGeneration":-1}
	Status HelmReleaseStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// HelmReleaseList is a list of HelmReleases.
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

// GetDriftDetection returns the drift detection settings (zero value when unset).
func (in *HelmRelease) GetDriftDetection() DriftDetection {
	if in.Spec.DriftDetection == nil {
		return DriftDetection{}
	}
	return *in.Spec.DriftDetection
}

// GetInstall returns the install settings (zero value when unset).
func (in *HelmRelease) GetInstall() Install {
	if in.Spec.Install == nil {
		return Install{}
	}
	return *in.Spec.Install
}

// GetUpgrade returns the upgrade settings (zero value when unset).
func (in *HelmRelease) GetUpgrade() Upgrade {
	if in.Spec.Upgrade == nil {
		return Upgrade{}
	}
	return *in.Spec.Upgrade
}

// GetTest returns the test settings (zero value when unset).
func (in *HelmRelease) GetTest() Test {
	if in.Spec.Test == nil {
		return Test{}
	}
	return *in.Spec.Test
}

// GetRollback returns the rollback settings (zero value when unset).
func (in *HelmRelease) GetRollback() Rollback {
	if in.Spec.Rollback == nil {
		return Rollback{}
	}
	return *in.Spec.Rollback
}

// GetUninstall returns the uninstall settings (zero value when unset).
func (in *HelmRelease) GetUninstall() Uninstall {
	if in.Spec.Uninstall == nil {
		return Uninstall{}
	}
	return *in.Spec.Uninstall
}

// GetActiveRemediation returns the remediation settings of the last attempted release action,
// or nil when none was recorded.
func (in *HelmRelease) GetActiveRemediation() Remediation {
	switch in.Status.LastAttemptedReleaseAction {
	case ReleaseActionInstall:
		return in.GetInstall().GetRemediation()
	case ReleaseActionUpgrade:
		return in.GetUpgrade().GetRemediation()
	default:
		return nil
	}
}

// GetActiveRetry returns the retry settings of the last attempted release action, or nil.
func (in *HelmRelease) GetActiveRetry(defaultToRetryOnFailure bool) Retry {
	switch in.Status.LastAttemptedReleaseAction {
	case ReleaseActionInstall:
		return in.GetInstall().GetRetry(defaultToRetryOnFailure)
	case ReleaseActionUpgrade:
		return in.GetUpgrade().GetRetry(defaultToRetryOnFailure)
	default:
		return nil
	}
}

// GetWaitStrategy returns the wait strategy name, "" when unset.
func (in *HelmRelease) GetWaitStrategy() WaitStrategyName {
	if in.Spec.WaitStrategy == nil {
		return ""
	}
	return in.Spec.WaitStrategy.Name
}

// GetPostRenderStrategy returns the post-render strategy, "" when unset.
func (in *HelmRelease) GetPostRenderStrategy() PostRenderStrategy {
	return in.Spec.PostRenderStrategy
}

// GetValues decodes the inline values into a map (nil when unset or not an object).
func (in HelmRelease) GetValues() map[string]any {
	var values map[string]any
	if in.Spec.Values != nil {
		_ = yaml.Unmarshal(in.Spec.Values.Raw, &values)
	}
	return values
}

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

// GetHelmChartName returns the name of the HelmChart created for the release, "<namespace>-<name>".
func (in HelmRelease) GetHelmChartName() string {
	return in.Namespace + "-" + in.Name
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

// UsePersistentClient returns PersistentClient, true when unset.
func (in HelmRelease) UsePersistentClient() bool {
	return in.Spec.PersistentClient == nil || *in.Spec.PersistentClient
}

// GetDependsOn returns the dependencies.
func (in HelmRelease) GetDependsOn() []DependencyReference { return in.Spec.DependsOn }

// HasChartRef reports whether the release uses ChartRef.
func (in *HelmRelease) HasChartRef() bool { return in.Spec.ChartRef != nil }

// HasChartTemplate reports whether the release uses a chart template.
func (in *HelmRelease) HasChartTemplate() bool { return in.Spec.Chart != nil }

// GetLastHandledReconcileRequest returns the last handled reconcile request annotation value.
func (in HelmRelease) GetLastHandledReconcileRequest() string {
	return in.Status.LastHandledReconcileAt
}

// GetLastHandledForceRequestStatus returns a pointer to status.lastHandledForceAt.
func (in *HelmRelease) GetLastHandledForceRequestStatus() *string {
	return &in.Status.LastHandledForceAt
}
