package driver

import (
	"context"
	"fmt"
	"k8s.io/utils/clock"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/converge-gitops/converge/engine/build"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/source/git"
	"github.com/converge-gitops/converge/engine/testenv"
	"github.com/converge-gitops/converge/engine/workspace"
)

var cluster *testenv.Cluster

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &cluster)) }

// kustomization is a Kustomization of the test tree, in flux-system, applying the folder apps/<name>.
func kustomization(name string, dependsOn ...string) string {
	s := fmt.Sprintf(`apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: %s
  namespace: flux-system
spec:
  interval: 10m
  path: ./apps/%s
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
`, name, name)
	if len(dependsOn) > 0 {
		s += "  dependsOn:\n"
		for _, d := range dependsOn {
			s += "    - name: " + d + "\n"
		}
	}
	return s
}

func configMap(name string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: driver-test\ndata:\n  a: b\n", name)
}

// writeTree writes a tree whose root (clusters/test, no Kustomization points at it) declares the
// namespaces and the Kustomizations of deps (name: its dependsOn); each applies a ConfigMap of its
// name, except those in broken, whose folder does not exist (their build fails).
func writeTree(t *testing.T, deps map[string][]string, broken ...string) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"clusters/test/namespaces.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: driver-test\n",
	}
	for name, d := range deps {
		files["clusters/test/"+name+".yaml"] = kustomization(name, d...)
		if !contains(broken, name) {
			files["apps/"+name+"/configmap.yaml"] = configMap(name)
		}
	}
	for p, content := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// recorder keeps the events of a run, and how many nodes were between Started and Finished at most.
type recorder struct {
	mu         sync.Mutex
	planned    []*build.Node
	events     []string
	running    int
	maxRunning int
	skipped    map[string]string
}

func (r *recorder) event(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch e := e.(type) {
	case Planned:
		r.planned = e.Nodes
	case Started:
		r.running++
		r.maxRunning = max(r.maxRunning, r.running)
		r.events = append(r.events, "start "+e.Node.Name)
	case Finished:
		if e.Result.Node.Parent != "" {
			r.running--
		}
		r.events = append(r.events, "finish "+e.Result.Node.Name)
	case Skipped:
		r.skipped[e.Node.Name] = e.Relation + " " + e.Dependency.Name
	}
}

func (r *recorder) index(event string) int {
	for i, e := range r.events {
		if e == event {
			return i
		}
	}
	return -1
}

// TestRun: against the real API server, every Kustomization is reconciled after its parent and its
// dependsOn, never more at once than Concurrent, and one that fails skips its dependents (and theirs),
// whose objects are not applied.
func TestRun(t *testing.T) {
	deps := map[string][]string{
		"drv-a": nil, "drv-b": nil, "drv-c": {"drv-a"}, "drv-d": {"drv-b", "drv-c"}, "drv-e": {"drv-d"},
		"drv-bad": nil, "drv-after-bad": {"drv-bad"}, "drv-after-after": {"drv-after-bad"},
	}
	for _, concurrent := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("concurrent %d", concurrent), func(t *testing.T) {
			ctx := context.Background()
			root := writeTree(t, deps, "drv-bad")
			o := &Options{Workspace: workspace.Options{Path: filepath.Join(root, "clusters/test"), Root: root, CacheDir: t.TempDir()},
				InstallCRDs: true, Concurrent: concurrent, Clock: clock.RealClock{},
				Revision: func(*git.WorkTree) string { return "main@sha1:0123456789012345678901234567890123456789" },
				Clients:  func() (*kube.Clients, error) { return kube.New(cluster.Config) }}
			drv, err := Prepare(ctx, o, nil)
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{skipped: map[string]string{}}
			results, err := drv.Run(ctx, rec.event)
			if err != nil {
				t.Fatal(err)
			}

			// Planned: the root first, every node after its parent and its dependencies.
			if len(rec.planned) != len(deps)+1 || rec.planned[0].Name != "flux-system/flux-system" {
				t.Fatalf("planned %d nodes, root %v", len(rec.planned), rec.planned)
			}
			at := map[string]int{}
			for i, n := range rec.planned {
				at[n.Name] = i
			}
			for name, ds := range deps {
				for _, d := range ds {
					if at["flux-system/"+d] > at["flux-system/"+name] {
						t.Errorf("%s planned before its dependency %s", d, name)
					}
				}
			}
			// Reconciled: each starts after its dependencies finished.
			for name, ds := range deps {
				start := rec.index("start flux-system/" + name)
				for _, d := range ds {
					if fin := rec.index("finish flux-system/" + d); start >= 0 && (fin < 0 || fin > start) {
						t.Errorf("%s started before its dependency %s finished: %v", name, d, rec.events)
					}
				}
			}
			if rec.maxRunning > concurrent {
				t.Errorf("%d reconciled at once, want at most %d", rec.maxRunning, concurrent)
			}

			// The failure skips its dependents, and theirs.
			wantSkipped := map[string]string{
				"flux-system/drv-after-bad":   "its dependency flux-system/drv-bad",
				"flux-system/drv-after-after": "its dependency flux-system/drv-after-bad",
			}
			if fmt.Sprint(rec.skipped) != fmt.Sprint(wantSkipped) {
				t.Errorf("skipped %v, want %v", rec.skipped, wantSkipped)
			}
			for i, r := range results {
				name := rec.planned[i].Name
				_, skipped := wantSkipped[name]
				switch {
				case skipped && (r.Skipped == nil || r.Kustomization != nil):
					t.Errorf("%s: result %+v, want skipped", name, r)
				case name == "flux-system/drv-bad" && (r.Kustomization == nil || r.Err() == nil || !strings.Contains(r.Err().Error(), "apps/drv-bad")):
					t.Errorf("%s: result %+v, want its build error", name, r)
				case !skipped && name != "flux-system/drv-bad" && (r.Kustomization == nil || r.Err() != nil):
					t.Errorf("%s: result %+v, want reconciled", name, r)
				}
			}
			for name := range deps {
				_, err := cluster.Client.CoreV1().ConfigMaps("driver-test").Get(ctx, name, metav1.GetOptions{})
				_, skipped := wantSkipped["flux-system/"+name]
				switch {
				case (skipped || name == "drv-bad") && !apierrors.IsNotFound(err):
					t.Errorf("ConfigMap %s of a skipped or failed Kustomization: %v", name, err)
				case !skipped && name != "drv-bad" && err != nil:
					t.Errorf("ConfigMap %s: %v", name, err)
				}
			}
		})
	}
}

