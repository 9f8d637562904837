package agent

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/engine/helmrelease/helmtest"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

var (
	eaGVR  = schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "externalartifacts"}
	genGVR = schema.GroupVersionResource{Group: "source.extensions.fluxcd.io", Version: "v1beta1", Resource: "artifactgenerators"}
	// helmRepoGVR is the HelmRepository resource.
	helmRepoGVR = schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "helmrepositories"}
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
	gitFirst := artifactDigest(t, get(t, gitGVR, ns, "repo"))
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

	// A third apps revision: the store keeps the current artifact and the previous one of each source
	// (Flux's retention), so the first apps artifact and the first Git checkout are collected.
	secondAppsRev, _ := eaRevision(t, ns, "apps-staging")
	third := repo.Commit("apps again", map[string]*string{"apps/staging/kustomization.yaml": monorepoFiles(ns, "staging", "staging-three", "platform")["apps/staging/kustomization.yaml"]})
	requestReconcile(t, gitGVR, ns, "repo")
	eventually(t, "the third apps artifact applied", func() (bool, string) {
		rev, _ := eaRevision(t, ns, "apps-staging")
		ok, state := ksReadyAt(t, ns, "apps", rev)()
		return rev != secondAppsRev && ok && cmValue(t, ns, "app") == "staging-three", state
	})
	thirdAppsRev, _ := eaRevision(t, ns, "apps-staging")
	if got := artifactRevision(get(t, gitGVR, ns, "repo")); got != "main@sha1:"+third {
		t.Fatalf("GitRepository at %s, want the third commit", got)
	}
	stored := storedObjects(t, a.opts.Store)
	for what, rev := range map[string]string{"first apps artifact": appsRev, "first Git artifact": gitFirst} {
		if stored[digestHex(rev)] {
			t.Errorf("%s %s still stored after two newer revisions", what, rev)
		}
	}
	for what, rev := range map[string]string{"current apps artifact": thirdAppsRev, "previous apps artifact": secondAppsRev, "infrastructure": infraRev} {
		if !stored[digestHex(rev)] {
			t.Errorf("%s %s not stored", what, rev)
		}
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
	// ... and so are its stored artifacts.
	eventually(t, "apps-staging's artifacts removed from the store", func() (bool, string) {
		cur, _ := a.opts.Store.Current(source.Ref{Kind: "ExternalArtifact", Namespace: ns, Name: "apps-staging"})
		stored := storedObjects(t, a.opts.Store)
		return cur == nil && !stored[digestHex(thirdAppsRev)] && !stored[digestHex(secondAppsRev)],
			fmt.Sprintf("current %v, stored %v", cur, stored)
	})

	// Deleting the generator (finalizer) deletes its ExternalArtifacts and their stored artifacts;
	// deleting the GitRepository removes its artifacts too.
	if err := clients.Dynamic.Resource(ksGVR).Namespace(ns).Delete(context.Background(), "infrastructure", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := clients.Dynamic.Resource(genGVR).Namespace(ns).Delete(context.Background(), "monorepo", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "generator, its ExternalArtifact and its artifact gone", func() (bool, string) {
		rev, _ := eaRevision(t, ns, "infrastructure")
		cur, _ := a.opts.Store.Current(source.Ref{Kind: "ExternalArtifact", Namespace: ns, Name: "infrastructure"})
		stored := storedObjects(t, a.opts.Store)
		return get(t, genGVR, ns, "monorepo") == nil && rev == "" && cur == nil && !stored[digestHex(infraRev)],
			fmt.Sprintf("infrastructure %q, store current %v, stored %v", rev, cur, stored)
	})
	gitNow := artifactDigest(t, get(t, gitGVR, ns, "repo"))
	if err := clients.Dynamic.Resource(gitGVR).Namespace(ns).Delete(context.Background(), "repo", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the GitRepository's artifacts removed from the store", func() (bool, string) {
		cur, _ := a.opts.Store.Current(source.Ref{Kind: "GitRepository", Namespace: ns, Name: "repo"})
		stored := storedObjects(t, a.opts.Store)
		return cur == nil && !stored[digestHex(gitNow)], fmt.Sprintf("current %v, stored %v", cur, stored)
	})
}

