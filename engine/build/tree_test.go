package build

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/engine/manifest"
	"github.com/converge-gitops/converge/engine/testenv/goldenfile"
)

type dirSources map[string]string

func (d dirSources) ResolveSource(_ context.Context, kind, namespace, name string, declared map[string]runtime.Object) (string, error) {
	key := kind + "/" + namespace + "/" + name
	if dir, ok := d[key]; ok {
		return dir, nil
	}
	return "", fmt.Errorf("unknown source %s", key)
}

func buildTree(t *testing.T, path string) *Tree {
	t.Helper()
	dec, err := manifest.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	b := &Builder{ConfigMaps: testResources(), Secrets: testResources(), Strict: true}
	tree, err := b.BuildTree(context.Background(), dec, TreeOptions{Root: repo, Path: path, Sources: dirSources{}})
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func TestBuildTreeGolden(t *testing.T) {
	tree := buildTree(t, "clusters/production")
	if err := tree.Err(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, n := range tree.Nodes {
		fmt.Fprintf(&out, "# Kustomization %s (parent %q): %d objects\n", n.Name, n.Parent, len(n.Objects))
		for _, o := range n.Objects {
			y, _ := yaml.Marshal(o.Object)
			out.WriteString("---\n")
			out.Write(y)
		}
	}
	golden := filepath.Join("../../testdata/build/golden", "tree-clusters-production.yaml")
	goldenfile.CheckString(t, golden, out.String())
	var names []string
	for _, n := range tree.Nodes {
		names = append(names, n.Name+"<"+n.Parent)
	}
	wantNames := "flux-system/flux-system<,flux-system/apps<flux-system/flux-system,flux-system/infra-configs<flux-system/flux-system,flux-system/infra-controllers<flux-system/flux-system,flux-system/infra-extras<flux-system/infra-configs"
	if strings.Join(names, ",") != wantNames {
		t.Errorf("nodes %s\nwant  %s", strings.Join(names, ","), wantNames)
	}
}

func TestBuildTreeCycle(t *testing.T) {
	tree := buildTree(t, "clusters/cycle")
	err := tree.Err()
	if err == nil || !strings.Contains(err.Error(), "dependency cycle: flux-system/cycle-a -> flux-system/cycle-b -> flux-system/cycle-a") {
		t.Fatalf("want a cycle error naming the chain, got %v", err)
	}
}

func TestBuildTreeFailingNodeKeepsOthers(t *testing.T) {
	dec, _ := manifest.NewDecoder()
	b := &Builder{Strict: true} // no ConfigMaps: apps cannot load cluster-vars
	tree, err := b.BuildTree(context.Background(), dec, TreeOptions{Root: repo, Path: "clusters/production"})
	if err != nil {
		t.Fatal(err)
	}
	failed, built := 0, 0
	for _, n := range tree.Nodes {
		if n.Err != nil {
			failed++
			if n.Name != "flux-system/apps" {
				t.Errorf("unexpected failure of %s: %v", n.Name, n.Err)
			}
		} else if len(n.Objects) > 0 {
			built++
		}
	}
	if failed != 1 || built != 4 {
		t.Errorf("failed=%d built=%d, want 1 and 4", failed, built)
	}
}
