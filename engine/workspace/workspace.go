// Package workspace assembles what a push-mode build reads: the local inputs (--local-resource,
// --local-source, --decryption-key and the SOPS_AGE_KEY variables), the source resolver and its fetchers
// over the artifact store, the Git work tree the build stands in, and the builder. `build`, `diff` and
// `apply` build through it.
package workspace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/build"
	"github.com/converge-gitops/converge/engine/fetch"
	"github.com/converge-gitops/converge/engine/helmrelease"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/manifest"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/git"
	"github.com/converge-gitops/converge/engine/source/helmchart"
)

// Options are the inputs of a push-mode build.
type Options struct {
	// Path is the folder of the tree (or, building one Kustomization, the folder to build instead of
	// its spec.path).
	Path string
	// Root is the folder of the source the tree belongs to; default the enclosing Git work tree.
	Root string
	// CacheDir is the artifact store for fetched sources (default source.DefaultRoot()).
	CacheDir string
	// LocalSources map sources to folders: Kind/namespace/name=PATH.
	LocalSources []string
	// LocalResources are ConfigMaps and Secrets given as files: Kind/namespace/name=FILE.
	LocalResources []string
	// DecryptionKeys are files of SOPS age identities or armored PGP private keys.
	DecryptionKeys []string
	// KubeVersion and APIVersions are the capabilities HelmReleases are rendered for offline.
	KubeVersion string
	APIVersions []string
	// MaskSOPS prints what SOPS encrypted as **SOPS**, as flux build does.
	MaskSOPS bool
	// Concurrency bounds the Kustomizations built at once (0: the builder's default).
	Concurrency int
	// LenientSubstitution substitutes variables without value or default with "" instead of failing
	// (Flux's build without --strict-substitute).
	LenientSubstitution bool
	// RenderCache keeps kustomize's output across processes (nil: none).
	RenderCache *build.RenderCache
}

// InputError is a malformed --local-resource or --local-source: a usage error.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// Validate refuses malformed --local-resource and --local-source values before anything is read.
func (o *Options) Validate() error {
	for _, spec := range o.LocalResources {
		if _, _, err := parseLocalResource(spec); err != nil {
			return err
		}
	}
	for _, spec := range o.LocalSources {
		if _, _, err := fetch.ParseLocalSource(spec); err != nil {
			return &InputError{fmt.Errorf("--local-source %w", err)}
		}
	}
	return nil
}

func parseLocalResource(spec string) ([]string, string, error) {
	ref, file, ok := strings.Cut(spec, "=")
	parts := strings.Split(ref, "/")
	if !ok || len(parts) != 3 {
		return nil, "", &InputError{fmt.Errorf("--local-resource %q: want Kind/namespace/name=FILE", spec)}
	}
	return parts, file, nil
}

// Vars are where a build reads the ConfigMaps and Secrets of substituteFrom, valuesFrom and decryption.
type Vars interface {
	source.ConfigMaps
	source.Secrets
}

// Workspace is an assembled build: its inputs, resolver, fetchers and builder.
type Workspace struct {
	Options  *Options
	Local    *build.LocalResources
	Resolver *fetch.Resolver
	Builder  *build.Builder
	// Charts loads the charts of HelmReleases through Resolver and the artifact store.
	Charts *fetch.Charts
	// Root is the folder of the source the tree belongs to; Path the tree's folder relative to it.
	Root, Path string
	// WorkTree is the Git work tree at Root; nil outside Git.
	WorkTree *git.WorkTree
}

// Open reads the inputs of o and assembles the build of the tree at o.Path (its root o.Root, or the
// enclosing Git work tree). ConfigMaps and Secrets not given locally are read from cluster when set.
func Open(o *Options, cluster Vars) (*Workspace, error) {
	local, resolver, err := Inputs(o)
	if err != nil {
		return nil, err
	}
	root, path, err := RepoRoot(o.Root, o.Path)
	if err != nil {
		return nil, err
	}
	w, err := assemble(o, local, resolver, root, DetectWorkTree(root), cluster)
	if err != nil {
		return nil, err
	}
	w.Path = path
	return w, nil
}

// OpenAt is Open for a source at root, with the work tree wt (nil outside Git) standing for it; Path
// is left empty (see BuildKustomization and RenderHelmRelease), or o.Path relative to root.
func OpenAt(o *Options, root string, wt *git.WorkTree, cluster Vars) (*Workspace, error) {
	local, resolver, err := Inputs(o)
	if err != nil {
		return nil, err
	}
	return assemble(o, local, resolver, root, wt, cluster)
}

