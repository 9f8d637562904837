package git

import (
	"context"
	"fmt"
	"os"

	"github.com/go-git/go-git/v5/plumbing"
)

// AtRevision writes the files of the commit rev names into dir (rev as git rev-parse reads it: a
// branch, a remote-tracking branch such as origin/main, a tag, a commit, HEAD~1...) from the work
// tree's own repository, and returns the work tree dir stands for: detached at that commit, clean, with
// w's remotes and repository. Use w and the returned work tree one at a time: they share go-git's
// storage, which is not safe for concurrent use.
func (w *WorkTree) AtRevision(ctx context.Context, rev, dir string) (*WorkTree, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	hash, err := w.repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return nil, fmt.Errorf("resolving %q in %s: %w", rev, w.Root, err)
	}
	commit, err := peel(w.repo.Storer, *hash)
	if err != nil {
		return nil, fmt.Errorf("resolving %q in %s: %w", rev, w.Root, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if _, err := w.checkoutCommit(ctx, commit, dir, nil); err != nil {
		return nil, fmt.Errorf("checking out %s (%s) from %s: %w", rev, commit, w.Root, err)
	}
	return &WorkTree{Root: dir, Remotes: w.Remotes, Head: commit.String(), repo: w.repo}, nil
}
