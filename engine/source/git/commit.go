package git

import (
	"errors"
	"fmt"
	"sort"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// OpenRepository opens the Git work tree holding dir (any folder inside it) and returns the repository
// and the work tree's top folder.
func OpenRepository(dir string) (*gogit.Repository, string, error) {
	repo, err := gogit.PlainOpenWithOptions(dir, &gogit.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if errors.Is(err, gogit.ErrRepositoryNotExists) {
		return nil, "", fmt.Errorf("%s is not inside a Git work tree", dir)
	}
	if err != nil {
		return nil, "", fmt.Errorf("opening the Git work tree of %s: %w", dir, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", dir, err)
	}
	return repo, wt.Filesystem.Root(), nil
}

// StagedChanges lists, sorted, the paths whose index entry differs from HEAD: what a commit would take
// besides the files it stages itself.
func StagedChanges(repo *gogit.Repository) ([]string, error) {
	wt, err := repo.Worktree()
	if err != nil {
		return nil, err
	}
	st, err := wt.Status()
	if err != nil {
		return nil, fmt.Errorf("reading the work tree status: %w", err)
	}
	var staged []string
	for name, fs := range st {
		if fs.Staging != gogit.Unmodified && fs.Staging != gogit.Untracked {
			staged = append(staged, name)
		}
	}
	sort.Strings(staged)
	return staged, nil
}

// CommitFiles stages files (slash paths relative to the work tree's top) and commits them with msg;
// author is also the committer, signer (nil: none) signs the commit. It returns the commit's hash.
func CommitFiles(repo *gogit.Repository, files []string, msg string, author object.Signature, signer gogit.Signer) (string, error) {
	wt, err := repo.Worktree()
	if err != nil {
		return "", err
	}
	for _, f := range files {
		if _, err := wt.Add(f); err != nil {
			return "", fmt.Errorf("staging %s: %w", f, err)
		}
	}
	h, err := wt.Commit(msg, &gogit.CommitOptions{Author: &author, Committer: &author, Signer: signer})
	if err != nil {
		return "", fmt.Errorf("committing: %w", err)
	}
	return h.String(), nil
}
