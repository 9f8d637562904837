package agent

import (
	"context"
	"fmt"
	"os"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/converge-gitops/converge/engine/reconcile"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
	"github.com/converge-gitops/converge/engine/testenv"
)

// TestAgentWaitReleasesWorker: with one worker, a Kustomization waiting for the health of what it applied
// (a Deployment that never becomes Available here: no node runs its Pod) does not hold the worker, so another
// Kustomization is reconciled and Ready meanwhile; a Deployment with wait: true becomes Ready once
// kube-controller-manager reports it, read from the watch.
func TestAgentWaitReleasesWorker(t *testing.T) {
	ns := "wait"
	namespace(t, ns)
	srv := sourcetest.StartGitServer(t)
	repo := srv.NewRepo(t, "wait")
	rev := "main@sha1:" + repo.Commit("first", map[string]*string{
		// A Deployment that wants a Pod: the test control plane has no node, so it never becomes Available.
		"slow/deploy.yaml": sourcetest.Str(fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: never, namespace: %s}
spec:
  replicas: 1
  selector: {matchLabels: {app: never}}
  template:
    metadata: {labels: {app: never}}
    spec:
      containers: [{name: c, image: busybox}]
`, ns)),
		"fast/app.yaml": sourcetest.Str(testenv.FluxBenchmarkApp(ns, 0)),
	})
	cluster.ApplyYAML(t, gitRepository(ns, "repo", repo.URL))
	cluster.ApplyYAML(t, kustomization(ns, "slow", "./slow", "  wait: true\n  timeout: 10m\n"))
	startAgent(t, Options{Workers: 1, Namespace: ns})
	eventually(t, "slow waiting for health", func() (bool, string) {
		_, reason, msg := condition(get(t, ksGVR, ns, "slow"), "Reconciling")
		return reason == "Progressing", reason + " " + msg
	})
	cluster.ApplyYAML(t, kustomization(ns, "fast", "./fast", "  wait: true\n"))
	eventually(t, "fast Ready while slow waits", ksReadyAt(t, ns, "fast", rev))
	if st, reason, msg := condition(get(t, ksGVR, ns, "slow"), "Ready"); st != "Unknown" {
		t.Errorf("slow Ready %s %s %s, want Unknown (still waiting)", st, reason, msg)
	}
}

// TestAgentHelmReleaseWaitReleasesWorker: with one worker, a HelmRelease whose release waits for a
// Deployment that never becomes Available (no node runs its Pod) does not hold the worker: a
// Kustomization is reconciled and Ready meanwhile, and the HelmRelease is still not Ready.
func TestAgentHelmReleaseWaitReleasesWorker(t *testing.T) {
	ns := "helm-wait"
	namespace(t, ns)
	srv := sourcetest.StartGitServer(t)
	repo := srv.NewRepo(t, ns)
	files := map[string]*string{"fast/app.yaml": sourcetest.Str(testenv.FluxBenchmarkApp(ns, 0))}
	root := "../../testdata/helm-release/simple"
	for _, f := range []string{"Chart.yaml", "values.yaml", "templates/configmap.yaml", "templates/deployment.yaml", "templates/NOTES.txt"} {
		data, err := os.ReadFile(root + "/" + f)
		if err != nil {
			t.Fatal(err)
		}
		files["charts/simple/"+f] = sourcetest.Str(string(data))
	}
	rev := "main@sha1:" + repo.Commit("first", files)
	cluster.ApplyYAML(t, gitRepository(ns, "repo", repo.URL))
	cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: slow, namespace: %s}
spec:
  interval: 1h
  timeout: 10m
  chart:
    spec:
      chart: ./charts/simple
      sourceRef: {kind: GitRepository, name: repo}
  values: {replicas: 1}
`, ns))
	startAgent(t, Options{Workers: 1, Namespace: ns})
	eventually(t, "slow's release waiting for its Deployment", func() (bool, string) {
		secrets, err := cluster.Client.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm,name=slow,status=pending-install"})
		if err != nil {
			return false, err.Error()
		}
		return len(secrets.Items) == 1, fmt.Sprintf("%d pending-install release secrets", len(secrets.Items))
	})
	cluster.ApplyYAML(t, kustomization(ns, "fast", "./fast", "  wait: true\n"))
	eventually(t, "fast Ready while slow waits", ksReadyAt(t, ns, "fast", rev))
	if st, reason, msg := condition(get(t, reconcile.HelmReleasesResource, ns, "slow"), "Ready"); st == "True" {
		t.Errorf("slow Ready %s %s %s, want not Ready (still waiting)", st, reason, msg)
	}
}
