package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/events"
	"github.com/converge-gitops/converge/engine/reconcile"
	"github.com/converge-gitops/converge/engine/source"
)

func (a *Agent) reconcileKustomization(ctx context.Context, u *unstructured.Unstructured) outcome {
	kind := kustomizev1.KustomizationKind
	ks := &kustomizev1.Kustomization{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, ks); err != nil {
		return outcome{err: fmt.Errorf("Kustomization %s/%s: %w", u.GetNamespace(), u.GetName(), err), requeue: a.opts.DependencyRequeue}
	}
	if ks.DeletionTimestamp != nil {
		return a.finalizeKustomization(ctx, ks)
	}
	if !slices.Contains(ks.Finalizers, Finalizer) {
		if err := a.patchFinalizers(ctx, reconcile.KustomizationsResource, &ks.ObjectMeta, append(slices.Clone(ks.Finalizers), Finalizer)); err != nil {
			return outcome{err: err, requeue: ks.GetRetryInterval()}
		}
	}
	if ks.Spec.Suspend {
		a.opts.Metrics.setReady(kind, ks.Namespace, ks.Name, readyStatus(u), true)
		return outcome{skipped: true}
	}
	waiting := func(reason string, err error) outcome {
		res := a.kustomizations.NotReady(ctx, ks, reason, err)
		a.emitResult(ctx, u, res)
		a.opts.Metrics.setReady(kind, ks.Namespace, ks.Name, metav1.ConditionFalse, false)
		return outcome{err: res.Err, waiting: true, requeue: a.opts.DependencyRequeue}
	}
	if err := a.opts.Tenancy.CheckKustomization(ks); err != nil {
		// Refused before the source is read: Stalled until the spec or the agent's flags change.
		res := a.kustomizations.NotReady(ctx, ks, reconcile.AccessDeniedReason, err)
		a.emitResult(ctx, u, res)
		a.opts.Metrics.setReady(kind, ks.Namespace, ks.Name, metav1.ConditionFalse, false)
		return outcome{err: res.Err, waiting: true}
	}
	art, err := a.sourceArtifact(ctx, ks)
	if errors.Is(err, errNoArtifact) && !a.waitFor(sourceKey(ks), keyOf(kind, u)) {
		// The source is being fetched: it wakes this Kustomization; no status write for a wait of seconds.
		return outcome{err: err, waiting: true, skipped: true, requeue: a.opts.DependencyRequeue}
	}
	if err != nil {
		return waiting(meta.ArtifactFailedReason, fmt.Errorf("%w, retrying in %s", err, a.opts.DependencyRequeue))
	}
	// After the source, as Flux does: a dependency from the same source must have applied its revision.
	if err := a.kustomizations.ReadyExprs.CheckDependencies(ctx, u, reconcile.DependencyOptions{SourceRevision: art.Revision}, a.lookupKustomization); err != nil {
		if reconcile.IsTerminal(err) {
			// A readyExpr that does not compile: Stalled until the spec changes (which triggers a reconciliation).
			res := a.kustomizations.NotReady(ctx, ks, meta.InvalidCELExpressionReason, err)
			res.Revision = art.Revision
			a.opts.Metrics.setReady(kind, ks.Namespace, ks.Name, metav1.ConditionFalse, false)
			a.emitResult(ctx, u, res)
			return outcome{err: res.Err, waiting: true}
		}
		return waiting(meta.DependencyNotReadyReason, fmt.Errorf("%w, retrying in %s", err, a.opts.DependencyRequeue))
	}

	var objs []*unstructured.Unstructured
	built, buildErr := a.builder.Build(ctx, ks, art.Dir)
	if buildErr == nil {
		objs = built.Objects
	}
	if buildErr == nil && a.detectOnly(ks, art.Revision) {
		res := a.kustomizations.DetectDrift(ctx, ks, art.Revision, objs)
		a.emitResult(ctx, u, res)
		return outcome{requeue: ks.GetRequeueAfter(), err: res.Err, revision: art.Revision}
	}
	res := a.kustomizations.Reconcile(ctx, ks, art.Revision, objs, buildErr)
	if res.Suspended {
		return outcome{skipped: true}
	}
	a.emitResult(ctx, u, res)
	if res.Err != nil {
		a.opts.Metrics.setReady(kind, ks.Namespace, ks.Name, metav1.ConditionFalse, false)
		return outcome{requeue: ks.GetRetryInterval(), err: res.Err, revision: art.Revision}
	}
	a.opts.Metrics.setReady(kind, ks.Namespace, ks.Name, metav1.ConditionTrue, false)
	if !apimeta.IsStatusConditionTrue(ks.Status.Conditions, meta.ReadyCondition) || ks.Status.LastAppliedRevision != art.Revision {
		// Now ready, or at a new revision its dependants from the same source wait for.
		a.triggerDependents(ks)
	}
	return outcome{requeue: ks.GetRequeueAfter(), revision: art.Revision}
}

