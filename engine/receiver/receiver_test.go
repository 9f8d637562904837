package receiver

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/crds/meta"
	notificationv1 "github.com/converge-gitops/converge/crds/notification/v1"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/testenv"
)

var cluster *testenv.Cluster

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &cluster)) }

var gitGVR = schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "gitrepositories"}

const token = "s3cr3t-token"

func sign(h func() hash.Hash, body []byte) string {
	m := hmac.New(h, []byte(token))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

type env struct {
	clients *kube.Clients
	srv     *httptest.Server
	ns      string
}

func setup(t *testing.T, ns string) *env {
	t.Helper()
	return setupHandler(t, ns, nil)
}

// setupHandler is setup with configure (when not nil) applied to the Handler before it serves.
func setupHandler(t *testing.T, ns string, configure func(*Handler)) *env {
	t.Helper()
	clients, err := kube.New(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := clients.Core.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cluster.ApplyYAML(t, fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: webhook-token, namespace: %s}\nstringData: {token: %s}\n", ns, token))
	for _, name := range []string{"app", "other", "labelled-a", "labelled-b"} {
		labels := ""
		if strings.HasPrefix(name, "labelled") {
			labels = "\n  labels: {team: web}"
		}
		cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: %s
  namespace: %s%s
spec: {url: "https://example.com/repo.git", interval: 1h}
`, name, ns, labels))
	}
	h := &Handler{Clock: clock.RealClock{}, Receivers: ClusterLookup{Dynamic: clients.Dynamic}, Secrets: clients, Dynamic: clients.Dynamic, Mapper: clients.Mapper, MaxBody: 64 << 10}
	if configure != nil {
		configure(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{clients: clients, srv: srv, ns: ns}
}

// receiver creates a Receiver and reconciles its status as the agent does; it returns the webhook path.
func (e *env) receiver(t *testing.T, name, typ, extra string) string {
	t.Helper()
	cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata: {name: %s, namespace: %s}
spec:
  type: %s
  secretRef: {name: webhook-token}
  resources:
    - kind: GitRepository
      name: app
%s`, name, e.ns, typ, extra))
	u, err := e.clients.Dynamic.Resource(Resource).Namespace(e.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rcv := decode(t, u)
	path, ready := Status(context.Background(), e.clients, rcv)
	if ready.Status != metav1.ConditionTrue {
		t.Fatalf("Receiver %s not ready: %s", name, ready.Message)
	}
	if _, err := WriteStatus(context.Background(), e.clients.Dynamic, u, path, ready, time.Now()); err != nil {
		t.Fatal(err)
	}
	return path
}

func (e *env) requestedAt(t *testing.T, name string) string {
	t.Helper()
	u, err := e.clients.Dynamic.Resource(gitGVR).Namespace(e.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return u.GetAnnotations()[meta.ReconcileRequestAnnotation]
}

func (e *env) post(t *testing.T, path string, body []byte, headers map[string]string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestWebhookPathIsFluxDigest(t *testing.T) {
	e := setup(t, "rcv-path")
	path := e.receiver(t, "gh", "github", "")
	sum := sha256.Sum256([]byte(token + "gh" + "rcv-path"))
	if want := "/hook/" + hex.EncodeToString(sum[:]); path != want {
		t.Fatalf("path = %s, want %s", path, want)
	}
	u, _ := e.clients.Dynamic.Resource(Resource).Namespace(e.ns).Get(context.Background(), "gh", metav1.GetOptions{})
	if p, _, _ := unstructured.NestedString(u.Object, "status", "webhookPath"); p != path {
		t.Errorf("status.webhookPath = %q", p)
	}
	// Unchanged status: not written again.
	rcv := decode(t, u)
	p2, ready := Status(context.Background(), e.clients, rcv)
	if wrote, err := WriteStatus(context.Background(), e.clients.Dynamic, u, p2, ready, time.Now()); err != nil || wrote {
		t.Errorf("second write: wrote=%v err=%v", wrote, err)
	}
}

func TestMissingTokenIsNotReady(t *testing.T) {
	e := setup(t, "rcv-notoken")
	cluster.ApplyYAML(t, `apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata: {name: r, namespace: rcv-notoken}
spec: {type: generic, secretRef: {name: absent}, resources: [{kind: GitRepository, name: app}]}
`)
	u, _ := e.clients.Dynamic.Resource(Resource).Namespace(e.ns).Get(context.Background(), "r", metav1.GetOptions{})
	path, ready := Status(context.Background(), e.clients, decode(t, u))
	if path != "" || ready.Status != metav1.ConditionFalse || ready.Reason != "TokenNotFound" {
		t.Errorf("path %q, ready %+v", path, ready)
	}

	// An empty token would make the path computable by anyone: not ready either.
	cluster.ApplyYAML(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: empty, namespace: rcv-notoken}\ndata: {token: \"\"}\n")
	cluster.ApplyYAML(t, `apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata: {name: empty, namespace: rcv-notoken}
spec: {type: generic, secretRef: {name: empty}, resources: [{kind: GitRepository, name: app}]}
`)
	u, _ = e.clients.Dynamic.Resource(Resource).Namespace(e.ns).Get(context.Background(), "empty", metav1.GetOptions{})
	path, ready = Status(context.Background(), e.clients, decode(t, u))
	if path != "" || ready.Status != metav1.ConditionFalse || ready.Reason != "TokenNotFound" || !strings.Contains(ready.Message, "'token' is empty") {
		t.Errorf("empty token: path %q, ready %+v", path, ready)
	}
}

var (
	nexusBody   = []byte(`{"timestamp":"2026-12-07T12:00:00.000+0000","nodeId":"52905AF3","initiator":"admin/127.0.0.1","repositoryName":"docker-hosted","action":"CREATED","component":{"format":"docker","name":"app","version":"1.1"}}`)
	acrBody     = []byte(`{"id":"cb8c3971","timestamp":"2026-12-07T12:00:00Z","action":"push","target":{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"sha256:00","repository":"app","tag":"1.1"},"request":{"host":"myregistry.azurecr.io","method":"PUT"}}`)
	cdeventBody = []byte(`{"context":{"version":"0.4.1","id":"5555","source":"github","type":"dev.cdevents.change.merged.0.2.0","timestamp":"2026-12-07T12:00:00.5Z"},"subject":{"id":"5555","type":"change","content":{"repository":{"id":"org/app"}}}}`)
)

func TestReceiverTypes(t *testing.T) {
	e := setup(t, "rcv-types")
	body := []byte(`{"ref":"refs/heads/main","push_data":{"tag":"v1"},"repository":{"repo_url":"https://hub.docker.com/r/x/y"},"docker_url":"quay.io/x/y","updated_tags":["v1"]}`)
	tests := []struct {
		name, typ, extra string
		headers          map[string]string
		body             []byte
		want             int
		triggers         bool
	}{
		{name: "generic", typ: "generic", want: 200, triggers: true},
		{name: "generic-hmac", typ: "generic-hmac", headers: map[string]string{"X-Signature": "sha256=" + sign(sha256.New, body)}, want: 200, triggers: true},
		{name: "generic-hmac-sha1", typ: "generic-hmac", headers: map[string]string{"X-Signature": "sha1=" + sign(sha1.New, body)}, want: 200, triggers: true},
		{name: "generic-hmac-wrong", typ: "generic-hmac", headers: map[string]string{"X-Signature": "sha256=" + sign(sha256.New, []byte("other"))}, want: 401},
		{name: "generic-hmac-missing", typ: "generic-hmac", want: 401},
		{name: "github-push", typ: "github", extra: "  events: [push]\n",
			headers: map[string]string{"X-Hub-Signature-256": "sha256=" + sign(sha256.New, body), "X-GitHub-Event": "push"}, want: 200, triggers: true},
		{name: "github-sha1", typ: "github", headers: map[string]string{"X-Hub-Signature": "sha1=" + sign(sha1.New, body), "X-GitHub-Event": "push"}, want: 200, triggers: true},
		{name: "github-filtered", typ: "github", extra: "  events: [push]\n",
			headers: map[string]string{"X-Hub-Signature-256": "sha256=" + sign(sha256.New, body), "X-GitHub-Event": "issues"}, want: 202},
		{name: "github-ping", typ: "github", extra: "  events: [push]\n",
			headers: map[string]string{"X-Hub-Signature-256": "sha256=" + sign(sha256.New, body), "X-GitHub-Event": "ping"}, want: 200},
		{name: "github-bad-signature", typ: "github",
			headers: map[string]string{"X-Hub-Signature-256": "sha256=" + strings.Repeat("0", 64), "X-GitHub-Event": "push"}, want: 401},
		{name: "github-unsigned", typ: "github", headers: map[string]string{"X-GitHub-Event": "push"}, want: 401},
		{name: "gitea-via-github", typ: "github",
			headers: map[string]string{"X-Gitea-Signature": sign(sha256.New, body), "X-Gitea-Event": "push"}, want: 200, triggers: true},
		{name: "gitlab", typ: "gitlab", extra: "  events: [Push Hook]\n", headers: map[string]string{"X-Gitlab-Token": token, "X-Gitlab-Event": "Push Hook"}, want: 200, triggers: true},
		{name: "gitlab-wrong-token", typ: "gitlab", headers: map[string]string{"X-Gitlab-Token": "nope", "X-Gitlab-Event": "Push Hook"}, want: 401},
		{name: "bitbucket", typ: "bitbucket", headers: map[string]string{"X-Hub-Signature": "sha256=" + sign(sha256.New, body), "X-Event-Key": "repo:refs_changed"}, want: 200, triggers: true},
		{name: "bitbucket-wrong", typ: "bitbucket", headers: map[string]string{"X-Hub-Signature": "sha256=00", "X-Event-Key": "repo:refs_changed"}, want: 401},
		{name: "harbor", typ: "harbor", headers: map[string]string{"Authorization": token}, want: 200, triggers: true},
		{name: "harbor-wrong", typ: "harbor", headers: map[string]string{"Authorization": "Bearer " + token}, want: 401},
		{name: "dockerhub", typ: "dockerhub", want: 200, triggers: true},
		{name: "dockerhub-garbage", typ: "dockerhub", body: []byte("not json"), want: 400},
		{name: "quay", typ: "quay", want: 200, triggers: true},
		{name: "nexus", typ: "nexus", headers: map[string]string{"X-Nexus-Webhook-Signature": sign(sha1.New, nexusBody)}, body: nexusBody, want: 200, triggers: true},
		{name: "nexus-wrong-signature", typ: "nexus", headers: map[string]string{"X-Nexus-Webhook-Signature": sign(sha1.New, body)}, body: nexusBody, want: 401},
		{name: "nexus-sha256", typ: "nexus", headers: map[string]string{"X-Nexus-Webhook-Signature": sign(sha256.New, nexusBody)}, body: nexusBody, want: 401},
		{name: "nexus-unsigned", typ: "nexus", body: nexusBody, want: 401},
		{name: "nexus-signed-garbage", typ: "nexus", headers: map[string]string{"X-Nexus-Webhook-Signature": sign(sha1.New, []byte("x"))}, body: []byte("x"), want: 400},
		{name: "acr", typ: "acr", body: acrBody, want: 200, triggers: true},
		{name: "acr-garbage", typ: "acr", body: []byte("<xml/>"), want: 400},
		{name: "cdevents", typ: "cdevents", extra: "  events: [dev.cdevents.change.merged.0.2.0]\n",
			headers: map[string]string{"Ce-Type": "dev.cdevents.change.merged.0.2.0", "Ce-Specversion": "1.0", "Ce-Id": "5555", "Ce-Source": "github"}, body: cdeventBody, want: 200, triggers: true},
		{name: "cdevents-no-events-filter", typ: "cdevents", headers: map[string]string{"Ce-Type": "dev.cdevents.change.merged.0.2.0"}, body: cdeventBody, want: 200, triggers: true},
		{name: "cdevents-type-not-in-events", typ: "cdevents", extra: "  events: [dev.cdevents.environment.modified.0.2.0]\n",
			headers: map[string]string{"Ce-Type": "dev.cdevents.change.merged.0.2.0"}, body: cdeventBody, want: 202},
		{name: "cdevents-unknown-type", typ: "cdevents", headers: map[string]string{"Ce-Type": "dev.cdevents.change.exploded.0.1.0"},
			body: []byte(strings.Replace(string(cdeventBody), "change.merged", "change.exploded", 1)), want: 400},
		{name: "cdevents-not-a-cdevent", typ: "cdevents", headers: map[string]string{"Ce-Type": "dev.cdevents.change.merged.0.2.0"}, body: body, want: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := e.receiver(t, tt.name, tt.typ, tt.extra)
			before := e.requestedAt(t, "app")
			b := body
			if tt.body != nil {
				b = tt.body
			}
			if got := e.post(t, path, b, tt.headers); got != tt.want {
				t.Fatalf("status %d, want %d", got, tt.want)
			}
			after := e.requestedAt(t, "app")
			if triggered := after != before; triggered != tt.triggers {
				t.Errorf("triggered = %v, want %v (requestedAt %q -> %q)", triggered, tt.triggers, before, after)
			}
			if e.requestedAt(t, "other") != "" {
				t.Error("a GitRepository that is not a target was annotated")
			}
		})
	}
}

func TestWrongPathOversizedBodyAndMethod(t *testing.T) {
	e := setup(t, "rcv-limits")
	path := e.receiver(t, "g", "generic", "")
	if got := e.post(t, "/hook/"+strings.Repeat("ab", 32), []byte("{}"), nil); got != http.StatusNotFound {
		t.Errorf("unknown hook: %d", got)
	}
	if got := e.post(t, "/other", []byte("{}"), nil); got != http.StatusNotFound {
		t.Errorf("outside /hook/: %d", got)
	}
	if got := e.post(t, path, bytes.Repeat([]byte("x"), 64<<10+1), nil); got != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d", got)
	}
	if e.requestedAt(t, "app") != "" {
		t.Error("an oversized call triggered a reconciliation")
	}
	resp, err := http.Get(e.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
}

func TestSuspendedReceiver(t *testing.T) {
	e := setup(t, "rcv-suspended")
	path := e.receiver(t, "g", "generic", "  suspend: true\n")
	if got := e.post(t, path, []byte("{}"), nil); got != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", got)
	}
	if e.requestedAt(t, "app") != "" {
		t.Error("a suspended receiver triggered")
	}
}

func TestMatchLabelsTargets(t *testing.T) {
	e := setup(t, "rcv-labels")
	path := e.receiver(t, "g", "generic", "    - kind: GitRepository\n      name: '*'\n      matchLabels: {team: web}\n")
	if got := e.post(t, path, []byte("{}"), nil); got != http.StatusOK {
		t.Fatalf("status %d", got)
	}
	for name, want := range map[string]bool{"app": true, "labelled-a": true, "labelled-b": true, "other": false} {
		if got := e.requestedAt(t, name) != ""; got != want {
			t.Errorf("%s annotated = %v, want %v", name, got, want)
		}
	}
}

func decode(t *testing.T, u *unstructured.Unstructured) *notificationv1.Receiver {
	t.Helper()
	r := &notificationv1.Receiver{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestNoCrossNamespaceRefs: with Flux's --no-cross-namespace-refs a Receiver annotates its own
// namespace's targets only; one in another namespace is refused (500, as notification-controller).
func TestNoCrossNamespaceRefs(t *testing.T) {
	other := setup(t, "rcv-tenant-other")
	for _, locked := range []bool{true, false} {
		ns := fmt.Sprintf("rcv-tenant-%v", locked)
		e := setupHandler(t, ns, func(h *Handler) { h.NoCrossNamespaceRefs = locked })
		path := e.receiver(t, "g", "generic", "    - kind: GitRepository\n      name: other\n      namespace: rcv-tenant-other\n")
		code := e.post(t, path, []byte("{}"), nil)
		reached := other.requestedAt(t, "other") != ""
		if locked && (code != http.StatusInternalServerError || reached) {
			t.Errorf("locked: status %d, other namespace annotated = %v; want 500 and not annotated", code, reached)
		}
		if !locked && (code != http.StatusOK || !reached) {
			t.Errorf("not locked: status %d, other namespace annotated = %v; want 200 and annotated", code, reached)
		}
		if e.requestedAt(t, "app") == "" {
			t.Errorf("locked=%v: the Receiver's own target was not annotated", locked)
		}
	}
}
