package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/clock"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/converge-gitops/converge/crds/meta"
	notificationv1 "github.com/converge-gitops/converge/crds/notification/v1"
	notificationv1beta3 "github.com/converge-gitops/converge/crds/notification/v1beta3"
	"github.com/converge-gitops/converge/engine/events"
	"github.com/converge-gitops/converge/engine/testenv/goldenfile"
)

const (
	testSHA      = "3f8c2e9d1b7a4c6e8f0a2b4c6d8e0f1a3b5c7d9e"
	providerUID  = "0c9c2e41-7d3a-4b5c-9e1f-2a3b4c5d6e7f"
	objectUID    = "6d1f7c3e-1111-2222-3333-444455556666"
	testInstance = "converge-agent-7f9c"
)

// memStore is an in-memory Store: the notifier's own interface, filled by the test.
type memStore struct {
	alerts    []notificationv1beta3.Alert
	providers map[string]*notificationv1beta3.Provider
	secrets   map[string]*corev1.Secret
	labels    map[string]map[string]string
}

func (m *memStore) Alerts(context.Context) ([]notificationv1beta3.Alert, error) { return m.alerts, nil }
func (m *memStore) Provider(_ context.Context, ns, name string) (*notificationv1beta3.Provider, error) {
	if p, ok := m.providers[ns+"/"+name]; ok {
		return p, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "providers"}, name)
}
func (m *memStore) Secret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	if s, ok := m.secrets[ns+"/"+name]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("secrets"), name)
}
func (m *memStore) Labels(_ context.Context, o corev1.ObjectReference) (map[string]string, error) {
	return m.labels[o.Kind+"/"+o.Namespace+"/"+o.Name], nil
}

func testEvent(severity, reason, msg string) events.Event {
	return events.Event{
		Object: corev1.ObjectReference{Kind: "Kustomization", APIVersion: "kustomize.toolkit.fluxcd.io/v1", Namespace: "flux-system",
			Name: "apps", UID: objectUID},
		Severity: severity, Reason: reason, Message: msg, Revision: "main@sha1:" + testSHA,
		Timestamp: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC), Controller: "kustomize-controller",
	}
}

func testAlert(provider string) notificationv1beta3.Alert {
	return notificationv1beta3.Alert{
		ObjectMeta: metav1.ObjectMeta{Namespace: "flux-system", Name: "on-call"},
		Spec: notificationv1beta3.AlertSpec{
			ProviderRef:   meta.LocalObjectReference{Name: provider},
			EventSources:  []notificationv1.CrossNamespaceObjectReference{{Kind: "Kustomization", Name: "*"}},
			EventMetadata: map[string]string{"cluster": "prod"},
			Summary:       "prod cluster",
		},
	}
}

// recorder is a loopback server standing in for a service endpoint: it records every request and
// answers with status codes from a script (200 once the script is exhausted).
type recorder struct {
	mu       sync.Mutex
	requests []recorded
	script   []int
	delay    time.Duration
	srv      *httptest.Server
	// statuses answers GETs (a commit status provider reading the existing statuses); by default an
	// empty list, and 404 for Bitbucket's single status.
	statuses func(path string) (int, string)
}

type recorded struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.requests = append(rc.requests, recorded{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	if r.Method == http.MethodGet {
		code, answer := http.StatusOK, "[]"
		if rc.statuses != nil {
			code, answer = rc.statuses(r.URL.EscapedPath())
		} else if strings.Contains(r.URL.Path, "/statuses/build/") {
			code, answer = http.StatusNotFound, `{"type":"error","error":{"message":"No such build status"}}`
		}
		rc.mu.Unlock()
		w.WriteHeader(code)
		_, _ = w.Write([]byte(answer))
		return
	}
	code := http.StatusOK
	if len(rc.script) > 0 {
		code, rc.script = rc.script[0], rc.script[1:]
	}
	delay := rc.delay
	rc.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
		}
	}
	w.WriteHeader(code)
	_, _ = w.Write([]byte(`{"ok":true}`))
}

