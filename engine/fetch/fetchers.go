package fetch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/cloud"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/bucket"
	"github.com/converge-gitops/converge/engine/source/git"
	"github.com/converge-gitops/converge/engine/source/githubapp"
	"github.com/converge-gitops/converge/engine/source/oci"
)

// Fetchers fetch every source kind into one store. In push mode, WorkTree is the Git work tree the
// command runs in: a GitRepository whose URL matches one of its remotes is served from it (see Source).
type Fetchers struct {
	Store    *source.Store
	Git      *git.Fetcher
	OCI      *oci.Fetcher
	Bucket   *bucket.Fetcher
	WorkTree *git.WorkTree
	// RootSource is the "Kind/namespace/name" of the source the work tree is (push mode: the tree's
	// flux-system GitRepository). When the build declares it, its spec.ref is also served by the work tree.
	RootSource string
	// Sources resolves the GitRepositories that spec.include names, in push mode, as every other source
	// of the build; nil leaves that to Git.ResolveInclude.
	Sources *Resolver
	// HTTP downloads ExternalArtifact artifacts; nil is http.DefaultClient.
	HTTP *http.Client
	// Cloud is the process's workload identity, shared by the fetchers that log in to clouds.
	Cloud *cloud.Identity
}

// Use is what stood in for a source: the folder of its files and where they came from.
type Use struct {
	Dir string
	// From says where the files came from: "work tree", "local ref <revision> (<local reference>)",
	// "fetched <revision>", "--local-source <folder>".
	From string
	// Artifact is the stored artifact Dir belongs to; nil for a folder used as it is.
	Artifact *source.Artifact
}

// NewFetchers returns fetchers sharing store and secrets.
func NewFetchers(store *source.Store, secrets source.Secrets) *Fetchers {
	id := cloud.New(cloud.Env{})
	return &Fetchers{
		Store:  store,
		Git:    &git.Fetcher{Store: store, Secrets: secrets, GitHubApp: &githubapp.Tokens{}},
		OCI:    &oci.Fetcher{Store: store, Secrets: secrets, Cloud: id},
		Bucket: &bucket.Fetcher{Store: store, Secrets: secrets, Cloud: id},
		Cloud:  id,
	}
}

// Dir fetches obj (or takes it from the work tree) and returns the folder of its files.
func (f *Fetchers) Dir(ctx context.Context, obj runtime.Object) (string, error) {
	u, err := f.Source(ctx, obj, nil)
	return u.Dir, err
}

// Source fetches obj and says where its files came from; declared holds the sources the build
// declares, by "Kind/namespace/name". A GitRepository whose URL is a remote of WorkTree is served
// locally: from the work tree as it is when its spec.ref is what the work tree has checked out (see
// git.WorkTree.ServesRef; the ref of the declared RootSource counts as checked out); else from the
// local repository at that ref when it has it; else fetched, and a failure then says how to make the
// ref local.
func (f *Fetchers) Source(ctx context.Context, obj runtime.Object, declared map[string]runtime.Object) (Use, error) {
	switch o := obj.(type) {
	case *sourcev1.GitRepository:
		g := f.gitFetcher(declared)
		if f.WorkTree == nil {
			return fetched(g.Fetch(ctx, o))
		}
		remote, ok := f.WorkTree.RemoteMatching(o.Spec.URL)
		if !ok {
			return fetched(g.Fetch(ctx, o))
		}
		if f.WorkTree.ServesRef(o.Spec.Reference, f.rootRef(declared)) {
			from := "work tree"
			if o.Spec.Verification != nil {
				// Your own files, uncommitted changes included, carry no signature: say so.
				from += " (not signature-verified: spec.verify applies to commits, as the agent fetches them)"
			}
			if len(o.Spec.Include) == 0 {
				return Use{Dir: f.WorkTree.Root, From: from}, nil
			}
			a, err := g.WorkTreeArtifact(ctx, f.WorkTree, o)
			if err != nil {
				return Use{}, err
			}
			return Use{Dir: a.Dir, From: from + ", with spec.include", Artifact: a}, nil
		}
		a, used, err := g.LocalRef(ctx, f.WorkTree, remote, o)
		if err == nil {
			from := "local ref " + a.Revision
			if used != "" {
				from += " (" + used + ")"
			}
			from += verifiedNote(a)
			return Use{Dir: a.Dir, From: from + ", not the work tree", Artifact: a}, nil
		}
		if !errors.Is(err, git.ErrNotLocal) {
			return Use{}, err
		}
		fa, ferr := g.Fetch(ctx, o)
		if ferr != nil {
			id := objectID(o)
			return Use{}, fmt.Errorf("%s: ref %s is not in the local repository %s, and fetching it failed: %w; "+
				"run `git fetch %s` there, or map the source to a folder with --local-source %s=DIR",
				id, describeRef(o.Spec.Reference), f.WorkTree.Root, ferr, remote, id)
		}
		return Use{Dir: fa.Dir, From: "fetched " + fa.Revision + " (ref " + describeRef(o.Spec.Reference) + " is not in the local repository)" + verifiedNote(fa), Artifact: fa}, nil
	case *sourcev1.OCIRepository:
		return fetched(f.OCI.Fetch(ctx, o))
	case *sourcev1.Bucket:
		return fetched(f.Bucket.Fetch(ctx, o))
	case *sourcev1.ExternalArtifact:
		return fetched(f.External(ctx, o))
	}
	return Use{}, fmt.Errorf("%s is not a source whose files converge fetches as a folder (GitRepository, OCIRepository, Bucket, ExternalArtifact); map it with --local-source", objectID(obj))
}

