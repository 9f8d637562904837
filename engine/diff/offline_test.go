package diff

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/converge-gitops/converge/engine/build"
)

func TestTreesLeavesOutWhatFailedOnOneSide(t *testing.T) {
	cm := func(name, value string) *unstructured.Unstructured {
		return obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: "+name+"\n  namespace: ns\ndata:\n  k: "+value+"\n")
	}
	built := func() []*build.Node {
		return []*build.Node{
			{Kind: build.KindKustomization, Name: "flux-system/flux-system", Objects: []*unstructured.Unstructured{cm("root", "1")}},
			{Kind: build.KindKustomization, Name: "flux-system/apps", Parent: "flux-system/flux-system",
				Objects: []*unstructured.Unstructured{cm("app1", "1"), cm("app2", "1")}},
			{Kind: build.KindHelmRelease, Name: "flux-system/web", Parent: "flux-system/apps", Objects: []*unstructured.Unstructured{cm("web", "1")}},
			{Kind: build.KindKustomization, Name: "flux-system/infra", Parent: "flux-system/flux-system", Objects: []*unstructured.Unstructured{cm("infra", "1")}},
		}
	}
	// failed: the tree as it builds when apps fails (its HelmRelease is then not declared).
	failed := func() []*build.Node {
		n := built()
		n[1].Objects, n[1].Err = nil, errors.New("kustomize build apps: missing.yaml: no such file\nsecond line")
		return []*build.Node{n[0], n[1], n[3]}
	}
	for _, tt := range []struct {
		name       string
		base, head []*build.Node
		side       string
	}{
		{"head fails", built(), failed(), Head},
		{"base fails", failed(), built(), Base},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.head[len(tt.head)-1].Objects = []*unstructured.Unstructured{cm("infra", "2")} // a change that is shown
			entries, unchanged, err := Trees(&build.Tree{Nodes: tt.base}, &build.Tree{Nodes: tt.head}, false)
			if err != nil {
				t.Fatal(err)
			}
			if unchanged != 1 {
				t.Errorf("unchanged = %d, want 1 (the root's ConfigMap)", unchanged)
			}
			var got []string
			for _, e := range entries {
				got = append(got, string(e.Action)+" "+e.Owner+" "+e.OwnerName+" "+e.Subject+" "+e.Side)
			}
			want := []string{"failed Kustomization flux-system/apps Kustomization/flux-system/apps " + tt.side,
				"changed Kustomization flux-system/infra ConfigMap/ns/infra "}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if r := entries[0].Reason; r != tt.side+": kustomize build apps: missing.yaml: no such file\n"+tt.side+": second line" {
				t.Errorf("reason %q does not name the side on each line", r)
			}
			if d := entries[1].Diff; !strings.HasPrefix(d, "--- base/ConfigMap/ns/infra\n+++ head/ConfigMap/ns/infra\n") {
				t.Errorf("diff headers:\n%s", d)
			}
		})
	}
}
