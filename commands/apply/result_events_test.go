package apply

import (
	"context"
	"errors"
	testingclock "k8s.io/utils/clock/testing"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/events"
	"github.com/converge-gitops/converge/engine/helmrelease/release"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/reconcile"
)

// TestApplySendsResultEvents: for each outcome apply sends the events the result builds (reconcile's
// TestResultEvents says which), about the object as the cluster holds it, with its
// event.toolkit.fluxcd.io metadata: what engine/agent's TestAgentSendsResultEvents asserts of the agent
// over the same outcomes, so one outcome gives the same events whoever reconciled. Drift included,
// which apply did not send before.
func TestApplySendsResultEvents(t *testing.T) {
	const ns = "result-events"
	ctx := context.Background()
	if _, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	cluster.ApplyYAML(t, `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: `+ns+`, annotations: {event.toolkit.fluxcd.io/change_request: "7"}}
spec: {interval: 1h, path: ./apps, prune: true, sourceRef: {kind: GitRepository, name: repo}}
`)
	cluster.ApplyYAML(t, `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: web, namespace: `+ns+`, annotations: {event.toolkit.fluxcd.io/change_request: "8"}}
spec:
  interval: 1h
  chart: {spec: {chart: web, sourceRef: {kind: HelmRepository, name: charts}}}
`)
	clients, err := kube.New(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := clients.Dynamic.Resource(reconcile.KustomizationsResource).Namespace(ns).Get(ctx, "apps", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hr, err := clients.Dynamic.Resource(reconcile.HelmReleasesResource).Namespace(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC)
	var got []events.Event
	p := &Prepared{Clients: clients, Clock: testingclock.NewFakePassiveClock(now),
		Events: events.Func(func(_ context.Context, e events.Event) { got = append(got, e) })}
	const rev = "main@sha1:1111111111111111111111111111111111111111"
	cs := func(subject string, action apply.Action) *apply.ChangeSet {
		return &apply.ChangeSet{Entries: []apply.Change{{Subject: subject, Action: action}}}
	}
	drift := &release.Drift{Release: ns + "/web.v2", Objects: []release.DriftedObject{{Subject: "Deployment/" + ns + "/web", Change: "removed"}},
		Corrected: []string{"Deployment/" + ns + "/web created"}}
	id := ns + "/apps"
	for _, tt := range []struct {
		name string
		ks   *reconcile.KustomizationResult
		hr   *reconcile.HelmReleaseResult
	}{
		{name: "applied", ks: &reconcile.KustomizationResult{Kustomization: id, Revision: rev, PreviousRevision: "main@sha1:0", ChangeSet: cs("ConfigMap/"+ns+"/a", apply.Created)}},
		{name: "unchanged at a new revision", ks: &reconcile.KustomizationResult{Kustomization: id, Revision: rev, PreviousRevision: "main@sha1:0", ChangeSet: cs("ConfigMap/"+ns+"/a", apply.Unchanged)}},
		{name: "pruned", ks: &reconcile.KustomizationResult{Kustomization: id, Revision: rev, PreviousRevision: rev, ChangeSet: cs("ConfigMap/"+ns+"/old", apply.Deleted)}},
		{name: "health failed", ks: &reconcile.KustomizationResult{Kustomization: id, Revision: rev, Err: errors.New("health check failed"), Reason: "HealthCheckFailed", ChangeSet: &apply.ChangeSet{}}},
		{name: "drift detected", ks: &reconcile.KustomizationResult{Kustomization: id, Revision: rev, PreviousRevision: rev, DriftDetection: true, ChangeSet: cs("ConfigMap/"+ns+"/a", apply.Configured)}},
		{name: "HelmRelease installed", hr: &reconcile.HelmReleaseResult{Revision: "1.0.0", Release: ns + "/web.v1", Actions: []release.Action{release.ActionInstall}}},
		{name: "HelmRelease upgraded", hr: &reconcile.HelmReleaseResult{Revision: "1.1.0", Release: ns + "/web.v2", Actions: []release.Action{release.ActionUpgrade}}},
		{name: "HelmRelease failed", hr: &reconcile.HelmReleaseResult{Revision: "1.1.0", Err: errors.New("upgrade failed")}},
		{name: "HelmRelease drift corrected", hr: &reconcile.HelmReleaseResult{Revision: "1.1.0", Release: ns + "/web.v2", Drift: drift}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			var want []events.Event
			if tt.ks != nil {
				p.notifyKustomization(ctx, tt.ks)
				want = tt.ks.Events(liveRef(ks), ks.GetAnnotations(), now)
			} else {
				p.notifyHelmRelease(ctx, ns, "web", tt.hr)
				want = tt.hr.Events(liveRef(hr), hr.GetAnnotations(), now)
			}
			if len(want) == 0 || want[0].Metadata["event.toolkit.fluxcd.io/change_request"] == "" || want[0].Object.UID == "" {
				t.Fatalf("the outcome builds no event with the object's UID and metadata: %+v", want)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("apply sent\n %+v\nwant\n %+v", got, want)
			}
		})
	}
}

// liveRef is the reference of an object read from the cluster, as events name it.
func liveRef(u *unstructured.Unstructured) corev1.ObjectReference {
	return corev1.ObjectReference{Kind: u.GetKind(), APIVersion: u.GetAPIVersion(), Namespace: u.GetNamespace(), Name: u.GetName(),
		UID: u.GetUID(), ResourceVersion: u.GetResourceVersion()}
}
