package agent

import (
	"context"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/events"
	"github.com/converge-gitops/converge/engine/reconcile"
)

func (a *Agent) reconcileHelmRelease(ctx context.Context, u *unstructured.Unstructured) outcome {
	kind := helmv2.HelmReleaseKind
	hr := &helmv2.HelmRelease{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, hr); err != nil {
		return outcome{err: fmt.Errorf("HelmRelease %s/%s: %w", u.GetNamespace(), u.GetName(), err), requeue: a.opts.DependencyRequeue}
	}
	ref := objectRef(kind, u)
	if hr.DeletionTimestamp != nil {
		if !slices.Contains(hr.Finalizers, helmv2.HelmReleaseFinalizer) {
			return outcome{skipped: true}
		}
		a.helmReleases.ReadyExprs.Forget(kind, hr.Namespace, hr.Name)
		if err := a.helmReleases.Uninstall(ctx, hr); err != nil {
			a.emit(ctx, ref, events.SeverityError, helmv2.UninstallFailedReason, err.Error(), "")
			return outcome{err: err, requeue: hr.GetRequeueAfter()}
		}
		// Then its HelmChart, as helm-controller deletes it (a suspended HelmRelease keeps both).
		if err := a.helmReleases.DeleteHelmChart(ctx, hr); err != nil {
			return outcome{err: fmt.Errorf("HelmRelease %s/%s: %w", hr.Namespace, hr.Name, err), requeue: hr.GetRequeueAfter()}
		}
		rest := slices.DeleteFunc(slices.Clone(hr.Finalizers), func(f string) bool { return f == helmv2.HelmReleaseFinalizer })
		if err := a.patchFinalizers(ctx, reconcile.HelmReleasesResource, &hr.ObjectMeta, rest); err != nil {
			return outcome{err: err, requeue: hr.GetRequeueAfter()}
		}
		return outcome{skipped: true}
	}
	if !slices.Contains(hr.Finalizers, helmv2.HelmReleaseFinalizer) {
		if err := a.patchFinalizers(ctx, reconcile.HelmReleasesResource, &hr.ObjectMeta, append(slices.Clone(hr.Finalizers), helmv2.HelmReleaseFinalizer)); err != nil {
			return outcome{err: err, requeue: hr.GetRequeueAfter()}
		}
	}
	if hr.Spec.Suspend {
		a.opts.Metrics.setReady(kind, hr.Namespace, hr.Name, readyStatus(u), true)
		return outcome{skipped: true}
	}
	// The HelmChart of spec.chart is created or updated first; the chart is then its artifact, once the
	// agent's HelmChart reconciliation (source-controller's part) stored it (a.charts.Stored), as for a
	// chartRef to a HelmChart.
	applyErr := a.helmReleases.ApplyHelmChart(ctx, hr)
	chrt, digest, chartErr := a.charts.ResolveChart(ctx, hr, nil)
	if applyErr != nil {
		chrt, chartErr = nil, applyErr
	}
	if hc, ok := helmChartKey(hr); ok && reconcile.IsSourceNotReady(chartErr) && !a.waitFor(hc, keyOf(kind, u)) {
		// The HelmChart is being fetched: it wakes this HelmRelease; no status write for a wait of seconds.
		return outcome{err: chartErr, waiting: true, skipped: true, requeue: a.opts.DependencyRequeue}
	}
	res := a.helmReleases.Reconcile(ctx, hr, chrt, digest, chartErr)
	if res.Suspended {
		return outcome{skipped: true}
	}
	requeue := hr.GetRequeueAfter()
	if res.RequeueAfter > 0 {
		requeue = res.RequeueAfter
	}
	a.emitHelmReleaseResult(ctx, u, res)
	if reconcile.IsTerminal(res.Err) || reconcile.IsAccessDenied(res.Err) {
		// A readyExpr that does not compile, or a chart source the lockdown refuses: Stalled until the spec
		// changes (which triggers a reconciliation).
		a.opts.Metrics.setReady(kind, hr.Namespace, hr.Name, metav1.ConditionFalse, false)
		return outcome{err: res.Err, waiting: true}
	}
	if res.Err != nil {
		a.opts.Metrics.setReady(kind, hr.Namespace, hr.Name, metav1.ConditionFalse, false)
		waiting := res.RequeueAfter > 0 && (chartErr == nil || reconcile.IsSourceNotReady(chartErr)) && len(res.Actions) == 0
		return outcome{err: res.Err, requeue: requeue, waiting: waiting, revision: res.Revision}
	}
	a.opts.Metrics.setReady(kind, hr.Namespace, hr.Name, metav1.ConditionTrue, false)
	if len(res.Actions) > 0 {
		a.triggerHelmDependents(hr.Namespace, hr.Name)
	}
	return outcome{requeue: requeue, revision: res.Revision}
}

