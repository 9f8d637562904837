package notify

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/crds/meta"
	notificationv1beta3 "github.com/converge-gitops/converge/crds/notification/v1beta3"
	"github.com/converge-gitops/converge/engine/events"
)

// The default commit status context of the test Provider and Kustomization.
const testContext = "kustomization/apps/0c9c2e41"

// Each git provider first reads the commit's statuses: a status already set with the same state and
// description is not posted again; a different latest one is replaced. The golden files hold both
// calls: the success event (the read, then the POST, the latest status for the context being a
// failure) and the failure event (the read only).
func TestCommitStatusDeduplication(t *testing.T) {
	// Newest first, as GitHub and Gitea list them: the latest status of testContext is a failure; an
	// older success and another context's success must not count.
	listed := `[
  {"context": "kustomization/other/0c9c2e41", "state": "failure", "description": "reconciliation failed"},
  {"context": "` + testContext + `", "state": "failure", "description": "reconciliation failed"},
  {"context": "` + testContext + `", "state": "success", "description": "reconciliation succeeded"}
]`
	tests := []struct {
		name     string
		typ      string
		token    string
		statuses func(path string) (int, string)
	}{
		{name: "github", typ: "github", token: "ghp_token", statuses: func(string) (int, string) { return 200, listed }},
		{name: "gitea", typ: "gitea", token: "gitea-token", statuses: func(string) (int, string) { return 200, listed }},
		{name: "gitlab", typ: "gitlab", token: "glpat", statuses: func(string) (int, string) {
			// GitLab answers the latest status per name.
			return 200, `[{"sha": "` + testSHA + `", "name": "` + testContext + `", "status": "failed", "description": "reconciliation failed"}]`
		}},
		{name: "bitbucket", typ: "bitbucket", token: "user:app-password", statuses: func(path string) (int, string) {
			return 200, `{"key": "x", "state": "FAILED", "description": "reconciliation failed", "name": "kustomization/apps"}`
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newRecorder(t)
			rc.statuses = tt.statuses
			st, _ := setup(notificationv1beta3.ProviderSpec{Type: tt.typ, Address: rc.srv.URL + "/org/fleet", SecretRef: &meta.LocalObjectReference{Name: "s"}},
				secret("s", map[string]string{"token": tt.token}))
			n := deliver(t, st, testEvent("info", "ReconciliationSucceeded", "applied"), nil)
			if got := len(rc.all()); got != 2 {
				t.Fatalf("changed status: %d requests, want 2 (read, then post)", got)
			}
			if n.Metrics.Count(tt.typ, "success") != 1 {
				t.Errorf("changed status: success count %v", n.Metrics.Count(tt.typ, "success"))
			}
			n = deliver(t, st, testEvent("error", "ReconciliationFailed", "apply failed"), nil)
			reqs := rc.all()
			if len(reqs) != 3 || reqs[2].Method != http.MethodGet {
				t.Fatalf("same status: %d requests, want only the read", len(reqs)-2)
			}
			if n.Metrics.Count(tt.typ, "skipped") != 1 || n.Metrics.Count(tt.typ, "success") != 0 {
				t.Errorf("same status: skipped %v success %v", n.Metrics.Count(tt.typ, "skipped"), n.Metrics.Count(tt.typ, "success"))
			}
			golden(t, tt.name+"-dedupe.txt", render(t, reqs))
		})
	}
}

func TestCommitStatusReadErrors(t *testing.T) {
	for _, tt := range []struct {
		name     string
		statuses func(string) (int, string)
		want     string
		requests int
	}{
		{"unauthorized", func(string) (int, string) { return 401, `{"message":"Bad credentials"}` }, "status code 401", 1},
		{"not a list", func(string) (int, string) { return 200, `{"message":"?"}` }, "could not list commit statuses", 1},
		{"server error retried", func(string) (int, string) { return 502, "bad gateway" }, "after 2 attempts", 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rc := newRecorder(t)
			rc.statuses = tt.statuses
			st, _ := setup(notificationv1beta3.ProviderSpec{Type: "github", Address: rc.srv.URL + "/org/fleet", SecretRef: &meta.LocalObjectReference{Name: "s"}},
				secret("s", map[string]string{"token": "ghp_token"}))
			var mu sync.Mutex
			var msgs []string
			n := deliver(t, st, testEvent("info", "ReconciliationSucceeded", "applied"), func(n *Notifier) {
				n.Attempts = 2
				n.Warnings = events.Func(func(_ context.Context, e events.Event) { mu.Lock(); msgs = append(msgs, e.Message); mu.Unlock() })
			})
			if got := len(rc.all()); got != tt.requests {
				t.Errorf("%d requests, want %d (no POST after a failed read)", got, tt.requests)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(msgs) != 1 || !strings.Contains(msgs[0], tt.want) || strings.Contains(msgs[0], "ghp_token") {
				t.Errorf("warnings = %q, want one with %q", msgs, tt.want)
			}
			if n.Metrics.Count("github", "failure") != 1 {
				t.Errorf("failure count %v", n.Metrics.Count("github", "failure"))
			}
		})
	}
}

