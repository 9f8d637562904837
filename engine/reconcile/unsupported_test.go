package reconcile

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestHelmReleaseConditionNamesUnsupported: in a real API server, a released HelmRelease that uses an
// unsupported field says so in its Ready condition.
func TestHelmReleaseConditionNamesUnsupported(t *testing.T) {
	ctx := context.Background()
	r := newHelmReleases(t)
	ns := "hr-unsupported"
	createHelmRelease(t, r, ns, "web", `  persistentClient: false
  values:
    replicas: 0
`)
	res := r.Reconcile(ctx, hrRef(ns, "web"), loadTestChart(t, ""), "", nil)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	c := condition(liveHR(t, r, ns, "web"), "Ready")
	if c.Status != metav1.ConditionTrue || !strings.HasSuffix(c.Message, "\nWarning: spec.persistentClient is not supported yet: ignored: converge manages its Kubernetes clients itself") {
		t.Fatalf("Ready %+v", c)
	}
}