func assemble(o *Options, local *build.LocalResources, resolver *fetch.Resolver, root string, wt *git.WorkTree, cluster Vars) (*Workspace, error) {
	var vars Vars = local
	if cluster != nil {
		vars = kube.Chain{local, cluster}
	}
	b := NewBuilder(vars)
	b.Helm.KubeVersion, b.Helm.APIVersions = o.KubeVersion, o.APIVersions
	b.MaskSOPS = o.MaskSOPS
	b.Strict = !o.LenientSubstitution
	b.RenderCache = o.RenderCache
	charts, err := AttachFetchers(o, resolver, wt, root, vars)
	if err != nil {
		return nil, err
	}
	// Remote kustomize bases are fetched as sources are (Flux's default; --no-remote-bases removes it).
	b.Remote = &build.RemoteBases{Fetch: func(ctx context.Context, gr *sourcev1.GitRepository) (string, error) {
		return resolver.Remote(ctx, gr)
	}}
	return &Workspace{Options: o, Local: local, Resolver: resolver, Builder: b, Charts: charts, Root: root, WorkTree: wt}, nil
}

// BuildTree builds the tree at w.Path.
func (w *Workspace) BuildTree(ctx context.Context, dec *manifest.Decoder) (*build.Tree, error) {
	tree, err := w.Builder.BuildTree(ctx, dec, build.TreeOptions{Root: w.Root, Path: w.Path, Sources: w.Resolver, Charts: w.Charts,
		Concurrency: w.Options.Concurrency, Given: w.Local})
	if err != nil {
		return nil, err
	}
	w.usedSources(tree)
	return tree, nil
}

// usedSources fills tree.Sources, when the build did not, with the sources the resolver served.
func (w *Workspace) usedSources(tree *build.Tree) {
	if tree.Sources == nil {
		tree.Sources = build.UsedSources(w.Resolver)
	}
}

// Revision returns the revision of the work tree (see LocalRevision).
func (w *Workspace) Revision() string { return LocalRevision(w.WorkTree) }

// AttachFetchers lets resolver fetch the sources it has no folder for into the o.CacheDir store, and
// serve the GitRepositories of the work tree wt (nil outside Git) from the work tree itself or, at
// another ref, from the local repository (see fetch.Fetchers.Source); spec.include resolves through
// resolver; root is the tree's own source. It returns the chart loader for HelmReleases, using the same store.
func AttachFetchers(o *Options, resolver *fetch.Resolver, wt *git.WorkTree, root string, secrets source.Secrets) (*fetch.Charts, error) {
	store, err := source.OpenStore(o.CacheDir)
	if err != nil {
		return nil, err
	}
	f := fetch.NewFetchers(store, secrets)
	f.Git.Local = git.LocalAuthFromEnv()
	f.WorkTree = wt
	f.RootSource = build.DefaultRootSource
	f.Sources = resolver
	resolver.Remote = f.Dir
	resolver.Source = f.Source
	resolver.Folder = f.Folder
	if _, ok := resolver.Local[build.DefaultRootSource]; !ok {
		resolver.Local[build.DefaultRootSource] = root
		if resolver.LocalFrom == nil {
			resolver.LocalFrom = map[string]string{}
		}
		resolver.LocalFrom[build.DefaultRootSource] = "the build's root folder " + root
		if wt != nil && sameDir(wt.Root, root) {
			resolver.LocalFrom[build.DefaultRootSource] = "work tree"
		}
	}
	charts := helmchart.New(store, secrets)
	charts.Cloud = f.Cloud
	return &fetch.Charts{Sources: resolver, Fetcher: charts}, nil
}

// sameDir reports whether a and b name the same folder.
func sameDir(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}

// DetectWorkTree returns the Git work tree at root, or nil outside Git.
func DetectWorkTree(root string) *git.WorkTree {
	wt, err := git.DetectWorkTree(root)
	if err != nil {
		return nil
	}
	return wt
}

// LocalRevision returns the revision of the work tree as Flux writes it ("<branch>@sha1:<hex>",
// "-dirty" when it has uncommitted changes), or "local" outside Git.
func LocalRevision(wt *git.WorkTree) string {
	if wt == nil || wt.Head == "" {
		return "local"
	}
	return wt.Revision()
}

