package diff

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	buildcmd "github.com/converge-gitops/converge/commands/build"
	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/build"
	"github.com/converge-gitops/converge/engine/diff"
	"github.com/converge-gitops/converge/engine/manifest"
)

// runOffline builds the tree at the Git revision base (in a temporary worktree) and in the work tree,
// and diffs the two renders; no cluster is contacted.
func runOffline(ctx context.Context, opts *Options) ([]diff.Entry, int, []string, error) {
	bo := &opts.Apply.Build
	root, path, err := buildcmd.RepoRoot(bo.Root, bo.Path)
	if err != nil {
		return nil, 0, nil, err
	}
	top, err := gitOutput(ctx, root, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, 0, nil, fmt.Errorf("--base needs a Git work tree: %w", err)
	}
	rel, err := filepath.Rel(top, root)
	if err != nil {
		return nil, 0, nil, err
	}
	tmp, err := os.MkdirTemp("", "converge-base-")
	if err != nil {
		return nil, 0, nil, err
	}
	defer os.RemoveAll(tmp)
	wt := filepath.Join(tmp, "base")
	if _, err := gitOutput(ctx, top, "worktree", "add", "--detach", "--quiet", wt, opts.Base); err != nil {
		return nil, 0, nil, fmt.Errorf("checking out --base %s: %w", opts.Base, err)
	}
	defer func() { _, _ = gitOutput(context.Background(), top, "worktree", "remove", "--force", wt) }()

	dec, err := manifest.NewDecoder()
	if err != nil {
		return nil, 0, nil, err
	}
	buildAt := func(root string) (*build.Tree, error) {
		local, resolver, err := buildcmd.Inputs(bo)
		if err != nil {
			return nil, err
		}
		charts, err := buildcmd.AttachFetchers(bo, resolver, buildcmd.DetectWorkTree(root), root, local)
		if err != nil {
			return nil, err
		}
		return buildcmd.NewBuilder(local).BuildTree(ctx, dec, build.TreeOptions{Root: root, Path: path, Sources: resolver, Charts: charts, Given: local})
	}
	baseTree, err := buildAt(filepath.Join(wt, rel))
	if err != nil {
		return nil, 0, nil, diff.SideError(diff.Base, fmt.Errorf("building %s at %s: %w", path, opts.Base, err))
	}
	headTree, err := buildAt(root)
	if err != nil {
		return nil, 0, nil, diff.SideError(diff.Head, fmt.Errorf("building %s in the work tree: %w", path, err))
	}
	cmdutil.PrintWarnings(bo.IO.ErrOut, bo.IO.ErrStyles(), headTree.Warnings()) // the change under review
	entries, unchanged, err := diff.Trees(baseTree, headTree, opts.ShowSecrets)
	if err != nil {
		return nil, 0, nil, err
	}
	// A node that failed on one side is an entry of Trees (its objects not compared) and an error naming
	// the side.
	var failures []string
	for _, e := range entries {
		if e.Action == diff.Failed && e.Side != "" {
			failures = append(failures, e.Reason)
		}
	}
	return entries, unchanged, failures, nil
}

func gitOutput(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}
