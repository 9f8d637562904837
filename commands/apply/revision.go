package apply

import "github.com/converge-gitops/converge/engine/source/git"

// LocalRevision returns the revision of the work tree as Flux writes it ("<branch>@sha1:<hex>",
// "-dirty" when it has uncommitted changes), or "local" outside Git.
func LocalRevision(wt *git.WorkTree) string {
	if wt == nil || wt.Head == "" {
		return "local"
	}
	return wt.Revision()
}