func (rc *recorder) all() []recorded {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]recorded(nil), rc.requests...)
}

func newRecorder(t *testing.T) *recorder {
	rc := &recorder{}
	rc.srv = httptest.NewServer(rc)
	t.Cleanup(rc.srv.Close)
	return rc
}

func secret(name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "flux-system", Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

func setup(p notificationv1beta3.ProviderSpec, secrets ...*corev1.Secret) (*memStore, *notificationv1beta3.Provider) {
	prov := &notificationv1beta3.Provider{ObjectMeta: metav1.ObjectMeta{Namespace: "flux-system", Name: "svc", UID: providerUID}, Spec: p}
	st := &memStore{alerts: []notificationv1beta3.Alert{testAlert("svc")},
		providers: map[string]*notificationv1beta3.Provider{"flux-system/svc": prov}, secrets: map[string]*corev1.Secret{}}
	for _, s := range secrets {
		st.secrets[s.Namespace+"/"+s.Name] = s
	}
	return st, prov
}

// render writes requests as the golden files hold them: method, path, the headers the provider sets,
// then the body as indented JSON.
func render(t *testing.T, reqs []recorded) []byte {
	var b bytes.Buffer
	skip := map[string]bool{"User-Agent": true, "Accept-Encoding": true, "Content-Length": true}
	for i, r := range reqs {
		if i > 0 {
			b.WriteString("\n")
		}
		if r.Query != "" {
			fmt.Fprintf(&b, "%s %s?%s\n", r.Method, r.Path, r.Query)
		} else {
			fmt.Fprintf(&b, "%s %s\n", r.Method, r.Path)
		}
		var names []string
		for k := range r.Header {
			if !skip[k] {
				names = append(names, k)
			}
		}
		sort.Strings(names)
		for _, k := range names {
			fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(r.Header[k], ", "))
		}
		if len(r.Body) == 0 {
			continue
		}
		switch ct := r.Header.Get("Content-Type"); {
		case ct == "application/x-www-form-urlencoded":
			form, err := url.ParseQuery(string(r.Body))
			if err != nil {
				t.Fatalf("body of %s %s is not a form: %v", r.Method, r.Path, err)
			}
			for _, k := range slices.Sorted(maps.Keys(form)) {
				fmt.Fprintf(&b, "%s=%q\n", k, form.Get(k))
			}
			continue
		case ct == "application/x-sentry-envelope": // one JSON document a line
			for _, line := range strings.Split(strings.TrimSuffix(string(r.Body), "\n"), "\n") {
				var pretty bytes.Buffer
				if err := json.Indent(&pretty, []byte(line), "", "  "); err != nil {
					t.Fatalf("envelope line of %s %s is not JSON: %v\n%s", r.Method, r.Path, err, line)
				}
				b.Write(pretty.Bytes())
				b.WriteString("\n")
			}
			continue
		}
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, r.Body, "", "  "); err != nil {
			t.Fatalf("body of %s %s is not JSON: %v\n%s", r.Method, r.Path, err, r.Body)
		}
		b.Write(pretty.Bytes())
		b.WriteString("\n")
	}
	return b.Bytes()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("..", "..", "testdata", "notify", name), got)
}