// lookupKustomization returns the Kustomization namespace/name from the informer's cache; nil when absent.
// With a label selector, a dependency in another shard is read from the API server.
func (a *Agent) lookupKustomization(ctx context.Context, namespace, name string) (*unstructured.Unstructured, error) {
	u, _, err := a.lookup(ctx, Key{Kind: kustomizev1.KustomizationKind, Namespace: namespace, Name: name})
	return u, err
}

// triggerDependents reconciles, now, the Kustomizations waiting on ks.
func (a *Agent) triggerDependents(ks *kustomizev1.Kustomization) {
	for _, item := range a.informers[kustomizev1.KustomizationKind].GetStore().List() {
		u := item.(*unstructured.Unstructured)
		deps, _, _ := unstructured.NestedSlice(u.Object, "spec", "dependsOn")
		for _, d := range deps {
			m, _ := d.(map[string]any)
			ns, _ := m["namespace"].(string)
			if ns == "" {
				ns = u.GetNamespace()
			}
			if m["name"] == ks.Name && ns == ks.Namespace {
				a.trigger(keyOf(kustomizev1.KustomizationKind, u))
			}
		}
	}
}

// errNoArtifact: the source exists but has no stored artifact yet.
var errNoArtifact = errors.New("Source artifact not found")

func sourceKey(ks *kustomizev1.Kustomization) Key {
	ns := ks.Spec.SourceRef.Namespace
	if ns == "" {
		ns = ks.Namespace
	}
	return Key{Kind: ks.Spec.SourceRef.Kind, Namespace: ns, Name: ks.Spec.SourceRef.Name}
}

// sourceArtifact returns the artifact of ks's source.
func (a *Agent) sourceArtifact(ctx context.Context, ks *kustomizev1.Kustomization) (*source.Artifact, error) {
	return a.artifactOf(ctx, sourceKey(ks))
}

