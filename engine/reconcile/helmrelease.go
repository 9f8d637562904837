package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	"github.com/converge-gitops/converge/crds/meta"
	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/health"
	"github.com/converge-gitops/converge/engine/helmrelease"
	"github.com/converge-gitops/converge/engine/helmrelease/release"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/support"
)

// HelmReleasesResource is the HelmRelease API resource.
var HelmReleasesResource = helmv2.GroupVersion.WithResource("helmreleases")

// maxReleaseRounds bounds the attempts one Reconcile makes after remediations (helm-controller requeues
// at once after each; the remediation retries bound them too).
const maxReleaseRounds = 10

// HelmReleases reconciles HelmReleases whose chart is already loaded: Helm releases through
// engine/helmrelease/release, status written as helm-controller writes it.
type HelmReleases struct {
	// Client reads HelmReleases and writes their status.
	Client dynamic.Interface
	// Config reaches the cluster the releases go to.
	Config *rest.Config
	// Renderer composes the values (spec.valuesFrom from the cluster: give it the cluster's
	// ConfigMaps and Secrets) and post-renders the releases.
	Renderer *helmrelease.Renderer
	Clock    clock.PassiveClock
	// Impersonate returns the configuration acting as the ServiceAccount namespace/name, for
	// HelmReleases with spec.serviceAccountName. Nil refuses such HelmReleases.
	Impersonate func(namespace, name string) (*rest.Config, error)
	// Kubeconfig says which credentials the kubeconfig Secret of spec.kubeConfig may use (default: no
	// exec plugins, no disabled TLS verification).
	Kubeconfig kube.KubeconfigOptions
	// Remotes caches the configurations of the clusters spec.kubeConfig reaches (nil: made at every
	// reconciliation).
	Remotes *RemoteClients
	// ReadyExprs caches the compiled spec.dependsOn[].readyExpr (nil: compiled at every check).
	ReadyExprs *ReadyExprs
	// Tenancy is the multi-tenancy lockdown: cross-namespace chart sources refused, the default
	// ServiceAccount.
	Tenancy Tenancy
	// HealthCache, when set, serves the health waits of releases to this cluster (no spec.kubeConfig)
	// from watches instead of a GET per object and second.
	HealthCache *health.Cache
}

// HelmReleaseResult is the outcome of one reconciliation.
type HelmReleaseResult struct {
	HelmRelease string `json:"helmRelease"`
	// Revision is the chart version attempted.
	Revision string `json:"revision,omitempty"`
	// Actions are the Helm actions run, in order (none: the release was in sync).
	Actions []release.Action `json:"actions,omitempty"`
	// Release is the Helm release now current ("namespace/name.vN"), if any.
	Release   string `json:"release,omitempty"`
	Suspended bool   `json:"suspended,omitempty"`
	// Stalled: retries are exhausted; nothing more happens until the HelmRelease changes.
	Stalled bool `json:"stalled,omitempty"`
	// Drift is the cluster drift found (spec.driftDetection enabled or warn) and, in enabled mode, its
	// correction; nil when there was none. Report Drift.Events() as Kubernetes events, as
	// helm-controller does (DriftDetected, then DriftCorrected or DriftCorrectionFailed).
	Drift *release.Drift `json:"drift,omitempty"`
	// RequeueAfter asks for the next attempt after that long (a RetryOnFailure strategy, or a
	// dependency not ready yet).
	RequeueAfter time.Duration `json:"requeueAfter,omitempty"`
	Err          error         `json:"-"`
	Duration     time.Duration `json:"duration"`
}

// DependencyRequeueInterval is how long a HelmRelease waits for a dependency that is not ready.
const DependencyRequeueInterval = 30 * time.Second

func (r *HelmReleases) now() time.Time {
	return r.Clock.Now()
}

// Get reads a HelmRelease from the cluster; nil when it does not exist.
func (r *HelmReleases) Get(ctx context.Context, namespace, name string) (*helmv2.HelmRelease, error) {
	u, err := r.Client.Resource(HelmReleasesResource).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading HelmRelease %s/%s: %w", namespace, name, err)
	}
	hr := &helmv2.HelmRelease{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, hr); err != nil {
		return nil, fmt.Errorf("HelmRelease %s/%s: %w", namespace, name, err)
	}
	return hr, nil
}

