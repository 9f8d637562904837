package notify

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/converge-gitops/converge/crds/meta"
	notificationv1beta3 "github.com/converge-gitops/converge/crds/notification/v1beta3"
	"github.com/converge-gitops/converge/engine/events"
	"github.com/converge-gitops/converge/engine/source/githubapp"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// TestGitHubAppProviders sends as a GitHub App: GitHub's API cannot run here, so the installation token
// comes from sourcetest's loopback fake of the token endpoints (it verifies the JWT with the App's
// public key), and the comment and dispatch endpoints are this package's loopback recorders.
func TestGitHubAppProviders(t *testing.T) {
	api := sourcetest.StartGitHubAppAPI(t, 5, 6, "fleet-org", "ghs_notify_token")
	appData := func(a *sourcetest.GitHubAppAPI) map[string]string {
		return map[string]string{"githubAppID": "5", "githubAppInstallationID": "6", "githubAppPrivateKey": string(a.KeyPEM), "githubAppBaseURL": a.URL}
	}
	tokens := &githubapp.Tokens{}
	withTokens := func(n *Notifier) { n.GitHubApp = tokens }

	t.Run("githubdispatch", func(t *testing.T) {
		rc := newRecorder(t)
		st, _ := setup(notificationv1beta3.ProviderSpec{Type: "githubdispatch", Address: rc.srv.URL + "/org/fleet", SecretRef: &meta.LocalObjectReference{Name: "s"}},
			secret("s", appData(api)))
		n := deliver(t, st, testEvent("info", "ReconciliationSucceeded", "ok"), withTokens)
		reqs := rc.all()
		if n.Metrics.Count("githubdispatch", "success") != 1 || len(reqs) != 1 {
			t.Fatalf("%d requests, want 1", len(reqs))
		}
		if a := reqs[0].Header.Get("Authorization"); a != "Bearer ghs_notify_token" {
			t.Errorf("Authorization = %q, want the installation token", a)
		}
	})

	t.Run("githubpullrequestcomment", func(t *testing.T) {
		g := &gitHost{typ: "github", login: "converge-test[bot]", nextID: 100}
		srv := httptest.NewServer(g)
		defer srv.Close()
		st, _ := setup(notificationv1beta3.ProviderSpec{Type: "githubpullrequestcomment", Address: srv.URL + "/org/fleet", SecretRef: &meta.LocalObjectReference{Name: "s"}},
			secret("s", appData(api)))
		before := api.Exchanges.Load()
		first := testEvent("info", "Progressing", "waiting")
		first.Metadata = map[string]string{"event.toolkit.fluxcd.io/change_request": "7"}
		second := testEvent("error", "HealthCheckFailed", "health check failed")
		second.Metadata = first.Metadata
		for _, e := range []events.Event{first, second} {
			if n := deliver(t, st, e, withTokens); n.Metrics.Count("githubpullrequestcomment", "success") != 1 {
				t.Fatalf("%s: not delivered", e.Reason)
			}
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		if len(g.comments) != 1 || !strings.Contains(g.comments[0]["body"].(string), "health check failed") {
			t.Fatalf("comments %v, want the App's one comment, edited", g.comments)
		}
		for _, r := range g.reqs {
			if r.Path == "/api/v3/user" {
				t.Errorf("asked %s: an installation token cannot read the user", r.Path)
			}
			if a := r.Header.Get("Authorization"); a != "Bearer ghs_notify_token" {
				t.Errorf("%s %s: Authorization = %q, want the installation token", r.Method, r.Path, a)
			}
		}
		if got := api.Exchanges.Load() - before; got != 0 {
			t.Errorf("%d more token exchanges, want the cached token", got)
		}
	})

	denied := sourcetest.StartGitHubAppAPI(t, 5, 6, "fleet-org", "ghs_notify_token")
	denied.SetDeny("Bad credentials")
	bad := appData(api)
	bad["githubAppPrivateKey"] = "junk"
	noID := appData(api)
	delete(noID, "githubAppID")
	for _, tt := range []struct {
		name string
		data map[string]string
		want string
	}{
		{"exchange denied", appData(denied), "Secret flux-system/s: GitHub App 5: POST " + denied.URL + "/app/installations/6/access_tokens: 403 Forbidden: Bad credentials"},
		{"bad PEM", bad, `Secret flux-system/s: "githubAppPrivateKey": not a PEM private key`},
		{"no app ID", noID, `Secret flux-system/s has no "githubAppID" key`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rc := newRecorder(t)
			st, _ := setup(notificationv1beta3.ProviderSpec{Type: "github", Address: rc.srv.URL + "/org/fleet", SecretRef: &meta.LocalObjectReference{Name: "s"}},
				secret("s", tt.data))
			var msgs []string
			e := testEvent("info", "ReconciliationSucceeded", "ok")
			deliver(t, st, e, func(n *Notifier) {
				n.GitHubApp = &githubapp.Tokens{}
				n.Warnings = events.Func(func(_ context.Context, e events.Event) { msgs = append(msgs, e.Message) })
			})
			if len(msgs) != 1 || !strings.Contains(msgs[0], tt.want) {
				t.Errorf("warnings %q, want %q", msgs, tt.want)
			}
			if len(rc.all()) != 0 {
				t.Errorf("%d requests, want none", len(rc.all()))
			}
		})
	}
}
