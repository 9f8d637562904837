package agent

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

var (
	eaGVR  = schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "externalartifacts"}
	genGVR = schema.GroupVersionResource{Group: "source.extensions.fluxcd.io", Version: "v1beta1", Resource: "artifactgenerators"}
)

func monorepoFiles(ns, env, appValue, platformValue string) map[string]*string {
	return map[string]*string{
		"infrastructure/platform.yaml": configMap("platform", ns, platformValue),
		"apps/base/kustomization.yaml": sourcetest.Str("resources:\n  - app.yaml\n"),
		"apps/base/app.yaml":           configMap("app", ns, "base"),
		"apps/" + env + "/kustomization.yaml": sourcetest.Str(fmt.Sprintf(
			"resources:\n  - ../base\npatches:\n  - patch: |\n      apiVersion: v1\n      kind: ConfigMap\n      metadata: {name: app, namespace: %s}\n      data: {value: %q}\n", ns, appValue)),
	}
}

func eaRevision(t *testing.T, ns, name string) (revision, resourceVersion string) {
	u := get(t, eaGVR, ns, name)
	if u == nil {
		return "", ""
	}
	r, _, _ := unstructured.NestedString(u.Object, "status", "artifact", "revision")
	return r, u.GetResourceVersion()
}

// TestAgentArtifactGenerator: a Git repository sliced by an ArtifactGenerator into an infrastructure and
// an apps artifact, each applied by a Kustomization (apps dependsOn infrastructure). A commit touching
// only the apps side gives apps a new revision; infrastructure keeps its revision, and neither its
// ExternalArtifact nor its Kustomization is written. An artifact dropped from the spec is deleted.
func TestAgentArtifactGenerator(t *testing.T) {
	ns := "generator"
	namespace(t, ns)
	srv := sourcetest.StartGitServer(t)
	repo := srv.NewRepo(t, "monorepo")
	first := repo.Commit("first", monorepoFiles(ns, "staging", "staging-one", "platform"))

	// The agent's artifact server, so status.artifact.url can be downloaded.
	var handler atomic.Pointer[http.Handler]
	artifacts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*handler.Load()).ServeHTTP(w, r) }))
	defer artifacts.Close()
	a, _ := startAgent(t, Options{ArtifactBaseURL: artifacts.URL + "/artifacts"})
	h := Handler(&Probes{}, nil, a.opts.Store)
	handler.Store(&h)

	cluster.ApplyYAML(t, gitRepository(ns, "repo", repo.URL))
	docs := fmt.Sprintf(`apiVersion: source.extensions.fluxcd.io/v1beta1
kind: ArtifactGenerator
metadata: {name: monorepo, namespace: %[1]s}
spec:
  commonMetadata:
    labels: {team: platform}
  sources:
    - {alias: repo, kind: GitRepository, name: repo}
  artifacts:
    - name: infrastructure
      originRevision: "@repo"
      copy:
        - {from: "@repo/infrastructure/**", to: "@artifact/"}
    - name: apps-staging
      originRevision: "@repo"
      copy:
        - {from: "@repo/apps/base/**", to: "@artifact/base/"}
        - {from: "@repo/apps/staging/**", to: "@artifact/staging/"}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: infrastructure, namespace: %[1]s}
spec:
  interval: 1h
  path: ./
  prune: true
  sourceRef: {kind: ExternalArtifact, name: infrastructure}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: %[1]s}
spec:
  interval: 1h
  path: ./staging
  prune: true
  dependsOn: [{name: infrastructure}]
  sourceRef: {kind: ExternalArtifact, name: apps-staging}
`, ns)
	for _, doc := range strings.Split(docs, "\n---\n") {
		cluster.ApplyYAML(t, doc)
	}

	eventually(t, "both artifacts generated", func() (bool, string) {
		infra, _ := eaRevision(t, ns, "infrastructure")
		apps, _ := eaRevision(t, ns, "apps-staging")
		st, reason, msg := condition(get(t, genGVR, ns, "monorepo"), "Ready")
		return infra != "" && apps != "", fmt.Sprintf("infra=%q apps=%q generator %s %s %s", infra, apps, st, reason, msg)
	})
	infraRev, _ := eaRevision(t, ns, "infrastructure")
	appsRev, _ := eaRevision(t, ns, "apps-staging")
	for _, rev := range []string{infraRev, appsRev} {
		if !strings.HasPrefix(rev, "latest@sha256:") {
			t.Errorf("revision %q, want latest@sha256:<hex>", rev)
		}
	}
	eventually(t, "infrastructure applied", ksReadyAt(t, ns, "infrastructure", infraRev))
	eventually(t, "apps applied after infrastructure", ksReadyAt(t, ns, "apps", appsRev))
	if v := cmValue(t, ns, "app"); v != "staging-one" {
		t.Fatalf("ConfigMap app = %q", v)
	}

	// The ExternalArtifact as source-watcher writes it, and its artifact served at its URL.
	gen := get(t, genGVR, ns, "monorepo")
	ea := get(t, eaGVR, ns, "infrastructure")
	labels := ea.GetLabels()
	if labels["source.extensions.fluxcd.io/generator"] != string(gen.GetUID()) || labels["app.kubernetes.io/managed-by"] != "source-watcher" || labels["team"] != "platform" {
		t.Errorf("labels = %v", labels)
	}
	if refs := ea.GetOwnerReferences(); len(refs) != 1 || refs[0].UID != gen.GetUID() || refs[0].Kind != "ArtifactGenerator" {
		t.Errorf("ownerReferences = %v", refs)
	}
	if ref, _, _ := unstructured.NestedStringMap(ea.Object, "spec", "sourceRef"); ref["kind"] != "ArtifactGenerator" || ref["name"] != "monorepo" || ref["namespace"] != ns ||
		ref["apiVersion"] != "source.extensions.fluxcd.io/v1beta1" {
		t.Errorf("spec.sourceRef = %v", ref)
	}
	if st, reason, _ := condition(ea, "Ready"); st != "True" || reason != "Succeeded" {
		t.Errorf("ExternalArtifact Ready = %s %s", st, reason)
	}
	art, _, _ := unstructured.NestedMap(ea.Object, "status", "artifact")
	md, _ := art["metadata"].(map[string]any)
	if md["org.opencontainers.image.revision"] != "main@sha1:"+first {
		t.Errorf("artifact metadata = %v, want the origin revision main@sha1:%s", md, first)
	}
	resp, err := http.Get(art["url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := fmt.Sprintf("sha256:%x", sha256.Sum256(body)); resp.StatusCode != 200 || got != art["digest"] || "latest@"+got != infraRev {
		t.Errorf("GET %s: %s, digest %s, status.artifact.digest %v, revision %s", art["url"], resp.Status, got, art["digest"], infraRev)
	}
	if st, reason, msg := condition(gen, "Ready"); st != "True" || reason != "Succeeded" || msg != "reconciliation succeeded, generated 2 artifact(s)" {
		t.Errorf("generator Ready = %s %s %s", st, reason, msg)
	}
	inv, _, _ := unstructured.NestedSlice(gen.Object, "status", "inventory")
	if digest, _, _ := unstructured.NestedString(gen.Object, "status", "observedSourcesDigest"); len(inv) != 2 || !strings.HasPrefix(digest, "sha256:") {
		t.Errorf("inventory %v, observedSourcesDigest %q", inv, digest)
	}
	if !strings.Contains(strings.Join(gen.GetFinalizers(), ","), "source.extensions.fluxcd.io/finalizer") {
		t.Errorf("generator finalizers = %v", gen.GetFinalizers())
	}

	// A commit touching the apps side only.
	_, infraEARV := eaRevision(t, ns, "infrastructure")
	infraKS := get(t, ksGVR, ns, "infrastructure")
	genRV := gen.GetResourceVersion()
	repo.Commit("apps only", map[string]*string{"apps/staging/kustomization.yaml": monorepoFiles(ns, "staging", "staging-two", "platform")["apps/staging/kustomization.yaml"]})
	start := time.Now()
	requestReconcile(t, gitGVR, ns, "repo")
	eventually(t, "the new apps artifact applied", func() (bool, string) {
		rev, _ := eaRevision(t, ns, "apps-staging")
		ok, state := ksReadyAt(t, ns, "apps", rev)()
		return rev != appsRev && ok && cmValue(t, ns, "app") == "staging-two", state
	})
	t.Logf("commit to applied apps artifact: %s", time.Since(start).Round(time.Millisecond))
	time.Sleep(time.Second) // let any stray reconciliation of infrastructure happen
	if rev, rv := eaRevision(t, ns, "infrastructure"); rev != infraRev || rv != infraEARV {
		t.Errorf("infrastructure ExternalArtifact went from %s (rv %s) to %s (rv %s) with unchanged content", infraRev, infraEARV, rev, rv)
	}
	ksNow := get(t, ksGVR, ns, "infrastructure")
	applied, _, _ := unstructured.NestedString(ksNow.Object, "status", "lastAppliedRevision")
	if applied != infraRev || ksNow.GetResourceVersion() != infraKS.GetResourceVersion() {
		t.Errorf("infrastructure Kustomization was reconciled: lastAppliedRevision %s (was %s), resourceVersion %s (was %s)",
			applied, infraRev, ksNow.GetResourceVersion(), infraKS.GetResourceVersion())
	}
	if get(t, genGVR, ns, "monorepo").GetResourceVersion() == genRV {
		t.Errorf("generator status not updated for the new sources")
	}

	// A reconcile request with nothing new writes only lastHandledReconcileAt.
	req := requestReconcile(t, genGVR, ns, "monorepo")
	eventually(t, "the request handled", func() (bool, string) {
		v, _, _ := unstructured.NestedString(get(t, genGVR, ns, "monorepo").Object, "status", "lastHandledReconcileAt")
		return v == req, v
	})
	if _, rv := eaRevision(t, ns, "infrastructure"); rv != infraEARV {
		t.Errorf("infrastructure ExternalArtifact rewritten by a request with nothing new")
	}

	// An artifact dropped from the spec is deleted; its inventory entry goes.
	clients, err := kube.New(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := clients.Dynamic.Resource(genGVR).Namespace(ns).Patch(context.Background(), "monorepo", types.JSONPatchType,
		[]byte(`[{"op":"remove","path":"/spec/artifacts/1"}]`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "apps-staging deleted", func() (bool, string) {
		rev, _ := eaRevision(t, ns, "apps-staging")
		inv, _, _ := unstructured.NestedSlice(get(t, genGVR, ns, "monorepo").Object, "status", "inventory")
		return rev == "" && len(inv) == 1, fmt.Sprintf("apps-staging %q, inventory %v", rev, inv)
	})
}
