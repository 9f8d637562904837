package inspect

import (
	"context"
	"fmt"
	"github.com/converge-gitops/converge/engine/apply"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Node is one object of an inventory tree.
type Node struct {
	Group     string  `json:"group,omitempty"`
	Kind      string  `json:"kind"`
	Namespace string  `json:"namespace,omitempty"`
	Name      string  `json:"name"`
	Children  []*Node `json:"children,omitempty"`
	// Missing is set for a nested Kustomization or HelmRelease listed in an inventory but not found.
	Missing bool `json:"missing,omitempty"`
}

func (n *Node) String() string {
	if n.Namespace == "" {
		return n.Kind + "/" + n.Name
	}
	return n.Kind + "/" + n.Namespace + "/" + n.Name
}

// Tree returns the inventory of the Kustomization or HelmRelease ref as a tree: nested Kustomizations and
// HelmReleases are expanded with their own inventories, recursively (each object once: a Kustomization
// listing itself, as flux-system does, is a leaf). A HelmRelease without status.inventory is expanded
// from its current release in Helm's storage.
func Tree(ctx context.Context, get Getter, ref Ref) (*Node, error) {
	root := &Node{Group: ref.Kind.Resource.Group, Kind: ref.Kind.Kind, Namespace: ref.Namespace, Name: ref.Name}
	u, err := get(ctx, ref.Kind.GroupVersionKind(), ref.Namespace, ref.Name)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%s %s/%s not found", ref.Kind.Kind, ref.Namespace, ref.Name)
		}
		return nil, fmt.Errorf("%s %s/%s: %w", ref.Kind.Kind, ref.Namespace, ref.Name, err)
	}
	seen := map[string]bool{root.key(): true}
	if err := expand(ctx, get, root, u, seen); err != nil {
		return nil, err
	}
	return root, nil
}

func (n *Node) key() string { return n.Group + "/" + n.String() }

func expand(ctx context.Context, get Getter, n *Node, u *unstructured.Unstructured, seen map[string]bool) error {
	entries, hasInventory, _ := unstructured.NestedSlice(u.Object, "status", "inventory", "entries")
	if !hasInventory && n.Kind == "HelmRelease" {
		children, err := helmReleaseChildren(ctx, get, u)
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
		n.Children = children
		return nil
	}
	for _, e := range entries {
		m, _ := e.(map[string]any)
		id, _ := m["id"].(string)
		version, _ := m["v"].(string)
		child, err := ParseInventoryID(id)
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
		n.Children = append(n.Children, child)
		if !expandable(child) || seen[child.key()] {
			continue
		}
		seen[child.key()] = true
		cu, err := get(ctx, schema.GroupVersionKind{Group: child.Group, Version: version, Kind: child.Kind}, child.Namespace, child.Name)
		if apierrors.IsNotFound(err) {
			child.Missing = true
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", child, err)
		}
		if err := expand(ctx, get, child, cu, seen); err != nil {
			return err
		}
	}
	return nil
}

func expandable(n *Node) bool {
	return (n.Group == "kustomize.toolkit.fluxcd.io" && n.Kind == "Kustomization") ||
		(n.Group == "helm.toolkit.fluxcd.io" && n.Kind == "HelmRelease")
}

// ParseInventoryID parses Flux's inventory id "<namespace>_<name>_<group>_<kind>". Names may contain
// underscores; "__" stands for ":" (RBAC names), as Flux encodes it.
func ParseInventoryID(id string) (*Node, error) {
	m, err := apply.ParseID(id, "")
	if err != nil {
		return nil, err
	}
	return &Node{Group: m.Group, Kind: m.Kind, Namespace: m.Namespace, Name: m.Name}, nil
}

// Compact returns a copy of the tree with the Flux objects only (API groups under toolkit.fluxcd.io),
// as Flux's `tree --compact` prints it; the root is kept.
func Compact(n *Node) *Node {
	c := *n
	c.Children = nil
	for _, child := range n.Children {
		if strings.Contains(child.Group, "toolkit.fluxcd.io") {
			c.Children = append(c.Children, Compact(child))
		}
	}
	return &c
}

// GeneratorTree returns the ArtifactGenerator ref with the ExternalArtifacts of its status.inventory as
// children, as `flux tree artifact generator` prints it. An inventory entry without a name is an error
// naming the generator and the entry.
func GeneratorTree(ctx context.Context, get Getter, ref Ref) (*Node, error) {
	root := &Node{Group: ref.Kind.Resource.Group, Kind: ref.Kind.Kind, Namespace: ref.Namespace, Name: ref.Name}
	u, err := get(ctx, ref.Kind.GroupVersionKind(), ref.Namespace, ref.Name)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%s %s/%s not found", ref.Kind.Kind, ref.Namespace, ref.Name)
		}
		return nil, fmt.Errorf("%s %s/%s: %w", ref.Kind.Kind, ref.Namespace, ref.Name, err)
	}
	entries, _, err := unstructured.NestedSlice(u.Object, "status", "inventory")
	if err != nil {
		return nil, fmt.Errorf("%s: status.inventory: %w", root, err)
	}
	for i, e := range entries {
		m, _ := e.(map[string]any)
		name, _ := m["name"].(string)
		namespace, _ := m["namespace"].(string)
		if name == "" {
			return nil, fmt.Errorf("%s: status.inventory[%d]: name is empty", root, i)
		}
		root.Children = append(root.Children, &Node{Group: "source.toolkit.fluxcd.io", Kind: "ExternalArtifact",
			Namespace: namespace, Name: name})
	}
	return root, nil
}
