package agent

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/events"
	"github.com/converge-gitops/converge/engine/helmrelease/release"
	"github.com/converge-gitops/converge/engine/reconcile"
)

// TestAgentSendsResultEvents: for each outcome the agent sends the events the result builds
// (reconcile's TestResultEvents says which), about the object as the cluster holds it, with its
// event.toolkit.fluxcd.io metadata. commands/apply's TestApplySendsResultEvents asserts the same of
// apply over the same outcomes: one outcome, the same events, whoever reconciled.
func TestAgentSendsResultEvents(t *testing.T) {
	const ns = "result-events"
	namespace(t, ns)
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
	ks := get(t, ksGVR, ns, "apps")
	hr := get(t, reconcile.HelmReleasesResource, ns, "web")
	now := time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC)
	var got []events.Event
	a := &Agent{clock: testingclock.NewFakeClock(now), opts: Options{Events: events.Func(func(_ context.Context, e events.Event) { got = append(got, e) })}}
	ctx := context.Background()
	const rev = "main@sha1:1111111111111111111111111111111111111111"
	cs := func(subject string, action apply.Action) *apply.ChangeSet {
		return &apply.ChangeSet{Entries: []apply.Change{{Subject: subject, Action: action}}}
	}
	drift := &release.Drift{Release: ns + "/web.v2", Objects: []release.DriftedObject{{Subject: "Deployment/" + ns + "/web", Change: "removed"}},
		Corrected: []string{"Deployment/" + ns + "/web created"}}
	for _, tt := range []struct {
		name string
		ks   *reconcile.KustomizationResult
		hr   *reconcile.HelmReleaseResult
	}{
		{name: "applied", ks: &reconcile.KustomizationResult{Revision: rev, PreviousRevision: "main@sha1:0", ChangeSet: cs("ConfigMap/"+ns+"/a", apply.Created)}},
		{name: "unchanged at a new revision", ks: &reconcile.KustomizationResult{Revision: rev, PreviousRevision: "main@sha1:0", ChangeSet: cs("ConfigMap/"+ns+"/a", apply.Unchanged)}},
		{name: "pruned", ks: &reconcile.KustomizationResult{Revision: rev, PreviousRevision: rev, ChangeSet: cs("ConfigMap/"+ns+"/old", apply.Deleted)}},
		{name: "health failed", ks: &reconcile.KustomizationResult{Revision: rev, Err: errors.New("health check failed"), Reason: "HealthCheckFailed", ChangeSet: &apply.ChangeSet{}}},
		{name: "drift detected", ks: &reconcile.KustomizationResult{Revision: rev, PreviousRevision: rev, DriftDetection: true, ChangeSet: cs("ConfigMap/"+ns+"/a", apply.Configured)}},
		{name: "HelmRelease installed", hr: &reconcile.HelmReleaseResult{Revision: "1.0.0", Release: ns + "/web.v1", Actions: []release.Action{release.ActionInstall}}},
		{name: "HelmRelease upgraded", hr: &reconcile.HelmReleaseResult{Revision: "1.1.0", Release: ns + "/web.v2", Actions: []release.Action{release.ActionUpgrade}}},
		{name: "HelmRelease failed", hr: &reconcile.HelmReleaseResult{Revision: "1.1.0", Err: errors.New("upgrade failed")}},
		{name: "HelmRelease drift corrected", hr: &reconcile.HelmReleaseResult{Revision: "1.1.0", Release: ns + "/web.v2", Drift: drift}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			var want []events.Event
			if tt.ks != nil {
				a.emitResult(ctx, ks, tt.ks)
				want = tt.ks.Events(liveRef(ks), ks.GetAnnotations(), now)
			} else {
				a.emitHelmReleaseResult(ctx, hr, tt.hr)
				want = tt.hr.Events(liveRef(hr), hr.GetAnnotations(), now)
			}
			if len(want) == 0 || want[0].Metadata["event.toolkit.fluxcd.io/change_request"] == "" || want[0].Object.UID == "" {
				t.Fatalf("the outcome builds no event with the object's UID and metadata: %+v", want)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("agent sent\n %+v\nwant\n %+v", got, want)
			}
		})
	}
}

// liveRef is the reference of an object read from the cluster, as events name it.
func liveRef(u *unstructured.Unstructured) corev1.ObjectReference {
	return corev1.ObjectReference{Kind: u.GetKind(), APIVersion: u.GetAPIVersion(), Namespace: u.GetNamespace(), Name: u.GetName(),
		UID: u.GetUID(), ResourceVersion: u.GetResourceVersion()}
}
