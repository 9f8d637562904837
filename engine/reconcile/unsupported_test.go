package reconcile

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
)

// TestNoteUnsupported: the unsupported fields a HelmRelease uses are added once to its Ready and
// Reconciling messages, and nothing is added for an object that uses none.
func TestNoteUnsupported(t *testing.T) {
	const note = "Warning: spec.waitStrategy is not supported yet: ignored: converge waits with Helm's own logic (legacy)"
	uses := &helmv2.HelmRelease{Spec: helmv2.HelmReleaseSpec{WaitStrategy: &helmv2.WaitStrategy{Name: helmv2.WaitStrategyPoller}}}
	tests := []struct {
		name  string
		hr    *helmv2.HelmRelease
		ready string
		want  string
	}{
		{"adds the note", uses, "Helm install succeeded", "Helm install succeeded\n" + note},
		{"once", uses, "Helm install succeeded\n" + note, "Helm install succeeded\n" + note},
		{"an empty message", uses, "", note},
		{"no unsupported field", &helmv2.HelmRelease{}, "Helm install succeeded", "Helm install succeeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conds := []metav1.Condition{{Type: "Ready", Message: tt.ready}, {Type: "Released", Message: "x"}}
			noteUnsupported(helmv2.HelmReleaseKind, tt.hr, conds)
			if conds[0].Message != tt.want || conds[1].Message != "x" {
				t.Errorf("Ready %q, Released %q\nwant Ready %q", conds[0].Message, conds[1].Message, tt.want)
			}
		})
	}
}

// TestHelmReleaseConditionNamesUnsupported: in a real API server, a released HelmRelease that uses an
// unsupported field says so in its Ready condition.
func TestHelmReleaseConditionNamesUnsupported(t *testing.T) {
	ctx := context.Background()
	r := newHelmReleases(t)
	ns := "hr-unsupported"
	createHelmRelease(t, r, ns, "web", `  waitStrategy:
    name: poller
  values:
    replicas: 1
`)
	res := r.Reconcile(ctx, hrRef(ns, "web"), loadTestChart(t, ""), "", nil)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	c := condition(liveHR(t, r, ns, "web"), "Ready")
	if c.Status != metav1.ConditionTrue || !strings.HasSuffix(c.Message, "\nWarning: spec.waitStrategy is not supported yet: ignored: converge waits with Helm's own logic (legacy)") {
		t.Fatalf("Ready %+v", c)
	}
}