// emitHelmReleaseResult sends the events of a HelmRelease's result (reconcile.HelmReleaseResult.Events,
// as `converge apply` sends them); u is the HelmRelease as the cache holds it.
func (a *Agent) emitHelmReleaseResult(ctx context.Context, u *unstructured.Unstructured, res *reconcile.HelmReleaseResult) {
	a.emitEvents(ctx, res.Events(objectRef(helmv2.HelmReleaseKind, u), u.GetAnnotations(), a.clock.Now()))
}

// lookupSource returns the typed source object kind namespace/name from the informers; nil when absent.
// With a label selector, a source in another shard is read from the API server.
func (a *Agent) lookupSource(ctx context.Context, kind, namespace, name string) (runtime.Object, error) {
	if _, ok := a.informers[kind]; !ok {
		return nil, fmt.Errorf("source kind %s is not supported by this agent", kind)
	}
	item, _, err := a.lookup(ctx, Key{Kind: kind, Namespace: namespace, Name: name})
	if err != nil || item == nil {
		return nil, err
	}
	obj, err := a.scheme.New(sourcev1.GroupVersion.WithKind(kind))
	if err != nil {
		return nil, err
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(item.Object, obj); err != nil {
		return nil, fmt.Errorf("%s %s/%s: %w", kind, namespace, name, err)
	}
	return obj, nil
}

// storedDir returns the files of a source's current artifact; a source not fetched yet is scheduled.
func (a *Agent) storedDir(ctx context.Context, obj runtime.Object) (string, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return "", fmt.Errorf("%T is not a source", obj)
	}
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	if kind == "" {
		kinds, _, err := a.scheme.ObjectKinds(obj)
		if err != nil || len(kinds) == 0 {
			return "", fmt.Errorf("%T is not a known source kind", obj)
		}
		kind = kinds[0].Kind
	}
	art, err := a.artifactOf(ctx, Key{Kind: kind, Namespace: m.GetNamespace(), Name: m.GetName()})
	if err != nil {
		return "", err
	}
	return art.Dir, nil
}

// triggerHelmDependents reconciles the HelmReleases that dependsOn namespace/name.
func (a *Agent) triggerHelmDependents(namespace, name string) {
	inf, ok := a.informers[helmv2.HelmReleaseKind]
	if !ok {
		return
	}
	for _, item := range inf.GetStore().List() {
		u := item.(*unstructured.Unstructured)
		deps, _, _ := unstructured.NestedSlice(u.Object, "spec", "dependsOn")
		for _, d := range deps {
			m, _ := d.(map[string]any)
			ns, _ := m["namespace"].(string)
			if ns == "" {
				ns = u.GetNamespace()
			}
			if m["name"] == name && ns == namespace {
				a.trigger(keyOf(helmv2.HelmReleaseKind, u))
			}
		}
	}
}

// helmSourceRefOf returns the source a HelmRelease's chart comes from: spec.chartRef, or the HelmChart
// made from spec.chart ("<namespace>-<name>" in the namespace of the chart's source).
func helmSourceRefOf(u *unstructured.Unstructured) (kind, namespace, name string) {
	if _, ok, _ := unstructured.NestedMap(u.Object, "spec", "chart"); ok {
		namespace, _, _ = unstructured.NestedString(u.Object, "spec", "chart", "spec", "sourceRef", "namespace")
		if namespace == "" {
			namespace = u.GetNamespace()
		}
		return sourcev1.HelmChartKind, namespace, u.GetNamespace() + "-" + u.GetName()
	}
	path := []string{"spec", "chartRef"}
	kind, _, _ = unstructured.NestedString(u.Object, append(path, "kind")...)
	name, _, _ = unstructured.NestedString(u.Object, append(path, "name")...)
	namespace, _, _ = unstructured.NestedString(u.Object, append(path, "namespace")...)
	if namespace == "" {
		namespace = u.GetNamespace()
	}
	return kind, namespace, name
}
