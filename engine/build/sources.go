package build

import sourcev1 "github.com/converge-gitops/converge/crds/source/v1"

// SourceUse says what stood in for one source of a build: the work tree, a ref of the local
// repository, a fetched artifact or a --local-source folder.
type SourceUse struct {
	// ID is the source as "Kind/namespace/name".
	ID string
	// From says where its files came from, e.g. "work tree", "local ref dev-team@sha1:<hash>
	// (refs/heads/dev-team), not the work tree", "fetched main@sha1:<hash>", "--local-source <folder>".
	From string
	// Dir is the folder the build read.
	Dir string
}

// SourceReporter is a SourceResolver that tells what stood in for each source it resolved
// (fetch.Resolver is one).
type SourceReporter interface {
	Uses(fn func(id, from, dir string))
}

// UsedSources returns what r reports, by ID; nil when r does not report.
func UsedSources(r any) []SourceUse {
	rep, ok := r.(SourceReporter)
	if !ok {
		return nil
	}
	var out []SourceUse
	rep.Uses(func(id, from, dir string) {
		out = append(out, SourceUse{ID: id, From: from, Dir: dir})
	})
	return out
}

// declaresIncludes reports whether the tree declares key as a GitRepository with spec.include: its
// files are then more than the root folder, and the SourceResolver provides them.
func (t *treeBuild) declaresIncludes(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	g, ok := t.declared[key].(*sourcev1.GitRepository)
	return ok && len(g.Spec.Include) > 0
}
