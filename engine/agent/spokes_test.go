package agent

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/converge-gitops/converge/engine/source/sourcetest"
	"github.com/converge-gitops/converge/engine/testenv"
)

// spokeKustomization is a Kustomization of the hub applying ./app to namespace target of the cluster
// the kubeconfig Secret secret reaches.
func spokeKustomization(ns, name, secret, target string) string {
	return kustomization(ns, name, "./app", fmt.Sprintf("  targetNamespace: %s\n  retryInterval: 2s\n  kubeConfig:\n    secretRef: {name: %s}\n", target, secret))
}

// kubeconfigSecret is the hub's Secret holding kubeconfig under the key "value", as Flux reads it.
func kubeconfigSecret(t testing.TB, ns, name string, kubeconfig []byte) {
	t.Helper()
	ctx := context.Background()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: map[string][]byte{"value": kubeconfig}}
	_, err := cluster.Client.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		_, err = cluster.Client.CoreV1().Secrets(ns).Update(ctx, s, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// spokeValue is data.value of ConfigMap ns/name on a spoke.
func spokeValue(t *testing.T, sp *testenv.Spoke, ns, name string) string {
	cm, err := sp.Client.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "<missing>"
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return cm.Data["value"]
}

// Hub and spoke: one agent applies Kustomizations with spec.kubeConfig to three spoke API servers. A
// spoke whose API server stops fails only its own Kustomization, saying why, while the others follow a
// new commit; when it returns, it catches up. A kubeconfig Secret pointed at another spoke sends the
// next reconciliation there (the cached clients are replaced).
func TestAgentSpokes(t *testing.T) {
	ctx := context.Background()
	spokes, err := testenv.StartSpokes(ctx, testenv.SpokeOptions{N: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := spokes.Stop(); err != nil {
			t.Error(err)
		}
	})
	ns := "hub"
	namespace(t, ns)
	srv := sourcetest.StartGitServer(t)
	repo := srv.NewRepo(t, "hub")
	first := repo.Commit("first", map[string]*string{"app/cm.yaml": sourcetest.Str("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  value: one\n")})
	for _, sp := range spokes.Servers {
		for i := range spokes.Servers {
			n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("apps-%d", i)}}
			if _, err := sp.Client.CoreV1().Namespaces().Create(ctx, n, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	startAgent(t, Options{})
	cluster.ApplyYAML(t, gitRepository(ns, "repo", repo.URL))
	for i, sp := range spokes.Servers {
		kubeconfigSecret(t, ns, sp.Name, sp.Kubeconfig)
		cluster.ApplyYAML(t, spokeKustomization(ns, sp.Name, sp.Name, fmt.Sprintf("apps-%d", i)))
	}
	for i, sp := range spokes.Servers {
		eventually(t, sp.Name+" applied", ksReadyAt(t, ns, sp.Name, "main@sha1:"+first))
		if v := spokeValue(t, sp, fmt.Sprintf("apps-%d", i), "app"); v != "one" {
			t.Fatalf("%s: ConfigMap apps-%d/app = %q, want one", sp.Name, i, v)
		}
	}

	// A HelmRelease with spec.kubeConfig installs on spoke-2 and keeps its release there. (The spokes
	// run no controller-manager, so nothing would report the chart's Deployment: no wait.)
	files := map[string]*string{}
	for _, f := range []string{"Chart.yaml", "values.yaml", "templates/configmap.yaml", "templates/deployment.yaml", "templates/NOTES.txt"} {
		data, err := os.ReadFile("../../testdata/helm-release/simple/" + f)
		if err != nil {
			t.Fatal(err)
		}
		files["charts/simple/"+f] = sourcetest.Str(string(data))
	}
	repo.Commit("chart", files)
	requestReconcile(t, gitGVR, ns, "repo")
	cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: web, namespace: %s}
spec:
  interval: 1h
  targetNamespace: apps-2
  storageNamespace: apps-2
  kubeConfig:
    secretRef: {name: %s}
  install: {disableWait: true}
  upgrade: {disableWait: true}
  chart:
    spec:
      chart: ./charts/simple
      sourceRef: {kind: GitRepository, name: repo}
  values: {message: from-hub}
`, ns, spokes.Servers[2].Name))
	hrGVR := schema.GroupVersionResource{Group: "helm.toolkit.fluxcd.io", Version: "v2", Resource: "helmreleases"}
	eventually(t, "the HelmRelease installed on spoke-2", func() (bool, string) {
		st, reason, msg := condition(get(t, hrGVR, ns, "web"), "Ready")
		cms, err := spokes.Servers[2].Client.CoreV1().ConfigMaps("apps-2").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		releases, err := spokes.Servers[2].Client.CoreV1().Secrets("apps-2").List(ctx, metav1.ListOptions{LabelSelector: "owner=helm"})
		if err != nil {
			return false, err.Error()
		}
		found := false
		for _, cm := range cms.Items {
			found = found || cm.Data["message"] == "from-hub"
		}
		return st == "True" && found && len(releases.Items) == 1, fmt.Sprintf("%s %s %s; chart ConfigMap on spoke-2: %t, releases %d", st, reason, msg, found, len(releases.Items))
	})
	if hubReleases, _ := cluster.Client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm"}); len(hubReleases.Items) != 0 {
		t.Errorf("%d release Secrets on the hub, want them on the spoke only", len(hubReleases.Items))
	}

	// spoke-0 goes down; a new commit reaches the others, spoke-0's Kustomization fails naming its server.
	down := spokes.Servers[0]
	if err := down.Stop(); err != nil {
		t.Fatal(err)
	}
	second := repo.Commit("second", map[string]*string{"app/cm.yaml": sourcetest.Str("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  value: two\n")})
	requestReconcile(t, gitGVR, ns, "repo")
	for i, sp := range spokes.Servers[1:] {
		eventually(t, sp.Name+" at the second commit while spoke-0 is down", ksReadyAt(t, ns, sp.Name, "main@sha1:"+second))
		if v := spokeValue(t, sp, fmt.Sprintf("apps-%d", i+1), "app"); v != "two" {
			t.Fatalf("%s: ConfigMap = %q, want two", sp.Name, v)
		}
	}
	host := strings.TrimSuffix(strings.TrimPrefix(down.Config.Host, "https://"), "/")
	eventually(t, "spoke-0's Kustomization failing with the cause", func() (bool, string) {
		u := get(t, ksGVR, ns, down.Name)
		st, reason, msg := condition(u, "Ready")
		attempted, _, _ := unstructured.NestedString(u.Object, "status", "lastAttemptedRevision")
		return st == "False" && attempted == "main@sha1:"+second && strings.Contains(msg, host) && strings.Contains(msg, "connection refused"),
			fmt.Sprintf("%s %s %s attempted=%s", st, reason, msg, attempted)
	})

	// spoke-0 returns: its Kustomization catches up on its retry interval.
	if err := down.Start(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "spoke-0 recovered", ksReadyAt(t, ns, down.Name, "main@sha1:"+second))
	if v := spokeValue(t, down, "apps-0", "app"); v != "two" {
		t.Fatalf("spoke-0: ConfigMap = %q after it returned, want two", v)
	}

	// spoke-1's Secret now reaches spoke-2: the next reconciliation applies there.
	kubeconfigSecret(t, ns, spokes.Servers[1].Name, spokes.Servers[2].Kubeconfig)
	requestReconcile(t, ksGVR, ns, spokes.Servers[1].Name)
	eventually(t, "spoke-1's Kustomization applied to spoke-2", func() (bool, string) {
		v := spokeValue(t, spokes.Servers[2], "apps-1", "app")
		return v == "two", v
	})
}