func deliver(t *testing.T, st Store, e events.Event, tweak func(*Notifier)) *Notifier {
	t.Helper()
	n := &Notifier{Clock: clock.RealClock{}, Store: st, Instance: testInstance, Backoff: 10 * time.Millisecond, Metrics: NewMetrics(prometheus.NewRegistry())}
	if tweak != nil {
		tweak(n)
	}
	n.Emit(context.Background(), e)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestProviderPayloads(t *testing.T) {
	rc := newRecorder(t)
	base := rc.srv.URL
	tests := []struct {
		name    string
		spec    notificationv1beta3.ProviderSpec
		secret  map[string]string
		event   events.Event
		wantReq int
	}{
		{name: "generic", spec: notificationv1beta3.ProviderSpec{Type: "generic", Address: base + "/hook"}, wantReq: 1},
		{name: "generic-headers", spec: notificationv1beta3.ProviderSpec{Type: "generic", SecretRef: &meta.LocalObjectReference{Name: "s"}},
			secret: map[string]string{"address": base + "/from-secret", "headers": "Authorization: Bearer abc\nX-Team: platform\n"}, wantReq: 1},
		{name: "generic-hmac", spec: notificationv1beta3.ProviderSpec{Type: "generic-hmac", Address: base + "/hook", SecretRef: &meta.LocalObjectReference{Name: "s"}},
			secret: map[string]string{"token": "hmac-key"}, wantReq: 1},
		{name: "slack", spec: notificationv1beta3.ProviderSpec{Type: "slack", Channel: "general", Username: "flux", Address: base + "/services/T0/B0/X"}, wantReq: 1},
		{name: "slack-bot", spec: notificationv1beta3.ProviderSpec{Type: "slack", Channel: "C123", Address: base + "/api/chat.postMessage", SecretRef: &meta.LocalObjectReference{Name: "s"}},
			secret: map[string]string{"token": "xoxb-bot"}, event: testEvent("error", "HealthCheckFailed", "health check failed after 5m0s:\ntimeout waiting for: [Deployment/apps/web status: 'InProgress']"), wantReq: 1},
		{name: "mattermost", spec: notificationv1beta3.ProviderSpec{Type: "slack", Channel: "town-square", Address: base + "/hooks/mm"}, wantReq: 1},
		{name: "discord", spec: notificationv1beta3.ProviderSpec{Type: "discord", Username: "flux", Address: base + "/api/webhooks/1/abc"}, wantReq: 1},
		{name: "rocket", spec: notificationv1beta3.ProviderSpec{Type: "rocket", Channel: "ops", Address: base + "/hooks/r"}, wantReq: 1},
		{name: "msteams", spec: notificationv1beta3.ProviderSpec{Type: "msteams", Address: base + "/workflows/teams"},
			event: testEvent("error", "ReconciliationFailed", "apply failed: Deployment/apps/web dry-run failed"), wantReq: 1},
		{name: "googlechat", spec: notificationv1beta3.ProviderSpec{Type: "googlechat", Address: base + "/v1/spaces/AAA/messages"}, wantReq: 1},
		{name: "telegram", spec: notificationv1beta3.ProviderSpec{Type: "telegram", Channel: "-100123:42", Address: base, SecretRef: &meta.LocalObjectReference{Name: "s"}},
			secret: map[string]string{"token": "123456:ABC"}, wantReq: 1},
		{name: "matrix", spec: notificationv1beta3.ProviderSpec{Type: "matrix", Channel: "!room:example.org", Address: base, SecretRef: &meta.LocalObjectReference{Name: "s"}},
			secret: map[string]string{"token": "matrix-token"}, wantReq: 1},
		{name: "alertmanager", spec: notificationv1beta3.ProviderSpec{Type: "alertmanager", Address: base + "/api/v2/alerts", SecretRef: &meta.LocalObjectReference{Name: "s"}},
			secret: map[string]string{"username": "am", "password": "pw"}, event: testEvent("error", "ReconciliationFailed", "apply failed"), wantReq: 1},
		{name: "pagerduty-info", spec: notificationv1beta3.ProviderSpec{Type: "pagerduty", Channel: "routing-key", Address: base + "/ignored/path"}, wantReq: 2},
		{name: "pagerduty-error", spec: notificationv1beta3.ProviderSpec{Type: "pagerduty", Channel: "routing-key", Address: base},
			event: testEvent("error", "ReconciliationFailed", "apply failed"), wantReq: 1},
		{name: "opsgenie", spec: notificationv1beta3.ProviderSpec{Type: "opsgenie", Address: base + "/v2/alerts", SecretRef: &meta.LocalObjectReference{Name: "s"}},
			secret: map[string]string{"token": "genie-key"}, wantReq: 1},
		{name: "github", spec: notificationv1beta3.ProviderSpec{Type: "github", Address: base + "/org/fleet", SecretRef: &meta.LocalObjectReference{Name: "s"}},
			secret: map[string]string{"token": "ghp_token"}, wantReq: 2},
		{name: "github-failure", spec: notificationv1beta3.ProviderSpec{Type: "github", Address: base + "/org/fleet.git", SecretRef: &meta.LocalObjectReference{Name: "s"}},
			secret: map[string]string{"token": "ghp_token"}, event: testEvent("error", "ReconciliationFailed", "apply failed"), wantReq: 2},
		{name: "gitlab", spec: notificationv1beta3.ProviderSpec{Type: "gitlab", Address: base + "/group/sub/fleet", SecretRef: &meta.LocalObjectReference{Name: "s"}},
			secret: map[string]string{"token": "glpat"}, wantReq: 2},
		{name: "gitea", spec: notificationv1beta3.ProviderSpec{Type: "gitea", Address: base + "/org/fleet", SecretRef: &meta.LocalObjectReference{Name: "s"}},
			secret: map[string]string{"token": "gitea-token"}, wantReq: 2},
		{name: "bitbucket", spec: notificationv1beta3.ProviderSpec{Type: "bitbucket", Address: base + "/org/fleet", SecretRef: &meta.LocalObjectReference{Name: "s"}},
			secret: map[string]string{"token": "user:app-password"}, event: testEvent("error", "ReconciliationFailed", "apply failed"), wantReq: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var secrets []*corev1.Secret
			if tt.secret != nil {
				secrets = append(secrets, secret("s", tt.secret))
			}
			st, _ := setup(tt.spec, secrets...)
			e := tt.event
			if e.Reason == "" {
				e = testEvent("info", "ReconciliationSucceeded", "Deployment/apps/web configured\nService/apps/web created")
			}
			before := len(rc.all())
			n := deliver(t, st, e, nil)
			got := rc.all()[before:]
			if len(got) != tt.wantReq {
				t.Fatalf("%d requests, want %d", len(got), tt.wantReq)
			}
			if n.Metrics.Count(tt.spec.Type, "success") != 1 {
				t.Errorf("success count = %v, want 1", n.Metrics.Count(tt.spec.Type, "success"))
			}
			golden(t, tt.name+".txt", render(t, got))
		})
	}
}