// storedObjects returns the hex digests of the artifact folders in the store.
func storedObjects(t *testing.T, s *source.Store) map[string]bool {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(s.Root, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() {
			out[e.Name()] = true
		}
	}
	return out
}

// digestHex returns the hex of a "sha256:<hex>" digest or a "latest@sha256:<hex>" revision.
func digestHex(s string) string {
	return s[strings.LastIndex(s, ":")+1:]
}

func artifactDigest(t *testing.T, u *unstructured.Unstructured) string {
	t.Helper()
	d, _, _ := unstructured.NestedString(u.Object, "status", "artifact", "digest")
	if d == "" {
		t.Fatalf("%s %s has no artifact digest", u.GetKind(), u.GetName())
	}
	return d
}

// TestAgentArtifactGeneratorHelmChart: a HelmChart as a generator source. The chart is fetched through
// the HelmChart's spec from a real chart repository and its archive unpacked as the source's files
// (under the chart's name, as Helm packages it); a new chart version in the repository's index gives
// a new artifact once the HelmRepository is reconciled. A HelmChart that does not exist leaves the
// generator not Ready, saying so.
func TestAgentArtifactGeneratorHelmChart(t *testing.T) {
	ns := "generator-chart"
	namespace(t, ns)
	charts := helmtest.NewRepository(t)
	archives := map[string][]byte{}
	publish := func(versions ...string) {
		published := map[string][]byte{}
		for _, v := range versions {
			if archives[v] == nil {
				archives[v] = helmtest.Package(t, helmtest.ChartDir("simple"), func(c *chart.Chart) { c.Metadata.Version = v })
			}
			published[v] = archives[v]
		}
		charts.Publish(t, "simple", published)
	}
	publish("0.1.0")

	var handler atomic.Pointer[http.Handler]
	artifacts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*handler.Load()).ServeHTTP(w, r) }))
	defer artifacts.Close()
	a, _ := startAgent(t, Options{ArtifactBaseURL: artifacts.URL + "/artifacts"})
	h := Handler(&Probes{}, nil, a.opts.Store)
	handler.Store(&h)

	docs := fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {name: charts, namespace: %[1]s}
spec: {interval: 1h, url: %[2]q}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmChart
metadata: {name: simple, namespace: %[1]s}
spec:
  interval: 1h
  chart: simple
  version: "*"
  sourceRef: {kind: HelmRepository, name: charts}
---
apiVersion: source.extensions.fluxcd.io/v1beta1
kind: ArtifactGenerator
metadata: {name: chart, namespace: %[1]s}
spec:
  sources:
    - {alias: chart, kind: HelmChart, name: simple}
  artifacts:
    - name: simple-chart
      originRevision: "@chart"
      copy:
        - {from: "@chart/simple/**", to: "@artifact/"}
---
apiVersion: source.extensions.fluxcd.io/v1beta1
kind: ArtifactGenerator
metadata: {name: missing, namespace: %[1]s}
spec:
  sources:
    - {alias: chart, kind: HelmChart, name: nothing-here}
  artifacts:
    - name: nothing
      copy:
        - {from: "@chart/**", to: "@artifact/"}
