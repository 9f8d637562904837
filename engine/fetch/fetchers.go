package fetch

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/bucket"
	"github.com/converge-gitops/converge/engine/source/git"
	"github.com/converge-gitops/converge/engine/source/oci"
)

// Fetchers fetch every source kind into one store. In push mode, WorkTree is the Git work tree the
// command runs in: a GitRepository whose URL matches one of its remotes is served from it, as it is.
type Fetchers struct {
	Store    *source.Store
	Git      *git.Fetcher
	OCI      *oci.Fetcher
	Bucket   *bucket.Fetcher
	WorkTree *git.WorkTree
}

// NewFetchers returns fetchers sharing store and secrets.
func NewFetchers(store *source.Store, secrets source.Secrets) *Fetchers {
	return &Fetchers{
		Store:  store,
		Git:    &git.Fetcher{Store: store, Secrets: secrets},
		OCI:    &oci.Fetcher{Store: store, Secrets: secrets},
		Bucket: &bucket.Fetcher{Store: store, Secrets: secrets},
	}
}

// Dir fetches obj (or takes it from the work tree) and returns the folder of its files.
func (f *Fetchers) Dir(ctx context.Context, obj runtime.Object) (string, error) {
	switch o := obj.(type) {
	case *sourcev1.GitRepository:
		if f.WorkTree != nil {
			if _, ok := f.WorkTree.RemoteMatching(o.Spec.URL); ok {
				return f.WorkTree.Root, nil
			}
		}
		a, err := f.Git.Fetch(ctx, o)
		if err != nil {
			return "", err
		}
		return a.Dir, nil
	case *sourcev1.OCIRepository:
		a, err := f.OCI.Fetch(ctx, o)
		if err != nil {
			return "", err
		}
		return a.Dir, nil
	case *sourcev1.Bucket:
		a, err := f.Bucket.Fetch(ctx, o)
		if err != nil {
			return "", err
		}
		return a.Dir, nil
	}
	return "", fmt.Errorf("%T is not a source converge can fetch for a Kustomization", obj)
}
