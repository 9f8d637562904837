package apply

import "github.com/converge-gitops/converge/engine/source/git"

// LocalRevision returns the revision of the Git work tree at root as Flux writes it
// ("<branch>@sha1:<hex>", "-dirty" when it has uncommitted changes), or "local" outside Git.
func LocalRevision(root string) string {
	wt, err := git.DetectWorkTree(root)
	if err != nil || wt.Head == "" {
		return "local"
	}
	return wt.Revision()
}
