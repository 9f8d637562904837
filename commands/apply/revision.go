package apply

import (
	"github.com/go-git/go-git/v5"
)

// LocalRevision returns the revision of the Git work tree at root as Flux writes it
// ("<branch>@sha1:<hex>"), or "local" outside Git.
func LocalRevision(root string) string {
	repo, err := git.PlainOpenWithOptions(root, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return "local"
	}
	head, err := repo.Head()
	if err != nil {
		return "local"
	}
	if head.Name().IsBranch() {
		return head.Name().Short() + "@sha1:" + head.Hash().String()
	}
	return "sha1:" + head.Hash().String()
}
