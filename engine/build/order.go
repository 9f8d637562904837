package build

import "sort"

// FluxOrder returns the nodes in the order `flux build ks --recursive` prints a tree: a Kustomization's
// own objects, then, depth first, each Kustomization it declares in the order its output declares them
// (converge puts HelmReleases there too; Flux does not render them). Nodes whose parent is not in the
// tree follow, in the tree's order.
func (t *Tree) FluxOrder() []*Node {
	nodes := t.Nodes
	isKs := map[string]bool{}
	for _, n := range nodes {
		if n.Kind == KindKustomization {
			isKs[n.Name] = true
		}
	}
	children := map[string][]*Node{}
	var roots []*Node
	for _, n := range nodes {
		if n.Parent == "" || !isKs[n.Parent] {
			roots = append(roots, n)
			continue
		}
		children[n.Parent] = append(children[n.Parent], n)
	}
	out := make([]*Node, 0, len(nodes))
	done := map[*Node]bool{}
	var visit func(n *Node)
	visit = func(n *Node) {
		if done[n] {
			return
		}
		done[n] = true
		out = append(out, n)
		if n.Kind != KindKustomization {
			return
		}
		kids := children[n.Name]
		pos := map[string]int{}
		for i, o := range n.Objects {
			if k := o.GetKind(); k == KindKustomization || k == KindHelmRelease {
				key := k + "/" + o.GetNamespace() + "/" + o.GetName()
				if _, ok := pos[key]; !ok {
					pos[key] = i
				}
			}
		}
		at := func(c *Node) int {
			if i, ok := pos[c.Kind+"/"+c.Name]; ok {
				return i
			}
			return len(n.Objects)
		}
		sort.SliceStable(kids, func(i, j int) bool { return at(kids[i]) < at(kids[j]) })
		for _, c := range kids {
			visit(c)
		}
	}
	for _, r := range roots {
		visit(r)
	}
	return out
}
