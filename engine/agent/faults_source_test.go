package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/engine/source/oci"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

var ociGVR = schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "ocirepositories"}

// artifactServer serves the agent's stored artifacts at the URLs its sources' status.artifact.url name.
type artifactServer struct {
	*httptest.Server
	handler atomic.Pointer[http.Handler]
}

func startArtifactServer(t *testing.T) *artifactServer {
	s := &artifactServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*s.handler.Load()).ServeHTTP(w, r) }))
	t.Cleanup(s.Close)
	return s
}

func (s *artifactServer) serve(a *Agent) {
	h := Handler(&Probes{}, nil, a.opts.Store)
	s.handler.Store(&h)
}

// servedArtifact downloads the source's status.artifact.url and says whether its content has the status's
// digest; it returns the status's revision.
func servedArtifact(t *testing.T, gvr schema.GroupVersionResource, ns, name string) (revision string, served bool, state string) {
	t.Helper()
	u := get(t, gvr, ns, name)
	revision, _, _ = unstructured.NestedString(u.Object, "status", "artifact", "revision")
	url, _, _ := unstructured.NestedString(u.Object, "status", "artifact", "url")
	digest, _, _ := unstructured.NestedString(u.Object, "status", "artifact", "digest")
	if url == "" {
		return revision, false, "no status.artifact.url"
	}
	resp, err := http.Get(url)
	if err != nil {
		return revision, false, err.Error()
	}
	defer resp.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, resp.Body); err != nil {
		return revision, false, err.Error()
	}
	got := "sha256:" + hex.EncodeToString(h.Sum(nil))
	return revision, resp.StatusCode == http.StatusOK && got == digest, fmt.Sprintf("GET %s: %d, content %s, status digest %s", url, resp.StatusCode, got, digest)
}