func TestGenericHMACSignature(t *testing.T) {
	rc := newRecorder(t)
	st, _ := setup(notificationv1beta3.ProviderSpec{Type: "generic-hmac", Address: rc.srv.URL, SecretRef: &meta.LocalObjectReference{Name: "s"}},
		secret("s", map[string]string{"token": "hmac-key"}))
	deliver(t, st, testEvent("info", "ReconciliationSucceeded", "ok"), nil)
	reqs := rc.all()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	mac := hmac.New(sha256.New, []byte("hmac-key"))
	mac.Write(reqs[0].Body)
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); reqs[0].Header.Get("X-Signature") != want {
		t.Errorf("X-Signature = %q, want %q", reqs[0].Header.Get("X-Signature"), want)
	}
	var ev Event
	if err := json.Unmarshal(reqs[0].Body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Metadata["revision"] != "main@sha1:"+testSHA || ev.Metadata["summary"] != "prod cluster" || ev.Metadata["cluster"] != "prod" {
		t.Errorf("metadata = %v", ev.Metadata)
	}
}

func TestRetryOn500ThenSuccess(t *testing.T) {
	rc := newRecorder(t)
	rc.script = []int{500, 503}
	st, _ := setup(notificationv1beta3.ProviderSpec{Type: "generic", Address: rc.srv.URL})
	n := deliver(t, st, testEvent("info", "ReconciliationSucceeded", "ok"), nil)
	reqs := rc.all()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3 (two 5xx, then success)", len(reqs))
	}
	if !bytes.Equal(reqs[0].Body, reqs[2].Body) {
		t.Error("the retried body differs")
	}
	if n.Metrics.Count("generic", "success") != 1 || n.Metrics.Count("generic", "failure") != 0 {
		t.Errorf("metrics: success %v failure %v", n.Metrics.Count("generic", "success"), n.Metrics.Count("generic", "failure"))
	}
}