// TestOrder: parents and dependsOn come first, otherwise the tree's order is kept, and a
// dependsOn cycle is an error naming it.
func TestOrder(t *testing.T) {
	ks := func(name string, deps ...string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("kustomize.toolkit.fluxcd.io/v1")
		u.SetKind("Kustomization")
		u.SetNamespace("flux-system")
		u.SetName(name)
		var list []any
		for _, d := range deps {
			list = append(list, map[string]any{"name": d})
		}
		if list != nil {
			_ = unstructured.SetNestedSlice(u.Object, list, "spec", "dependsOn")
		}
		return u
	}
	tests := []struct {
		name    string
		objects []*unstructured.Unstructured
		want    string
		err     string
	}{
		{"parents first, then the tree's order", []*unstructured.Unstructured{ks("b"), ks("a")}, "root b a", ""},
		{"dependsOn first", []*unstructured.Unstructured{ks("a", "c"), ks("b"), ks("c", "b")}, "root b c a", ""},
		{"cycle", []*unstructured.Unstructured{ks("a", "b"), ks("b", "a")}, "", "dependsOn cycle: flux-system/a -> flux-system/b -> flux-system/a"},
	}
	t.Run("a HelmRelease named as its parent Kustomization", func(t *testing.T) {
		hr := &unstructured.Unstructured{}
		hr.SetAPIVersion("helm.toolkit.fluxcd.io/v2")
		hr.SetKind("HelmRelease")
		hr.SetNamespace("flux-system")
		hr.SetName("app")
		tree := &build.Tree{Nodes: []*build.Node{
			{Kind: build.KindKustomization, Name: "flux-system/root", Objects: []*unstructured.Unstructured{ks("app")}},
			{Kind: build.KindHelmRelease, Name: "flux-system/app", Parent: "flux-system/app"},
			{Kind: build.KindKustomization, Name: "flux-system/app", Parent: "flux-system/root", Objects: []*unstructured.Unstructured{hr}},
		}}
		order, err := Order(tree)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, n := range order {
			got = append(got, n.Kind+"/"+strings.TrimPrefix(n.Name, "flux-system/"))
		}
		if want := "Kustomization/root Kustomization/app HelmRelease/app"; strings.Join(got, " ") != want {
			t.Errorf("order %v, want %s", got, want)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := &build.Tree{Nodes: []*build.Node{{Kind: build.KindKustomization, Name: "flux-system/root", Objects: tt.objects}}}
			for _, o := range tt.objects {
				tree.Nodes = append(tree.Nodes, &build.Node{Kind: build.KindKustomization, Name: "flux-system/" + o.GetName(), Parent: "flux-system/root"})
			}
			order, err := Order(tree)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, n := range order {
				got = append(got, strings.TrimPrefix(n.Name, "flux-system/"))
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("order %v, want %s", got, tt.want)
			}
		})
	}
}