// Reconcile releases chrt (the chart hr's source provides; ociDigest the digest of its OCI artifact,
// if any) for hr as helm-controller does, and writes hr's status. hr must exist in the cluster; its live
// version is used. A chart that could not be fetched or loaded (chartErr) is recorded as ArtifactFailed.
// An unchanged HelmRelease whose release is in sync runs no Helm action.
func (r *HelmReleases) Reconcile(ctx context.Context, hr *helmv2.HelmRelease, chrt *chart.Chart, ociDigest string, chartErr error) *HelmReleaseResult {
	start := r.now()
	id := hr.Namespace + "/" + hr.Name
	res := &HelmReleaseResult{HelmRelease: id}
	defer func() { res.Duration = r.now().Sub(start) }()

	live, err := r.Get(ctx, hr.Namespace, hr.Name)
	if err != nil {
		res.Err = err
		return res
	}
	if live == nil {
		res.Err = fmt.Errorf("HelmRelease %s does not exist in the cluster: apply the object that declares it first", id)
		return res
	}
	hr = live.DeepCopy()
	if hr.Spec.Suspend {
		res.Suspended = true
		return res
	}
	rel := &release.Releaser{Renderer: r.Renderer, Clock: r.Clock}
	fail := func(reason string, err error) *HelmReleaseResult {
		res.Err = fmt.Errorf("HelmRelease %s: %w", id, err)
		setHRCondition(hr, meta.ReadyCondition, metav1.ConditionFalse, reason, err.Error(), r.now())
		// Retried: Reconciling, as helm-controller leaves it (kstatus sees the release in progress).
		msg := err.Error()
		if c := apimeta.FindStatusCondition(hr.Status.Conditions, meta.ReconcilingCondition); c != nil {
			msg = c.Message
		}
		setHRCondition(hr, meta.ReconcilingCondition, metav1.ConditionTrue, meta.ProgressingWithRetryReason, msg, r.now())
		r.writeStatus(ctx, hr, false, res)
		return res
	}
	if err := r.Tenancy.CheckHelmRelease(hr); err != nil || IsAccessDenied(chartErr) {
		// Refused by the lockdown: Stalled until the spec or the agent's flags change, as helm-controller.
		if err == nil {
			err = chartErr
		}
		res.Err = fmt.Errorf("HelmRelease %s: %w", id, err)
		setHRCondition(hr, meta.StalledCondition, metav1.ConditionTrue, AccessDeniedReason, err.Error(), r.now())
		setHRCondition(hr, meta.ReadyCondition, metav1.ConditionFalse, AccessDeniedReason, err.Error(), r.now())
		apimeta.RemoveStatusCondition(&hr.Status.Conditions, meta.ReconcilingCondition)
		r.writeStatus(ctx, hr, true, res)
		return res
	}
	removeStalled(hr, AccessDeniedReason)
	if hr.Spec.Chart != nil {
		hr.Status.HelmChart = hr.Spec.Chart.GetNamespace(hr.Namespace) + "/" + hr.GetHelmChartName()
	} else {
		hr.Status.HelmChart = "" // spec.chartRef: no HelmChart of its own (ApplyHelmChart deleted it)
	}
	if err := r.checkDependencies(ctx, hr); err != nil {
		if IsTerminal(err) {
			msg := TerminalErrorMessage + ": " + err.Error()
			setHRCondition(hr, meta.StalledCondition, metav1.ConditionTrue, meta.InvalidCELExpressionReason, msg, r.now())
			apimeta.RemoveStatusCondition(&hr.Status.Conditions, meta.ReconcilingCondition)
			res.Err = fmt.Errorf("HelmRelease %s: %w", id, err)
			setHRCondition(hr, meta.ReadyCondition, metav1.ConditionFalse, meta.InvalidCELExpressionReason, msg, r.now())
			r.writeStatus(ctx, hr, true, res)
			return res
		}
		removeStalled(hr, meta.InvalidCELExpressionReason)
		res.RequeueAfter = DependencyRequeueInterval
		return fail(helmv2.DependencyNotReadyReason, err)
	}
	removeStalled(hr, meta.InvalidCELExpressionReason)
	if IsSourceNotReady(chartErr) {
		res.RequeueAfter = DependencyRequeueInterval
		return fail(SourceNotReadyReason, chartErr)
	}
	if chartErr != nil {
		return fail(helmv2.ArtifactFailedReason, fmt.Errorf("Could not load chart: %w", chartErr))
	}
	if chrt == nil || chrt.Metadata == nil {
		return fail(helmv2.ArtifactFailedReason, errors.New("Could not load chart: no chart"))
	}
	res.Revision = chrt.Metadata.Version
	values, err := r.Renderer.Values(ctx, hr)
	if err != nil {
		return fail("ValuesError", err)
	}
	if rel.Config, err = r.config(ctx, hr); err != nil {
		return fail("RESTClientError", err)
	}
	if hr.Spec.KubeConfig == nil {
		rel.HealthCache = r.HealthCache
	}

	req := &release.Request{HelmRelease: hr, Chart: chrt, Values: values, OCIDigest: ociDigest,
		Patch: func(ctx context.Context, hr *helmv2.HelmRelease) error {
			return r.patchStatus(ctx, hr, false)
		}}
	for round := 0; ; round++ {
		out, err := rel.Reconcile(ctx, req)
		res.Actions = append(res.Actions, out.Actions...)
		res.Stalled = out.Stalled
		if out.Drift != nil {
			res.Drift = out.Drift
		}
		res.RequeueAfter = out.RequeueAfter
		if err != nil {
			res.Err = fmt.Errorf("HelmRelease %s: %w", id, err)
			// Exhausted retries are final for this generation: the status is observed.
			r.writeStatus(ctx, hr, out.Stalled, res)
			break
		}
		if out.Requeue && round+1 < maxReleaseRounds {
			r.writeStatus(ctx, hr, false, res)
			continue
		}
		if len(out.Actions) == 0 && !out.Requeue && statusUnchanged(hr, &live.Status) {
			// The no-op path: the status read at the start is the status to write.
			break
		}
		r.writeStatus(ctx, hr, !out.Requeue, res)
		break
	}
	if cur := hr.Status.History.Latest(); cur != nil {
		res.Release = cur.FullReleaseName()
	}
	if res.Err == nil {
		if c := apimeta.FindStatusCondition(hr.Status.Conditions, meta.ReadyCondition); c != nil && c.Status != metav1.ConditionTrue {
			res.Err = fmt.Errorf("HelmRelease %s: %s", id, c.Message)
		}
	}
	return res
}

