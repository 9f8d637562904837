package driver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/engine/build"
	"github.com/converge-gitops/converge/engine/diff"
	"github.com/converge-gitops/converge/engine/manifest"
	"github.com/converge-gitops/converge/engine/reconcile"
	"github.com/converge-gitops/converge/engine/source/git"
	"github.com/converge-gitops/converge/engine/workspace"
)

// DiffResult is what a diff found: the changes, the count of objects unchanged, and what could not be
// diffed (one message per node).
type DiffResult struct {
	Entries   []diff.Entry
	Unchanged int
	Failures  []string
	// Warnings are the build warnings of the work tree's side of an offline diff (DiffBase).
	Warnings []string
}

// Diff diffs every node of the tree against the cluster, in the order of the Planned event, without
// writing; progress hears Planned, then a Diffed event per node.
func (d *Driver) Diff(ctx context.Context, showSecrets bool, progress func(Event)) (*DiffResult, error) {
	if progress == nil {
		progress = func(Event) {}
	}
	order, err := Order(d.Tree)
	if err != nil {
		return nil, err
	}
	dec, err := manifest.NewDecoder()
	if err != nil {
		return nil, err
	}
	progress(Planned{Nodes: order})
	declared := declaredObjects(ctx, dec, d.Tree)
	differ := &diff.Differ{Apply: d.Apply, Kustomizations: d.Kustomizations, HelmReleases: d.HelmReleases, Core: d.Clients.Core, ShowSecrets: showSecrets}
	out := &DiffResult{}
	for i, n := range order {
		ev := Diffed{Index: i, Node: n}
		if n.Err != nil {
			ev.Err, ev.BuildFailed = n.Err, true
			out.Failures = append(out.Failures, n.Err.Error())
			progress(ev)
			continue
		}
		ns, name, _ := strings.Cut(n.Name, "/")
		var entries []diff.Entry
		if n.Kind == build.KindHelmRelease {
			hr := declared.helmReleases[n.Name]
			if hr == nil {
				err = fmt.Errorf("HelmRelease %s: not found in the build of %s", n.Name, n.Parent)
			} else {
				entries, err = differ.HelmRelease(ctx, hr, n.Chart, n.Objects)
			}
		} else if !reconcile.NodeOwnsInventory(n) {
			// As apply: a root no Kustomization points at is applied without an inventory, nothing pruned.
			ev.Warning = reconcile.NoInventoryReason(d.Path)
			entries, err = differ.Objects(ctx, n.Name, n.Objects)
		} else {
			entries, err = differ.Kustomization(ctx, ns, name, declared.kustomizations[n.Name], n.Objects)
		}
		if err != nil {
			ev.Err = err
			out.Failures = append(out.Failures, err.Error())
			progress(ev)
			continue
		}
		for _, e := range entries {
			if e.Action == diff.Unchanged || e.Action == diff.Skipped {
				ev.Unchanged++
				continue
			}
			ev.Entries = append(ev.Entries, e)
		}
		out.Unchanged += ev.Unchanged
		out.Entries = append(out.Entries, ev.Entries...)
		progress(ev)
	}
	return out, nil
}

// declared holds the Kustomizations and HelmReleases as the tree declares them, by namespace/name.
type declared struct {
	kustomizations map[string]*kustomizev1.Kustomization
	helmReleases   map[string]*helmv2.HelmRelease
}

func declaredObjects(ctx context.Context, dec *manifest.Decoder, tree *build.Tree) declared {
	out := declared{kustomizations: map[string]*kustomizev1.Kustomization{}, helmReleases: map[string]*helmv2.HelmRelease{}}
	for _, n := range tree.Nodes {
		if n.Kind == build.KindHelmRelease {
			continue
		}
		for _, o := range n.Objects {
			if !dec.IsFluxKind(o.GroupVersionKind()) {
				continue
			}
			// Decoded to the storage version, as the tree build reads them (older versions converted).
			typed, err := dec.DecodeObject(ctx, "build output of Kustomization "+n.Name, o)
			if err != nil {
				continue // the tree build reported it
			}
			id := o.GetNamespace() + "/" + o.GetName()
			switch v := typed.(type) {
			case *kustomizev1.Kustomization:
				out.kustomizations[id] = v
			case *helmv2.HelmRelease:
				out.helmReleases[id] = v
			}
		}
	}
	return out
}

// DiffBase builds the tree of o at the Git revision base (its files read from the local repository
// into a temporary folder, with go-git) and in the work tree, and diffs the two renders; no cluster is
// contacted. A node that failed to build on one side is an entry of action failed naming the side
// (see diff.Trees), and its error is one of the failures.
func DiffBase(ctx context.Context, o *workspace.Options, base string, showSecrets bool) (*DiffResult, error) {
	root, path, err := workspace.RepoRoot(o.Root, o.Path)
	if err != nil {
		return nil, err
	}
	wt, err := git.DetectWorkTree(root)
	if err != nil {
		return nil, fmt.Errorf("--base needs a Git work tree: %w", err)
	}
	rel, err := filepath.Rel(wt.Root, root)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "converge-base-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	baseWT, err := wt.AtRevision(ctx, base, filepath.Join(tmp, "base"))
	if err != nil {
		return nil, fmt.Errorf("checking out --base %s: %w", base, err)
	}
	dec, err := manifest.NewDecoder()
	if err != nil {
		return nil, err
	}
	buildAt := func(root string, wt *git.WorkTree) (*build.Tree, error) {
		ws, err := workspace.OpenAt(o, root, wt, nil)
		if err != nil {
			return nil, err
		}
		ws.Path = path
		return ws.BuildTree(ctx, dec)
	}
	baseTree, err := buildAt(filepath.Join(baseWT.Root, rel), baseWT)
	if err != nil {
		return nil, diff.SideError(diff.Base, fmt.Errorf("building %s at %s: %w", path, base, err))
	}
	headTree, err := buildAt(root, workspace.DetectWorkTree(root))
	if err != nil {
		return nil, diff.SideError(diff.Head, fmt.Errorf("building %s in the work tree: %w", path, err))
	}
	entries, unchanged, err := diff.Trees(baseTree, headTree, showSecrets)
	if err != nil {
		return nil, err
	}
	out := &DiffResult{Entries: entries, Unchanged: unchanged, Warnings: headTree.Warnings()}
	for _, e := range entries {
		if e.Action == diff.Failed && e.Side != "" {
			out.Failures = append(out.Failures, e.Reason)
		}
	}
	return out, nil
}
