package fetch

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source"
)

// resolvingKey carries the sources being resolved, outermost first, to catch spec.include cycles.
type resolvingKey struct{}

// enter returns ctx with key added to the sources being resolved, or an error naming the cycle when
// key is already being resolved (a GitRepository that includes itself, directly or not).
func enter(ctx context.Context, key string) (context.Context, error) {
	chain, _ := ctx.Value(resolvingKey{}).([]string)
	if i := slices.Index(chain, key); i >= 0 {
		return ctx, fmt.Errorf("spec.include cycle: %s -> %s", strings.Join(chain[i:], " -> "), key)
	}
	return context.WithValue(ctx, resolvingKey{}, append(chain[:len(chain):len(chain)], key)), nil
}

// includeArtifact resolves the GitRepository namespace/name that a spec.include names, through
// f.Sources like any source of the build, and returns it as a stored artifact: a folder used as it is
// (the work tree, a --local-source) is copied into the store first.
func (f *Fetchers) includeArtifact(ctx context.Context, namespace, name string, declared map[string]runtime.Object) (*source.Artifact, error) {
	key := sourcev1.GitRepositoryKind + "/" + namespace + "/" + name
	u, err := f.Sources.Use(ctx, sourcev1.GitRepositoryKind, namespace, name, declared)
	if err != nil {
		return nil, err
	}
	if u.Artifact != nil {
		return u.Artifact, nil
	}
	var ignore *string
	if o, ok := declared[key].(*sourcev1.GitRepository); ok {
		ignore = o.Spec.Ignore
	}
	ref := source.Ref{Kind: sourcev1.GitRepositoryKind, Namespace: namespace, Name: name}
	if f.WorkTree != nil && sameFolder(u.Dir, f.WorkTree.Root) {
		return f.WorkTree.Artifact(ctx, f.Store, ref, ignore)
	}
	return f.folderArtifact(ctx, ref, u.Dir, ignore)
}

// folderArtifact stores a copy of a local folder (without .git, filtered by Flux's ignore rules) as
// ref's artifact.
func (f *Fetchers) folderArtifact(ctx context.Context, ref source.Ref, folder string, ignore *string) (*source.Artifact, error) {
	dir, err := f.Store.TempDir("folder-")
	if err != nil {
		return nil, err
	}
	committed := false
	defer func() {
		if !committed {
			_ = os.RemoveAll(dir)
		}
	}()
	err = source.CopyTree(ctx, folder, dir, func(_ string, d fs.DirEntry) bool { return d.Name() == ".git" })
	if err != nil {
		return nil, fmt.Errorf("%s: copying %s: %w", ref, folder, err)
	}
	ign, err := source.LoadIgnore(dir, ignore, ignore == nil)
	if err != nil {
		return nil, fmt.Errorf("%s: reading ignore rules: %w", ref, err)
	}
	if err := ign.Prune(dir); err != nil {
		return nil, fmt.Errorf("%s: applying ignore rules: %w", ref, err)
	}
	a, err := f.Store.Commit(ref, "local", dir, nil)
	if err != nil {
		return nil, err
	}
	committed = true
	local := *a
	local.Local = true
	return &local, nil
}