// Uninstall uninstalls hr's Helm release, for the deletion of hr (the finalizer's work): the release
// recorded in its status, with spec.uninstall's options. A suspended HelmRelease keeps its release, as
// with helm-controller. The status is written when hr still exists.
func (r *HelmReleases) Uninstall(ctx context.Context, hr *helmv2.HelmRelease) error {
	id := hr.Namespace + "/" + hr.Name
	if live, err := r.Get(ctx, hr.Namespace, hr.Name); err != nil {
		return err
	} else if live != nil {
		hr = live.DeepCopy()
	}
	if hr.Spec.Suspend {
		return nil
	}
	cfg, err := r.config(ctx, hr)
	if apierrors.IsNotFound(err) && hr.Spec.KubeConfig != nil {
		// Without its kubeconfig Secret the release cannot be reached: nothing to uninstall, as
		// helm-controller skips it.
		return nil
	}
	if err != nil {
		return fmt.Errorf("HelmRelease %s: uninstall: %w", id, err)
	}
	rel := &release.Releaser{Config: cfg, Clock: r.Clock}
	err = rel.Uninstall(ctx, hr)
	if err != nil {
		setHRCondition(hr, meta.ReadyCondition, metav1.ConditionFalse, helmv2.UninstallFailedReason, err.Error(), r.now())
	}
	if werr := r.patchStatus(ctx, hr, false); werr != nil && !apierrors.IsNotFound(werr) {
		err = errors.Join(err, werr)
	}
	if err != nil {
		return fmt.Errorf("HelmRelease %s: uninstall: %w", id, err)
	}
	return nil
}

// config returns the configuration the release of hr is made with: the cluster of spec.kubeConfig (the
// Secret's kubeconfig, impersonating spec.serviceAccountName there), else r.Config impersonating
// spec.serviceAccountName (or the Tenancy's default ServiceAccount).
func (r *HelmReleases) config(ctx context.Context, hr *helmv2.HelmRelease) (*rest.Config, error) {
	sa := hr.Spec.ServiceAccountName
	if hr.Spec.KubeConfig != nil {
		if r.Remotes == nil {
			return remoteConfig(ctx, r.Client, hr.Namespace, hr.Spec.KubeConfig, sa, r.Kubeconfig)
		}
		c, err := r.Remotes.Clients(ctx, r.Client, hr.Namespace, hr.Spec.KubeConfig, sa, r.Kubeconfig)
		if err != nil {
			return nil, err
		}
		return c.Config, nil
	}
	sa = r.Tenancy.ServiceAccount(sa)
	if sa == "" {
		return r.Config, nil
	}
	if r.Impersonate == nil {
		return nil, fmt.Errorf("serviceAccountName %s: impersonation is not available here", sa)
	}
	cfg, err := r.Impersonate(hr.Namespace, sa)
	if err != nil {
		return nil, fmt.Errorf("impersonating service account %s/%s: %w", hr.Namespace, sa, err)
	}
	return cfg, nil
}

