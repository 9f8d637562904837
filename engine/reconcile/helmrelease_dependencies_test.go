package reconcile

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	"github.com/converge-gitops/converge/crds/meta"
)

// A HelmRelease's dependsOn[].readyExpr replaces the built-in Ready check of its dependency; one that
// does not compile stalls the HelmRelease (InvalidCELExpression) without a retry.
func TestHelmReleaseDependsOnReadyExpr(t *testing.T) {
	ctx := context.Background()
	r := newHelmReleases(t)
	ns := "hr-readyexpr"
	createHelmRelease(t, r, ns, "db", "")
	createHelmRelease(t, r, ns, "web", `  dependsOn:
    - name: db
      readyExpr: "dep.metadata.?annotations.?gate.orValue('') == 'open' && self.metadata.name == 'web'"
`)
	chrt := loadTestChart(t, "")
	res := r.Reconcile(ctx, hrRef(ns, "web"), chrt, "", nil)
	web := liveHR(t, r, ns, "web")
	if ready := condition(web, meta.ReadyCondition); res.Err == nil || ready.Reason != helmv2.DependencyNotReadyReason ||
		ready.Message != "dependency 'hr-readyexpr/db' is not ready according to readyExpr eval" || res.RequeueAfter != DependencyRequeueInterval {
		t.Fatalf("waiting: %+v, requeue %s, %v", ready, res.RequeueAfter, res.Err)
	}
	if rc := condition(web, meta.ReconcilingCondition); rc.Status != metav1.ConditionTrue || rc.Reason != meta.ProgressingWithRetryReason {
		t.Errorf("Reconciling while waiting: %+v", rc)
	}
	if len(res.Actions) != 0 {
		t.Fatalf("ran %v while its dependency was not ready", res.Actions)
	}

	// db never became Ready (it was not reconciled): the expression alone decides.
	updateHelmRelease(t, r, ns, "db", func(u *unstructured.Unstructured) { u.SetAnnotations(map[string]string{"gate": "open"}) })
	res = r.Reconcile(ctx, hrRef(ns, "web"), chrt, "", nil)
	if res.Err != nil || actionsOf(res) != "install" {
		t.Fatalf("after the gate opened: %s %v", actionsOf(res), res.Err)
	}
	if rc := condition(liveHR(t, r, ns, "web"), meta.ReconcilingCondition); rc.Type != "" {
		t.Errorf("Reconciling left after success: %+v", rc)
	}

	updateHelmRelease(t, r, ns, "web", func(u *unstructured.Unstructured) {
		_ = unstructured.SetNestedSlice(u.Object, []any{map[string]any{"name": "db", "readyExpr": "dep.metadata.name =="}}, "spec", "dependsOn")
	})
	res = r.Reconcile(ctx, hrRef(ns, "web"), chrt, "", nil)
	web = liveHR(t, r, ns, "web")
	ready, stalled := condition(web, meta.ReadyCondition), condition(web, meta.StalledCondition)
	if !IsTerminal(res.Err) || res.RequeueAfter != 0 || ready.Reason != meta.InvalidCELExpressionReason || stalled.Status != metav1.ConditionTrue ||
		!strings.HasPrefix(ready.Message, TerminalErrorMessage+": HelmRelease hr-readyexpr/web: spec.dependsOn[0] (hr-readyexpr/db): readyExpr") ||
		web.Status.ObservedGeneration != web.Generation {
		t.Fatalf("invalid expression: Ready %+v Stalled %+v requeue %s observed %d/%d: %v", ready, stalled, res.RequeueAfter, web.Status.ObservedGeneration, web.Generation, res.Err)
	}

	// Fixed: Stalled goes.
	updateHelmRelease(t, r, ns, "web", func(u *unstructured.Unstructured) {
		_ = unstructured.SetNestedSlice(u.Object, []any{map[string]any{"name": "db", "readyExpr": "true"}}, "spec", "dependsOn")
	})
	if res = r.Reconcile(ctx, hrRef(ns, "web"), chrt, "", nil); res.Err != nil {
		t.Fatal(res.Err)
	}
	if stalled := condition(liveHR(t, r, ns, "web"), meta.StalledCondition); stalled.Type != "" {
		t.Errorf("Stalled after the fix: %+v", stalled)
	}
}
