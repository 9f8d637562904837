package reconcile

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/build"
	"github.com/converge-gitops/converge/engine/events"
	"github.com/converge-gitops/converge/engine/helmrelease/release"
)

// ev is an expected event: severity, reason, message.
type ev struct{ severity, reason, message string }

// resultEventsRev is the revision of the results below.
const resultEventsRev = "main@sha1:1111111111111111111111111111111111111111"

func changes(entries ...string) *apply.ChangeSet {
	cs := &apply.ChangeSet{}
	for i := 0; i+1 < len(entries); i += 2 {
		cs.Entries = append(cs.Entries, apply.Change{Subject: entries[i], Action: apply.Action(entries[i+1])})
	}
	return cs
}

// TestResultEvents: the events each reconcile outcome produces, which the agent and `converge apply`
// both send (the object reference, metadata and time are the caller's, carried unchanged).
func TestResultEvents(t *testing.T) {
	ref := corev1.ObjectReference{Kind: "Kustomization", APIVersion: "kustomize.toolkit.fluxcd.io/v1", Namespace: "flux-system", Name: "apps", UID: "u1"}
	hrRef := corev1.ObjectReference{Kind: "HelmRelease", APIVersion: "helm.toolkit.fluxcd.io/v2", Namespace: "demo", Name: "web", UID: "u2"}
	annotations := map[string]string{"event.toolkit.fluxcd.io/change_request": "7", "kustomize.toolkit.fluxcd.io/prune": "disabled"}
	now := time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC)
	ksErr := func(err error) error { return fmt.Errorf("Kustomization flux-system/apps: %w", err) }
	buildErr := ksErr(&build.Error{Kustomization: "flux-system/apps", File: "apps/kustomization.yaml", Err: errors.New("missing resource")})
	ks := func(r KustomizationResult) *KustomizationResult {
		r.Kustomization, r.Revision = "flux-system/apps", resultEventsRev
		if r.ChangeSet == nil {
			r.ChangeSet = &apply.ChangeSet{}
		}
		return &r
	}
	drift := &release.Drift{Release: "demo/web.v2", Objects: []release.DriftedObject{{Subject: "Deployment/demo/web", Change: "changed (0 additions, 1 changes, 0 removals)"}}}
	corrected := *drift
	corrected.Corrected = []string{"Deployment/demo/web configured"}
	failedCorrection := *drift
	failedCorrection.CorrectionErr = errors.New("Deployment/demo/web: forbidden")

	tests := []struct {
		name string
		ks   *KustomizationResult
		hr   *HelmReleaseResult
		want []ev
	}{
		{name: "Kustomization applied", ks: ks(KustomizationResult{PreviousRevision: "main@sha1:0", ChangeSet: changes("ConfigMap/apps/a", "created", "ConfigMap/apps/b", "configured", "ConfigMap/apps/c", "unchanged")}),
			want: []ev{{"info", "ReconciliationSucceeded", "ConfigMap/apps/a created\nConfigMap/apps/b configured"}}},
		{name: "Kustomization unchanged", ks: ks(KustomizationResult{PreviousRevision: resultEventsRev, ChangeSet: changes("ConfigMap/apps/a", "unchanged")})},
		{name: "Kustomization unchanged at a new revision", ks: ks(KustomizationResult{PreviousRevision: "main@sha1:0", ChangeSet: changes("ConfigMap/apps/a", "unchanged")}),
			want: []ev{{"info", "ReconciliationSucceeded", "Applied revision: " + resultEventsRev}}},
		{name: "Kustomization pruned", ks: ks(KustomizationResult{PreviousRevision: resultEventsRev, ChangeSet: changes("ConfigMap/apps/old", "deleted")}),
			want: []ev{{"info", "ReconciliationSucceeded", "ConfigMap/apps/old deleted"}}},
		{name: "Kustomization suspended", ks: ks(KustomizationResult{Suspended: true, PreviousRevision: "main@sha1:0"})},
		{name: "Kustomization build failed", ks: ks(KustomizationResult{Err: buildErr, Reason: "BuildFailed"}),
			want: []ev{{"error", "BuildFailed", buildErr.Error()}}},
		{name: "Kustomization failed without a reason", ks: ks(KustomizationResult{Err: buildErr}),
			want: []ev{{"error", "BuildFailed", buildErr.Error()}}},
		{name: "Kustomization apply failed", ks: ks(KustomizationResult{Err: ksErr(errors.New("ConfigMap/apps/a dry-run failed")), Reason: "ReconciliationFailed"}),
			want: []ev{{"error", "ReconciliationFailed", "Kustomization flux-system/apps: ConfigMap/apps/a dry-run failed"}}},
		{name: "Kustomization prune failed", ks: ks(KustomizationResult{Err: ksErr(errors.New("deleting ConfigMap/apps/old: forbidden")), Reason: "PruneFailed"}),
			want: []ev{{"error", "PruneFailed", "Kustomization flux-system/apps: deleting ConfigMap/apps/old: forbidden"}}},
		{name: "Kustomization health failed", ks: ks(KustomizationResult{Err: ksErr(errors.New("health check failed after 1m0s")), Reason: "HealthCheckFailed",
			ChangeSet: changes("Deployment/apps/web", "configured")}),
			want: []ev{{"error", "HealthCheckFailed", "Kustomization flux-system/apps: health check failed after 1m0s"}}},
		{name: "Kustomization waiting for a dependency", ks: ks(KustomizationResult{Err: ksErr(errors.New("dependency 'flux-system/infra' is not ready")), Reason: "DependencyNotReady"})},
		{name: "Kustomization waiting for its source", ks: ks(KustomizationResult{Err: ksErr(errors.New("Source artifact not found")), Reason: "ArtifactFailed"})},
		{name: "Kustomization readyExpr does not compile", ks: ks(KustomizationResult{Err: ksErr(errors.New("readyExpr: syntax error")), Reason: "InvalidCELExpression"}),
			want: []ev{{"error", "InvalidCELExpression", "Kustomization flux-system/apps: readyExpr: syntax error"}}},
		{name: "Kustomization drift detected", ks: ks(KustomizationResult{DriftDetection: true, PreviousRevision: resultEventsRev, ChangeSet: changes("ConfigMap/apps/a", "configured")}),
			want: []ev{{"error", "DriftDetected", "ConfigMap/apps/a configured"}}},
		{name: "Kustomization no drift", ks: ks(KustomizationResult{DriftDetection: true, PreviousRevision: resultEventsRev, ChangeSet: changes("ConfigMap/apps/a", "unchanged")})},
		{name: "Kustomization drift detection failed", ks: ks(KustomizationResult{DriftDetection: true, Err: ksErr(errors.New("detecting drift: boom"))}),
			want: []ev{{"error", "Failed", "Kustomization flux-system/apps: detecting drift: boom"}}},

		{name: "HelmRelease installed", hr: &HelmReleaseResult{Revision: "1.0.0", Release: "demo/web.v1", Actions: []release.Action{release.ActionInstall}},
			want: []ev{{"info", "ReconciliationSucceeded", "Helm [install] succeeded for release demo/web.v1 with chart version 1.0.0"}}},
		{name: "HelmRelease upgraded and tested", hr: &HelmReleaseResult{Revision: "1.1.0", Release: "demo/web.v2", Actions: []release.Action{release.ActionUpgrade, release.ActionTest}},
			want: []ev{{"info", "ReconciliationSucceeded", "Helm [upgrade test] succeeded for release demo/web.v2 with chart version 1.1.0"}}},
		{name: "HelmRelease in sync", hr: &HelmReleaseResult{Revision: "1.1.0", Release: "demo/web.v2"}},
		{name: "HelmRelease suspended", hr: &HelmReleaseResult{Suspended: true, Actions: []release.Action{release.ActionUpgrade}}},
		{name: "HelmRelease failed", hr: &HelmReleaseResult{Revision: "1.1.0", Err: errors.New("HelmRelease demo/web: upgrade failed: timed out")},
			want: []ev{{"error", "ReconciliationFailed", "HelmRelease demo/web: upgrade failed: timed out"}}},
		{name: "HelmRelease readyExpr does not compile", hr: &HelmReleaseResult{Err: fmt.Errorf("HelmRelease demo/web: %w", &InvalidReadyExprError{Err: errors.New("syntax error")})},
			want: []ev{{"error", "InvalidCELExpression", fmt.Sprintf("HelmRelease demo/web: %v", &InvalidReadyExprError{Err: errors.New("syntax error")})}}},
		{name: "HelmRelease drift corrected", hr: &HelmReleaseResult{Revision: "1.1.0", Release: "demo/web.v2", Drift: &corrected},
			want: []ev{{"error", "DriftDetected", drift.Message()},
				{"info", "DriftCorrected", "Cluster state of release demo/web.v2 has been corrected:\nDeployment/demo/web configured"}}},
		{name: "HelmRelease drift correction failed", hr: &HelmReleaseResult{Revision: "1.1.0", Release: "demo/web.v2", Drift: &failedCorrection},
			want: []ev{{"error", "DriftDetected", drift.Message()},
				{"error", "DriftCorrectionFailed", "Failed to correct cluster state of release demo/web.v2:\nDeployment/demo/web: forbidden"}}},
		{name: "HelmRelease drift detected and upgraded", hr: &HelmReleaseResult{Revision: "1.2.0", Release: "demo/web.v3", Drift: drift, Actions: []release.Action{release.ActionUpgrade}},
			want: []ev{{"error", "DriftDetected", drift.Message()},
				{"info", "ReconciliationSucceeded", "Helm [upgrade] succeeded for release demo/web.v3 with chart version 1.2.0"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []events.Event
			wantRef, controller, revision := ref, "kustomize-controller", resultEventsRev
			if tt.ks != nil {
				got = tt.ks.Events(ref, annotations, now)
			} else {
				got = tt.hr.Events(hrRef, annotations, now)
				wantRef, controller, revision = hrRef, "helm-controller", tt.hr.Revision
			}
			var want []events.Event
			for _, w := range tt.want {
				want = append(want, events.Event{Object: wantRef, Severity: w.severity, Reason: w.reason, Message: w.message,
					Revision: revision, Metadata: map[string]string{"event.toolkit.fluxcd.io/change_request": "7"},
					Timestamp: now, Controller: controller})
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("events:\n got  %+v\n want %+v", got, want)
			}
		})
	}
}
