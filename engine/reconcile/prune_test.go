package reconcile

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/engine/build"
)

func TestPlanPrune(t *testing.T) {
	inv := &kustomizev1.ResourceInventory{Entries: []kustomizev1.ResourceRef{{ID: "ns_kept__ConfigMap", Version: "v1"}, {ID: "ns_gone__ConfigMap", Version: "v1"}}}
	kept := &unstructured.Unstructured{}
	kept.SetAPIVersion("v1")
	kept.SetKind("ConfigMap")
	kept.SetNamespace("ns")
	kept.SetName("kept")
	ks := func(prune, suspend bool, inv *kustomizev1.ResourceInventory) *kustomizev1.Kustomization {
		k := &kustomizev1.Kustomization{}
		k.Namespace, k.Name = "flux-system", "apps"
		k.Spec.Prune, k.Spec.Suspend, k.Status.Inventory = prune, suspend, inv
		return k
	}
	for _, tt := range []struct {
		name       string
		ks         *kustomizev1.Kustomization
		wantStale  string
		wantReason string
	}{
		{"prunes what left the inventory", ks(true, false, inv), "ConfigMap/ns/gone", ""},
		{"not in the cluster yet", nil, "", "not in the cluster yet"},
		{"prune false", ks(false, false, inv), "", "spec.prune is false"},
		{"suspended", ks(true, true, inv), "", "suspended"},
		{"no inventory", ks(true, false, nil), "", "no inventory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := PlanPrune(tt.ks, []*unstructured.Unstructured{kept})
			if err != nil {
				t.Fatal(err)
			}
			var stale []string
			for _, o := range plan.Stale {
				stale = append(stale, o.String())
			}
			if strings.Join(stale, ",") != tt.wantStale || !strings.Contains(plan.Reason, tt.wantReason) || (tt.wantReason == "") != (plan.Reason == "") {
				t.Errorf("PlanPrune = %v %q, want %q %q", stale, plan.Reason, tt.wantStale, tt.wantReason)
			}
		})
	}
}

func TestNodeOwnsInventory(t *testing.T) {
	self := &unstructured.Unstructured{}
	self.SetAPIVersion(kustomizev1.GroupVersion.String())
	self.SetKind(kustomizev1.KustomizationKind)
	self.SetNamespace("flux-system")
	self.SetName("flux-system")
	for _, tt := range []struct {
		name string
		node *build.Node
		want bool
	}{
		{"root pointed at by its Kustomization", &build.Node{Kind: build.KindKustomization, Name: "flux-system/flux-system", Objects: []*unstructured.Unstructured{self}}, true},
		{"root no Kustomization points at", &build.Node{Kind: build.KindKustomization, Name: "flux-system/flux-system"}, false},
		{"child Kustomization", &build.Node{Kind: build.KindKustomization, Name: "flux-system/apps", Parent: "flux-system/flux-system"}, true},
		{"HelmRelease", &build.Node{Kind: build.KindHelmRelease, Name: "demo/web", Parent: "flux-system/apps"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := NodeOwnsInventory(tt.node); got != tt.want {
				t.Errorf("NodeOwnsInventory = %v, want %v", got, tt.want)
			}
		})
	}
}
