package apply

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/crds/meta"
	"github.com/converge-gitops/converge/engine/events"
	"github.com/converge-gitops/converge/engine/notify"
	"github.com/converge-gitops/converge/engine/reconcile"
)

// notifyWait bounds how long apply waits for notifications still being delivered at its end.
const notifyWait = 10 * time.Second

// startNotifier returns a notifier when the cluster has Alerts (listed once), else nil.
func startNotifier(ctx context.Context, p *Prepared, opts *Options) (*notify.Notifier, error) {
	store := &notify.ClusterStore{Dynamic: p.Clients.Dynamic, Core: p.Clients.Core, Mapper: p.Clients.Mapper}
	has, err := store.HasAlerts(ctx)
	if err != nil || !has {
		return nil, err
	}
	host, _ := os.Hostname()
	return &notify.Notifier{Store: store, Warnings: &events.Kubernetes{Client: p.Clients.Core, Host: host, Clock: opts.Clock},
		Instance: "converge-apply", Clock: opts.Clock}, nil
}

// notifyKustomization sends a Kustomization's result as the agent reports it: a failure, or the
// objects that changed.
func (p *Prepared) notifyKustomization(ctx context.Context, res *reconcile.KustomizationResult) {
	if (p.Notifier == nil && p.Events == nil) || res == nil || res.Suspended {
		return
	}
	ns, name, _ := strings.Cut(res.Kustomization, "/")
	ref, md := p.objectRef(ctx, kustomizev1.GroupVersion.WithResource("kustomizations"), kustomizev1.KustomizationKind, ns, name)
	e := events.Event{Object: ref, Revision: res.Revision, Metadata: md, Timestamp: p.now(), Controller: "kustomize-controller"}
	switch {
	case res.Err != nil:
		e.Severity, e.Reason, e.Message = events.SeverityError, reconcile.FailureReason(res.Err), res.Err.Error()
	case res.ChangeSet != nil && res.ChangeSet.Changed():
		e.Severity, e.Reason, e.Message = events.SeverityInfo, kustomizev1.ReconciliationSucceededReason, reconcile.ChangeSummary(res.ChangeSet, res.Revision)
	default:
		return
	}
	p.emit(ctx, e)
}

// notifyHelmRelease sends a HelmRelease's failure, or the Helm actions that succeeded.
func (p *Prepared) notifyHelmRelease(ctx context.Context, ns, name string, res *reconcile.HelmReleaseResult) {
	if (p.Notifier == nil && p.Events == nil) || res == nil || res.Suspended {
		return
	}
	ref, md := p.objectRef(ctx, helmv2.GroupVersion.WithResource("helmreleases"), helmv2.HelmReleaseKind, ns, name)
	e := events.Event{Object: ref, Revision: res.Revision, Metadata: md, Timestamp: p.now(), Controller: "helm-controller"}
	switch {
	case res.Err != nil:
		e.Severity, e.Reason, e.Message = events.SeverityError, meta.ReconciliationFailedReason, res.Err.Error()
	case len(res.Actions) > 0:
		e.Severity, e.Reason = events.SeverityInfo, meta.ReconciliationSucceededReason
		e.Message = fmt.Sprintf("Helm %v succeeded for release %s with chart version %s", res.Actions, res.Release, res.Revision)
	default:
		return
	}
	p.emit(ctx, e)
}

// emit records e as a Kubernetes Event and sends it to the matching Alerts.
func (p *Prepared) emit(ctx context.Context, e events.Event) {
	if p.Events != nil {
		p.Events.Emit(ctx, e)
	}
	if p.Notifier != nil {
		p.Notifier.Emit(ctx, e)
	}
}

// objectRef names the object with its UID when it can be read.
// objectRef returns the reference of the object events are about and the metadata its annotations give
// them (events.MetadataFromAnnotations, as the agent's events).
func (p *Prepared) objectRef(ctx context.Context, gvr schema.GroupVersionResource, kind, ns, name string) (corev1.ObjectReference, map[string]string) {
	ref := corev1.ObjectReference{Kind: kind, APIVersion: gvr.GroupVersion().String(), Namespace: ns, Name: name}
	var md map[string]string
	if u, err := p.Clients.Dynamic.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
		ref.UID, ref.ResourceVersion = u.GetUID(), u.GetResourceVersion()
		md = events.MetadataFromAnnotations(u.GetAnnotations())
	}
	return ref, md
}

func (p *Prepared) now() time.Time {
	return p.Clock.Now()
}
