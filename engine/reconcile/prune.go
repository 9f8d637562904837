package reconcile

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/build"
)

// Every prune decision is made here, for apply, the agent and diff alike, so that diff previews exactly
// what apply does: which inventory a node of a tree owns (NodeOwnsInventory) and what reconciling a
// Kustomization prunes (PlanPrune). The last check, kustomize.toolkit.fluxcd.io/prune: disabled on the
// live object, is apply.Manager.Prune's, run for real by apply and as a dry run by diff.

// RootKustomization returns the Kustomization a tree's root node declares for itself (the one that points
// at the tree's path, flux-system in a bootstrapped repository), nil when no Kustomization of the tree
// points at it.
func RootKustomization(n *build.Node) *unstructured.Unstructured {
	if n.Kind != build.KindKustomization || n.Parent != "" {
		return nil
	}
	for _, o := range n.Objects {
		if o.GetKind() == kustomizev1.KustomizationKind && o.GroupVersionKind().Group == kustomizev1.GroupVersion.Group &&
			o.GetNamespace()+"/"+o.GetName() == n.Name {
			return o
		}
	}
	return nil
}

// NodeOwnsInventory reports whether reconciling node n of a tree writes, and prunes by, the inventory of
// the Kustomization n names: true for every Kustomization node but a root no Kustomization of the tree
// points at. That root is only named after TreeOptions.RootName (flux-system/flux-system): its objects are
// applied without an inventory and nothing is pruned, whatever the Kustomization of that name in the
// cluster holds. HelmRelease nodes own no Kustomization inventory.
func NodeOwnsInventory(n *build.Node) bool {
	if n.Kind != build.KindKustomization {
		return false
	}
	return n.Parent != "" || RootKustomization(n) != nil
}

// NoInventoryReason is why a tree's root that no Kustomization points at prunes nothing.
func NoInventoryReason(path string) string {
	return fmt.Sprintf("no Kustomization points at %s: its objects are applied without an inventory, so nothing is pruned", path)
}

// PrunePlan is what reconciling one Kustomization with its build prunes.
type PrunePlan struct {
	// Stale are the objects of the Kustomization's inventory the build no longer holds: the prune deletes
	// them, except those that are gone or carry kustomize.toolkit.fluxcd.io/prune: disabled (checked on
	// the live object by apply.Manager.Prune).
	Stale []apply.ObjMeta
	// Reason says why nothing is pruned, when nothing is.
	Reason string
}

// PlanPrune decides what reconciling ks with its built objects objs prunes, as Flux does: with
// spec.prune, the objects of its current inventory (status.inventory) that objs no longer holds; nothing
// when ks does not exist in the cluster yet (nil), is suspended, does not prune, or has no inventory.
// ks carries the spec it is reconciled with and the inventory of the cluster.
func PlanPrune(ks *kustomizev1.Kustomization, objs []*unstructured.Unstructured) (PrunePlan, error) {
	switch {
	case ks == nil:
		return PrunePlan{Reason: "the Kustomization is not in the cluster yet: it has no inventory"}, nil
	case ks.Spec.Suspend:
		return PrunePlan{Reason: "the Kustomization is suspended"}, nil
	case !ks.Spec.Prune:
		return PrunePlan{Reason: "spec.prune is false"}, nil
	case ks.Status.Inventory == nil || len(ks.Status.Inventory.Entries) == 0:
		return PrunePlan{Reason: "the Kustomization has no inventory"}, nil
	}
	stale, err := apply.Stale(ks.Status.Inventory, objs)
	if err != nil {
		return PrunePlan{}, fmt.Errorf("inventory of Kustomization %s/%s: %w", ks.Namespace, ks.Name, err)
	}
	return PrunePlan{Stale: stale}, nil
}

// PlanFinalize decides what deleting ks (its finalizer run by the agent) deletes: the objects of its
// inventory as its deletionPolicy says: MirrorPrune (the default) when spec.prune is true, Delete and
// WaitForTermination always, Orphan never; nothing when ks is suspended or has no inventory. An unknown
// deletionPolicy is an error.
func PlanFinalize(ks *kustomizev1.Kustomization) (PrunePlan, error) {
	id := ks.Namespace + "/" + ks.Name
	switch {
	case ks.Spec.Suspend:
		return PrunePlan{Reason: "the Kustomization is suspended"}, nil
	case ks.Status.Inventory == nil || len(ks.Status.Inventory.Entries) == 0:
		return PrunePlan{Reason: "the inventory is empty"}, nil
	}
	switch policy := ks.GetDeletionPolicy(); policy {
	case kustomizev1.DeletionPolicyMirrorPrune:
		if !ks.Spec.Prune {
			return PrunePlan{Reason: "deletionPolicy MirrorPrune and spec.prune is false"}, nil
		}
	case kustomizev1.DeletionPolicyDelete, kustomizev1.DeletionPolicyWaitForTermination:
	case kustomizev1.DeletionPolicyOrphan:
		return PrunePlan{Reason: "deletionPolicy Orphan"}, nil
	default:
		return PrunePlan{}, fmt.Errorf("Kustomization %s: unknown deletionPolicy %q", id, policy)
	}
	var objs []apply.ObjMeta
	for _, e := range ks.Status.Inventory.Entries {
		o, err := apply.ParseID(e.ID, e.Version)
		if err != nil {
			return PrunePlan{}, fmt.Errorf("Kustomization %s: %w", id, err)
		}
		objs = append(objs, o)
	}
	return PrunePlan{Stale: objs}, nil
}
