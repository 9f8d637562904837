package fetch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

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
	// HTTP downloads ExternalArtifact artifacts; nil is http.DefaultClient.
	HTTP *http.Client
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
	case *sourcev1.ExternalArtifact:
		a, err := f.External(ctx, o)
		if err != nil {
			return "", err
		}
		return a.Dir, nil
	}
	return "", fmt.Errorf("%s is not a source whose files converge fetches as a folder (GitRepository, OCIRepository, Bucket, ExternalArtifact); map it with --local-source", objectID(obj))
}

// objectID names obj as Kind/namespace/name.
func objectID(obj runtime.Object) string {
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	if kind == "" {
		kind = strings.TrimPrefix(fmt.Sprintf("%T", obj), "*")
		kind = kind[strings.LastIndex(kind, ".")+1:]
	}
	if m, ok := obj.(interface {
		GetNamespace() string
		GetName() string
	}); ok {
		return kind + "/" + m.GetNamespace() + "/" + m.GetName()
	}
	return kind
}

// maxExternalArtifactBytes bounds an ExternalArtifact download.
const maxExternalArtifactBytes = 1 << 30

// External downloads the artifact an ExternalArtifact reports (status.artifact.url, a tar.gz as Flux
// serves artifacts), checks it against status.artifact.digest and stores it at its revision; an artifact
// already stored with that digest and revision is not downloaded again.
func (f *Fetchers) External(ctx context.Context, o *sourcev1.ExternalArtifact) (*source.Artifact, error) {
	ref := source.Ref{Kind: sourcev1.ExternalArtifactKind, Namespace: o.Namespace, Name: o.Name}
	art := o.Status.Artifact
	if art == nil || art.URL == "" {
		return nil, fmt.Errorf("%s has no artifact yet", ref)
	}
	algo, want, ok := strings.Cut(art.Digest, ":")
	if !ok || algo != "sha256" || want == "" {
		return nil, fmt.Errorf("%s: artifact digest %q is not sha256:<hex>", ref, art.Digest)
	}
	if cur, err := f.Store.Current(ref); err == nil && cur != nil && cur.Revision == art.Revision && cur.Metadata["artifactDigest"] == art.Digest {
		return cur, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, art.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	client := f.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: downloading %s: %w", ref, art.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: downloading %s: %s", ref, art.URL, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxExternalArtifactBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: downloading %s: %w", ref, art.URL, err)
	}
	if len(data) > maxExternalArtifactBytes {
		return nil, fmt.Errorf("%s: artifact larger than %d bytes", ref, maxExternalArtifactBytes)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != want {
		return nil, fmt.Errorf("%s: artifact digest sha256:%s does not match %s", ref, got, art.Digest)
	}
	dir, err := f.Store.TempDir("external-")
	if err != nil {
		return nil, err
	}
	if err := source.ExtractTarGz(bytes.NewReader(data), dir, source.ExtractOptions{}); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("%s: extracting the artifact: %w", ref, err)
	}
	return f.Store.Commit(ref, art.Revision, dir, map[string]string{"artifactDigest": art.Digest})
}