// Folder serves u, a folder standing in for obj: the work tree's root with obj's spec.include copied in
// when obj is a GitRepository that has includes, any other folder as it is.
func (f *Fetchers) Folder(ctx context.Context, u Use, obj runtime.Object, declared map[string]runtime.Object) (Use, error) {
	o, ok := obj.(*sourcev1.GitRepository)
	if !ok || len(o.Spec.Include) == 0 || f.WorkTree == nil || !sameFolder(u.Dir, f.WorkTree.Root) {
		return u, nil
	}
	a, err := f.gitFetcher(declared).WorkTreeArtifact(ctx, f.WorkTree, o)
	if err != nil {
		return Use{}, err
	}
	return Use{Dir: a.Dir, From: u.From + ", with spec.include", Artifact: a}, nil
}

// sameFolder reports whether a and b name the same folder.
func sameFolder(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}

func fetched(a *source.Artifact, err error) (Use, error) {
	if err != nil {
		return Use{}, err
	}
	return Use{Dir: a.Dir, From: "fetched " + a.Revision + verifiedNote(a), Artifact: a}, nil
}

// verifiedNote says, for From, that a's signature was verified.
func verifiedNote(a *source.Artifact) string {
	if a.Verified == "" {
		return ""
	}
	return ", signature verified"
}

// rootRef returns the spec.ref of the declared RootSource when it is a GitRepository of the work tree.
func (f *Fetchers) rootRef(declared map[string]runtime.Object) *sourcev1.GitRepositoryRef {
	root, ok := declared[f.RootSource].(*sourcev1.GitRepository)
	if !ok || f.RootSource == "" {
		return nil
	}
	if _, ok := f.WorkTree.RemoteMatching(root.Spec.URL); !ok {
		return nil
	}
	return root.Spec.Reference
}

// describeRef names spec.ref for messages, e.g. `branch "dev-team"`.
func describeRef(r *sourcev1.GitRepositoryRef) string {
	switch {
	case r.IsZero():
		return fmt.Sprintf("branch %q", sourcev1.DefaultGitBranch)
	case r.Commit != "" && r.Branch != "":
		return fmt.Sprintf("commit %s on branch %q", r.Commit, r.Branch)
	case r.Commit != "":
		return "commit " + r.Commit
	case r.Name != "":
		return fmt.Sprintf("reference %q", r.Name)
	case r.SemVer != "":
		return fmt.Sprintf("semver %q", r.SemVer)
	case r.Tag != "":
		return fmt.Sprintf("tag %q", r.Tag)
	}
	return fmt.Sprintf("branch %q", r.Branch)
}

// gitFetcher returns the Git fetcher to use for a build declaring declared: in push mode (Sources set),
// a copy whose spec.include resolves through Sources.
func (f *Fetchers) gitFetcher(declared map[string]runtime.Object) *git.Fetcher {
	if f.Sources == nil {
		return f.Git
	}
	g := *f.Git
	g.ResolveInclude = func(ctx context.Context, namespace, name string) (*source.Artifact, error) {
		return f.includeArtifact(ctx, namespace, name, declared)
	}
	return &g
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
	return f.Remote(ctx, source.Ref{Kind: sourcev1.ExternalArtifactKind, Namespace: o.Namespace, Name: o.Name}, o.Status.Artifact)
}

// Remote downloads art, the status.artifact of the source ref that another process serves (an
// ExternalArtifact's producer, another shard's agent), as External does.
func (f *Fetchers) Remote(ctx context.Context, ref source.Ref, art *meta.Artifact) (*source.Artifact, error) {
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
