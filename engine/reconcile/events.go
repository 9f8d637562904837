package reconcile

import (
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/crds/meta"
	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/build"
	"github.com/converge-gitops/converge/engine/events"
)

// Controllers named as the reporting controller of the events of each kind, as Flux's.
const (
	KustomizationController = "kustomize-controller"
	HelmReleaseController   = "helm-controller"
)

// Events are the events a Kustomization's reconciliation produces; the agent and `converge apply` send
// these, so that one outcome gives the same events whoever reconciled. ref is the Kustomization,
// annotations its metadata.annotations (the event.toolkit.fluxcd.io/ ones become the events'
// metadata), now the events' time. The rules:
//   - suspended, or applied at the same revision with nothing changed: no event;
//   - a dependency or the source awaited (DependencyNotReady, ArtifactFailed): none, it is retried;
//   - failed: a warning whose reason is the Ready condition's, as kustomize-controller's (BuildFailed,
//     ReconciliationFailed, PruneFailed, HealthCheckFailed, InvalidCELExpression);
//   - applied: ReconciliationSucceeded listing the objects created, configured or deleted (pruned), or
//     "Applied revision: …" for a new revision that changed nothing;
//   - drift detection (DetectDrift): a warning DriftDetected listing the drifted objects, a warning
//     Failed when detection failed, nothing without drift.
func (r *KustomizationResult) Events(ref corev1.ObjectReference, annotations map[string]string, now time.Time) []events.Event {
	if r == nil || r.Suspended {
		return nil
	}
	ev := func(severity, reason, msg string) []events.Event {
		return []events.Event{{Object: ref, Severity: severity, Reason: reason, Message: msg, Revision: r.Revision,
			Metadata: events.MetadataFromAnnotations(annotations), Timestamp: now, Controller: KustomizationController}}
	}
	switch {
	case r.DriftDetection && r.Err != nil:
		return ev(events.SeverityError, meta.FailedReason, r.Err.Error())
	case r.DriftDetection && changed(r.ChangeSet):
		return ev(events.SeverityError, DriftDetectedReason, ChangeSummary(r.ChangeSet, r.Revision))
	case r.DriftDetection:
		return nil
	case r.Err != nil && (r.Reason == meta.DependencyNotReadyReason || r.Reason == meta.ArtifactFailedReason):
		return nil
	case r.Err != nil && r.Reason != "":
		return ev(events.SeverityError, r.Reason, r.Err.Error())
	case r.Err != nil:
		return ev(events.SeverityError, FailureReason(r.Err), r.Err.Error())
	case changed(r.ChangeSet) || r.PreviousRevision != r.Revision:
		return ev(events.SeverityInfo, kustomizev1.ReconciliationSucceededReason, ChangeSummary(r.ChangeSet, r.Revision))
	}
	return nil
}

// Events are the events a HelmRelease's reconciliation produces, sent by the agent and `converge apply`
// alike (ref, annotations and now as for KustomizationResult.Events). The rules, as helm-controller's:
//   - suspended, or in sync with no drift: no event;
//   - a readyExpr that does not compile: a warning InvalidCELExpression;
//   - failed: a warning ReconciliationFailed;
//   - succeeded: the drift events (DriftDetected, then DriftCorrected or DriftCorrectionFailed), then,
//     when Helm actions ran (install, upgrade, rollback...), ReconciliationSucceeded naming them.
func (r *HelmReleaseResult) Events(ref corev1.ObjectReference, annotations map[string]string, now time.Time) []events.Event {
	if r == nil || r.Suspended {
		return nil
	}
	var out []events.Event
	add := func(severity, reason, msg string) {
		out = append(out, events.Event{Object: ref, Severity: severity, Reason: reason, Message: msg, Revision: r.Revision,
			Metadata: events.MetadataFromAnnotations(annotations), Timestamp: now, Controller: HelmReleaseController})
	}
	switch {
	case IsTerminal(r.Err):
		add(events.SeverityError, meta.InvalidCELExpressionReason, r.Err.Error())
		return out
	case IsAccessDenied(r.Err):
		add(events.SeverityError, AccessDeniedReason, r.Err.Error())
		return out
	case r.Err != nil:
		add(events.SeverityError, meta.ReconciliationFailedReason, r.Err.Error())
		return out
	}
	if r.Drift != nil {
		for _, e := range r.Drift.Events() {
			add(e.Severity, e.Reason, e.Message)
		}
	}
	if len(r.Actions) > 0 {
		add(events.SeverityInfo, meta.ReconciliationSucceededReason,
			fmt.Sprintf("Helm %v succeeded for release %s with chart version %s", r.Actions, r.Release, r.Revision))
	}
	return out
}

// FailureReason is the Flux event reason of a failed Kustomization reconciliation: BuildFailed when
// the manifests could not be built, else ReconciliationFailed.
func FailureReason(err error) string {
	var be *build.Error
	if errors.As(err, &be) {
		return kustomizev1.BuildFailedReason
	}
	return kustomizev1.ReconciliationFailedReason
}

// ChangeSummary is the message of a Kustomization's success (or drift) event, as Flux writes it: the
// objects that changed, one per line, or "Applied revision: …" when none did.
func ChangeSummary(cs *apply.ChangeSet, revision string) string {
	var b strings.Builder
	if cs != nil {
		for _, e := range cs.Entries {
			if e.Action == apply.Unchanged || e.Action == apply.Skipped {
				continue
			}
			fmt.Fprintf(&b, "%s %s\n", e.Subject, e.Action)
		}
	}
	if b.Len() == 0 {
		return "Applied revision: " + revision
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func changed(cs *apply.ChangeSet) bool { return cs != nil && cs.Changed() }