// checkDependencies checks hr's spec.dependsOn against the live HelmReleases (readyExpr or Ready for
// their current generation, as ReadyExprs.CheckDependencies does).
func (r *HelmReleases) checkDependencies(ctx context.Context, hr *helmv2.HelmRelease) error {
	if len(hr.Spec.DependsOn) == 0 {
		return nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(hr)
	if err != nil {
		return fmt.Errorf("HelmRelease %s/%s: %w", hr.Namespace, hr.Name, err)
	}
	self := &unstructured.Unstructured{Object: m}
	self.SetGroupVersionKind(helmv2.GroupVersion.WithKind(helmv2.HelmReleaseKind))
	return r.ReadyExprs.CheckDependencies(ctx, self, DependencyOptions{}, func(ctx context.Context, namespace, name string) (*unstructured.Unstructured, error) {
		u, err := r.Client.Resource(HelmReleasesResource).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return u, err
	})
}

// removeStalled removes a Stalled condition of reason: its cause is gone.
func removeStalled(hr *helmv2.HelmRelease, reason string) {
	if c := apimeta.FindStatusCondition(hr.Status.Conditions, meta.StalledCondition); c != nil && c.Reason == reason {
		apimeta.RemoveStatusCondition(&hr.Status.Conditions, meta.StalledCondition)
	}
}

func setHRCondition(hr *helmv2.HelmRelease, t string, status metav1.ConditionStatus, reason, msg string, now time.Time) {
	if len(msg) > 32000 {
		msg = msg[:32000] + "..."
	}
	apimeta.SetStatusCondition(&hr.Status.Conditions, metav1.Condition{Type: t, Status: status, Reason: reason,
		Message: msg, ObservedGeneration: hr.Generation, LastTransitionTime: metav1.NewTime(now)})
}

func (r *HelmReleases) writeStatus(ctx context.Context, hr *helmv2.HelmRelease, observed bool, res *HelmReleaseResult) {
	if err := r.patchStatus(ctx, hr, observed); err != nil {
		res.Err = errors.Join(res.Err, fmt.Errorf("writing the status of HelmRelease %s/%s: %w", hr.Namespace, hr.Name, err))
	}
}

// statusUnchanged reports whether hr's status, once marked observed as patchStatus marks it, equals orig.
func statusUnchanged(hr *helmv2.HelmRelease, orig *helmv2.HelmReleaseStatus) bool {
	st := hr.Status.DeepCopy()
	support.NoteConditions(helmv2.HelmReleaseKind, hr, st.Conditions)
	if v, ok := hr.Annotations[meta.ReconcileRequestAnnotation]; ok {
		st.LastHandledReconcileAt = v
	}
	st.ObservedGeneration = hr.Generation
	return apiequality.Semantic.DeepEqual(st, orig)
}

// patchStatus writes hr's status over the live object's, retrying on conflicts; observed also records
// the generation as observed. The reconcile request handled is recorded as Flux does.
func (r *HelmReleases) patchStatus(ctx context.Context, hr *helmv2.HelmRelease, observed bool) error {
	support.NoteConditions(helmv2.HelmReleaseKind, hr, hr.Status.Conditions)
	if v, ok := hr.Annotations[meta.ReconcileRequestAnnotation]; ok {
		hr.Status.LastHandledReconcileAt = v
	}
	if observed {
		hr.Status.ObservedGeneration = hr.Generation
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		live, err := r.Get(ctx, hr.Namespace, hr.Name)
		if err != nil {
			return err
		}
		if live == nil {
			return apierrors.NewNotFound(HelmReleasesResource.GroupResource(), hr.Name)
		}
		live.Status = *hr.Status.DeepCopy()
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(live)
		if err != nil {
			return err
		}
		obj := &unstructured.Unstructured{Object: u}
		obj.SetGroupVersionKind(helmv2.GroupVersion.WithKind(helmv2.HelmReleaseKind))
		_, err = r.Client.Resource(HelmReleasesResource).Namespace(hr.Namespace).UpdateStatus(ctx, obj, metav1.UpdateOptions{FieldManager: apply.FieldManager})
		return err
	})
}
