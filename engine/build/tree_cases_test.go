package build

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/engine/fetch"
	"github.com/converge-gitops/converge/engine/manifest"
	"github.com/converge-gitops/converge/engine/testenv/goldenfile"
)

const trees = "../../testdata/build/trees"

// caseResolver resolves sources as the CLI does (fetch.Resolver: --local-source, then what the tree
// declares, then "not defined"), except that the fetch of a declared source is replaced by the case's
// own folder: the sources of these trees are example URLs no server here serves.
func caseResolver(root string) *fetch.Resolver {
	return &fetch.Resolver{Local: map[string]string{}, Remote: func(context.Context, runtime.Object) (string, error) { return root, nil }}
}

func buildCase(t *testing.T, name string, given *LocalResources) *Tree {
	t.Helper()
	dec, err := manifest.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(trees, name)
	b := &Builder{Strict: true}
	opts := TreeOptions{Root: root, Path: "clusters/main", Sources: caseResolver(root)}
	if given != nil {
		opts.Given = given
	}
	tree, err := b.BuildTree(context.Background(), dec, opts)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// describeTree renders every node with its status, errors, warnings and objects.
func describeTree(tree *Tree) string {
	var out strings.Builder
	for _, n := range tree.Nodes {
		out.WriteString("# " + n.Kind + " " + n.Name)
		if n.Parent != "" {
			out.WriteString(" (parent " + n.Parent + ")")
		}
		out.WriteString(": " + n.Status() + "\n")
		if n.Err != nil {
			for _, line := range strings.Split(n.Err.Error(), "\n") {
				out.WriteString("#   error: " + line + "\n")
			}
		}
		for _, w := range n.Warnings {
			out.WriteString("#   warning: " + w + "\n")
		}
		for _, o := range n.Objects {
			y, _ := yaml.Marshal(o.Object)
			out.WriteString("---\n")
			out.Write(y)
		}
	}
	return out.String()
}

// TestBuildTreeCases builds each tree under testdata/build/trees and compares every node (status,
// errors, warnings, objects) with the case's golden file.
func TestBuildTreeCases(t *testing.T) {
	tests := []struct {
		name string
		// status of each node, by "Kind namespace/name"
		want map[string]string
	}{
		{name: "invalid-child", want: map[string]string{
			"Kustomization flux-system/apps": StatusFailed, "Kustomization flux-system/bad": StatusFailed,
			"Kustomization flux-system/good-a": StatusBuilt, "Kustomization flux-system/good-b": StatusBuilt,
			"Kustomization flux-system/podinfo": StatusSkipped}},
		{name: "components", want: map[string]string{
			"Kustomization flux-system/tenant-alpha": StatusBuilt, "Kustomization flux-system/tenant-beta": StatusBuilt,
			"Kustomization flux-system/tenant-gamma": StatusBuilt}},
		{name: "sources-sibling", want: map[string]string{
			"Kustomization flux-system/apps": StatusBuilt, "Kustomization flux-system/sources": StatusBuilt,
			"Kustomization flux-system/podinfo": StatusBuilt, "Kustomization flux-system/shared": StatusBuilt,
			"Kustomization flux-system/orphan": StatusFailed}},
		{name: "old-versions", want: map[string]string{
			"Kustomization flux-system/flux-system": StatusFailed, "Kustomization flux-system/legacy": StatusBuilt,
			"Kustomization flux-system/ancient": StatusFailed, "Kustomization flux-system/app": StatusBuilt}},
		{name: "cluster-settings", want: map[string]string{
			"Kustomization flux-system/apps": StatusBuilt, "Kustomization flux-system/infra": StatusBuilt,
			"Kustomization flux-system/settings": StatusBuilt, "Kustomization flux-system/lost": StatusFailed}},
		{name: "parent-fails", want: map[string]string{
			"Kustomization flux-system/apps": StatusFailed, "Kustomization flux-system/gone": StatusFailed,
			"Kustomization flux-system/child-a": StatusSkipped, "Kustomization flux-system/child-b": StatusSkipped,
			"HelmRelease flux-system/podinfo": StatusSkipped}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := buildCase(t, tt.name, nil)
			got := map[string]string{}
			for _, n := range tree.Nodes {
				got[n.Kind+" "+n.Name] = n.Status()
			}
			for node, status := range tt.want {
				if got[node] != status {
					t.Errorf("%s: %q, want %q", node, got[node], status)
				}
			}
			text := describeTree(tree)
			golden := filepath.Join(trees, tt.name, "want.txt")
			goldenfile.CheckString(t, golden, text)
		})
	}
}

// TestBuildTreeGivenInputsWin: an input given explicitly (--local-resource) wins over the one the tree
// declares.
func TestBuildTreeGivenInputsWin(t *testing.T) {
	given := NewLocalResources()
	given.AddConfigMap(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cluster-settings", Namespace: "flux-system"},
		Data: map[string]string{"CLUSTER_NAME": "staging", "CLUSTER_DOMAIN": "staging.example.com"}})
	tree := buildCase(t, "cluster-settings", given)
	for _, n := range tree.Nodes {
		if n.Name != "flux-system/apps" {
			continue
		}
		if n.Err != nil {
			t.Fatal(n.Err)
		}
		if got := n.Objects[0].Object["data"].(map[string]any)["cluster"]; got != "staging" {
			t.Errorf("cluster %v, want staging (the given ConfigMap)", got)
		}
		return
	}
	t.Fatal("no node flux-system/apps")
}
