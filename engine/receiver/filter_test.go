package receiver

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/crds/meta"
)

// receiverSpec applies a generic Receiver with the given spec lines (besides type and secretRef) and
// reconciles its status; it returns the webhook path.
func (e *env) receiverSpec(t *testing.T, name, spec string) string {
	t.Helper()
	cluster.ApplyYAML(t, fmt.Sprintf("apiVersion: notification.toolkit.fluxcd.io/v1\nkind: Receiver\nmetadata: {name: %s, namespace: %s}\nspec:\n  type: generic\n  secretRef: {name: webhook-token}\n%s",
		name, e.ns, spec))
	u, err := e.clients.Dynamic.Resource(Resource).Namespace(e.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	path, ready := Status(context.Background(), e.clients, decode(t, u))
	if ready.Status != metav1.ConditionTrue {
		t.Fatalf("Receiver %s not ready: %s", name, ready.Message)
	}
	if _, err := WriteStatus(context.Background(), e.clients.Dynamic, u, path, ready, time.Now()); err != nil {
		t.Fatal(err)
	}
	return path
}

const labelled = `  resources:
    - kind: GitRepository
      name: '*'
      matchLabels: {team: web}
`

// spec.resourceFilter and spec.resources[].filter select, among a valid call's targets, those
// annotated: res is the target's apiVersion, kind and metadata, req the JSON body.
func TestResourceFilter(t *testing.T) {
	tests := []struct {
		name, spec  string
		contentType string
		body        string
		want        int
		annotated   []string
	}{
		{name: "by the body", spec: labelled + "  resourceFilter: req.tag.contains(res.metadata.name)\n",
			body: `{"tag": "registry.example.com/labelled-a:1.1"}`, want: 200, annotated: []string{"labelled-a"}},
		{name: "none accepted", spec: labelled + "  resourceFilter: req.tag.contains(res.metadata.name)\n",
			body: `{"tag": "registry.example.com/web:1.1"}`, want: 200},
		{name: "kind and labels", spec: labelled + "  resourceFilter: res.kind == 'GitRepository' && res.apiVersion == 'source.toolkit.fluxcd.io/v1' && res.metadata.labels.team == 'web'\n",
			body: `{}`, want: 200, annotated: []string{"labelled-a", "labelled-b"}},
		{name: "per-resource filter stacks", spec: `  resourceFilter: "!req.skip"
  resources:
    - kind: GitRepository
      name: '*'
      matchLabels: {team: web}
      filter: res.metadata.name.endsWith('-b')
    - kind: GitRepository
      name: app
`, body: `{"skip": false}`, want: 200, annotated: []string{"labelled-b", "app"}},
		{name: "top filter rejects all", spec: `  resourceFilter: "!req.skip"
  resources:
    - kind: GitRepository
      name: app
      filter: "true"
`, body: `{"skip": true}`, want: 200},
		{name: "not JSON: req is empty", spec: labelled + "  resourceFilter: \"!has(req.tag)\"\n",
			contentType: "text/plain", body: `{"tag": "x"}`, want: 200, annotated: []string{"labelled-a", "labelled-b"}},
		{name: "content type with parameters", spec: labelled + "  resourceFilter: req.tag == res.metadata.name\n",
			contentType: "application/json; charset=utf-8", body: `{"tag": "labelled-b"}`, want: 200, annotated: []string{"labelled-b"}},
		{name: "invalid JSON", spec: labelled + "  resourceFilter: \"true\"\n", body: `{"tag":`, want: 400},
		{name: "evaluation error", spec: labelled + "  resourceFilter: req.tag == 'x'\n", body: `{}`, want: 500},
		{name: "missing single target", spec: "  resourceFilter: \"true\"\n  resources:\n    - kind: GitRepository\n      name: absent\n", body: `{}`, want: 500},
		{name: "no filter: no body parsing", spec: labelled, body: `not json`, want: 200, annotated: []string{"labelled-a", "labelled-b"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, fmt.Sprintf("rcv-filter-%d", i))
			path := e.receiverSpec(t, "r", tt.spec)
			ct := tt.contentType
			if ct == "" {
				ct = "application/json"
			}
			if got := e.post(t, path, []byte(tt.body), map[string]string{"Content-Type": ct}); got != tt.want {
				t.Fatalf("status %d, want %d", got, tt.want)
			}
			want := map[string]bool{}
			for _, n := range tt.annotated {
				want[n] = true
			}
			for _, n := range []string{"app", "other", "labelled-a", "labelled-b"} {
				if got := e.requestedAt(t, n) != ""; got != want[n] {
					t.Errorf("%s annotated = %v, want %v", n, got, want[n])
				}
			}
		})
	}
}