// artifactOf returns the current artifact of the source key: for an ExternalArtifact, downloaded from its
// status.artifact.url (another controller produces it); otherwise the one the agent stored, and a source
// it has not fetched yet is scheduled for a fetch (errNoArtifact).
func (a *Agent) artifactOf(ctx context.Context, key Key) (*source.Artifact, error) {
	desc := fmt.Sprintf("%s '%s/%s'", key.Kind, key.Namespace, key.Name)
	if _, ok := a.informers[key.Kind]; !ok {
		return nil, fmt.Errorf("source kind %s is not supported by this agent", key.Kind)
	}
	item, local, err := a.lookup(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("Source %s: %w", desc, err)
	}
	if item == nil {
		return nil, fmt.Errorf("Source %s not found", desc)
	}
	if !local && key.Kind != sourcev1.ExternalArtifactKind {
		return a.remoteArtifact(ctx, key, item)
	}
	if key.Kind == sourcev1.ExternalArtifactKind {
		ea := &sourcev1.ExternalArtifact{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(item.Object, ea); err != nil {
			return nil, fmt.Errorf("Source %s: %w", desc, err)
		}
		if ea.Status.Artifact == nil {
			return nil, fmt.Errorf("Source %s has no artifact yet", desc)
		}
		return a.fetchers.External(ctx, ea)
	}
	art, err := a.opts.Store.Current(source.Ref{Kind: key.Kind, Namespace: key.Namespace, Name: key.Name})
	if err != nil {
		return nil, fmt.Errorf("Source %s: reading the stored artifact: %w", desc, err)
	}
	if art == nil || art.Dir == "" {
		a.trigger(key)
		return nil, fmt.Errorf("%w for %s", errNoArtifact, desc)
	}
	return art, nil
}

// detectOnly is true when drift must be reported, not corrected: the agent's flag or the object's
// annotation asks for it, and nothing new (a revision, a spec change) is to be applied.
func (a *Agent) detectOnly(ks *kustomizev1.Kustomization, revision string) bool {
	mode := ks.Annotations[reconcile.DriftDetectionAnnotation]
	if mode == reconcile.DriftDetectionEnabled || (!a.opts.DetectDriftOnly && mode != reconcile.DriftDetectionWarn) {
		return false
	}
	return ks.Status.LastAppliedRevision == revision && ks.Status.ObservedGeneration == ks.Generation
}

// emitResult sends the events of a Kustomization's result (reconcile.KustomizationResult.Events, as
// `converge apply` sends them); u is the Kustomization as the cache holds it.
func (a *Agent) emitResult(ctx context.Context, u *unstructured.Unstructured, res *reconcile.KustomizationResult) {
	a.emitEvents(ctx, res.Events(objectRef(kustomizev1.KustomizationKind, u), u.GetAnnotations(), a.clock.Now()))
}

func (a *Agent) finalizeKustomization(ctx context.Context, ks *kustomizev1.Kustomization) outcome {
	if !slices.Contains(ks.Finalizers, Finalizer) {
		return outcome{skipped: true}
	}
	a.kustomizations.ReadyExprs.Forget(kustomizev1.KustomizationKind, ks.Namespace, ks.Name)
	res := a.kustomizations.Finalize(ctx, ks)
	if res.Err != nil {
		a.emit(ctx, kustomizationRef(ks), events.SeverityError, kustomizev1.PruneFailedReason, res.Err.Error(), "")
		return outcome{err: res.Err, requeue: ks.GetRetryInterval()}
	}
	if res.Warning != nil {
		a.emit(ctx, kustomizationRef(ks), events.SeverityError, kustomizev1.PruneFailedReason, res.Warning.Error(), "")
	}
	if n := res.ChangeSet.Count(apply.Deleted); n > 0 {
		a.log.Info("pruned on deletion", "kind", kustomizev1.KustomizationKind, "namespace", ks.Namespace, "name", ks.Name, "deleted", n, "policy", res.Policy)
	}
	rest := slices.DeleteFunc(slices.Clone(ks.Finalizers), func(f string) bool { return f == Finalizer })
	if err := a.patchFinalizers(ctx, reconcile.KustomizationsResource, &ks.ObjectMeta, rest); err != nil {
		return outcome{err: err, requeue: ks.GetRetryInterval()}
	}
	return outcome{skipped: true}
}

func (a *Agent) patchFinalizers(ctx context.Context, gvr schema.GroupVersionResource, obj *metav1.ObjectMeta, finalizers []string) error {
	if finalizers == nil {
		finalizers = []string{}
	}
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"finalizers": finalizers, "resourceVersion": obj.ResourceVersion}})
	if err != nil {
		return err
	}
	_, err = a.opts.Clients.Dynamic.Resource(gvr).Namespace(obj.Namespace).
		Patch(ctx, obj.Name, types.MergePatchType, body, metav1.PatchOptions{FieldManager: apply.FieldManager})
	if err != nil {
		return fmt.Errorf("%s/%s: updating finalizers: %w", obj.Namespace, obj.Name, err)
	}
	return nil
}

func objectRef(kind string, u *unstructured.Unstructured) corev1.ObjectReference {
	apiVersion := u.GetAPIVersion()
	if apiVersion == "" {
		switch kind {
		case kustomizev1.KustomizationKind:
			apiVersion = kustomizev1.GroupVersion.String()
		default:
			apiVersion = sourcev1.GroupVersion.String()
		}
	}
	return corev1.ObjectReference{Kind: kind, APIVersion: apiVersion, Namespace: u.GetNamespace(), Name: u.GetName(),
		UID: u.GetUID(), ResourceVersion: u.GetResourceVersion()}
}

func kustomizationRef(ks *kustomizev1.Kustomization) corev1.ObjectReference {
	return corev1.ObjectReference{Kind: kustomizev1.KustomizationKind, APIVersion: kustomizev1.GroupVersion.String(),
		Namespace: ks.Namespace, Name: ks.Name, UID: ks.UID, ResourceVersion: ks.ResourceVersion}
}
