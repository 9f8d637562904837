package health

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

func certificate(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte("apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata:\n  name: c\n  generation: 2\n"+doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestCELExpressions(t *testing.T) {
	certExprs := Expressions{APIVersion: "cert-manager.io/v1", Kind: "Certificate",
		InProgress: "status.conditions.exists(e, e.type == 'Issuing' && e.status == 'True')",
		Failed:     "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'False')",
		Current:    "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True')"}
	groupExprs := Expressions{APIVersion: "cert-manager.io/v1", Current: "has(status.ready) && status.ready"}
	c, err := (&Checker{}).WithExpressions([]Expressions{certExprs, groupExprs})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, kind, doc string
		want            status.Status
		message         string
	}{
		{"ready", "Certificate", "status:\n  observedGeneration: 2\n  conditions: [{type: Ready, status: 'True'}]\n", status.CurrentStatus, "current is true"},
		{"failed", "Certificate", "status:\n  conditions: [{type: Ready, status: 'False'}]\n", status.FailedStatus, "failed is true"},
		{"in progress wins over failed", "Certificate", "status:\n  conditions: [{type: Ready, status: 'False'}, {type: Issuing, status: 'True'}]\n", status.InProgressStatus, "inProgress is true"},
		{"none true", "Certificate", "status:\n  conditions: [{type: Ready, status: Unknown}]\n", status.InProgressStatus, "no healthCheckExprs"},
		{"old generation", "Certificate", "status:\n  observedGeneration: 1\n  conditions: [{type: Ready, status: 'True'}]\n", status.InProgressStatus, "generation 2 not observed"},
		{"no status yet", "Certificate", "spec: {}\n", status.UnknownStatus, "healthCheckExprs inProgress"},
		{"group-wide expressions for other kinds", "Issuer", "status: {ready: true}\n", status.CurrentStatus, "current is true"},
		{"group-wide, not ready", "Issuer", "status: {}\n", status.InProgressStatus, "no healthCheckExprs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := certificate(t, tc.doc)
			u.SetKind(tc.kind)
			ev := c.evaluatorFor(u.GroupVersionKind().GroupKind())
			if ev == nil {
				t.Fatal("no expressions for the kind")
			}
			got, msg := ev.evaluate(context.Background(), u)
			if got != tc.want || !strings.Contains(msg, tc.message) {
				t.Errorf("got %s %q, want %s %q", got, msg, tc.want, tc.message)
			}
		})
	}
	if ev := c.evaluatorFor(schema.GroupKind{Group: "apps", Kind: "Deployment"}); ev != nil {
		t.Error("expressions of another group apply to Deployments")
	}
}

func TestCELExpressionErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    Expressions
		want string
	}{
		{"syntax", Expressions{APIVersion: "example.com/v1", Kind: "W", Current: "status.ready ==", Failed: "x"}, "current expression"},
		{"failed syntax", Expressions{APIVersion: "example.com/v1", Kind: "W", Current: "true", Failed: "status.(("}, "failed expression"},
		{"no current", Expressions{APIVersion: "example.com/v1", Kind: "W", Failed: "true"}, "current expression is required"},
		{"bad apiVersion", Expressions{APIVersion: "a/b/c", Kind: "W", Current: "true"}, "apiVersion"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := (&Checker{}).WithExpressions([]Expressions{tc.e})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "healthCheckExprs[0]") {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
	c, err := (&Checker{}).WithExpressions([]Expressions{{APIVersion: "example.com/v1", Kind: "W", Current: "'yes'"}})
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1", "kind": "W", "metadata": map[string]any{"name": "w"}}}
	if got, msg := c.evaluatorFor(schema.GroupKind{Group: "example.com", Kind: "W"}).evaluate(context.Background(), u); got != status.UnknownStatus || !strings.Contains(msg, "not a bool") {
		t.Errorf("a non-bool result: %s %q", got, msg)
	}
}
