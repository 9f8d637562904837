package apply

import (
	"context"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
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

// notifyKustomization sends a Kustomization's result as the agent does: the events the result
// produces (reconcile.KustomizationResult.Events).
func (p *Prepared) notifyKustomization(ctx context.Context, res *reconcile.KustomizationResult) {
	if (p.Notifier == nil && p.Events == nil) || res == nil || res.Suspended {
		return
	}
	ns, name, _ := strings.Cut(res.Kustomization, "/")
	ref, annotations := p.objectRef(ctx, kustomizev1.GroupVersion.WithResource("kustomizations"), kustomizev1.KustomizationKind, ns, name)
	p.emit(ctx, res.Events(ref, annotations, p.now())...)
}

// notifyHelmRelease sends a HelmRelease's result as the agent does: the events the result produces
// (reconcile.HelmReleaseResult.Events), its drift's included.
func (p *Prepared) notifyHelmRelease(ctx context.Context, ns, name string, res *reconcile.HelmReleaseResult) {
	if (p.Notifier == nil && p.Events == nil) || res == nil || res.Suspended {
		return
	}
	ref, annotations := p.objectRef(ctx, helmv2.GroupVersion.WithResource("helmreleases"), helmv2.HelmReleaseKind, ns, name)
	p.emit(ctx, res.Events(ref, annotations, p.now())...)
}

// emit records evs as Kubernetes Events and sends them to the matching Alerts.
func (p *Prepared) emit(ctx context.Context, evs ...events.Event) {
	for _, e := range evs {
		if p.Events != nil {
			p.Events.Emit(ctx, e)
		}
		if p.Notifier != nil {
			p.Notifier.Emit(ctx, e)
		}
	}
}

// objectRef returns the reference of the object events are about, with its UID when it can be read,
// and its annotations (the source of the events' metadata, as the agent's).
func (p *Prepared) objectRef(ctx context.Context, gvr schema.GroupVersionResource, kind, ns, name string) (corev1.ObjectReference, map[string]string) {
	ref := corev1.ObjectReference{Kind: kind, APIVersion: gvr.GroupVersion().String(), Namespace: ns, Name: name}
	var annotations map[string]string
	if u, err := p.Clients.Dynamic.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
		ref.UID, ref.ResourceVersion = u.GetUID(), u.GetResourceVersion()
		annotations = u.GetAnnotations()
	}
	return ref, annotations
}

func (p *Prepared) now() time.Time {
	return p.Clock.Now()
}