`, ns, charts.URL)
	for _, doc := range strings.Split(docs, "\n---\n") {
		cluster.ApplyYAML(t, doc)
	}

	// chartVersion downloads the ExternalArtifact's artifact and returns the version in its Chart.yaml.
	chartVersion := func() (revision, version string) {
		ea := get(t, eaGVR, ns, "simple-chart")
		if ea == nil {
			return "", ""
		}
		art, _, _ := unstructured.NestedMap(ea.Object, "status", "artifact")
		if art == nil {
			return "", ""
		}
		resp, err := http.Get(art["url"].(string))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		dir := t.TempDir()
		if resp.StatusCode != 200 {
			return "", resp.Status
		}
		if err := source.ExtractTarGz(resp.Body, dir, source.ExtractOptions{}); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
		if err != nil {
			return art["revision"].(string), "no Chart.yaml at the top: " + err.Error()
		}
		var md chart.Metadata
		if err := yaml.Unmarshal(data, &md); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, "templates", "configmap.yaml")); err != nil {
			return art["revision"].(string), "templates missing"
		}
		meta, _ := art["metadata"].(map[string]any)
		return art["revision"].(string), md.Version + " origin " + fmt.Sprint(meta["org.opencontainers.image.revision"])
	}
	var first string
	eventually(t, "the chart artifact generated", func() (bool, string) {
		rev, version := chartVersion()
		first = rev
		st, reason, msg := condition(get(t, genGVR, ns, "chart"), "Ready")
		return version == "0.1.0 origin 0.1.0", fmt.Sprintf("%s %s; generator %s %s %s", rev, version, st, reason, msg)
	})
	if !strings.HasPrefix(first, "latest@sha256:") {
		t.Errorf("revision %q", first)
	}

	publish("0.1.0", "0.2.0")
	requestReconcile(t, helmRepoGVR, ns, "charts")
	eventually(t, "the new chart version generated", func() (bool, string) {
		rev, version := chartVersion()
		return rev != first && version == "0.2.0 origin 0.2.0", rev + " " + version
	})

	eventually(t, "a missing HelmChart reported", func() (bool, string) {
		st, reason, msg := condition(get(t, genGVR, ns, "missing"), "Ready")
		return st == "False" && reason == "SourceFetchFailed" && strings.Contains(msg, "HelmChart '"+ns+"/nothing-here' not found"), st + " " + reason + " " + msg
	})
}

// TestAgentArtifactGeneratorPathPattern: with spec.pathPattern, one ExternalArtifact per matching
// folder, labelled with the captures; a folder added in a commit adds its artifact, a folder removed
// deletes its artifact.
func TestAgentArtifactGeneratorPathPattern(t *testing.T) {
	ns := "generator-pattern"
	namespace(t, ns)
	srv := sourcetest.StartGitServer(t)
	repo := srv.NewRepo(t, "apps")
	repo.Commit("two apps", map[string]*string{
		"apps/web/cm.yaml": configMap("web", ns, "web"),
		"apps/API/cm.yaml": configMap("api", ns, "api"),
	})
	startAgent(t, Options{ArtifactBaseURL: "http://localhost/artifacts"})
	cluster.ApplyYAML(t, gitRepository(ns, "repo", repo.URL))
	cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: source.extensions.fluxcd.io/v1beta1
kind: ArtifactGenerator
metadata: {name: apps, namespace: %s}
spec:
  commonMetadata:
    labels: {team: platform}
  sources:
    - {alias: repo, kind: GitRepository, name: repo}
  pathPattern: "@repo/apps/{app}"
  artifacts:
    - name: "app-{app}"
      copy:
        - {from: "@repo/apps/{app}/**", to: "@artifact/"}
`, ns))
	artifacts := func() string {
		clients, _ := kube.New(cluster.Config)
		list, err := clients.Dynamic.Resource(eaGVR).Namespace(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, u := range list.Items {
			rev, _, _ := unstructured.NestedString(u.Object, "status", "artifact", "revision")
			if rev == "" {
				continue
			}
			out = append(out, fmt.Sprintf("%s[app=%s,team=%s]", u.GetName(), u.GetLabels()["app"], u.GetLabels()["team"]))
		}
		return strings.Join(out, " ")
	}
	eventually(t, "one artifact per folder", func() (bool, string) {
		got := artifacts()
		return got == "app-api[app=api,team=platform] app-web[app=web,team=platform]", got
	})
	repo.Commit("db in, web out", map[string]*string{"apps/db/cm.yaml": configMap("db", ns, "db"), "apps/web/cm.yaml": nil})
	requestReconcile(t, gitGVR, ns, "repo")
	eventually(t, "db added, web deleted", func() (bool, string) {
		got := artifacts()
		inv, _, _ := unstructured.NestedSlice(get(t, genGVR, ns, "apps").Object, "status", "inventory")
		return got == "app-api[app=api,team=platform] app-db[app=db,team=platform]" && len(inv) == 2, fmt.Sprintf("%s; inventory %v", got, inv)
	})
}
