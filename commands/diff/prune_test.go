package diff

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/driver"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/reconcile"
	"github.com/converge-gitops/converge/engine/source/git"
	"github.com/converge-gitops/converge/engine/workspace"
)

// pruneOptions are apply's options for the tree at root/clusters/prune (its root is not pointed at by
// any Kustomization: it is named flux-system/flux-system, as bootstrap's).
func pruneOptions(root, cache string) driver.Options {
	return driver.Options{Workspace: workspace.Options{Path: filepath.Join(root, "clusters/prune"), Root: root, CacheDir: cache},
		Clock: clock.RealClock{}, Revision: func(*git.WorkTree) string { return "main@sha1:0123456789012345678901234567890123456789" },
		Clients: func() (*kube.Clients, error) { return kube.New(cluster.Config) }, InstallCRDs: true}
}

// diffDeletions runs diff -o json and returns the objects it predicts deleted.
func diffDeletions(t *testing.T, root string) []string {
	t.Helper()
	ios, _, out, errOut := cmdutil.Test()
	opts := &Options{IO: ios, Options: pruneOptions(root, t.TempDir()), Output: cmdutil.OutputJSON}
	if code := cmdutil.ExitCode(opts.Run(context.Background()), errOut); code > 1 {
		t.Fatalf("diff: exit %d\n%s\n%s", code, out, errOut)
	}
	var res struct {
		Changes []struct{ Subject, Action string }
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	deleted := []string{}
	for _, c := range res.Changes {
		if c.Action == "deleted" {
			deleted = append(deleted, c.Subject)
		}
	}
	slices.Sort(deleted)
	return deleted
}

// applyDeletions applies the tree as apply does and returns the objects it deleted.
func applyDeletions(t *testing.T, root string) []string {
	t.Helper()
	results, err := applyTree(context.Background(), pruneOptions(root, t.TempDir()))
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	deleted := []string{}
	for _, r := range results {
		if r.Kustomization == nil {
			continue
		}
		for _, e := range r.Kustomization.ChangeSet.Entries {
			if e.Action == "deleted" {
				deleted = append(deleted, e.Subject)
			}
		}
	}
	slices.Sort(deleted)
	return deleted
}

// TestDiffPredictsApplyPrune: what diff says prune deletes is what apply then deletes, for a tree pointed
// at by a Kustomization with an inventory, a tree no Kustomization points at while flux-system's inventory
// is in the cluster (bootstrap's), prune: false, and kustomize.toolkit.fluxcd.io/prune: disabled.
func TestDiffPredictsApplyPrune(t *testing.T) {
	ctx := context.Background()
	for _, ns := range []string{"flux-system", "prune-test"} {
		if _, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	configMap := func(name, annotations string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n  namespace: prune-test\n" + annotations + "data:\n  a: b\n"
	}
	kustomization := func(name, prune string) string {
		return "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: " + name + "\n  namespace: flux-system\nspec:\n" +
			"  interval: 10m\n  path: ./" + name + "\n  prune: " + prune + "\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n"
	}
	disabled := "  annotations:\n    kustomize.toolkit.fluxcd.io/prune: disabled\n"

	for _, tt := range []struct {
		name string
		// before and after are the files of the tree (relative to the repository) applied first, then diffed
		// and applied.
		before, after map[string]string
		// bootstrapped gives flux-system/flux-system an inventory holding ConfigMap prune-test/bootstrapped.
		bootstrapped bool
		want         []string
	}{
		{
			name: "an object removed from a Kustomization that prunes",
			before: map[string]string{"clusters/prune/ks.yaml": kustomization("prune-a", "true"),
				"prune-a/cms.yaml": configMap("a1", "") + "---\n" + configMap("a2", "")},
			after: map[string]string{"clusters/prune/ks.yaml": kustomization("prune-a", "true"), "prune-a/cms.yaml": configMap("a1", "")},
			want:  []string{"ConfigMap/prune-test/a2"},
		},
		{
			name:         "a tree no Kustomization points at, flux-system's inventory in the cluster",
			before:       map[string]string{"clusters/prune/cm.yaml": configMap("b1", "")},
			after:        map[string]string{"clusters/prune/cm.yaml": configMap("b2", "")},
			bootstrapped: true,
			want:         []string{},
		},
		{
			name: "prune: false",
			before: map[string]string{"clusters/prune/ks.yaml": kustomization("prune-c", "false"),
				"prune-c/cms.yaml": configMap("c1", "") + "---\n" + configMap("c2", "")},
			after: map[string]string{"clusters/prune/ks.yaml": kustomization("prune-c", "false"), "prune-c/cms.yaml": configMap("c1", "")},
			want:  []string{},
		},
		{
			name: "prune disabled by annotation",
			before: map[string]string{"clusters/prune/ks.yaml": kustomization("prune-d", "true"),
				"prune-d/cms.yaml": configMap("d1", "") + "---\n" + configMap("d2", disabled) + "---\n" + configMap("d3", "")},
			after: map[string]string{"clusters/prune/ks.yaml": kustomization("prune-d", "true"), "prune-d/cms.yaml": configMap("d1", "")},
			want:  []string{"ConfigMap/prune-test/d3"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for p, content := range tt.before {
				writeFile(t, filepath.Join(root, p), content)
			}
			if got := applyDeletions(t, root); len(got) != 0 {
				t.Fatalf("first apply deleted %v", got)
			}
			if tt.bootstrapped {
				bootstrap(t, ctx)
			}
			for p := range tt.before {
				if _, ok := tt.after[p]; !ok {
					t.Fatalf("the test removes %s: write it empty instead", p)
				}
			}
			for p, content := range tt.after {
				writeFile(t, filepath.Join(root, p), content)
			}
			predicted := diffDeletions(t, root)
			actual := applyDeletions(t, root)
			if !slices.Equal(predicted, actual) {
				t.Errorf("diff predicted deleting %v, apply deleted %v", predicted, actual)
			}
			if !slices.Equal(actual, tt.want) {
				t.Errorf("apply deleted %v, want %v", actual, tt.want)
			}
		})
	}
}

// bootstrap gives the Kustomization flux-system/flux-system (created when missing, prune: true) an
// inventory holding an existing ConfigMap no tree of the test has, as a bootstrapped cluster's holds its
// CRDs and agent; the status (or the object) is restored when the test ends.
func bootstrap(t *testing.T, ctx context.Context) {
	t.Helper()
	if _, err := cluster.Client.CoreV1().ConfigMaps("prune-test").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "bootstrapped", Namespace: "prune-test"}},
		metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	clients, err := kube.New(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	kss := clients.Dynamic.Resource(reconcile.KustomizationsResource).Namespace("flux-system")
	live, err := kss.Get(ctx, "flux-system", metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
			"metadata": map[string]any{"name": "flux-system", "namespace": "flux-system"},
			"spec": map[string]any{"interval": "10m", "path": "./clusters/elsewhere", "prune": true,
				"sourceRef": map[string]any{"kind": "GitRepository", "name": "flux-system"}},
		}}
		if live, err = kss.Create(ctx, obj, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = kss.Delete(context.Background(), "flux-system", metav1.DeleteOptions{}) })
	case err != nil:
		t.Fatal(err)
	default:
		saved := live.DeepCopy()
		t.Cleanup(func() {
			cur, err := kss.Get(context.Background(), "flux-system", metav1.GetOptions{})
			if err != nil {
				return
			}
			cur.Object["status"] = saved.Object["status"]
			if _, err := kss.UpdateStatus(context.Background(), cur, metav1.UpdateOptions{}); err != nil {
				t.Errorf("restoring flux-system's status: %v", err)
			}
		})
	}
	if prune, _, _ := unstructured.NestedBool(live.Object, "spec", "prune"); !prune {
		t.Fatalf("flux-system/flux-system does not prune")
	}
	entries, _, _ := unstructured.NestedSlice(live.Object, "status", "inventory", "entries")
	entries = append(entries, map[string]any{"id": "prune-test_bootstrapped__ConfigMap", "v": "v1"})
	if err := unstructured.SetNestedSlice(live.Object, entries, "status", "inventory", "entries"); err != nil {
		t.Fatal(err)
	}
	if _, err := kss.UpdateStatus(ctx, live, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, path, content)
}
