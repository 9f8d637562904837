package driver

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/engine/build"
)

// Order returns the nodes so that every node comes after its parent and after the Kustomizations it
// dependsOn; a dependsOn cycle is an error naming it.
func Order(tree *build.Tree) ([]*build.Node, error) {
	byID := map[string]*build.Node{}
	for _, n := range tree.Nodes {
		byID[nodeID(n)] = n
	}
	deps := dependencies(tree, byID)
	var out []*build.Node
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(id string, path []string) error
	visit = func(id string, path []string) error {
		switch state[id] {
		case 2:
			return nil
		case 1:
			names := make([]string, 0, len(path)+1)
			for _, p := range append(path, id) {
				names = append(names, p[strings.Index(p, "/")+1:])
			}
			return fmt.Errorf("dependsOn cycle: %s", strings.Join(names, " -> "))
		}
		state[id] = 1
		ds := append([]string{}, deps[id]...)
		sort.Strings(ds)
		for _, d := range ds {
			if err := visit(d, append(path, id)); err != nil {
				return err
			}
		}
		state[id] = 2
		if n, ok := byID[id]; ok {
			out = append(out, n)
		}
		return nil
	}
	for _, n := range tree.Nodes {
		if err := visit(nodeID(n), nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// nodeID keys a node by kind and name: a Kustomization and a HelmRelease may share a namespace/name.
func nodeID(n *build.Node) string { return n.Kind + "/" + n.Name }

// dependencyIndexes returns, for each node of order, the indexes in order of the nodes it waits for.
func dependencyIndexes(tree *build.Tree, order []*build.Node) [][]int {
	byID := map[string]*build.Node{}
	index := map[string]int{}
	for i, n := range order {
		byID[nodeID(n)] = n
		index[nodeID(n)] = i
	}
	deps := dependencies(tree, byID)
	out := make([][]int, len(order))
	for i, n := range order {
		for _, d := range deps[nodeID(n)] {
			if j, ok := index[d]; ok && j != i {
				out[i] = append(out[i], j)
			}
		}
	}
	return out
}

// dependencies maps each node to its parent and the nodes of the tree its dependsOn names (Kustomizations
// for a Kustomization, HelmReleases for a HelmRelease).
func dependencies(tree *build.Tree, byID map[string]*build.Node) map[string][]string {
	deps := map[string][]string{}
	for _, n := range tree.Nodes {
		if n.Parent != "" {
			deps[nodeID(n)] = append(deps[nodeID(n)], build.KindKustomization+"/"+n.Parent)
		}
	}
	for _, n := range tree.Nodes {
		for _, o := range n.Objects {
			var kind string
			switch group := o.GroupVersionKind().Group; {
			case o.GetKind() == kustomizev1.KustomizationKind && group == kustomizev1.GroupVersion.Group:
				kind = build.KindKustomization
			case o.GetKind() == helmv2.HelmReleaseKind && group == helmv2.GroupVersion.Group:
				kind = build.KindHelmRelease
			default:
				continue
			}
			id := kind + "/" + o.GetNamespace() + "/" + o.GetName()
			if _, ok := byID[id]; !ok {
				continue
			}
			list, _, _ := unstructured.NestedSlice(o.Object, "spec", "dependsOn")
			for _, d := range list {
				dm, _ := d.(map[string]any)
				dn, _ := dm["name"].(string)
				dns, _ := dm["namespace"].(string)
				if dns == "" {
					dns = o.GetNamespace()
				}
				if depID := kind + "/" + dns + "/" + dn; byID[depID] != nil {
					deps[id] = append(deps[id], depID)
				}
			}
		}
	}
	return deps
}

// schedule runs run(i) for every node i, at most workers at a time, each once the nodes deps[i] names
// are done; a node with a failed dependency is not run: skip(i, dep) is called instead, and it counts as
// failed. Nodes start in index order when several are ready.
func schedule(n int, deps [][]int, workers int, run func(i int) bool, skip func(i, dep int)) {
	if workers < 1 {
		workers = 1
	}
	started, finished, failed := make([]bool, n), make([]bool, n), make([]bool, n)
	type result struct {
		i  int
		ok bool
	}
	results := make(chan result)
	running, completed := 0, 0
	for completed < n {
		for progress := true; progress; {
			progress = false
			for i := 0; i < n; i++ {
				if started[i] {
					continue
				}
				ready, failedDep := true, -1
				for _, d := range deps[i] {
					if !finished[d] {
						ready = false
					} else if failed[d] && failedDep < 0 {
						failedDep = d
					}
				}
				if failedDep >= 0 {
					started[i], finished[i], failed[i] = true, true, true
					completed++
					skip(i, failedDep)
					progress = true
					continue
				}
				if !ready || running >= workers {
					continue
				}
				started[i] = true
				running++
				go func() { results <- result{i, run(i)} }()
			}
		}
		if running == 0 {
			return // only unsatisfiable dependencies left (Order rejects cycles)
		}
		r := <-results
		running--
		completed++
		finished[r.i], failed[r.i] = true, !r.ok
	}
}