// TestAgentSourceServerDown stops the real Git server, then the real registry, while the agent follows
// them: a reconcile during the outage fails with Ready=False and FetchFailed=True carrying Flux's reason and
// the cause (connection refused), the last artifact stays in status and is still served, the
// Kustomization built from it stays applied and Ready, and when the server is back the agent recovers by
// itself (no reconcile request) and applies the revision published meanwhile.
func TestAgentSourceServerDown(t *testing.T) {
	artifacts := startArtifactServer(t)
	a, _ := startAgent(t, Options{ArtifactBaseURL: artifacts.URL + "/artifacts"})
	artifacts.serve(a)

	type server struct {
		kind, reason string
		gvr          schema.GroupVersionResource
		// start starts the server with revision one published and returns the source's YAML and the
		// revision's name; publish publishes revision two (while the server is down when it can).
		start   func(t *testing.T, ns string) (yaml, revision string)
		publish func(t *testing.T, ns string) string
		stop    func()
		restart func(t *testing.T)
	}
	var git *sourcetest.GitServer
	var gitRepo *sourcetest.GitRepo
	var reg *sourcetest.Registry
	push := func(t *testing.T, ns, value string) string {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "cm.yaml"), []byte(*configMap("one", ns, value)), 0o644); err != nil {
			t.Fatal(err)
		}
		res, err := oci.Push(context.Background(), oci.PushOptions{Clock: clock.RealClock{}, URL: "oci://" + reg.Host + "/fault/app:latest",
			Path: dir, Source: "https://example.com/app.git", Revision: "main@sha1:" + strings.Repeat(value[:1], 40), Insecure: true})
		if err != nil {
			t.Fatal(err)
		}
		return "latest@" + res.Digest
	}
	servers := []server{
		{
			kind: "GitRepository", reason: "GitOperationFailed", gvr: gitGVR,
			start: func(t *testing.T, ns string) (string, string) {
				git = sourcetest.StartGitServer(t)
				gitRepo = git.NewRepo(t, "app")
				rev := gitRepo.Commit("one", map[string]*string{"cm.yaml": configMap("one", ns, "v1")})
				return gitRepository(ns, "src", gitRepo.URL), "main@sha1:" + rev
			},
			// A commit pushed while the Git server is down (to its disk).
			publish: func(t *testing.T, ns string) string {
				return "main@sha1:" + gitRepo.Commit("two", map[string]*string{"cm.yaml": configMap("one", ns, "v2")})
			},
			stop:    func() { git.Stop() },
			restart: func(t *testing.T) { git.Restart(t) },
		},
		{
			kind: "OCIRepository", reason: "OCIArtifactPullFailed", gvr: ociGVR,
			start: func(t *testing.T, ns string) (string, string) {
				reg = sourcetest.StartRegistry(t, "")
				rev := push(t, ns, "v1")
				return fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {name: src, namespace: %s}
spec:
  interval: 1h
  url: oci://%s/fault/app
  ref: {tag: latest}
  insecure: true
`, ns, reg.Host), rev
			},
			// Nothing can be pushed to a registry that is down: the new tag is pushed before the outage
			// and the agent only learns of it during or after it.
			publish: func(t *testing.T, ns string) string { return "" },
			stop:    func() { reg.Stop() },
			restart: func(t *testing.T) { reg.Restart(t) },
		},
	}
	for _, s := range servers {
		t.Run(s.kind, func(t *testing.T) {
			ns := "fault-" + strings.ToLower(s.kind)
			namespace(t, ns)
			srcYAML, first := s.start(t, ns)
			cluster.ApplyYAML(t, srcYAML)
			cluster.ApplyYAML(t, strings.Replace(kustomization(ns, "app", "./", ""), "{kind: GitRepository, name: repo}", "{kind: "+s.kind+", name: src}", 1))
			eventually(t, "revision one applied", ksReadyAt(t, ns, "app", first))

			second := ""
			if s.kind == "OCIRepository" {
				second = push(t, ns, "v2")
			}
			s.stop()
			if rev := s.publish(t, ns); rev != "" {
				second = rev
			}
			requestReconcile(t, s.gvr, ns, "src")
			eventually(t, "the source reports the outage", func() (bool, string) {
				u := get(t, s.gvr, ns, "src")
				st, reason, msg := condition(u, "Ready")
				fst, freason, _ := condition(u, "FetchFailed")
				return st == "False" && reason == s.reason && fst == "True" && freason == s.reason &&
					strings.Contains(msg, "connection refused"), st + " " + reason + " " + msg + " / FetchFailed " + fst + " " + freason
			})
			_, _, msg := condition(get(t, s.gvr, ns, "src"), "Ready")
			t.Logf("%s during the outage: Ready=False %s: %s", s.kind, s.reason, msg)
			if rev, served, state := servedArtifact(t, s.gvr, ns, "src"); rev != first || !served {
				t.Errorf("during the outage the last artifact is not kept and served: status revision %s (want %s); %s", rev, first, state)
			}
			if ok, state := ksReadyAt(t, ns, "app", first)(); !ok {
				t.Errorf("during the outage the Kustomization left revision one: %s", state)
			}
			if v := cmValue(t, ns, "one"); v != "v1" {
				t.Errorf("during the outage ConfigMap one = %q, want v1", v)
			}

			// Back up: the agent's retry (a doubling backoff from one second) fetches without a request.
			s.restart(t)
			eventually(t, "the source recovers by itself", func() (bool, string) {
				u := get(t, s.gvr, ns, "src")
				st, reason, msg := condition(u, "Ready")
				fst, _, _ := condition(u, "FetchFailed")
				return st == "True" && strings.Contains(msg, second) && fst == "", st + " " + reason + " " + msg
			})
			eventually(t, "revision two applied", ksReadyAt(t, ns, "app", second))
			if v := cmValue(t, ns, "one"); v != "v2" {
				t.Errorf("after the outage ConfigMap one = %q, want v2", v)
			}
			if rev, served, state := servedArtifact(t, s.gvr, ns, "src"); rev != second || !served {
				t.Errorf("after the outage the new artifact is not served: %s; %s", rev, state)
			}
		})
	}
}
