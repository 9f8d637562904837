package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"

	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/crds/meta"
	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/health"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/support"
)

// KustomizationsResource is the Kustomization API resource.
var KustomizationsResource = kustomizev1.GroupVersion.WithResource("kustomizations")

// Kustomizations reconciles Kustomizations whose objects are already built.
type Kustomizations struct {
	Client dynamic.Interface
	Apply  *apply.Manager
	Health *health.Checker
	Clock  clock.PassiveClock
	// Impersonate returns the apply manager and health checker acting as the ServiceAccount
	// namespace/name, for Kustomizations with spec.serviceAccountName. Nil refuses such Kustomizations.
	Impersonate func(namespace, name string) (*apply.Manager, *health.Checker, error)
	// Remote returns the apply manager and health checker of another cluster, for Kustomizations with
	// spec.kubeConfig.secretRef (cfg already impersonates spec.serviceAccountName when set). Nil builds
	// them with kube.New, with Apply's and Health's settings.
	Remote func(cfg *rest.Config) (*apply.Manager, *health.Checker, error)
	// Kubeconfig says which credentials a kubeconfig Secret may use (default: no exec plugins, no
	// disabled TLS verification).
	Kubeconfig kube.KubeconfigOptions
	// Remotes caches the clients of the clusters spec.kubeConfig reaches (nil: made at every
	// reconciliation).
	Remotes *RemoteClients
	// ReadyExprs caches the compiled spec.dependsOn[].readyExpr (nil: compiled at every check).
	ReadyExprs *ReadyExprs
	// Tenancy is the multi-tenancy lockdown: cross-namespace sources refused, the default ServiceAccount.
	Tenancy Tenancy
}

// KustomizationResult is the outcome of one reconciliation.
type KustomizationResult struct {
	Kustomization string           `json:"kustomization"`
	Revision      string           `json:"revision"`
	ChangeSet     *apply.ChangeSet `json:"changeSet"`
	Health        []health.State   `json:"health,omitempty"`
	Suspended     bool             `json:"suspended,omitempty"`
	Err           error            `json:"-"`
	Duration      time.Duration    `json:"duration"`
	// PreviousRevision is status.lastAppliedRevision before this reconciliation: a different Revision
	// is a new revision, announced by an event even when no object changed.
	PreviousRevision string `json:"previousRevision,omitempty"`
	// Reason is the reason of the Ready condition written when the reconciliation failed or stopped
	// (BuildFailed, PruneFailed, HealthCheckFailed, DependencyNotReady, ...); its events carry it.
	Reason string `json:"reason,omitempty"`
	// DriftDetection marks a result of DetectDrift: its ChangeSet is the drift, nothing was applied.
	DriftDetection bool `json:"driftDetection,omitempty"`
}

// Get reads a Kustomization from the cluster; nil when it does not exist.
func (r *Kustomizations) Get(ctx context.Context, namespace, name string) (*kustomizev1.Kustomization, error) {
	u, err := r.Client.Resource(KustomizationsResource).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading Kustomization %s/%s: %w", namespace, name, err)
	}
	ks := &kustomizev1.Kustomization{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, ks); err != nil {
		return nil, fmt.Errorf("Kustomization %s/%s: %w", namespace, name, err)
	}
	return ks, nil
}

