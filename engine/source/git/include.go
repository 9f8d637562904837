package git

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source"
)

// Flux's reasons for an unavailable include.
const (
	includeNotFoundReason   = "NotFound"
	includeNoArtifactReason = "NoArtifact"
	includeCopyReason       = "CopyFailure"
)

// include is a spec.include entry with the artifact it resolved to.
type include struct {
	spec     sourcev1.GitRepositoryInclude
	artifact *source.Artifact
}

// resolveIncludes finds the current artifact of every included GitRepository and checks the paths.
func (f *Fetcher) resolveIncludes(ctx context.Context, obj *sourcev1.GitRepository) ([]include, error) {
	if len(obj.Spec.Include) == 0 {
		return nil, nil
	}
	if f.ResolveInclude == nil {
		return nil, withReason(includeNotFoundReason, errors.New("spec.include is set but includes cannot be resolved here"))
	}
	out := make([]include, 0, len(obj.Spec.Include))
	for _, spec := range obj.Spec.Include {
		name := spec.GitRepositoryRef.Name
		if _, err := includePath(spec.GetFromPath(), true); err != nil {
			return nil, withReason(includeCopyReason, fmt.Errorf("include %q: fromPath: %w", name, err))
		}
		if _, err := includePath(spec.GetToPath(), false); err != nil {
			return nil, withReason(includeCopyReason, fmt.Errorf("include %q: toPath: %w", name, err))
		}
		art, err := f.ResolveInclude(ctx, obj.Namespace, name)
		if err != nil {
			return nil, withReason(includeNotFoundReason, fmt.Errorf("could not get include %q: %w", name, err))
		}
		if art == nil {
			return nil, withReason(includeNoArtifactReason, fmt.Errorf("no artifact available for include %q", name))
		}
		out = append(out, include{spec: spec, artifact: art})
	}
	return out, nil
}

// includePath checks that p is a relative path inside a folder; the empty path (the root) is allowed
// only as a source.
func includePath(p string, rootOK bool) (string, error) {
	t := strings.Trim(filepath.ToSlash(p), "/")
	if t == "" || t == "." {
		if rootOK {
			return ".", nil
		}
		return "", fmt.Errorf("%q is the root of the artifact", p)
	}
	if !filepath.IsLocal(filepath.FromSlash(t)) {
		return "", fmt.Errorf("%q is not a path inside the artifact", p)
	}
	return filepath.Clean(filepath.FromSlash(t)), nil
}

// copyInclude copies the included artifact's fromPath folder to toPath under dir, replacing what the
// checkout had there. Only regular files and folders are copied.
func copyInclude(inc include, dir string) error {
	name := inc.spec.GitRepositoryRef.Name
	from, _ := includePath(inc.spec.GetFromPath(), true)
	to, _ := includePath(inc.spec.GetToPath(), false)
	src := filepath.Join(inc.artifact.Dir, from)
	fi, err := os.Lstat(src)
	if err != nil {
		return withReason(includeCopyReason, fmt.Errorf("include %q: %w", name, err))
	}
	if !fi.IsDir() {
		return withReason(includeCopyReason, fmt.Errorf("include %q: fromPath %q is not a folder", name, inc.spec.GetFromPath()))
	}
	dst := filepath.Join(dir, to)
	if err := os.RemoveAll(dst); err != nil {
		return withReason(includeCopyReason, fmt.Errorf("include %q: %w", name, err))
	}
	err = source.CopyTree(context.Background(), src, dst, nil)
	if err != nil {
		return withReason(includeCopyReason, fmt.Errorf("include %q: %w", name, err))
	}
	return nil
}
