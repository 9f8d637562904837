package apply

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/commands/cmdutil"
	engineapply "github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/driver"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/reconcile"
	"github.com/converge-gitops/converge/engine/source/git"
	"github.com/converge-gitops/converge/engine/workspace"
)

// A Kustomization of the tree that dependsOn a Kustomization outside the tree waits for it as the agent
// does (Ready for its current generation): while it is not ready (or does not exist) nothing of the
// dependent is applied, its status says why (DependencyNotReady, the agent's message) and apply fails with
// that message when it gives up; once the dependency is Ready, the waiting apply applies the dependent.
func TestApplyWaitsForDependencyOutsideTheTree(t *testing.T) {
	ctx := context.Background()
	clients, err := kube.New(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	if err := driver.EnsureCRDs(ctx, true, clients, &engineapply.Manager{Client: clients.Dynamic, Mapper: clients.Mapper}); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"flux-system", "dep-wait"} {
		if _, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	kss := clients.Dynamic.Resource(reconcile.KustomizationsResource).Namespace("flux-system")
	external := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
		"metadata": map[string]any{"name": "dep-external", "namespace": "flux-system"},
		"spec": map[string]any{"interval": "10m", "path": "./elsewhere", "prune": true,
			"sourceRef": map[string]any{"kind": "GitRepository", "name": "flux-system"}},
	}}
	if _, err := kss.Create(ctx, external, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	rec := reconcile.NewKustomizations(clients, clock.RealClock{})
	waiterReady := func() string {
		ks, err := rec.Get(ctx, "flux-system", "dep-waiter")
		if err != nil || ks == nil {
			return ""
		}
		if c := apimeta.FindStatusCondition(ks.Status.Conditions, "Ready"); c != nil {
			return c.Reason + ": " + c.Message
		}
		return ""
	}
	configMap := func() bool {
		_, err := cluster.Client.CoreV1().ConfigMaps("dep-wait").Get(ctx, "waited", metav1.GetOptions{})
		return err == nil
	}

	for _, tt := range []struct {
		name, dependency, requeue, want string
		makeReady                       bool
	}{
		{name: "missing dependency", dependency: "dep-missing", requeue: "110ms",
			want: "Kustomization flux-system/dep-waiter: dependency 'flux-system/dep-missing' not found"},
		{name: "dependency not ready", dependency: "dep-external", requeue: "120ms",
			want: "Kustomization flux-system/dep-waiter: dependency 'flux-system/dep-external' is not ready"},
		{name: "dependency made ready while apply waits", dependency: "dep-external", requeue: "130ms", makeReady: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			writeFile(t, filepath.Join(root, "clusters/wait/waiter.yaml"), `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: dep-waiter
  namespace: flux-system
spec:
  interval: 10m
  path: ./waiter
  prune: true
  dependsOn:
    - name: `+tt.dependency+`
  sourceRef:
    kind: GitRepository
    name: flux-system
`)
			writeFile(t, filepath.Join(root, "waiter/configmap.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: waited\n  namespace: dep-wait\ndata:\n  a: b\n")
			requeue, err := time.ParseDuration(tt.requeue)
			if err != nil {
				t.Fatal(err)
			}
			ios, _, _, errOut := cmdutil.Test()
			opts := &Options{IO: ios, Output: cmdutil.OutputTable, NoNotify: true, Options: driver.Options{
				Workspace: workspace.Options{Path: filepath.Join(root, "clusters/wait"), Root: root, CacheDir: t.TempDir()},
				Clock:     clock.RealClock{}, Revision: func(*git.WorkTree) string { return "main@sha1:0123456789012345678901234567890123456789" },
				Clients: func() (*kube.Clients, error) { return kube.New(cluster.Config) }, DependencyRequeue: requeue}}
			runCtx, cancel := context.WithTimeout(ctx, 2*time.Minute) // a bound for a broken build, not a timing
			defer cancel()
			done := make(chan int, 1)
			go func() { done <- cmdutil.ExitCode(opts.Run(runCtx), errOut) }()

			// The apply is waiting once the dependent's status says so with this run's requeue interval.
			for !strings.Contains(waiterReady(), "retrying in "+tt.requeue) {
				select {
				case code := <-done:
					t.Fatalf("apply ended (%d) without waiting:\n%s", code, errOut)
				case <-time.After(50 * time.Millisecond):
				}
			}
			if configMap() {
				t.Fatal("the dependent's objects were applied before its dependency was ready")
			}
			if !tt.makeReady {
				cancel() // gives up, as at --timeout
				if code := <-done; code != 2 || !strings.Contains(errOut.String(), tt.want) {
					t.Fatalf("exit %d, want 2 and %q:\n%s", code, tt.want, errOut)
				}
				if got := waiterReady(); !strings.HasPrefix(got, "DependencyNotReady: "+strings.TrimPrefix(tt.want, "Kustomization flux-system/dep-waiter: ")) {
					t.Errorf("dep-waiter Ready: %s", got)
				}
				if configMap() {
					t.Error("the dependent's objects were applied")
				}
				return
			}
			live, err := kss.Get(ctx, "dep-external", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			status := map[string]any{"observedGeneration": live.GetGeneration(), "conditions": []any{map[string]any{
				"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded", "message": "Applied revision: elsewhere",
				"lastTransitionTime": time.Now().UTC().Format(time.RFC3339), "observedGeneration": live.GetGeneration()}}}
			if err := unstructured.SetNestedField(live.Object, status, "status"); err != nil {
				t.Fatal(err)
			}
			if _, err := kss.UpdateStatus(ctx, live, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			if code := <-done; code != 0 || !strings.Contains(errOut.String(), "Kustomization flux-system/dep-waiter reconciled") {
				t.Fatalf("exit %d, want the dependent applied:\n%s", code, errOut)
			}
			if !configMap() {
				t.Error("the dependent's ConfigMap is missing")
			}
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