// Reconcile applies objs (ks's build at revision), prunes what left the previous inventory, checks health,
// and writes ks's status. ks must exist in the cluster (its parent applies it). A build error (buildErr)
// is recorded in the status instead.
func (r *Kustomizations) Reconcile(ctx context.Context, ks *kustomizev1.Kustomization, revision string, objs []*unstructured.Unstructured, buildErr error) *KustomizationResult {
	start := r.now()
	id := ks.Namespace + "/" + ks.Name
	res := &KustomizationResult{Kustomization: id, Revision: revision, ChangeSet: &apply.ChangeSet{}}
	defer func() { res.Duration = r.now().Sub(start) }()
	fail := func(reason string, err error) *KustomizationResult {
		res.Err, res.Reason = fmt.Errorf("Kustomization %s: %w", id, err), reason
		r.writeStatus(ctx, ks, func(st *kustomizev1.KustomizationStatus) {
			st.LastAttemptedRevision = revision
			setReady(st, ks.Generation, metav1.ConditionFalse, reason, err.Error(), r.now())
		}, res)
		return res
	}

	live, err := r.Get(ctx, ks.Namespace, ks.Name)
	if err != nil {
		res.Err = err
		return res
	}
	if live == nil {
		res.Err = fmt.Errorf("Kustomization %s does not exist in the cluster: apply the object that declares it first", id)
		return res
	}
	ks = live.DeepCopy()
	res.PreviousRevision = ks.Status.LastAppliedRevision
	if ks.Spec.Suspend {
		res.Suspended = true
		return res
	}
	if err := r.Tenancy.CheckKustomization(ks); err != nil {
		return fail(AccessDeniedReason, err)
	}
	if buildErr != nil {
		return fail(kustomizev1.BuildFailedReason, buildErr)
	}
	am, hc, err := r.clientsFor(ctx, ks)
	if err != nil {
		return fail(kustomizev1.ReconciliationFailedReason, err)
	}
	if hc, err = withExpressions(hc, ks); err != nil {
		return fail(meta.InvalidCELExpressionReason, err)
	}

	if ks.Generation != ks.Status.ObservedGeneration || revision != ks.Status.LastAppliedRevision {
		// Something new to apply: Reconciling until the final status, as Flux reports it (kstatus sees
		// InProgress). An unchanged periodic reconciliation skips this write.
		msg := fmt.Sprintf("Applying revision %s with a timeout of %s", revision, ks.GetTimeout())
		r.writeStatus(ctx, ks, func(st *kustomizev1.KustomizationStatus) {
			apimeta.RemoveStatusCondition(&st.Conditions, meta.StalledCondition)
			setCondition(st, meta.ReconcilingCondition, metav1.ConditionTrue, meta.ProgressingReason, msg, ks.Generation, r.now())
			setCondition(st, meta.ReadyCondition, metav1.ConditionUnknown, meta.ProgressingReason, "Reconciliation in progress", ks.Generation, r.now())
		}, res)
		if res.Err != nil {
			return res
		}
	}

	cs, err := am.Apply(ctx, objs, apply.Options{Force: ks.Spec.Force})
	if cs != nil {
		res.ChangeSet.Entries = append(res.ChangeSet.Entries, cs.Entries...)
	}
	if err != nil {
		return fail(kustomizev1.ReconciliationFailedReason, err)
	}
	newInventory := apply.Inventory(applied(objs, cs))
	plan, err := PlanPrune(ks, objs)
	if err != nil {
		return fail(kustomizev1.PruneFailedReason, err)
	}
	if len(plan.Stale) > 0 {
		pcs, err := am.Prune(ctx, plan.Stale, apply.PruneOptions{})
		res.ChangeSet.Entries = append(res.ChangeSet.Entries, pcs.Entries...)
		if err != nil {
			return fail(kustomizev1.PruneFailedReason, err)
		}
	}

	checks := healthTargets(ks, objs, cs)
	if len(checks) > 0 {
		apply.Report(ctx, apply.Progress{Phase: apply.PhaseWaiting, Total: len(checks)})
		states, err := hc.Wait(ctx, checks, ks.GetTimeout())
		res.Health = states
		if err != nil {
			res.Err, res.Reason = fmt.Errorf("Kustomization %s: %w", id, err), kustomizev1.HealthCheckFailedReason
			r.writeStatus(ctx, ks, func(st *kustomizev1.KustomizationStatus) {
				st.LastAttemptedRevision = revision
				st.Inventory = newInventory
				setCondition(st, meta.HealthyCondition, metav1.ConditionFalse, kustomizev1.HealthCheckFailedReason, err.Error(), ks.Generation, r.now())
				setReady(st, ks.Generation, metav1.ConditionFalse, kustomizev1.HealthCheckFailedReason, err.Error(), r.now())
			}, res)
			return res
		}
	}
	msg := "Applied revision: " + revision
	r.writeStatus(ctx, ks, func(st *kustomizev1.KustomizationStatus) {
		st.LastAttemptedRevision = revision
		st.LastAppliedRevision = revision
		st.Inventory = newInventory
		if len(checks) > 0 {
			setCondition(st, meta.HealthyCondition, metav1.ConditionTrue, meta.SucceededReason, "Health check passed", ks.Generation, r.now())
		}
		setReady(st, ks.Generation, metav1.ConditionTrue, kustomizev1.ReconciliationSucceededReason, msg, r.now())
	}, res)
	return res
}