func TestInvalidFilterIsNotReady(t *testing.T) {
	e := setup(t, "rcv-filter-invalid")
	for _, tt := range []struct {
		name, spec, want string
	}{
		{"top", labelled + "  resourceFilter: res.metadata.name ==\n", "invalid resourceFilter expression: "},
		{"not a bool", labelled + "  resourceFilter: res.metadata.name.size()\n", "invalid resourceFilter expression: the expression returns int, not a bool"},
		{"unknown variable", labelled + "  resourceFilter: claims.sub == 'x'\n", "undeclared reference to 'claims'"},
		{"per resource", "  resources:\n    - kind: GitRepository\n      name: app\n    - kind: GitRepository\n      name: other\n      filter: res.metadata.(\n",
			`invalid filter expression for resources[1] (kind="GitRepository", name="other"): `},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cluster.ApplyYAML(t, fmt.Sprintf("apiVersion: notification.toolkit.fluxcd.io/v1\nkind: Receiver\nmetadata: {name: %s, namespace: %s}\nspec:\n  type: generic\n  secretRef: {name: webhook-token}\n%s",
				strings.ReplaceAll(tt.name, " ", "-"), e.ns, tt.spec))
			u, err := e.clients.Dynamic.Resource(Resource).Namespace(e.ns).Get(context.Background(), strings.ReplaceAll(tt.name, " ", "-"), metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			path, ready := Status(context.Background(), e.clients, decode(t, u))
			if path != "" || ready.Status != metav1.ConditionFalse || ready.Reason != meta.InvalidCELExpressionReason || !strings.Contains(ready.Message, tt.want) {
				t.Errorf("path %q, ready %+v; want a message with %q", path, ready, tt.want)
			}
		})
	}
}

// The filters are compiled once per Receiver generation, not per call.
func TestFiltersCompiledOncePerGeneration(t *testing.T) {
	e := setup(t, "rcv-filter-once")
	h := &Handler{Clock: clock.RealClock{}, Receivers: ClusterLookup{Dynamic: e.clients.Dynamic}, Secrets: e.clients, Dynamic: e.clients.Dynamic, Mapper: e.clients.Mapper}
	path := e.receiverSpec(t, "r", labelled+"  resourceFilter: req.tag == res.metadata.name\n")
	post := func(tag string) int {
		req, _ := http.NewRequest(http.MethodPost, path, strings.NewReader(`{"tag":"`+tag+`"}`))
		req.Header.Set("Content-Type", "application/json")
		code, _ := h.serve(req)
		return code
	}
	if post("labelled-a") != 200 || post("labelled-b") != 200 {
		t.Fatal("calls failed")
	}
	if len(h.filters) != 1 {
		t.Errorf("%d compiled filter sets after two calls, want 1", len(h.filters))
	}
	e.receiverSpec(t, "r", labelled+"  resourceFilter: req.tag == res.metadata.name || req.tag == 'all'\n")
	if post("all") != 200 {
		t.Fatal("call after the change failed")
	}
	if len(h.filters) != 2 {
		t.Errorf("%d compiled filter sets after a new generation, want 2", len(h.filters))
	}
}
