package receiver

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"k8s.io/utils/clock"
)

// TestTrigger posts to the real webhook Handler, as `trigger receiver` does from outside the cluster.
func TestTrigger(t *testing.T) {
	e := setup(t, "rcv-trigger")
	var calls atomic.Int32
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, e.srv.URL+r.URL.Path, r.Body)
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
	}))
	t.Cleanup(counting.Close)
	tests := []struct {
		name, typ, token string
		retries          int
		wantErr          string
		wantCalls        int32
		triggers         bool
	}{
		{name: "generic", typ: "generic", token: token, wantCalls: 1, triggers: true},
		{name: "generic-hmac", typ: "generic-hmac", token: token, wantCalls: 1, triggers: true},
		// A wrong token gives another path: 404 is retried (the path may not be served yet).
		{name: "wrong-token", typ: "generic", token: "nope", retries: 2, wantErr: "404 Not Found", wantCalls: 3},
		// A wrong signature is refused for good: no retry.
		{name: "hmac-refused", typ: "generic-hmac", token: token, retries: 2, wantErr: "401 Unauthorized", wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := tt.name
			e.receiver(t, name, tt.typ, "")
			before := e.requestedAt(t, "app")
			calls.Store(0)
			tr := &Trigger{URL: counting.URL + "/", Namespace: e.ns, Name: name, Type: tt.typ, Token: tt.token,
				Payload: []byte(`{"image":"x"}`), Retries: tt.retries, Clock: clock.RealClock{}}
			if tt.name == "hmac-refused" {
				// signed with another key than the Receiver's token, on the Receiver's path
				tr.HTTPClient = &http.Client{Transport: resign{}}
			}
			err := tr.Run(context.Background())
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("%d requests, want %d", got, tt.wantCalls)
			}
			if triggered := e.requestedAt(t, "app") != before; triggered != tt.triggers {
				t.Errorf("triggered = %v, want %v", triggered, tt.triggers)
			}
		})
	}
}

// resign replaces the request's signature with one of another key.
type resign struct{}

func (resign) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Signature", "sha256="+strings.Repeat("ab", 32))
	return http.DefaultTransport.RoundTrip(r)
}

func TestTriggerOIDCTokenFromActions(t *testing.T) {
	// GitHub's Actions token endpoint cannot run here: a loopback stand-in (a fake) of its one GET.
	actions := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "bearer req-token" || r.URL.Query().Get("audience") != "aud-x" {
			http.Error(w, "bad request", http.StatusForbidden)
			return
		}
		fmt.Fprint(w, `{"value":"id-token-1"}`)
	}))
	t.Cleanup(actions.Close)
	var gotAuth, gotPath string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotPath = r.Header.Get("Authorization"), r.URL.Path
	}))
	t.Cleanup(hook.Close)
	tr := &Trigger{URL: hook.URL + "/base", Namespace: "ns", Name: "r", Type: "generic-oidc", Payload: []byte("{}"),
		OIDCRequestURL: actions.URL + "/token?x=1", OIDCRequestToken: "req-token", OIDCAudience: "aud-x", Clock: clock.RealClock{}}
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if gotAuth != "Bearer id-token-1" {
		t.Errorf("Authorization %q", gotAuth)
	}
	// generic-oidc: the path is the digest of name and namespace with no token
	if want := "/base/hook/" + strings.TrimPrefix(tr.WebhookURL(), hook.URL+"/base/hook/"); gotPath != want || strings.Contains(gotPath, "//") {
		t.Errorf("path %q, want %q", gotPath, want)
	}
	tr.OIDCRequestToken = "wrong"
	if err := tr.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("error %v, want the token endpoint's 403", err)
	}
}

func TestValidateTrigger(t *testing.T) {
	tests := []struct {
		typ, token, provider, oidcToken, audience, wantErr string
	}{
		{typ: "generic", token: "t"},
		{typ: "generic", wantErr: "--token is required"},
		{typ: "generic-hmac", token: "t", oidcToken: "x", wantErr: "can only be set for --type=generic-oidc"},
		{typ: "github", token: "t", wantErr: `invalid --type "github"`},
		{typ: "generic-oidc"},
		{typ: "generic-oidc", token: "t", wantErr: "--token must not be set"},
		{typ: "generic-oidc", provider: "github", oidcToken: "x", wantErr: "mutually exclusive"},
		{typ: "generic-oidc", provider: "gitlab", wantErr: `invalid --oidc-provider "gitlab"`},
		{typ: "generic-oidc", audience: "a", wantErr: "--oidc-audience can only be set together with --oidc-provider"},
		{typ: "generic-oidc", provider: "forgejo", audience: "a"},
	}
	for _, tt := range tests {
		err := ValidateTrigger(tt.typ, tt.token, tt.provider, tt.oidcToken, tt.audience)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%+v: error %v, want %q", tt, err, tt.wantErr)
		}
	}
}
