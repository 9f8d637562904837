package agent

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/engine/events"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
	"github.com/converge-gitops/converge/engine/testenv"
)

var cluster *testenv.Cluster

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &cluster)) }

var (
	ksGVR  = schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}
	gitGVR = schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "gitrepositories"}
	cmGVR  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
)

func configMap(name, ns, value string) *string {
	return sourcetest.Str(fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s\ndata:\n  value: %q\n", name, ns, value))
}

// startAgent runs an agent against the test cluster until the test ends, with a new store unless
// opts.Store is set.
func startAgent(t *testing.T, opts Options) (*Agent, *Metrics) {
	t.Helper()
	clients, err := kube.New(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Store == nil {
		if opts.Store, err = source.OpenStore(t.TempDir()); err != nil {
			t.Fatal(err)
		}
	}
	opts.Clients = clients
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics()
	}
	if opts.Events == nil {
		opts.Events = &events.Kubernetes{Clock: clock.RealClock{}, Client: clients.Core, Host: "test"}
	}
	if opts.DependencyRequeue == 0 {
		opts.DependencyRequeue = time.Second
	}
	opts.ShutdownGrace = 5 * time.Second
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
	return a, opts.Metrics
}

func namespace(t testing.TB, name string) {
	t.Helper()
	_, err := cluster.Client.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func gitRepository(ns, name, url string) string {
	return fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: %s, namespace: %s}
spec:
  interval: 1h
  url: %s
  ref: {branch: main}
`, name, ns, url)
}

func kustomization(ns, name, path, extra string) string {
	return fmt.Sprintf(`apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: %s, namespace: %s}
spec:
  interval: 1h
  path: %s
  prune: true
  sourceRef: {kind: GitRepository, name: repo}
%s`, name, ns, path, extra)
}

func get(t *testing.T, gvr schema.GroupVersionResource, ns, name string) *unstructured.Unstructured {
	t.Helper()
	clients, _ := kube.New(cluster.Config)
	u, err := clients.Dynamic.Resource(gvr).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// eventually polls cond until it holds or a minute passes.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last state: %s", what, last)
}

func condition(u *unstructured.Unstructured, typ string) (status, reason, msg string) {
	if u == nil {
		return "", "", "object missing"
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m := c.(map[string]any)
		if m["type"] == typ {
			return m["status"].(string), m["reason"].(string), fmt.Sprint(m["message"])
		}
	}
	return "", "", "no " + typ + " condition"
}

func ksReadyAt(t *testing.T, ns, name, revision string) func() (bool, string) {
	return func() (bool, string) {
		u := get(t, ksGVR, ns, name)
		st, reason, msg := condition(u, "Ready")
		applied, _, _ := unstructured.NestedString(u.Object, "status", "lastAppliedRevision")
		return st == "True" && (revision == "" || applied == revision), fmt.Sprintf("%s %s %s applied=%s", st, reason, msg, applied)
	}
}

func cmValue(t *testing.T, ns, name string) string {
	u := get(t, cmGVR, ns, name)
	if u == nil {
		return "<missing>"
	}
	v, _, _ := unstructured.NestedString(u.Object, "data", "value")
	return v
}

func requestReconcile(t *testing.T, gvr schema.GroupVersionResource, ns, name string) string {
	t.Helper()
	clients, _ := kube.New(cluster.Config)
	v := time.Now().Format(time.RFC3339Nano)
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"reconcile.fluxcd.io/requestedAt":%q}}}`, v)
	if _, err := clients.Dynamic.Resource(gvr).Namespace(ns).Patch(context.Background(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestAgentFollowsGit(t *testing.T) {
	ns := "follow"
	namespace(t, ns)
	srv := sourcetest.StartGitServer(t)
	repo := srv.NewRepo(t, "follow")
	first := repo.Commit("first", map[string]*string{
		"apps/a.yaml": configMap("a", ns, "one"),
		"apps/b.yaml": configMap("b", ns, "one"),
	})
	_, metrics := startAgent(t, Options{})
	cluster.ApplyYAML(t, gitRepository(ns, "repo", repo.URL))
	cluster.ApplyYAML(t, kustomization(ns, "apps", "./apps", ""))

	eventually(t, "the first revision applied", ksReadyAt(t, ns, "apps", "main@sha1:"+first))
	if v := cmValue(t, ns, "a"); v != "one" {
		t.Fatalf("ConfigMap a = %q", v)
	}
	ks := get(t, ksGVR, ns, "apps")
	if !strings.Contains(strings.Join(ks.GetFinalizers(), ","), Finalizer) {
		t.Errorf("finalizers = %v, want %s", ks.GetFinalizers(), Finalizer)
	}
	gr := get(t, gitGVR, ns, "repo")
	if st, reason, msg := condition(gr, "Ready"); st != "True" || !strings.Contains(msg, first) {
		t.Errorf("GitRepository Ready = %s %s %s", st, reason, msg)
	}
	if url, _, _ := unstructured.NestedString(gr.Object, "status", "artifact", "url"); url == "" {
		t.Error("GitRepository status.artifact.url is empty")
	}

	// A new commit, picked up on a reconcile request to the source: a changes, b is pruned.
	second := repo.Commit("second", map[string]*string{"apps/a.yaml": configMap("a", ns, "two"), "apps/b.yaml": nil})
	req := requestReconcile(t, gitGVR, ns, "repo")
	eventually(t, "the second revision applied", ksReadyAt(t, ns, "apps", "main@sha1:"+second))
	if v := cmValue(t, ns, "a"); v != "two" {
		t.Errorf("ConfigMap a = %q after the second commit", v)
	}
	if v := cmValue(t, ns, "b"); v != "<missing>" {
		t.Errorf("ConfigMap b = %q, want it pruned", v)
	}
	handled, _, _ := unstructured.NestedString(get(t, gitGVR, ns, "repo").Object, "status", "lastHandledReconcileAt")
	if handled != req {
		t.Errorf("GitRepository lastHandledReconcileAt = %q, want %q", handled, req)
	}

	// Drift made by another writer is corrected on the next reconciliation.
	cluster.ApplyYAML(t, *configMap("a", ns, "tampered"))
	requestReconcile(t, ksGVR, ns, "apps")
	eventually(t, "drift corrected", func() (bool, string) { v := cmValue(t, ns, "a"); return v == "two", v })

	evs, err := cluster.Client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, e := range evs.Items {
		reasons = append(reasons, e.InvolvedObject.Kind+"/"+e.Reason)
	}
	for _, want := range []string{"Kustomization/ReconciliationSucceeded", "GitRepository/NewArtifact"} {
		if !strings.Contains(strings.Join(reasons, " "), want) {
			t.Errorf("events %v lack %s", reasons, want)
		}
	}

	// Metrics are served.
	h := httptest.NewServer(Handler(&Probes{}, metrics, nil))
	defer h.Close()
	resp, err := http.Get(h.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`converge_reconcile_duration_seconds_count{kind="Kustomization"}`,
		`converge_reconcile_condition{kind="Kustomization",name="apps",namespace="follow",status="True",type="Ready"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestAgentDependsOnSuspendAndDeletion(t *testing.T) {
	ns := "deps"
	namespace(t, ns)
	srv := sourcetest.StartGitServer(t)
	repo := srv.NewRepo(t, "deps")
	rev := "main@sha1:" + repo.Commit("first", map[string]*string{
		"base/cm.yaml":   configMap("base", ns, "one"),
		"app/cm.yaml":    configMap("app", ns, "one"),
		"orphan/cm.yaml": configMap("orphan", ns, "one"),
	})
	startAgent(t, Options{})
	cluster.ApplyYAML(t, gitRepository(ns, "repo", repo.URL))
	cluster.ApplyYAML(t, kustomization(ns, "app", "./app", "  dependsOn: [{name: base}]\n"))
	eventually(t, "app waiting for base", func() (bool, string) {
		st, reason, msg := condition(get(t, ksGVR, ns, "app"), "Ready")
		return st == "False" && reason == "DependencyNotReady", st + " " + reason + " " + msg
	})
	if v := cmValue(t, ns, "app"); v != "<missing>" {
		t.Fatalf("app applied before its dependency: %q", v)
	}
	cluster.ApplyYAML(t, kustomization(ns, "base", "./base", ""))
	eventually(t, "app applied after base", ksReadyAt(t, ns, "app", rev))

	// Suspended: a new revision is not applied.
	cluster.ApplyYAML(t, kustomization(ns, "app", "./app", "  dependsOn: [{name: base}]\n  suspend: true\n"))
	next := "main@sha1:" + repo.Commit("second", map[string]*string{"app/cm.yaml": configMap("app", ns, "two")})
	requestReconcile(t, gitGVR, ns, "repo")
	eventually(t, "the source at the new revision", func() (bool, string) {
		r, _, _ := unstructured.NestedString(get(t, gitGVR, ns, "repo").Object, "status", "artifact", "revision")
		return r == next, r
	})
	time.Sleep(time.Second)
	if v := cmValue(t, ns, "app"); v != "one" {
		t.Errorf("suspended Kustomization applied the new revision: %q", v)
	}
	cluster.ApplyYAML(t, kustomization(ns, "app", "./app", "  dependsOn: [{name: base}]\n  suspend: false\n"))
	eventually(t, "resumed", func() (bool, string) { v := cmValue(t, ns, "app"); return v == "two", v })

	// Deletion prunes (prune: true, default MirrorPrune); deletionPolicy Orphan keeps the objects.
	cluster.ApplyYAML(t, kustomization(ns, "orphan", "./orphan", "  deletionPolicy: Orphan\n"))
	eventually(t, "orphan applied", func() (bool, string) { v := cmValue(t, ns, "orphan"); return v == "one", v })
	eventually(t, "orphan has the finalizer", func() (bool, string) {
		f := get(t, ksGVR, ns, "orphan").GetFinalizers()
		return len(f) == 1, fmt.Sprint(f)
	})
	clients, _ := kube.New(cluster.Config)
	for _, name := range []string{"app", "orphan"} {
		if err := clients.Dynamic.Resource(ksGVR).Namespace(ns).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "Kustomizations gone", func() (bool, string) {
		return get(t, ksGVR, ns, "app") == nil && get(t, ksGVR, ns, "orphan") == nil, "still there"
	})
	if v := cmValue(t, ns, "app"); v != "<missing>" {
		t.Errorf("ConfigMap app = %q after its Kustomization was deleted, want pruned", v)
	}
	if v := cmValue(t, ns, "orphan"); v != "one" {
		t.Errorf("ConfigMap orphan = %q, want kept (deletionPolicy Orphan)", v)
	}
}

func TestAgentDetectDriftOnly(t *testing.T) {
	ns := "drift"
	namespace(t, ns)
	srv := sourcetest.StartGitServer(t)
	repo := srv.NewRepo(t, "drift")
	rev := "main@sha1:" + repo.Commit("first", map[string]*string{"apps/cm.yaml": configMap("watched", ns, "one")})
	startAgent(t, Options{})
	cluster.ApplyYAML(t, gitRepository(ns, "repo", repo.URL))
	cluster.ApplyYAML(t, strings.Replace(kustomization(ns, "apps", "./apps", ""), "metadata: {name: apps, namespace: drift}",
		"metadata:\n  name: apps\n  namespace: drift\n  annotations: {converge.io/drift-detection: warn}", 1))
	eventually(t, "applied", ksReadyAt(t, ns, "apps", rev))

	cluster.ApplyYAML(t, *configMap("watched", ns, "tampered"))
	requestReconcile(t, ksGVR, ns, "apps")
	eventually(t, "drift reported", func() (bool, string) {
		st, reason, msg := condition(get(t, ksGVR, ns, "apps"), "Drifted")
		return st == "True" && reason == "DriftDetected", st + " " + reason + " " + msg
	})
	if v := cmValue(t, ns, "watched"); v != "tampered" {
		t.Errorf("drift was corrected in warn mode: %q", v)
	}
	// A new revision is still applied.
	next := "main@sha1:" + repo.Commit("second", map[string]*string{"apps/cm.yaml": configMap("watched", ns, "two")})
	requestReconcile(t, gitGVR, ns, "repo")
	eventually(t, "new revision applied", ksReadyAt(t, ns, "apps", next))
	if v := cmValue(t, ns, "watched"); v != "two" {
		t.Errorf("ConfigMap = %q after a new revision in warn mode", v)
	}
}

func TestAgentHelmRelease(t *testing.T) {
	ns := "helm"
	namespace(t, ns)
	srv := sourcetest.StartGitServer(t)
	repo := srv.NewRepo(t, "charts")
	files := map[string]*string{}
	root := "../../testdata/helm-release/simple"
	for _, f := range []string{"Chart.yaml", "values.yaml", "templates/configmap.yaml", "templates/deployment.yaml", "templates/NOTES.txt"} {
		data, err := os.ReadFile(root + "/" + f)
		if err != nil {
			t.Fatal(err)
		}
		files["charts/simple/"+f] = sourcetest.Str(string(data))
	}
	repo.Commit("chart", files)
	startAgent(t, Options{})
	cluster.ApplyYAML(t, gitRepository(ns, "repo", repo.URL))
	hr := func(message string) string {
		return fmt.Sprintf(`apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: web, namespace: %s}
spec:
  interval: 1h
  chart:
    spec:
      chart: ./charts/simple
      sourceRef: {kind: GitRepository, name: repo}
  values: {message: %s}
`, ns, message)
	}
	hrGVR := schema.GroupVersionResource{Group: "helm.toolkit.fluxcd.io", Version: "v2", Resource: "helmreleases"}
	cluster.ApplyYAML(t, hr("first"))
	ready := func(want int) func() (bool, string) {
		return func() (bool, string) {
			u := get(t, hrGVR, ns, "web")
			st, reason, msg := condition(u, "Ready")
			secrets, _ := cluster.Client.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm,name=web"})
			return st == "True" && len(secrets.Items) == want, fmt.Sprintf("%s %s %s, %d release secrets", st, reason, msg, len(secrets.Items))
		}
	}
	eventually(t, "installed", ready(1))
	// A values change upgrades the release.
	cluster.ApplyYAML(t, hr("second"))
	eventually(t, "upgraded", ready(2))
	if f := get(t, hrGVR, ns, "web").GetFinalizers(); len(f) != 1 || f[0] != Finalizer {
		t.Errorf("finalizers = %v", f)
	}
	clients, _ := kube.New(cluster.Config)
	if err := clients.Dynamic.Resource(hrGVR).Namespace(ns).Delete(context.Background(), "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "uninstalled", func() (bool, string) {
		secrets, _ := cluster.Client.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm,name=web"})
		return get(t, hrGVR, ns, "web") == nil && len(secrets.Items) == 0, fmt.Sprintf("%d release secrets", len(secrets.Items))
	})
}

// TestAgentReconcilesOnInterval: without any request, a source is fetched again on its interval and the
// new commit is applied.
func TestAgentReconcilesOnInterval(t *testing.T) {
	ns := "interval"
	namespace(t, ns)
	srv := sourcetest.StartGitServer(t)
	repo := srv.NewRepo(t, "interval")
	first := "main@sha1:" + repo.Commit("first", map[string]*string{"apps/cm.yaml": configMap("ticking", ns, "one")})
	startAgent(t, Options{JitterPercent: 1})
	cluster.ApplyYAML(t, strings.Replace(gitRepository(ns, "repo", repo.URL), "interval: 1h", "interval: 2s", 1))
	cluster.ApplyYAML(t, kustomization(ns, "apps", "./apps", ""))
	eventually(t, "first commit applied", ksReadyAt(t, ns, "apps", first))
	next := "main@sha1:" + repo.Commit("second", map[string]*string{"apps/cm.yaml": configMap("ticking", ns, "two")})
	eventually(t, "second commit applied on the source's interval", ksReadyAt(t, ns, "apps", next))
	if v := cmValue(t, ns, "ticking"); v != "two" {
		t.Errorf("ConfigMap = %q", v)
	}
	if _, ok := get(t, gitGVR, ns, "repo").GetAnnotations()["reconcile.fluxcd.io/requestedAt"]; ok {
		t.Fatal("the test must not request a reconciliation")
	}
}