// ClientsFor returns the apply manager and health checker that act for ks, for every read and write of
// its objects (apply, prune, health, drift): on its kubeConfig's cluster, as its serviceAccountName or
// else the Tenancy's default ServiceAccount.
func (r *Kustomizations) ClientsFor(ctx context.Context, ks *kustomizev1.Kustomization) (*apply.Manager, *health.Checker, error) {
	return r.clientsFor(ctx, ks)
}

func (r *Kustomizations) clientsFor(ctx context.Context, ks *kustomizev1.Kustomization) (*apply.Manager, *health.Checker, error) {
	sa := r.Tenancy.ServiceAccount(ks.Spec.ServiceAccountName)
	switch {
	case ks.Spec.KubeConfig != nil:
		return r.remote(ctx, ks)
	case sa != "":
		if r.Impersonate == nil {
			return nil, nil, fmt.Errorf("serviceAccountName %s: impersonation is not available here", sa)
		}
		am, hc, err := r.Impersonate(ks.Namespace, sa)
		if err != nil {
			return nil, nil, fmt.Errorf("impersonating service account %s/%s: %w", ks.Namespace, sa, err)
		}
		return am, hc, nil
	}
	return r.Apply, r.Health, nil
}

// withExpressions returns hc with ks's healthCheckExprs.
func withExpressions(hc *health.Checker, ks *kustomizev1.Kustomization) (*health.Checker, error) {
	if len(ks.Spec.HealthCheckExprs) == 0 {
		return hc, nil
	}
	exprs := make([]health.Expressions, 0, len(ks.Spec.HealthCheckExprs))
	for _, e := range ks.Spec.HealthCheckExprs {
		exprs = append(exprs, health.Expressions{APIVersion: e.APIVersion, Kind: e.Kind, Current: e.Current, InProgress: e.InProgress, Failed: e.Failed})
	}
	return hc.WithExpressions(exprs)
}

var secretsResource = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}

// remote builds the clients of the cluster ks's kubeConfig.secretRef reaches, or takes them from r.Remotes.
func (r *Kustomizations) remote(ctx context.Context, ks *kustomizev1.Kustomization) (*apply.Manager, *health.Checker, error) {
	var clients *kube.Clients
	if r.Remote != nil || r.Remotes == nil {
		cfg, err := remoteConfig(ctx, r.Client, ks.Namespace, ks.Spec.KubeConfig, ks.Spec.ServiceAccountName, r.Kubeconfig)
		if err != nil {
			return nil, nil, err
		}
		if r.Remote != nil {
			return r.Remote(cfg)
		}
		if clients, err = kube.New(cfg); err != nil {
			return nil, nil, fmt.Errorf("kubeConfig.secretRef: %w", err)
		}
	} else {
		var err error
		if clients, err = r.Remotes.Clients(ctx, r.Client, ks.Namespace, ks.Spec.KubeConfig, ks.Spec.ServiceAccountName, r.Kubeconfig); err != nil {
			return nil, nil, err
		}
	}
	am, hc := &apply.Manager{}, &health.Checker{}
	if r.Apply != nil {
		*am = *r.Apply
	}
	if r.Health != nil {
		*hc = *r.Health
	}
	am.Client, am.Mapper = clients.Dynamic, clients.Mapper
	hc.Client, hc.Mapper, hc.Cache = clients.Dynamic, clients.Mapper, nil // the cache watches this cluster
	return am, hc, nil
}

func (r *Kustomizations) now() time.Time {
	return r.Clock.Now()
}

// applied returns the objects that are now in the cluster because of this apply (skipped ones are not
// managed and stay out of the inventory).
func applied(objs []*unstructured.Unstructured, cs *apply.ChangeSet) []*unstructured.Unstructured {
	skipped := map[string]bool{}
	for _, e := range cs.Entries {
		if e.Action == apply.Skipped {
			skipped[e.Object.ID()] = true
		}
	}
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if !skipped[apply.MetaOf(o).ID()] {
			out = append(out, o)
		}
	}
	return out
}