// NewBuilder returns a builder that reads substituteFrom, valuesFrom and decryption Secrets through vars
// and renders HelmReleases. The local SOPS keys are those of the build.LocalResources in vars (itself,
// or a member of a kube.Chain).
func NewBuilder(vars Vars) *build.Builder {
	b := &build.Builder{ConfigMaps: vars, Secrets: vars, Strict: true, LocalKeys: localKeys(vars)}
	b.Helm = &helmrelease.Renderer{ConfigMaps: vars, Secrets: vars, KustomizeLock: b.KustomizeLock()}
	return b
}

func localKeys(vars any) *build.DecryptionKeys {
	switch v := vars.(type) {
	case *build.LocalResources:
		return v.Keys
	case kube.Chain:
		for _, m := range v {
			if k := localKeys(m); k != nil {
				return k
			}
		}
	}
	return nil
}

// Inputs reads the --local-resource, --decryption-key and --local-source options, and the SOPS_AGE_KEY
// and SOPS_AGE_KEY_FILE environment variables.
func Inputs(o *Options) (*build.LocalResources, *fetch.Resolver, error) {
	local := build.NewLocalResources()
	keys := &build.DecryptionKeys{}
	if err := keys.AddFromEnv(os.Getenv); err != nil {
		return nil, nil, err
	}
	for _, file := range o.DecryptionKeys {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, nil, fmt.Errorf("--decryption-key: %w", err)
		}
		if err := keys.Add(file, data); err != nil {
			return nil, nil, fmt.Errorf("--decryption-key %w", err)
		}
	}
	if !keys.Empty() {
		local.Keys = keys
	}
	for _, spec := range o.LocalResources {
		parts, file, err := parseLocalResource(spec)
		if err != nil {
			return nil, nil, err
		}
		if err := local.AddFile(parts[0], parts[1], parts[2], file); err != nil {
			if errors.Is(err, build.ErrNoDecryptionKey) {
				err = fmt.Errorf("%w (give the key with --decryption-key FILE, SOPS_AGE_KEY or SOPS_AGE_KEY_FILE)", err)
			}
			return nil, nil, err
		}
	}
	resolver := &fetch.Resolver{Local: map[string]string{}}
	for _, spec := range o.LocalSources {
		key, dir, err := fetch.ParseLocalSource(spec)
		if err != nil {
			return nil, nil, &InputError{fmt.Errorf("--local-source %w", err)}
		}
		resolver.Local[key] = dir
	}
	return local, resolver, nil
}

// RepoRoot returns root (default: the enclosing Git work tree of path, or path itself outside Git) and
// path relative to it.
func RepoRoot(root, path string) (string, string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", "", err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", "", fmt.Errorf("build path: %w", err)
	}
	if !st.IsDir() {
		return "", "", fmt.Errorf("build path %s is not a folder", path)
	}
	if root != "" {
		r, err := filepath.Abs(root)
		if err != nil {
			return "", "", err
		}
		rel, err := filepath.Rel(r, abs)
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			return "", "", fmt.Errorf("build path %s is not inside --root %s", path, root)
		}
		return r, filepath.ToSlash(rel), nil
	}
	for dir := abs; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
			rel, _ := filepath.Rel(dir, abs)
			return dir, filepath.ToSlash(rel), nil
		}
		if dir == filepath.Dir(dir) {
			return abs, ".", nil
		}
	}
}

// MaskSecret replaces the values of a Secret's data and stringData with "***".
func MaskSecret(o *unstructured.Unstructured) {
	if o.GetKind() != "Secret" || o.GroupVersionKind().Group != "" {
		return
	}
	for _, field := range []string{"data", "stringData"} {
		if m, ok := o.Object[field].(map[string]any); ok {
			for k := range m {
				m[k] = "***"
			}
		}
	}
}

// MaskRenderedSecrets masks the Secrets the HelmReleases of tree render (MaskSecret): Kustomizations
// print Secrets as Flux does (the builder masks what SOPS encrypted), but the Secrets a chart renders,
// which Flux never prints, may hold values from the cluster.
func MaskRenderedSecrets(tree *build.Tree) {
	for _, n := range tree.Nodes {
		if n.Kind != build.KindHelmRelease {
			continue
		}
		for _, o := range n.Objects {
			MaskSecret(o)
		}
	}
}
