package agent

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/events"
	"github.com/converge-gitops/converge/engine/kinds"
	"github.com/converge-gitops/converge/engine/source"
)

// defaultSourceInterval applies to sources without spec.interval (an OCI HelmRepository).
const defaultSourceInterval = 10 * time.Minute

func (a *Agent) reconcileSource(ctx context.Context, key Key, u *unstructured.Unstructured) outcome {
	interval := intervalOf(u, defaultSourceInterval)
	res := a.sources.Reconcile(ctx, u)
	if res.Suspended {
		a.opts.Metrics.setReady(key.Kind, key.Namespace, key.Name, readyStatus(u), true)
		return outcome{skipped: true}
	}
	if res.Err != nil {
		a.opts.Metrics.setReady(key.Kind, key.Namespace, key.Name, metav1.ConditionFalse, false)
		a.emit(ctx, objectRef(key.Kind, u), events.SeverityError, meta.FailedReason, res.Err.Error(), "")
		return outcome{requeue: interval, err: res.Err}
	}
	a.opts.Metrics.setReady(key.Kind, key.Namespace, key.Name, metav1.ConditionTrue, false)
	a.wake(key)
	if res.Changed() {
		reason, msg := "NewArtifact", fmt.Sprintf("stored artifact with revision '%s'", res.Artifact.Revision)
		if res.Reason != "" {
			reason, msg = res.Reason, res.Message
		}
		a.emit(ctx, objectRef(key.Kind, u), events.SeverityInfo, reason, msg, res.Artifact.Revision)
		a.triggerConsumers(key)
	}
	return outcome{requeue: interval, revision: res.Artifact.Revision}
}

// dropArtifact removes a deleted object's artifacts from the store (objects other sources share stay).
func (a *Agent) dropArtifact(key Key) {
	if k, _ := kinds.Named(key.Kind); !k.Stored {
		return
	}
	if err := a.opts.Store.Delete(source.Ref{Kind: key.Kind, Namespace: key.Namespace, Name: key.Name}); err != nil {
		a.log.Warn("removing the artifacts of a deleted source", "kind", key.Kind, "namespace", key.Namespace, "name", key.Name, "error", err.Error())
	}
}

// triggerConsumers reconciles the Kustomizations, HelmReleases and HelmCharts that build from source.
func (a *Agent) triggerConsumers(src Key) {
	for kind, refOf := range map[string]func(*unstructured.Unstructured) (string, string, string){
		kustomizev1.KustomizationKind: sourceRefOf,
		helmv2.HelmReleaseKind:        helmSourceRefOf,
		sourcev1.HelmChartKind:        sourceRefOf,
	} {
		inf, ok := a.informers[kind]
		if !ok {
			continue
		}
		for _, item := range inf.GetStore().List() {
			u, ok := item.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			k, ns, name := refOf(u)
			if k == src.Kind && ns == src.Namespace && name == src.Name {
				a.trigger(keyOf(kind, u))
			}
		}
	}
}

// sourceRefOf returns a Kustomization's (or a HelmChart's) source reference with Flux's defaults applied.
func sourceRefOf(u *unstructured.Unstructured) (kind, namespace, name string) {
	kind, _, _ = unstructured.NestedString(u.Object, "spec", "sourceRef", "kind")
	name, _, _ = unstructured.NestedString(u.Object, "spec", "sourceRef", "name")
	namespace, _, _ = unstructured.NestedString(u.Object, "spec", "sourceRef", "namespace")
	if namespace == "" {
		namespace = u.GetNamespace()
	}
	return kind, namespace, name
}