func TestNoRetryOn4xxAndBoundedRetries(t *testing.T) {
	for _, tt := range []struct {
		name   string
		script []int
		want   int
	}{
		{"400 is final", []int{400}, 1},
		{"5xx retried up to the attempts", []int{500, 500, 500, 500, 500, 500}, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rc := newRecorder(t)
			rc.script = tt.script
			st, _ := setup(notificationv1beta3.ProviderSpec{Type: "generic", Address: rc.srv.URL})
			var warnings []events.Event
			var mu sync.Mutex
			n := deliver(t, st, testEvent("info", "ReconciliationSucceeded", "ok"), func(n *Notifier) {
				n.Attempts = 3
				n.Warnings = events.Func(func(_ context.Context, e events.Event) { mu.Lock(); warnings = append(warnings, e); mu.Unlock() })
			})
			if got := len(rc.all()); got != tt.want {
				t.Errorf("%d requests, want %d", got, tt.want)
			}
			if n.Metrics.Count("generic", "failure") != 1 {
				t.Errorf("failure count = %v", n.Metrics.Count("generic", "failure"))
			}
			mu.Lock()
			defer mu.Unlock()
			if len(warnings) != 1 || warnings[0].Object.Kind != "Alert" || warnings[0].Reason != "NotificationDispatchFailed" {
				t.Fatalf("warnings = %+v", warnings)
			}
		})
	}
}

func TestTimeoutIsRetriedAndReported(t *testing.T) {
	rc := newRecorder(t)
	rc.delay = 2 * time.Second
	st, _ := setup(notificationv1beta3.ProviderSpec{Type: "generic", Address: rc.srv.URL, Timeout: &metav1.Duration{Duration: 100 * time.Millisecond}})
	var msg string
	start := time.Now()
	n := deliver(t, st, testEvent("info", "ReconciliationSucceeded", "ok"), func(n *Notifier) {
		n.Attempts = 2
		n.Warnings = events.Func(func(_ context.Context, e events.Event) { msg = e.Message })
	})
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("delivery took %s: the timeout did not cut it", took)
	}
	if len(rc.all()) != 2 || n.Metrics.Count("generic", "failure") != 1 {
		t.Errorf("%d requests, failure count %v", len(rc.all()), n.Metrics.Count("generic", "failure"))
	}
	if !strings.Contains(msg, "timed out after 100ms") {
		t.Errorf("warning = %q", msg)
	}
}

func TestTLSWithCertSecretRef(t *testing.T) {
	var got []byte
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got, _ = io.ReadAll(r.Body) }))
	defer srv.Close()
	caPEM := pemCert(srv.Certificate().Raw)
	for _, tt := range []struct {
		name string
		ca   string
		ok   bool
	}{{"trusted CA", caPEM, true}, {"no CA", "", false}} {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			spec := notificationv1beta3.ProviderSpec{Type: "generic", Address: srv.URL}
			var secrets []*corev1.Secret
			if tt.ca != "" {
				spec.CertSecretRef = &meta.LocalObjectReference{Name: "ca"}
				secrets = append(secrets, secret("ca", map[string]string{"ca.crt": tt.ca}))
			}
			st, _ := setup(spec, secrets...)
			n := deliver(t, st, testEvent("info", "ReconciliationSucceeded", "ok"), func(n *Notifier) { n.Attempts = 1 })
			if tt.ok != (got != nil) || tt.ok != (n.Metrics.Count("generic", "success") == 1) {
				t.Errorf("delivered = %v, want %v", got != nil, tt.ok)
			}
		})
	}
}