// spec.commitStatusExpr names the status from the event, the Alert and the Provider; the golden
// file shows it in the read's filter and the POST.
func TestCommitStatusExprGolden(t *testing.T) {
	rc := newRecorder(t)
	st, _ := setup(notificationv1beta3.ProviderSpec{Type: "gitlab", Address: rc.srv.URL + "/group/fleet", SecretRef: &meta.LocalObjectReference{Name: "s"},
		CommitStatusExpr: "(event.involvedObject.kind + '/' + event.involvedObject.name + '/' + event.metadata.cluster + '/' + provider.metadata.uid.split('-').first().value()).lowerAscii()"},
		secret("s", map[string]string{"token": "glpat"}))
	deliver(t, st, testEvent("info", "ReconciliationSucceeded", "applied"), nil)
	golden(t, "gitlab-expr.txt", render(t, rc.all()))
}

func TestCommitStatusName(t *testing.T) {
	alert := testAlert("svc")
	alert.Name, alert.Labels = "on-call", map[string]string{"team": "platform"}
	ev := notification(testEvent("info", "ReconciliationSucceeded", "applied"), &alert, testInstance)
	tests := []struct {
		name, typ, expr, want, err string
	}{
		{name: "default", typ: "github", want: testContext},
		{name: "not a git provider", typ: "slack", expr: "'x'", want: ""},
		{name: "event and provider", typ: "github", expr: "event.involvedObject.namespace + '/' + event.involvedObject.name + '/' + provider.metadata.name",
			want: "flux-system/apps/svc"},
		{name: "alert and metadata", typ: "gitea", expr: "alert.metadata.labels.team + ':' + event.metadata.summary + ':' + event.metadata.revision",
			want: "platform:prod cluster:main@sha1:" + testSHA},
		{name: "Flux's documented example", typ: "bitbucket",
			expr: "(event.involvedObject.kind + '/' + event.involvedObject.name + '/' + event.metadata.cluster + '/' + provider.metadata.uid.split('-').first().value()).lowerAscii()",
			want: "kustomization/apps/prod/0c9c2e41"},
		{name: "optional field", typ: "github", expr: "event.metadata.?env.orValue('default')", want: "default"},
		{name: "syntax error", typ: "github", expr: "event.involvedObject.name +", err: "invalid spec.commitStatusExpr"},
		{name: "unknown variable", typ: "github", expr: "self.metadata.name", err: "undeclared reference to 'self'"},
		{name: "not a string", typ: "gitlab", expr: "1 + 2", err: "returns int, not a string"},
		{name: "dyn, not a string", typ: "gitlab", expr: "event.metadata", err: "not a string"},
		{name: "missing field", typ: "github", expr: "event.metadata.absent", err: "no such key"},
		{name: "empty", typ: "github", expr: "''", err: "empty string"},
	}
	n := &Notifier{Clock: clock.RealClock{}}
	n.init()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &notificationv1beta3.Provider{ObjectMeta: metav1.ObjectMeta{Namespace: "flux-system", Name: "svc", UID: providerUID, Generation: 1},
				Spec: notificationv1beta3.ProviderSpec{Type: tt.typ, CommitStatusExpr: tt.expr}}
			got, err := n.commitStatusName(context.Background(), p, &alert, ev)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("= %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// An expression is compiled once per Provider generation; a compile error fails each delivery with a
// warning naming the Provider, and nothing is sent.
func TestCommitStatusExprCompiledOncePerGeneration(t *testing.T) {
	rc := newRecorder(t)
	st, p := setup(notificationv1beta3.ProviderSpec{Type: "github", Address: rc.srv.URL + "/org/fleet", SecretRef: &meta.LocalObjectReference{Name: "s"},
		CommitStatusExpr: "event.involvedObject.name +"}, secret("s", map[string]string{"token": "t"}))
	p.Generation = 1
	var mu sync.Mutex
	var msgs []string
	n := &Notifier{Clock: clock.RealClock{}, Store: st, Window: 1, Warnings: events.Func(func(_ context.Context, e events.Event) {
		mu.Lock()
		msgs = append(msgs, e.Message)
		mu.Unlock()
	})}
	n.Emit(context.Background(), testEvent("info", "ReconciliationSucceeded", "one"))
	n.Emit(context.Background(), testEvent("info", "ReconciliationSucceeded", "two"))
	prog1 := n.statusExprs
	if len(prog1) != 1 {
		t.Fatalf("%d compiled entries after two events of one generation, want 1", len(prog1))
	}
	mu.Lock()
	if len(msgs) != 2 || !strings.Contains(msgs[0], "Provider flux-system/svc: invalid spec.commitStatusExpr") {
		t.Errorf("warnings = %q", msgs)
	}
	mu.Unlock()
	if len(rc.all()) != 0 {
		t.Errorf("%d requests with an invalid expression", len(rc.all()))
	}

	p.Generation, p.Spec.CommitStatusExpr = 2, "'custom/' + event.involvedObject.name"
	n.Emit(context.Background(), testEvent("info", "ReconciliationSucceeded", "three"))
	if err := n.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	reqs := rc.all()
	if len(n.statusExprs) != 2 || len(reqs) != 2 || !strings.Contains(string(reqs[1].Body), `"context":"custom/apps"`) {
		t.Errorf("after the fix: %d compiled, %d requests %v", len(n.statusExprs), len(reqs), reqs)
	}
}
