package agent

import (
	"fmt"
	"testing"

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
