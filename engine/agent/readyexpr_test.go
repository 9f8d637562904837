package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// A dependsOn readyExpr decides instead of the dependency's Ready condition: with the dependency Ready
// but the expression false (an annotation), the dependant waits; once the annotation is set it is
// applied. An expression that does not compile stalls the dependant until its spec is fixed.
func TestAgentDependsOnReadyExpr(t *testing.T) {
	ns := "readyexpr"
	namespace(t, ns)
	srv := sourcetest.StartGitServer(t)
	repo := srv.NewRepo(t, "readyexpr")
	rev := "main@sha1:" + repo.Commit("first", map[string]*string{
		"backend/cm.yaml":  configMap("backend", ns, "one"),
		"frontend/cm.yaml": configMap("frontend", ns, "one"),
	})
	startAgent(t, Options{DependencyRequeue: 300 * time.Millisecond})
	cluster.ApplyYAML(t, gitRepository(ns, "repo", repo.URL))
	cluster.ApplyYAML(t, kustomization(ns, "backend", "./backend", ""))
	eventually(t, "backend ready", ksReadyAt(t, ns, "backend", rev))

	frontend := func(expr string) string {
		return kustomization(ns, "frontend", "./frontend", "  dependsOn:\n    - name: backend\n      readyExpr: "+expr+"\n")
	}
	cluster.ApplyYAML(t, frontend(`"dep.metadata.?annotations['example.com/migrated'].orValue('') == self.metadata.name"`))
	eventually(t, "frontend waiting on the readyExpr", func() (bool, string) {
		st, reason, msg := condition(get(t, ksGVR, ns, "frontend"), "Ready")
		return st == "False" && reason == "DependencyNotReady" &&
			strings.Contains(msg, "dependency 'readyexpr/backend' is not ready according to readyExpr eval"), st + " " + reason + " " + msg
	})
	time.Sleep(time.Second) // a few dependency retries
	if v := cmValue(t, ns, "frontend"); v != "<missing>" {
		t.Fatalf("frontend applied while its readyExpr was false: %q", v)
	}
	if st, reason, _ := condition(get(t, ksGVR, ns, "frontend"), "Reconciling"); st != "True" || reason != "ProgressingWithRetry" {
		t.Errorf("waiting frontend: Reconciling %s %s", st, reason)
	}

	// Metadata only: no new generation, backend is not reconciled; the dependant's retry sees it.
	clients, err := kube.New(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	patch := `{"metadata":{"annotations":{"example.com/migrated":"frontend"}}}`
	if _, err := clients.Dynamic.Resource(ksGVR).Namespace(ns).Patch(context.Background(), "backend", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "frontend applied once the readyExpr holds", ksReadyAt(t, ns, "frontend", rev))
	if v := cmValue(t, ns, "frontend"); v != "one" {
		t.Fatalf("frontend ConfigMap %q", v)
	}

	cluster.ApplyYAML(t, frontend(`"dep.metadata.name =="`))
	eventually(t, "frontend stalled on an invalid readyExpr", func() (bool, string) {
		u := get(t, ksGVR, ns, "frontend")
		st, reason, msg := condition(u, "Ready")
		stalled, _, _ := condition(u, "Stalled")
		return st == "False" && reason == "InvalidCELExpression" && stalled == "True" &&
			strings.Contains(msg, "Kustomization readyexpr/frontend: spec.dependsOn[0] (readyexpr/backend): readyExpr") &&
			strings.Contains(msg, "Syntax error"), st + " " + reason + " " + msg
	})
	cluster.ApplyYAML(t, frontend(`"true"`))
	eventually(t, "frontend ready after the fix", func() (bool, string) {
		u := get(t, ksGVR, ns, "frontend")
		ready, _, msg := condition(u, "Ready")
		stalled, _, _ := condition(u, "Stalled")
		return ready == "True" && stalled == "", ready + " " + msg + " stalled=" + stalled
	})
}