func TestSecretsNeverInWarnings(t *testing.T) {
	// An address from a Secret that refuses connections, with the token in its path: the error must
	// name neither.
	st, _ := setup(notificationv1beta3.ProviderSpec{Type: "telegram", Channel: "@c", SecretRef: &meta.LocalObjectReference{Name: "s"}},
		secret("s", map[string]string{"token": "999:SECRET-TOKEN", "address": "http://127.0.0.1:1/secret-path"}))
	var msgs []string
	deliver(t, st, testEvent("error", "ReconciliationFailed", "boom"), func(n *Notifier) {
		n.Attempts = 1
		n.Warnings = events.Func(func(_ context.Context, e events.Event) { msgs = append(msgs, e.Message) })
	})
	if len(msgs) != 1 {
		t.Fatalf("warnings: %v", msgs)
	}
	for _, leak := range []string{"SECRET-TOKEN", "secret-path", "127.0.0.1:1"} {
		if strings.Contains(msgs[0], leak) {
			t.Errorf("warning leaks %q: %s", leak, msgs[0])
		}
	}
}

func TestSlackAPIError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"ok":false,"error":"channel_not_found"}`))
	}))
	defer srv.Close()
	st, _ := setup(notificationv1beta3.ProviderSpec{Type: "slack", Channel: "nope", Address: srv.URL + "/api/chat.postMessage"})
	var msg string
	deliver(t, st, testEvent("info", "ReconciliationSucceeded", "ok"), func(n *Notifier) {
		n.Warnings = events.Func(func(_ context.Context, e events.Event) { msg = e.Message })
	})
	if !strings.Contains(msg, "channel_not_found") {
		t.Errorf("warning = %q", msg)
	}
}

func TestCommitStatusSkipsEventsWithoutCommit(t *testing.T) {
	rc := newRecorder(t)
	st, _ := setup(notificationv1beta3.ProviderSpec{Type: "github", Address: rc.srv.URL + "/org/fleet", SecretRef: &meta.LocalObjectReference{Name: "s"}},
		secret("s", map[string]string{"token": "t"}))
	for _, e := range []events.Event{
		func() events.Event {
			e := testEvent("info", "ReconciliationSucceeded", "chart")
			e.Revision = "1.2.3"
			return e
		}(),
		func() events.Event {
			e := testEvent("info", "ReconciliationSucceeded", "no rev")
			e.Revision = ""
			return e
		}(),
		testEvent("info", "Progressing", "in progress"),
	} {
		n := deliver(t, st, e, nil)
		if n.Metrics.Count("github", "skipped") != 1 {
			t.Errorf("%q: not skipped", e.Message)
		}
	}
	if len(rc.all()) != 0 {
		t.Errorf("%d requests, want none", len(rc.all()))
	}
}

func TestDuplicatesWithinWindowSentOnce(t *testing.T) {
	rc := newRecorder(t)
	st, _ := setup(notificationv1beta3.ProviderSpec{Type: "generic", Address: rc.srv.URL})
	clk := testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	n := &Notifier{Clock: clk, Store: st, Window: time.Minute}
	e := testEvent("info", "ReconciliationSucceeded", "ok")
	n.Emit(context.Background(), e)
	n.Emit(context.Background(), e)
	other := e
	other.Message = "something else"
	n.Emit(context.Background(), other)
	clk.Step(2 * time.Minute)
	n.Emit(context.Background(), e)
	if err := n.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(rc.all()); got != 3 {
		t.Errorf("%d requests, want 3 (the repeat within the window dropped)", got)
	}
}

func TestSuspendedProviderAndAlert(t *testing.T) {
	rc := newRecorder(t)
	st, p := setup(notificationv1beta3.ProviderSpec{Type: "generic", Address: rc.srv.URL, Suspend: true})
	deliver(t, st, testEvent("info", "ReconciliationSucceeded", "ok"), nil)
	p.Spec.Suspend = false
	st.alerts[0].Spec.Suspend = true
	deliver(t, st, testEvent("info", "ReconciliationSucceeded", "ok"), nil)
	if len(rc.all()) != 0 {
		t.Errorf("%d requests, want none", len(rc.all()))
	}
}

func TestMatches(t *testing.T) {
	src := func(kind, name, ns string, labels map[string]string) notificationv1.CrossNamespaceObjectReference {
		return notificationv1.CrossNamespaceObjectReference{Kind: kind, Name: name, Namespace: ns, MatchLabels: labels}
	}
	tests := []struct {
		name  string
		alert func(a *notificationv1beta3.Alert)
		event func(e *events.Event)
		want  bool
	}{
		{"wildcard in the alert's namespace", nil, nil, true},
		{"other namespace by default", nil, func(e *events.Event) { e.Object.Namespace = "apps" }, false},
		{"explicit namespace", func(a *notificationv1beta3.Alert) {
			a.Spec.EventSources = []notificationv1.CrossNamespaceObjectReference{src("Kustomization", "*", "apps", nil)}
		}, func(e *events.Event) { e.Object.Namespace = "apps" }, true},
		{"other kind", nil, func(e *events.Event) { e.Object.Kind = "HelmRelease" }, false},
		{"by name", func(a *notificationv1beta3.Alert) {
			a.Spec.EventSources = []notificationv1.CrossNamespaceObjectReference{src("Kustomization", "apps", "", nil)}
		}, nil, true},
		{"other name", func(a *notificationv1beta3.Alert) {
			a.Spec.EventSources = []notificationv1.CrossNamespaceObjectReference{src("Kustomization", "infra", "", nil)}
		}, nil, false},
		{"second source matches", func(a *notificationv1beta3.Alert) {
			a.Spec.EventSources = []notificationv1.CrossNamespaceObjectReference{src("GitRepository", "*", "", nil), src("Kustomization", "apps", "", nil)}
		}, nil, true},
		{"error alert drops info", func(a *notificationv1beta3.Alert) { a.Spec.EventSeverity = "error" }, nil, false},
		{"error alert takes errors", func(a *notificationv1beta3.Alert) { a.Spec.EventSeverity = "error" },
			func(e *events.Event) { e.Severity = "error" }, true},
		{"info alert takes errors", nil, func(e *events.Event) { e.Severity = "error" }, true},
		{"matchLabels present", func(a *notificationv1beta3.Alert) {
			a.Spec.EventSources = []notificationv1.CrossNamespaceObjectReference{src("Kustomization", "*", "", map[string]string{"team": "a"})}
		}, nil, true},
		{"matchLabels absent", func(a *notificationv1beta3.Alert) {
			a.Spec.EventSources = []notificationv1.CrossNamespaceObjectReference{src("Kustomization", "*", "", map[string]string{"team": "b"})}
		}, nil, false},
		{"inclusion matches", func(a *notificationv1beta3.Alert) { a.Spec.InclusionList = []string{"nothing", ".*configured.*"} }, nil, true},
		{"inclusion misses", func(a *notificationv1beta3.Alert) { a.Spec.InclusionList = []string{"^deleted"} }, nil, false},
		{"exclusion matches", func(a *notificationv1beta3.Alert) { a.Spec.ExclusionList = []string{"Service/"} }, nil, false},
		{"invalid exclusion ignored", func(a *notificationv1beta3.Alert) { a.Spec.ExclusionList = []string{"("} }, nil, true},
		{"suspended", func(a *notificationv1beta3.Alert) { a.Spec.Suspend = true }, nil, false},
	}
	st := &memStore{labels: map[string]map[string]string{"Kustomization/flux-system/apps": {"team": "a"}}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := testAlert("svc")
			if tt.alert != nil {
				tt.alert(&a)
			}
			e := testEvent("info", "ReconciliationSucceeded", "Deployment/apps/web configured\nService/apps/web created")
			if tt.event != nil {
				tt.event(&e)
			}
			n := &Notifier{Clock: clock.RealClock{}, Store: st}
			if got := n.Matches(context.Background(), &a, e); got != tt.want {
				t.Errorf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCommitSHA(t *testing.T) {
	for rev, want := range map[string]string{
		"main@sha1:" + testSHA:                   testSHA,
		"sha1:" + testSHA:                        testSHA,
		"main/" + testSHA:                        testSHA,
		testSHA:                                  testSHA,
		"v1.0.0@sha1:" + testSHA:                 testSHA,
		"refs/pull/1/head@sha1:" + testSHA:       testSHA,
		"1.2.3":                                  "",
		"sha256:" + strings.Repeat("a", 64):      "",
		"main@sha256:" + strings.Repeat("a", 64): strings.Repeat("a", 64),
		"main@sha1:xyz":                          "",
		"":                                       "",
	} {
		got, ok := CommitSHA(rev)
		if got != want || ok != (want != "") {
			t.Errorf("CommitSHA(%q) = %q, %v; want %q", rev, got, ok, want)
		}
	}
}

func TestSplitCamel(t *testing.T) {
	for in, want := range map[string]string{
		"ReconciliationSucceeded": "reconciliation succeeded",
		"HealthCheckFailed":       "health check failed",
		"DependencyNotReady":      "dependency not ready",
		"Progressing":             "progressing",
		"OCIArtifactPullFailed":   "oci artifact pull failed",
	} {
		if got := strings.ToLower(strings.Join(splitCamel(in), " ")); got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}

func pemCert(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// A hung Provider cannot pile up deliveries: beyond MaxPending (in flight or waiting) new ones are
// dropped and counted, and the held ones finish once the Provider answers.
func TestPendingDeliveriesBounded(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	got := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		mu.Lock()
		got++
		mu.Unlock()
	}))
	defer srv.Close()
	st, _ := setup(notificationv1beta3.ProviderSpec{Type: "generic", Address: srv.URL})
	m := NewMetrics(prometheus.NewRegistry())
	n := &Notifier{Clock: clock.RealClock{}, Store: st, Metrics: m, Parallel: 1, MaxPending: 2}
	for i := range 5 {
		n.Emit(context.Background(), testEvent("info", "ReconciliationSucceeded", fmt.Sprintf("event %d", i)))
	}
	if d := m.Count("generic", "dropped"); d != 3 {
		t.Errorf("%v dropped, want 3", d)
	}
	close(release)
	if err := n.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got != 2 || m.Count("generic", "success") != 2 {
		t.Errorf("%d delivered (%v counted), want 2", got, m.Count("generic", "success"))
	}
}

// An event no Alert matched is not remembered as sent: once an Alert selects it, it is delivered.
func TestUnmatchedEventNotSuppressed(t *testing.T) {
	rc := newRecorder(t)
	st, _ := setup(notificationv1beta3.ProviderSpec{Type: "generic", Address: rc.srv.URL})
	alerts := st.alerts
	st.alerts = nil
	n := &Notifier{Clock: clock.RealClock{}, Store: st}
	e := testEvent("info", "ReconciliationSucceeded", "ok")
	n.Emit(context.Background(), e)
	st.alerts = alerts
	n.Emit(context.Background(), e)
	if err := n.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(rc.all()); got != 1 {
		t.Errorf("%d requests, want 1", got)
	}
}

// TestMatchesNoCrossNamespaceRefs: with Flux's --no-cross-namespace-refs, an Alert takes the events of its
// own namespace only, even those its event sources name in another.
func TestMatchesNoCrossNamespaceRefs(t *testing.T) {
	tests := []struct {
		name, sourceNamespace, eventNamespace string
		want                                  bool
	}{
		{"own namespace", "", "flux-system", true},
		{"other namespace named by the source", "apps", "apps", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := testAlert("svc")
			a.Spec.EventSources = []notificationv1.CrossNamespaceObjectReference{{Kind: "Kustomization", Name: "*", Namespace: tt.sourceNamespace}}
			e := testEvent("info", "ReconciliationSucceeded", "Deployment/apps/web configured")
			e.Object.Namespace = tt.eventNamespace
			n := &Notifier{Clock: clock.RealClock{}, NoCrossNamespaceRefs: true}
			if got := n.Matches(context.Background(), &a, e); got != tt.want {
				t.Errorf("Matches = %v, want %v", got, tt.want)
			}
			n.NoCrossNamespaceRefs = false
			if got := n.Matches(context.Background(), &a, e); !got {
				t.Error("without the lockdown the event does not match: the case tests nothing")
			}
		})
	}
}
