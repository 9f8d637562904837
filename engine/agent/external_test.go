package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/source"
)

// TestAgentExternalArtifact: a Kustomization built from an ExternalArtifact another controller produces
// (its status.artifact served over HTTP) follows each new artifact revision.
func TestAgentExternalArtifact(t *testing.T) {
	ns := "external"
	namespace(t, ns)
	var mu sync.Mutex
	archives := map[string][]byte{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		data, ok := archives[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(data)
	}))
	defer srv.Close()
	eaGVR := schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "externalartifacts"}
	clients, err := kube.New(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	publish := func(value string) string {
		t.Helper()
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "cm.yaml"), []byte(*configMap("generated", ns, value)), 0o644); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := source.WriteTarGz(&buf, dir); err != nil {
			t.Fatal(err)
		}
		sum := fmt.Sprintf("%x", sha256.Sum256(buf.Bytes()))
		path := "/externalartifact/" + ns + "/apps/" + sum + ".tar.gz"
		mu.Lock()
		archives[path] = buf.Bytes()
		mu.Unlock()
		revision := "latest@sha256:" + sum
		status := fmt.Sprintf(`{"status":{"artifact":{"path":%q,"url":%q,"revision":%q,"digest":"sha256:%s","lastUpdateTime":%q}}}`,
			path, srv.URL+path, revision, sum, time.Now().UTC().Format(time.RFC3339))
		if _, err := clients.Dynamic.Resource(eaGVR).Namespace(ns).Patch(context.Background(), "apps", types.MergePatchType, []byte(status), metav1.PatchOptions{}, "status"); err != nil {
			t.Fatal(err)
		}
		return revision
	}
	cluster.ApplyYAML(t, fmt.Sprintf("apiVersion: source.toolkit.fluxcd.io/v1\nkind: ExternalArtifact\nmetadata: {name: apps, namespace: %s}\nspec: {}\n", ns))
	first := publish("one")
	startAgent(t, Options{})
	cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: %s}
spec:
  interval: 1h
  path: ./
  prune: true
  sourceRef: {kind: ExternalArtifact, name: apps}
`, ns))
	eventually(t, "the first artifact applied", ksReadyAt(t, ns, "apps", first))
	if v := cmValue(t, ns, "generated"); v != "one" {
		t.Fatalf("ConfigMap = %q", v)
	}
	second := publish("two")
	eventually(t, "the new artifact applied without a reconcile request", ksReadyAt(t, ns, "apps", second))
	if v := cmValue(t, ns, "generated"); v != "two" {
		t.Errorf("ConfigMap = %q", v)
	}
}
