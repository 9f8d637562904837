package notify

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/converge-gitops/converge/crds/meta"
	notificationv1beta3 "github.com/converge-gitops/converge/crds/notification/v1beta3"
	"github.com/converge-gitops/converge/engine/events"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// testNow is the notifier's clock in the golden tests: the tokens it signs (Pub/Sub, Event Hubs) and
// the end of OTLP spans depend on it.
var testNow = time.Date(2026, 3, 4, 5, 6, 9, 0, time.UTC)

func fixedClock(n *Notifier) { n.Clock = testingclock.NewFakePassiveClock(testNow) }

// TestMoreProviderPayloads holds the golden request of each Provider type beyond the chat webhooks and
// commit statuses of TestProviderPayloads; the loopback server's host:port reads HOST in the files.
func TestMoreProviderPayloads(t *testing.T) {
	saKey, err := os.ReadFile(filepath.Join("..", "..", "testdata", "notify", "pubsub-service-account.json"))
	if err != nil {
		t.Fatal(err)
	}
	errEvent := testEvent("error", "ReconciliationFailed", "apply failed: Deployment/apps/web dry-run failed")
	tests := []struct {
		name     string
		spec     func(base string) notificationv1beta3.ProviderSpec
		secret   map[string]string
		event    events.Event
		statuses func(path string) (int, string)
		tweak    func(n *Notifier, base string)
		wantReq  int
	}{
		{name: "azuredevops", spec: func(base string) notificationv1beta3.ProviderSpec {
			return notificationv1beta3.ProviderSpec{Type: "azuredevops", Address: base + "/org/project/_git/fleet", SecretRef: &meta.LocalObjectReference{Name: "s"}}
		}, secret: map[string]string{"token": "ado-pat"}, statuses: func(string) (int, string) {
			return 200, `{"count": 1, "value": [{"state": "error", "description": "reconciliation failed", "context": {"name": "kustomization/apps/0c9c2e41", "genre": "fluxcd:prod cluster"}}]}`
		}, wantReq: 2},
		{name: "bitbucketserver", spec: func(base string) notificationv1beta3.ProviderSpec {
			return notificationv1beta3.ProviderSpec{Type: "bitbucketserver", Address: base + "/bitbucket/scm/ops/fleet.git", SecretRef: &meta.LocalObjectReference{Name: "s"}}
		}, secret: map[string]string{"username": "flux", "password": "bb-password"}, event: errEvent,
			statuses: func(string) (int, string) { return 404, `{"errors":[{"message":"no build status"}]}` }, wantReq: 2},
		{name: "githubdispatch", spec: func(base string) notificationv1beta3.ProviderSpec {
			return notificationv1beta3.ProviderSpec{Type: "githubdispatch", Address: base + "/org/fleet", SecretRef: &meta.LocalObjectReference{Name: "s"}}
		}, secret: map[string]string{"token": "ghp_token"}, wantReq: 1},
		{name: "webex", spec: func(base string) notificationv1beta3.ProviderSpec {
			return notificationv1beta3.ProviderSpec{Type: "webex", Channel: "room-id", Address: base + "/v1/messages", SecretRef: &meta.LocalObjectReference{Name: "s"}}
		}, secret: map[string]string{"token": "webex-bot"}, wantReq: 1},
		{name: "grafana", spec: func(base string) notificationv1beta3.ProviderSpec {
			return notificationv1beta3.ProviderSpec{Type: "grafana", Address: base + "/api/annotations", SecretRef: &meta.LocalObjectReference{Name: "s"}}
		}, secret: map[string]string{"username": "admin", "password": "grafana-pw"}, wantReq: 1},
		{name: "datadog", spec: func(base string) notificationv1beta3.ProviderSpec {
			return notificationv1beta3.ProviderSpec{Type: "datadog", Address: base, SecretRef: &meta.LocalObjectReference{Name: "s"}}
		}, secret: map[string]string{"token": "dd-api-key"}, event: errEvent, wantReq: 1},
		{name: "lark", spec: func(base string) notificationv1beta3.ProviderSpec {
			return notificationv1beta3.ProviderSpec{Type: "lark", Address: base + "/open-apis/bot/v2/hook/abc"}
		}, wantReq: 1},
		{name: "zulip", spec: func(base string) notificationv1beta3.ProviderSpec {
			return notificationv1beta3.ProviderSpec{Type: "zulip", Channel: "ops/flux", Address: base + "/ignored", SecretRef: &meta.LocalObjectReference{Name: "s"}}
		}, secret: map[string]string{"username": "flux-bot@example.zulipchat.com", "password": "zulip-api-key"}, wantReq: 1},
		{name: "zoom", spec: func(base string) notificationv1beta3.ProviderSpec {
			return notificationv1beta3.ProviderSpec{Type: "zoom", Address: base + "/v2/im/chat/webhooks/incomingwebhook/abc", SecretRef: &meta.LocalObjectReference{Name: "s"}}
		}, secret: map[string]string{"token": "zoom-verification"}, wantReq: 1},
		{name: "incidentio", spec: func(base string) notificationv1beta3.ProviderSpec {
			return notificationv1beta3.ProviderSpec{Type: "incident.io", Address: base + "/v2/alert_events/http/01H", SecretRef: &meta.LocalObjectReference{Name: "s"}}
		}, secret: map[string]string{"token": "inc-token"}, event: errEvent, wantReq: 1},
		{name: "sentry-info", spec: func(base string) notificationv1beta3.ProviderSpec {
			u, _ := url.Parse(base)
			return notificationv1beta3.ProviderSpec{Type: "sentry", Channel: "production", Address: "http://publickey@" + u.Host + "/sentry/42"}
		}, wantReq: 1},
		{name: "sentry-error", spec: func(base string) notificationv1beta3.ProviderSpec {
			u, _ := url.Parse(base)
			return notificationv1beta3.ProviderSpec{Type: "sentry", Address: "http://publickey@" + u.Host + "/42"}
		}, event: errEvent, wantReq: 1},
		{name: "googlepubsub", spec: func(base string) notificationv1beta3.ProviderSpec {
			return notificationv1beta3.ProviderSpec{Type: "googlepubsub", Address: "converge-test", Channel: "flux-events", SecretRef: &meta.LocalObjectReference{Name: "s"}}
		}, secret: map[string]string{"token": string(saKey), "headers": "team: platform\n"},
			tweak: func(n *Notifier, base string) { n.PubSubEndpoint = base }, wantReq: 1},
		{name: "otel", spec: func(base string) notificationv1beta3.ProviderSpec {
			return notificationv1beta3.ProviderSpec{Type: "otel", Address: base, SecretRef: &meta.LocalObjectReference{Name: "s"}}
		}, secret: map[string]string{"token": "otel-token", "headers": "X-Scope-OrgID: platform\n"}, event: errEvent, wantReq: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newRecorder(t)
			rc.statuses = tt.statuses
			spec := tt.spec(rc.srv.URL)
			var secrets []*corev1.Secret
			if tt.secret != nil {
				secrets = append(secrets, secret("s", tt.secret))
			}
			st, _ := setup(spec, secrets...)
			st.alerts[0].UID = "a1e27000-0000-4000-8000-000000000001"
			e := tt.event
			if e.Reason == "" {
				e = testEvent("info", "ReconciliationSucceeded", "Deployment/apps/web configured\nService/apps/web created")
			}
			n := deliver(t, st, e, func(n *Notifier) {
				fixedClock(n)
				if tt.tweak != nil {
					tt.tweak(n, rc.srv.URL)
				}
			})
			got := rc.all()
			if len(got) != tt.wantReq {
				t.Fatalf("%d requests, want %d", len(got), tt.wantReq)
			}
			if n.Metrics.Count(spec.Type, "success") != 1 {
				t.Errorf("success count = %v, want 1", n.Metrics.Count(spec.Type, "success"))
			}
			golden(t, tt.name+".txt", bytes.ReplaceAll(render(t, got), []byte(strings.TrimPrefix(rc.srv.URL, "http://")), []byte("HOST")))
		})
	}
}