func healthTargets(ks *kustomizev1.Kustomization, objs []*unstructured.Unstructured, cs *apply.ChangeSet) []health.Object {
	var out []health.Object
	if ks.Spec.Wait {
		for _, o := range applied(objs, cs) {
			out = append(out, health.Object{GVK: o.GroupVersionKind(), Namespace: o.GetNamespace(), Name: o.GetName()})
		}
		return out
	}
	for _, hc := range ks.Spec.HealthChecks {
		ns := hc.Namespace
		if ns == "" {
			ns = ks.Namespace
		}
		gv, _ := schema.ParseGroupVersion(hc.APIVersion)
		out = append(out, health.Object{GVK: gv.WithKind(hc.Kind), Namespace: ns, Name: hc.Name})
	}
	return out
}

// setReady records the outcome as Flux does: success removes Reconciling and Stalled; a terminal
// configuration error (InvalidCELExpression, AccessDenied) is Stalled; any other failure keeps the object Reconciling
// with reason ProgressingWithRetry, so that kstatus sees it in progress, not current.
func setReady(st *kustomizev1.KustomizationStatus, gen int64, status metav1.ConditionStatus, reason, msg string, now time.Time) {
	setCondition(st, meta.ReadyCondition, status, reason, msg, gen, now)
	switch {
	case status == metav1.ConditionTrue:
		apimeta.RemoveStatusCondition(&st.Conditions, meta.ReconcilingCondition)
		apimeta.RemoveStatusCondition(&st.Conditions, meta.StalledCondition)
	case reason == meta.InvalidCELExpressionReason || reason == AccessDeniedReason:
		apimeta.RemoveStatusCondition(&st.Conditions, meta.ReconcilingCondition)
		setCondition(st, meta.StalledCondition, metav1.ConditionTrue, reason, msg, gen, now)
	default:
		apimeta.RemoveStatusCondition(&st.Conditions, meta.StalledCondition)
		if c := apimeta.FindStatusCondition(st.Conditions, meta.ReconcilingCondition); c != nil {
			msg = c.Message
		}
		setCondition(st, meta.ReconcilingCondition, metav1.ConditionTrue, meta.ProgressingWithRetryReason, msg, gen, now)
	}
	st.ObservedGeneration = gen
}

func setCondition(st *kustomizev1.KustomizationStatus, t string, status metav1.ConditionStatus, reason, msg string, gen int64, now time.Time) {
	if len(msg) > 32000 {
		msg = msg[:32000] + "..."
	}
	apimeta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: t, Status: status, Reason: reason, Message: msg, ObservedGeneration: gen, LastTransitionTime: metav1.NewTime(now),
	})
}

// writeStatus applies mutate to the live object's status and updates it, retrying on conflicts.
func (r *Kustomizations) writeStatus(ctx context.Context, ks *kustomizev1.Kustomization, mutate func(*kustomizev1.KustomizationStatus), res *KustomizationResult) {
	// The first attempt writes over the copy the caller read (one request, none when the status does not
	// change); a conflict reads it afresh. ks then holds what was written, for a later write.
	fresh := ks.ResourceVersion == ""
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		live := ks.DeepCopy()
		if fresh {
			var err error
			if live, err = r.Get(ctx, ks.Namespace, ks.Name); err != nil || live == nil {
				return err
			}
		}
		fresh = true
		before := live.Status.DeepCopy()
		mutate(&live.Status)
		support.NoteConditions(kustomizev1.KustomizationKind, live, live.Status.Conditions)
		if v, ok := live.Annotations[meta.ReconcileRequestAnnotation]; ok {
			live.Status.LastHandledReconcileAt = v
		}
		if apiequality.Semantic.DeepEqual(before, &live.Status) {
			ks.ResourceVersion, ks.Status = live.ResourceVersion, live.Status
			return nil
		}
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(live)
		if err != nil {
			return err
		}
		obj := &unstructured.Unstructured{Object: u}
		obj.SetGroupVersionKind(kustomizev1.GroupVersion.WithKind("Kustomization"))
		out, err := r.Client.Resource(KustomizationsResource).Namespace(ks.Namespace).UpdateStatus(ctx, obj, metav1.UpdateOptions{FieldManager: apply.FieldManager})
		if err != nil {
			return err
		}
		ks.ResourceVersion, ks.Status = out.GetResourceVersion(), live.Status
		return nil
	})
	if err != nil {
		res.Err = errors.Join(res.Err, fmt.Errorf("writing the status of Kustomization %s/%s: %w", ks.Namespace, ks.Name, err))
	}
}