// The Pub/Sub token is a JWT the service account key signs, for Pub/Sub's audience, valid an hour
// from the notifier's clock.
func TestPubSubSelfSignedToken(t *testing.T) {
	key, err := os.ReadFile(filepath.Join("..", "..", "testdata", "notify", "pubsub-service-account.json"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := selfSignedJWT(key, "https://pubsub.googleapis.com/", testNow)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q", tok)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	if claims["aud"] != "https://pubsub.googleapis.com/" || claims["iss"] != "flux-events@converge-test.iam.gserviceaccount.com" ||
		claims["exp"].(float64)-claims["iat"].(float64) != 3600 || int64(claims["iat"].(float64)) != testNow.Unix() {
		t.Errorf("claims = %v", claims)
	}
	for _, bad := range []string{"not json", `{"client_email": "a@b"}`, `{"client_email": "a@b", "private_key": "not pem"}`} {
		if _, err := selfSignedJWT([]byte(bad), "aud", testNow); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// A new type goes through the same retries as the others: a 503 then success is one delivery.
func TestNewTypeRetried(t *testing.T) {
	rc := newRecorder(t)
	rc.script = []int{503, 502}
	st, _ := setup(notificationv1beta3.ProviderSpec{Type: "webex", Channel: "room", Address: rc.srv.URL + "/v1/messages", SecretRef: &meta.LocalObjectReference{Name: "s"}},
		secret("s", map[string]string{"token": "webex-bot"}))
	n := deliver(t, st, testEvent("info", "ReconciliationSucceeded", "ok"), nil)
	reqs := rc.all()
	if len(reqs) != 3 || !bytes.Equal(reqs[0].Body, reqs[2].Body) {
		t.Fatalf("%d requests, want 3 with the same body", len(reqs))
	}
	if n.Metrics.Count("webex", "success") != 1 || n.Metrics.Count("webex", "failure") != 0 {
		t.Errorf("success %v failure %v", n.Metrics.Count("webex", "success"), n.Metrics.Count("webex", "failure"))
	}
}

// Azure Event Hubs over HTTPS: a connection string's shared access key signs the SAS token, sent to
// the namespace of its Endpoint, trusted through certSecretRef; without the CA the delivery fails.
func TestAzureEventHubTLS(t *testing.T) {
	var mu sync.Mutex
	var got []recorded
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, recorded{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "https://")
	conn := "Endpoint=sb://" + host + "/;SharedAccessKeyName=flux-send;SharedAccessKey=c2VjcmV0LWtleQ==;EntityPath=flux-events"
	for _, tt := range []struct {
		name string
		ca   bool
	}{{"trusted", true}, {"untrusted", false}} {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			got = nil
			mu.Unlock()
			spec := notificationv1beta3.ProviderSpec{Type: "azureeventhub", SecretRef: &meta.LocalObjectReference{Name: "s"}}
			secrets := []*corev1.Secret{secret("s", map[string]string{"address": conn})}
			if tt.ca {
				spec.CertSecretRef = &meta.LocalObjectReference{Name: "ca"}
				secrets = append(secrets, secret("ca", map[string]string{"ca.crt": pemCert(srv.Certificate().Raw)}))
			}
			st, _ := setup(spec, secrets...)
			var warnings []string
			n := deliver(t, st, testEvent("info", "ReconciliationSucceeded", "ok"), func(n *Notifier) {
				fixedClock(n)
				n.Attempts = 1
				n.Warnings = events.Func(func(_ context.Context, e events.Event) { warnings = append(warnings, e.Message) })
			})
			mu.Lock()
			defer mu.Unlock()
			if !tt.ca {
				if len(got) != 0 || len(warnings) != 1 || !strings.Contains(warnings[0], "certificate") || strings.Contains(warnings[0], "c2VjcmV0") {
					t.Errorf("untrusted: %d requests, warnings %q", len(got), warnings)
				}
				return
			}
			if len(got) != 1 || n.Metrics.Count("azureeventhub", "success") != 1 {
				t.Fatalf("%d requests, warnings %q", len(got), warnings)
			}
			// The SAS token signs the escaped resource URI and expiry with the key (as given, base64 text).
			expiry := strconv.FormatInt(testNow.Add(time.Hour).Unix(), 10)
			sr := url.QueryEscape("https://" + host + "/flux-events")
			m := hmac.New(sha256.New, []byte("c2VjcmV0LWtleQ=="))
			m.Write([]byte(sr + "\n" + expiry))
			want := "SharedAccessSignature sr=" + sr + "&sig=" + url.QueryEscape(base64.StdEncoding.EncodeToString(m.Sum(nil))) + "&se=" + expiry + "&skn=flux-send"
			if a := got[0].Header.Get("Authorization"); a != want {
				t.Errorf("Authorization = %q, want %q", a, want)
			}
			got[0].Header.Set("Authorization", "SharedAccessSignature (verified above)")
			golden(t, "azureeventhub.txt", render(t, got))
		})
	}
}

// gitHost is a loopback Git host's comment API (GitHub, Gitea or GitLab shaped): it keeps the comments
// of change request 7, so a second event can prove Flux's comment is edited, not repeated. A real Gitea
// could serve giteapullrequestcomment, but its binary is not built on this machine for engine/notify's
// tests; the three hosts share this server.
type gitHost struct {
	typ string
	// login is the author of the comments the token writes; "" is flux-bot.
	login    string
	mu       sync.Mutex
	comments []map[string]any
	nextID   int64
	reqs     []recorded
}

func (g *gitHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.reqs = append(g.reqs, recorded{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	author := func(login string) map[string]any {
		if g.typ == "gitlab" {
			return map[string]any{"author": map[string]string{"username": login}}
		}
		return map[string]any{"user": map[string]string{"login": login}}
	}
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, "/user"):
		field := "login"
		if g.typ == "gitlab" {
			field = "username"
		}
		_ = json.NewEncoder(w).Encode(map[string]string{field: "flux-bot"})
	case r.Method == http.MethodGet:
		_ = json.NewEncoder(w).Encode(g.comments)
	case r.Method == http.MethodPost:
		var in struct{ Body string }
		_ = json.Unmarshal(body, &in)
		g.nextID++
		login := g.login
		if login == "" {
			login = "flux-bot"
		}
		c := author(login)
		c["id"], c["body"] = g.nextID, in.Body
		g.comments = append(g.comments, c)
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(c)
	default: // PATCH or PUT of .../<id>
		var in struct{ Body string }
		_ = json.Unmarshal(body, &in)
		id, _ := strconv.ParseInt(p[strings.LastIndex(p, "/")+1:], 10, 64)
		for _, c := range g.comments {
			if c["id"] == id {
				c["body"] = in.Body
				_ = json.NewEncoder(w).Encode(c)
				return
			}
		}
		w.WriteHeader(http.StatusNotFound)
	}
}

func TestChangeRequestCommentUpdatedInPlace(t *testing.T) {
	for _, tt := range []struct {
		typ, host, address, token string
	}{
		{"githubpullrequestcomment", "github", "/org/fleet", "ghp_token"},
		{"giteapullrequestcomment", "gitea", "/org/fleet", "gitea-token"},
		{"gitlabmergerequestcomment", "gitlab", "/group/sub/fleet", "glpat"},
	} {
		t.Run(tt.typ, func(t *testing.T) {
			g := &gitHost{typ: tt.host, nextID: 100}
			// Someone else quoting Flux's marker: not Flux's comment, never edited.
			other := map[string]any{"id": int64(1), "body": "<!-- flux-pr-comment-key:" + providerUID + "/Kustomization/flux-system/apps -->\nquoted"}
			if tt.host == "gitlab" {
				other["body"] = strings.Replace(other["body"].(string), "flux-pr", "flux-mr", 1)
				other["author"] = map[string]string{"username": "someone"}
			} else {
				other["user"] = map[string]string{"login": "someone"}
			}
			g.comments = []map[string]any{other}
			srv := httptest.NewServer(g)
			defer srv.Close()
			st, _ := setup(notificationv1beta3.ProviderSpec{Type: tt.typ, Address: srv.URL + tt.address, SecretRef: &meta.LocalObjectReference{Name: "s"}},
				secret("s", map[string]string{"token": tt.token}))
			first := testEvent("info", "Progressing", "Kustomization applied, waiting for health checks")
			first.Metadata = map[string]string{"event.toolkit.fluxcd.io/change_request": "7"}
			second := testEvent("error", "HealthCheckFailed", "health check failed after 5m0s")
			second.Metadata = first.Metadata
			for _, e := range []events.Event{first, second} {
				n := deliver(t, st, e, nil)
				if n.Metrics.Count(tt.typ, "success") != 1 {
					t.Fatalf("%s: not delivered", e.Reason)
				}
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			if len(g.comments) != 2 {
				t.Fatalf("%d comments, want the other user's and one of Flux's", len(g.comments))
			}
			if body := g.comments[1]["body"].(string); !strings.Contains(body, "health check failed") || strings.Contains(body, "waiting") {
				t.Errorf("Flux's comment was not edited: %q", body)
			}
			if g.comments[0]["body"] != other["body"] {
				t.Errorf("the other user's comment was changed")
			}
			golden(t, tt.typ+".txt", render(t, g.reqs))
		})
	}
}

// Events of objects without the change_request annotation are not sent to change request providers;
// Progressing events are not sent to incident.io.
func TestNewTypesSkip(t *testing.T) {
	rc := newRecorder(t)
	for _, tt := range []struct {
		spec notificationv1beta3.ProviderSpec
		e    events.Event
	}{
		{notificationv1beta3.ProviderSpec{Type: "githubpullrequestcomment", Address: rc.srv.URL + "/org/fleet", SecretRef: &meta.LocalObjectReference{Name: "s"}},
			testEvent("info", "ReconciliationSucceeded", "no annotation")},
		{notificationv1beta3.ProviderSpec{Type: "incident.io", Address: rc.srv.URL, SecretRef: &meta.LocalObjectReference{Name: "s"}},
			testEvent("info", "Progressing", "in progress")},
		{notificationv1beta3.ProviderSpec{Type: "otel", Address: rc.srv.URL},
			func() events.Event {
				e := testEvent("info", "ReconciliationSucceeded", "index")
				e.Object.Kind = "HelmRepository"
				return e
			}()},
	} {
		st, _ := setup(tt.spec, secret("s", map[string]string{"token": "t"}))
		st.alerts[0].Spec.EventSources[0].Kind = tt.e.Object.Kind
		n := deliver(t, st, tt.e, nil)
		if n.Metrics.Count(tt.spec.Type, "skipped") != 1 {
			t.Errorf("%s: not skipped", tt.spec.Type)
		}
	}
	if len(rc.all()) != 0 {
		t.Errorf("%d requests, want none", len(rc.all()))
	}
}

// Bad Provider settings of the new types fail with a warning naming the field; nothing is sent.
func TestNewTypesInvalidConfig(t *testing.T) {
	rc := newRecorder(t)
	for _, tt := range []struct {
		spec   notificationv1beta3.ProviderSpec
		secret map[string]string
		want   string
	}{
		{notificationv1beta3.ProviderSpec{Type: "zulip", Channel: "no-topic", Address: rc.srv.URL}, map[string]string{"username": "u", "password": "p"}, "<channel>/<topic>"},
		{notificationv1beta3.ProviderSpec{Type: "azuredevops", Address: rc.srv.URL + "/org/fleet"}, map[string]string{"token": "t"}, "_git"},
		{notificationv1beta3.ProviderSpec{Type: "bitbucketserver", Address: rc.srv.URL + "/ops/fleet.git"}, map[string]string{"token": "t"}, "/scm/"},
		{notificationv1beta3.ProviderSpec{Type: "googlepubsub", Address: "p", Channel: "topic"}, nil, "service account key"},
		{notificationv1beta3.ProviderSpec{Type: "azureeventhub", Address: "hub"}, nil, "connection string"},
		{notificationv1beta3.ProviderSpec{Type: "sentry", Address: rc.srv.URL + "/1"}, nil, "DSN"},
		{notificationv1beta3.ProviderSpec{Type: "nats", Address: "nats://127.0.0.1:1", Channel: "flux"}, map[string]string{"nkey": "SUAx"}, "nkey and creds"},
		{notificationv1beta3.ProviderSpec{Type: "zoom", Address: rc.srv.URL}, nil, "verification token"},
		{notificationv1beta3.ProviderSpec{Type: "googlepubsub", Address: "p", Channel: "topic", ServiceAccountName: "flux-pubsub"}, nil, "workload identity is not supported"},
		{notificationv1beta3.ProviderSpec{Type: "githubpullrequestcomment", Address: rc.srv.URL + "/org/fleet"}, nil, "needs a token"},
	} {
		if tt.secret != nil {
			tt.spec.SecretRef = &meta.LocalObjectReference{Name: "s"}
		}
		st, _ := setup(tt.spec, secret("s", tt.secret))
		var msgs []string
		e := testEvent("info", "ReconciliationSucceeded", "ok")
		e.Metadata = map[string]string{"event.toolkit.fluxcd.io/change_request": "7"}
		deliver(t, st, e, func(n *Notifier) {
			n.Warnings = events.Func(func(_ context.Context, e events.Event) { msgs = append(msgs, e.Message) })
		})
		if len(msgs) != 1 || !strings.Contains(msgs[0], tt.want) {
			t.Errorf("%s: warnings %q, want %q", tt.spec.Type, msgs, tt.want)
		}
	}
	if len(rc.all()) != 0 {
		t.Errorf("%d requests, want none", len(rc.all()))
	}
}

// natsServer starts the real NATS server hack/nats.sh builds, on a free loopback port, with a user.
func natsServer(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("NATS_DIR")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(cache, "converge", "nats")
	}
	bin := filepath.Join(dir, "nats-server")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no NATS server at %s: build it with hack/nats.sh", bin)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "--user", "flux", "--pass", "nats-password")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if i == 200 {
			t.Fatalf("nats-server did not listen: %v\n%s", err, logs.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// natsSubscribe subscribes to subject as a plain NATS client and returns the connection's reader.
func natsSubscribe(t *testing.T, addr, subject string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rd := bufio.NewReader(c)
	if _, err := rd.ReadString('\n'); err != nil { // INFO
		t.Fatal(err)
	}
	fmt.Fprintf(c, "CONNECT {\"verbose\":false,\"user\":\"flux\",\"pass\":\"nats-password\"}\r\nSUB %s 1\r\nPING\r\n", subject)
	if line, err := rd.ReadString('\n'); err != nil || !strings.HasPrefix(line, "PONG") {
		t.Fatalf("subscribing: %q %v", line, err)
	}
	return c, rd
}

// A nats Provider publishes the event JSON to its subject on a real NATS server; a wrong password is
// an authorization error, reported without the password and not retried.
func TestNATSRealServer(t *testing.T) {
	addr := natsServer(t)
	conn, rd := natsSubscribe(t, addr, "flux.events")
	st, _ := setup(notificationv1beta3.ProviderSpec{Type: "nats", Address: "nats://" + addr, Channel: "flux.events", SecretRef: &meta.LocalObjectReference{Name: "s"}},
		secret("s", map[string]string{"username": "flux", "password": "nats-password"}))
	n := deliver(t, st, testEvent("info", "ReconciliationSucceeded", "applied"), nil)
	if n.Metrics.Count("nats", "success") != 1 {
		t.Fatalf("not delivered")
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	head, err := rd.ReadString('\n')
	if err != nil || !strings.HasPrefix(head, "MSG flux.events 1 ") {
		t.Fatalf("MSG line %q: %v", head, err)
	}
	size, _ := strconv.Atoi(strings.TrimSpace(head[strings.LastIndex(head, " ")+1:]))
	payload := make([]byte, size+2)
	if _, err := io.ReadFull(rd, payload); err != nil {
		t.Fatal(err)
	}
	var ev Event
	if err := json.Unmarshal(payload[:size], &ev); err != nil {
		t.Fatal(err)
	}
	if ev.InvolvedObject.Name != "apps" || ev.Message != "applied" || ev.Metadata["revision"] != "main@sha1:"+testSHA {
		t.Errorf("published event = %+v", ev)
	}

	st.secrets["flux-system/s"] = secret("s", map[string]string{"username": "flux", "password": "wrong-password"})
	var msgs []string
	n = deliver(t, st, testEvent("info", "ReconciliationSucceeded", "again"), func(n *Notifier) {
		n.Attempts = 3
		n.Warnings = events.Func(func(_ context.Context, e events.Event) { msgs = append(msgs, e.Message) })
	})
	if n.Metrics.Count("nats", "failure") != 1 || len(msgs) != 1 || !strings.Contains(strings.ToLower(msgs[0]), "authorization") ||
		strings.Contains(msgs[0], "wrong-password") || strings.Contains(msgs[0], "after") {
		t.Errorf("wrong password: warnings %q", msgs)
	}
}

// The addresses, channels and secrets of the new types are parsed from user input: whatever they
// hold, building the requests returns requests or an error, never a panic, and a built request has a
// URL or a transport.
func FuzzNewTypeRequests(f *testing.F) {
	f.Add("azuredevops", "https://dev.azure.com/org/p/_git/r", "", "t", "")
	f.Add("bitbucketserver", "https://h/ctx/scm/k/s.git", "", "t", "")
	f.Add("sentry", "https://key@o1.ingest.sentry.io/42", "prod", "", "")
	f.Add("azureeventhub", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=n;SharedAccessKey=k;EntityPath=h", "", "", "")
	f.Add("azureeventhub", "hub", "ns", "jwt", "")
	f.Add("nats", "nats://u:p@127.0.0.1:4222,tls://h", "flux.events", "", "")
	f.Add("zulip", "https://z.example.com", "s/t", "", "pw")
	f.Add("googlepubsub", "project", "topic", `{"client_email":"a@b","private_key":"x"}`, "")
	f.Add("githubpullrequestcomment", "git@github.com:org/fleet.git", "", "t", "")
	f.Add("gitlabmergerequestcomment", "https://gitlab.com/a/b/c", "", "", "pw")
	f.Add("otel", "https://collector:4318", "", "", "pw")
	f.Fuzz(func(t *testing.T, typ, address, channel, token, password string) {
		if !supported[typ] {
			return
		}
		e := notification(testEvent("error", "ReconciliationFailed", "boom"), func() *notificationv1beta3.Alert { a := testAlert("svc"); return &a }(), testInstance)
		e.Metadata["change_request"] = "7"
		tg := target{Type: typ, Address: address, Channel: channel, Token: token, Password: password, Username: "u",
			ProviderUID: providerUID, CommitStatus: "kustomization/apps/0c9c2e41", Now: testNow, Secret: map[string][]byte{}}
		reqs, err := requests(tg, e)
		if err != nil {
			return
		}
		for _, r := range reqs {
			if r.transport == nil {
				if _, err := url.Parse(r.URL); err != nil {
					t.Errorf("%s: request URL %q: %v", typ, r.URL, err)
				}
			}
		}
	})
}

// The Gitea pull request comment against a real Gitea: a pull request made through its API gets one
// comment from the Provider's token that the second event edits, and another user's comment quoting the
// marker is left as it is.
func TestGiteaPullRequestCommentRealServer(t *testing.T) {
	g := sourcetest.StartGitea(t)
	ctx := context.Background()
	api := func(token, method, path string, body, out any) {
		t.Helper()
		if err := g.API(ctx, token, method, path, body, out); err != nil {
			t.Fatal(err)
		}
	}
	g.CreateOrg(t, "platform")
	api(g.Token, http.MethodPost, "/orgs/platform/repos", map[string]any{"name": "fleet", "auto_init": true, "default_branch": "main"}, nil)
	api(g.Token, http.MethodPost, "/repos/platform/fleet/branches", map[string]any{"new_branch_name": "feature", "old_branch_name": "main"}, nil)
	api(g.Token, http.MethodPost, "/repos/platform/fleet/contents/apps.yaml", map[string]any{"branch": "feature", "message": "apps",
		"content": base64.StdEncoding.EncodeToString([]byte("kind: ConfigMap\n"))}, nil)
	var pr struct {
		Number int `json:"number"`
	}
	api(g.Token, http.MethodPost, "/repos/platform/fleet/pulls", map[string]any{"head": "feature", "base": "main", "title": "apps"}, &pr)
	other := g.CreateUser(t, "someone")
	quoted := "<!-- flux-pr-comment-key:" + providerUID + "/Kustomization/flux-system/apps -->\nquoted"
	api(other, http.MethodPost, fmt.Sprintf("/repos/platform/fleet/issues/%d/comments", pr.Number), map[string]any{"body": quoted}, nil)

	st, _ := setup(notificationv1beta3.ProviderSpec{Type: "giteapullrequestcomment", Address: g.URL + "/platform/fleet", SecretRef: &meta.LocalObjectReference{Name: "s"}},
		secret("s", map[string]string{"token": g.Token}))
	first := testEvent("info", "Progressing", "Kustomization applied, waiting for health checks")
	first.Metadata = map[string]string{"event.toolkit.fluxcd.io/change_request": strconv.Itoa(pr.Number)}
	second := testEvent("error", "HealthCheckFailed", "health check failed after 5m0s")
	second.Metadata = first.Metadata
	for _, e := range []events.Event{first, second} {
		if n := deliver(t, st, e, nil); n.Metrics.Count("giteapullrequestcomment", "success") != 1 {
			t.Fatalf("%s: not delivered", e.Reason)
		}
	}
	var comments []struct {
		Body string `json:"body"`
		User struct {
			Login string `json:"login"`
		} `json:"user"`
	}
	api(g.Token, http.MethodGet, fmt.Sprintf("/repos/platform/fleet/issues/%d/comments", pr.Number), nil, &comments)
	if len(comments) != 2 {
		t.Fatalf("%d comments, want the other user's and one of the Provider's: %+v", len(comments), comments)
	}
	if comments[0].Body != quoted || comments[0].User.Login != "someone" {
		t.Errorf("the other user's comment changed: %+v", comments[0])
	}
	if c := comments[1]; c.User.Login != g.Admin || !strings.Contains(c.Body, "health check failed") || strings.Contains(c.Body, "waiting") {
		t.Errorf("the Provider's comment was not edited in place: %+v", c)
	}
}
