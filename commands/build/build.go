// Package build implements `converge build`.
package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	k8sversion "k8s.io/apimachinery/pkg/util/version"
	"sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/commands/cmdutil"
	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/engine/build"
	"github.com/converge-gitops/converge/engine/fetch"
	"github.com/converge-gitops/converge/engine/helm"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/manifest"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/git"
	srchelm "github.com/converge-gitops/converge/engine/source/helm"
)

// Options are the inputs of `converge build`.
type Options struct {
	IO *cmdutil.IOStreams

	// Path is the folder of a tree build, or the folder of one Kustomization (--path).
	Path string
	// Kustomization names one Kustomization to build, with KustomizationFile holding its definition.
	Kustomization     string
	KustomizationFile string
	// HelmRelease names one HelmRelease to render, with HelmReleaseFile holding its definition.
	HelmRelease     string
	HelmReleaseFile string
	Namespace       string

	// Root is the folder of the source the tree belongs to; default the enclosing Git work tree.
	Root string

	// CacheDir is the artifact store for fetched sources.
	CacheDir string

	LocalSources   []string
	LocalResources []string
	Output         string
	OutputDir      string
	ShowSecrets    bool
	Concurrency    int
	// DecryptionKeys are files of SOPS age identities or armored PGP private keys (--decryption-key).
	DecryptionKeys []string
	// KubeVersion and APIVersions are the capabilities HelmReleases are rendered for offline.
	KubeVersion string
	APIVersions []string
}

// NewCmdBuild returns the build command.
func NewCmdBuild(f *cmdutil.Factory) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "build [PATH]",
		Short: "Render what Flux would apply, offline: a whole tree of Kustomizations, or one",
		Long: `Build renders Kustomizations exactly as Flux's kustomize-controller would and prints the objects.

With a PATH (default: the current folder), the whole tree is built: every Flux object under PATH,
then every Kustomization those declare, recursively, each from its source. The repository you stand in
is the source of Kustomizations that refer to the GitRepository of the tree (flux-system); map other
sources to folders with --local-source. Every Kustomization and HelmRelease of the tree is reported as
built, failed or skipped (with the reason); a source the tree declares anywhere is found whatever the
order of the builds. ConfigMaps and Secrets the tree applies feed postBuild.substituteFrom as the
cluster will hold them: --local-resource wins over them, and they win over the cluster's.

Kustomizations with spec.decryption.provider sops have their SOPS-encrypted objects and files
decrypted (age and PGP) with the keys of their decryption Secret (from --local-resource) and the
local keys: --decryption-key files, SOPS_AGE_KEY and SOPS_AGE_KEY_FILE. Unless --show-secrets, what
SOPS encrypted is printed as **SOPS**, as flux build prints it (nothing is decrypted without a key);
--local-resource files may be SOPS-encrypted too. HelmReleases are rendered
for --kube-version and --api-versions (default: the Kubernetes version converge is built with).`,
		Example: `  # Everything a cluster folder applies
  converge build clusters/production

  # One Kustomization, defined in a file, built from a local folder
  converge build kustomization apps --kustomization-file clusters/production/apps.yaml --path apps/production

  # Supply the ConfigMaps that postBuild.substituteFrom needs, without a cluster
  converge build clusters/production --local-resource ConfigMap/flux-system/cluster-vars=vars.yaml

  # Decrypt SOPS-encrypted Secrets offline with a local age key (SOPS_AGE_KEY_FILE works too)
  converge build clusters/production --decryption-key ~/.config/sops/age/keys.txt --show-secrets

  # Render HelmReleases for a given cluster version and extra APIs
  converge build clusters/production --kube-version 1.33.2 --api-versions monitoring.coreos.com/v1`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Path = args[0]
			}
			if opts.Path == "" {
				opts.Path = "."
			}
			opts.Namespace = f.Namespace()
			if err := opts.validate(); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), f.Timeout)
			defer cancel()
			return Run(ctx, opts)
		},
	}
	addFlags(cmd, opts)

	ks := &cobra.Command{
		Use:   "kustomization NAME",
		Short: "Render one Kustomization",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Kustomization = args[0]
			opts.Namespace = f.Namespace()
			if opts.KustomizationFile == "" {
				return cmdutil.FlagErrorf("--kustomization-file is required (reading the Kustomization from the cluster comes with `converge apply`)")
			}
			if err := opts.validate(); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), f.Timeout)
			defer cancel()
			return Run(ctx, opts)
		},
	}
	hr := &cobra.Command{
		Use:   "helmrelease NAME",
		Short: "Render one HelmRelease, as helm-controller would install it",
		Example: `  converge build helmrelease podinfo --helmrelease-file apps/podinfo/release.yaml
  # the file may also hold the HelmRepository; other sources resolve as for a tree build`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.HelmRelease = args[0]
			opts.Namespace = f.Namespace()
			if opts.HelmReleaseFile == "" {
				return cmdutil.FlagErrorf("--helmrelease-file is required")
			}
			if err := opts.validate(); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), f.Timeout)
			defer cancel()
			return Run(ctx, opts)
		},
	}
	hr.Aliases = []string{"hr"}
	hr.Flags().StringVar(&opts.HelmReleaseFile, "helmrelease-file", "", "file that defines the HelmRelease (and optionally its sources)")
	addFlags(hr, opts)
	cmd.AddCommand(hr)

	ks.Aliases = []string{"ks"}
	ks.Flags().StringVar(&opts.Path, "path", "", "local folder to build instead of the Kustomization's spec.path in its source")
	ks.Flags().StringVar(&opts.KustomizationFile, "kustomization-file", "", "file that defines the Kustomization")
	addFlags(ks, opts)
	cmd.AddCommand(ks)
	return cmd
}

func addFlags(cmd *cobra.Command, opts *Options) {
	fl := cmd.Flags()
	fl.StringVar(&opts.Root, "root", "", "root folder of the repository the path belongs to (default: the enclosing Git work tree)")
	fl.StringVar(&opts.CacheDir, "cache-dir", "", "artifact store for fetched sources (default "+source.DefaultRoot()+")")
	fl.StringArrayVar(&opts.LocalSources, "local-source", nil, "use a folder as a source's files: Kind/namespace/name=PATH (repeatable)")
	fl.StringArrayVar(&opts.LocalResources, "local-resource", nil, "a ConfigMap or Secret for substituteFrom: Kind/namespace/name=FILE (repeatable)")
	fl.StringVar(&opts.OutputDir, "output-dir", "", "write a folder per Kustomization instead of printing")
	fl.BoolVar(&opts.ShowSecrets, "show-secrets", false, "print Secret values instead of masking them")
	fl.IntVar(&opts.Concurrency, "concurrency", 4, "Kustomizations built in parallel")
	AddDecryptionKeyFlag(fl, opts)
	fl.StringVar(&opts.KubeVersion, "kube-version", "", "Kubernetes version HelmReleases are rendered for (.Capabilities.KubeVersion; default "+helm.DefaultKubeVersion()+")")
	fl.StringSliceVar(&opts.APIVersions, "api-versions", nil, "API versions added to .Capabilities.APIVersions, as group/version or group/version/Kind (comma-separated, repeatable)")
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.OutputYAML, cmdutil.OutputJSON)
}

// AddDecryptionKeyFlag registers --decryption-key (build, diff and apply share it).
func AddDecryptionKeyFlag(fl *pflag.FlagSet, opts *Options) {
	fl.StringArrayVar(&opts.DecryptionKeys, "decryption-key", nil, "file of SOPS age identities or an armored PGP private key, for Kustomizations with spec.decryption (repeatable)")
}

func (o *Options) validate() error {
	if err := cmdutil.ValidateOutput(o.Output, cmdutil.OutputYAML, cmdutil.OutputJSON); err != nil {
		return err
	}
	if o.Concurrency < 1 {
		return cmdutil.FlagErrorf("--concurrency must be at least 1")
	}
	if o.KubeVersion != "" {
		if _, err := k8sversion.ParseGeneric(o.KubeVersion); err != nil {
			return cmdutil.FlagErrorf("--kube-version %q: want a version such as 1.33.2 or v1.33.2", o.KubeVersion)
		}
	}
	for _, v := range o.APIVersions {
		if v == "" || strings.ContainsAny(v, " \t") || strings.Count(v, "/") > 2 || strings.HasPrefix(v, "/") || strings.HasSuffix(v, "/") {
			return cmdutil.FlagErrorf("--api-versions %q: want group/version or group/version/Kind", v)
		}
	}
	return nil
}

// Run builds and prints.
func Run(ctx context.Context, opts *Options) error {
	dec, err := manifest.NewDecoder()
	if err != nil {
		return err
	}
	local, resolver, err := Inputs(opts)
	if err != nil {
		return err
	}
	b := NewBuilder(local)
	b.Helm.KubeVersion, b.Helm.APIVersions = opts.KubeVersion, opts.APIVersions
	b.MaskSOPS = !opts.ShowSecrets

	var tree *build.Tree
	if opts.HelmRelease != "" {
		root := opts.Root
		if root == "" {
			r, _, rerr := RepoRoot("", ".")
			if rerr != nil {
				return rerr
			}
			root = r
		}
		charts, err := AttachFetchers(opts, resolver, DetectWorkTree(root), root, local)
		if err != nil {
			return err
		}
		tree, err = renderOne(ctx, opts, dec, b, charts)
		if err != nil {
			return err
		}
	} else if opts.Kustomization != "" {
		root := opts.Root
		if root == "" {
			root = "."
		}
		if _, err := AttachFetchers(opts, resolver, DetectWorkTree(root), root, local); err != nil {
			return err
		}
		tree, err = buildOne(ctx, opts, dec, b, resolver)
	} else {
		root, path, rerr := RepoRoot(opts.Root, opts.Path)
		if rerr != nil {
			return rerr
		}
		charts, err := AttachFetchers(opts, resolver, DetectWorkTree(root), root, local)
		if err != nil {
			return err
		}
		tree, err = b.BuildTree(ctx, dec, build.TreeOptions{Root: root, Path: path, Sources: resolver, Charts: charts, Concurrency: opts.Concurrency, Given: local})
		if err != nil {
			return err
		}
	}
	if err != nil {
		return err
	}
	if tree.Sources == nil {
		tree.Sources = build.UsedSources(resolver)
	}
	for _, s := range tree.Sources {
		fmt.Fprintf(opts.IO.ErrOut, "source %s: %s\n", s.ID, s.From)
	}
	if !opts.ShowSecrets {
		// Kustomizations print Secrets as Flux does (the builder masks what SOPS encrypted); the
		// Secrets a chart renders, which Flux never prints, may hold values from the cluster.
		for _, n := range tree.Nodes {
			if n.Kind != build.KindHelmRelease {
				continue
			}
			for _, o := range n.Objects {
				MaskSecret(o)
			}
		}
	}
	if opts.OutputDir != "" {
		err = writeDir(opts.OutputDir, tree)
	} else {
		err = write(opts.IO.Out, opts.Output, tree)
	}
	if err != nil {
		return err
	}
	st := opts.IO.ErrStyles()
	cmdutil.PrintWarnings(opts.IO.ErrOut, st, tree.Warnings())
	for _, n := range tree.Nodes {
		if n.Err != nil {
			for _, line := range flatten(n.Err) {
				fmt.Fprintln(opts.IO.ErrOut, st.FailureLine(line.Error()))
			}
		}
	}
	built, failed, skipped := tree.Counts()
	summary := fmt.Sprintf("%d built, %d failed, %d skipped", built, failed, skipped)
	if failed+skipped > 0 {
		fmt.Fprintln(opts.IO.ErrOut, st.FailureLine(summary))
		return &cmdutil.SilentError{Code: cmdutil.ExitError}
	}
	fmt.Fprintln(opts.IO.ErrOut, st.SuccessLine(summary))
	return nil
}

// AttachFetchers lets resolver fetch the sources it has no folder for into the --cache-dir store, and
// serve the GitRepositories of the work tree wt (nil outside Git) from the work tree itself or, at
// another ref, from the local repository (see fetch.Fetchers.Source); spec.include resolves through
// resolver; root is the tree's own source. It returns the chart loader for HelmReleases, using the same store.
func AttachFetchers(opts *Options, resolver *fetch.Resolver, wt *git.WorkTree, root string, secrets source.Secrets) (*fetch.Charts, error) {
	store, err := source.OpenStore(opts.CacheDir)
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
	return &fetch.Charts{Sources: resolver, Fetcher: srchelm.New(store, secrets)}, nil
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

// NewBuilder returns a builder that reads substituteFrom, valuesFrom and decryption Secrets through vars
// and renders HelmReleases. The local SOPS keys are those of the build.LocalResources in vars (itself,
// or a member of a kube.Chain).
func NewBuilder(vars interface {
	source.ConfigMaps
	source.Secrets
}) *build.Builder {
	b := &build.Builder{ConfigMaps: vars, Secrets: vars, Strict: true, LocalKeys: localKeys(vars)}
	b.Helm = &helm.Renderer{ConfigMaps: vars, Secrets: vars, KustomizeLock: b.KustomizeLock()}
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

// Inputs reads the --local-resource, --decryption-key and --local-source flags, and the SOPS_AGE_KEY
// and SOPS_AGE_KEY_FILE environment variables.
func Inputs(opts *Options) (*build.LocalResources, *fetch.Resolver, error) {
	local := build.NewLocalResources()
	keys := &build.DecryptionKeys{}
	if err := keys.AddFromEnv(os.Getenv); err != nil {
		return nil, nil, err
	}
	for _, file := range opts.DecryptionKeys {
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
	for _, spec := range opts.LocalResources {
		ref, file, ok := strings.Cut(spec, "=")
		parts := strings.Split(ref, "/")
		if !ok || len(parts) != 3 {
			return nil, nil, cmdutil.FlagErrorf("--local-resource %q: want Kind/namespace/name=FILE", spec)
		}
		if err := local.AddFile(parts[0], parts[1], parts[2], file); err != nil {
			if errors.Is(err, build.ErrNoDecryptionKey) {
				err = fmt.Errorf("%w (give the key with --decryption-key FILE, SOPS_AGE_KEY or SOPS_AGE_KEY_FILE)", err)
			}
			return nil, nil, err
		}
	}
	resolver := &fetch.Resolver{Local: map[string]string{}}
	for _, spec := range opts.LocalSources {
		key, dir, err := fetch.ParseLocalSource(spec)
		if err != nil {
			return nil, nil, cmdutil.FlagErrorf("--local-source %w", err)
		}
		resolver.Local[key] = dir
	}
	return local, resolver, nil
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// renderOne renders the HelmRelease opts names from opts.HelmReleaseFile, with the sources that file
// declares.
func renderOne(ctx context.Context, opts *Options, dec *manifest.Decoder, b *build.Builder, charts *fetch.Charts) (*build.Tree, error) {
	data, err := os.ReadFile(opts.HelmReleaseFile)
	if err != nil {
		return nil, err
	}
	objs, err := dec.Decode(ctx, opts.HelmReleaseFile, data)
	if err != nil {
		return nil, err
	}
	var hr *helmv2.HelmRelease
	declared := map[string]runtime.Object{}
	for _, o := range objs {
		switch v := o.Typed.(type) {
		case *helmv2.HelmRelease:
			if v.Name == opts.HelmRelease && v.Namespace == opts.Namespace {
				hr = v
			}
		case nil:
		default:
			gvk := v.GetObjectKind().GroupVersionKind()
			declared[gvk.Kind+"/"+o.Unstructured.GetNamespace()+"/"+o.Unstructured.GetName()] = v
		}
	}
	if hr == nil {
		return nil, fmt.Errorf("%s defines no HelmRelease %s/%s", opts.HelmReleaseFile, opts.Namespace, opts.HelmRelease)
	}
	node := &build.Node{Kind: build.KindHelmRelease, Kustomization: hr.Namespace + "/" + hr.Name}
	chrt, digest, err := charts.ResolveChart(ctx, hr, declared)
	node.ChartDigest = digest
	if err != nil {
		node.Err = fmt.Errorf("HelmRelease %s: chart: %w", node.Kustomization, err)
	} else if res, err := b.Helm.Render(ctx, hr, chrt); err != nil {
		node.Err = err
	} else {
		node.Objects = res.Objects
	}
	return &build.Tree{Nodes: []*build.Node{node}}, nil
}

func buildOne(ctx context.Context, opts *Options, dec *manifest.Decoder, b *build.Builder, resolver *fetch.Resolver) (*build.Tree, error) {
	data, err := os.ReadFile(opts.KustomizationFile)
	if err != nil {
		return nil, err
	}
	objs, err := dec.Decode(ctx, opts.KustomizationFile, data)
	if err != nil {
		return nil, err
	}
	var ks *kustomizev1.Kustomization
	for _, o := range objs {
		if k, ok := o.Typed.(*kustomizev1.Kustomization); ok && k.Name == opts.Kustomization && (k.Namespace == opts.Namespace || k.Namespace == "" && opts.Namespace == cmdutil.DefaultNamespace) {
			ks = k
		}
	}
	if ks == nil {
		return nil, fmt.Errorf("%s defines no Kustomization %s/%s", opts.KustomizationFile, opts.Namespace, opts.Kustomization)
	}
	var root string
	if opts.Path != "" {
		r, p, err := RepoRoot(opts.Root, opts.Path)
		if err != nil {
			return nil, err
		}
		root, ks.Spec.Path = r, p
	} else {
		ns := ks.Spec.SourceRef.Namespace
		if ns == "" {
			ns = ks.Namespace
		}
		root, err = resolver.ResolveSource(ctx, ks.Spec.SourceRef.Kind, ns, ks.Spec.SourceRef.Name, nil)
		if err != nil {
			return nil, fmt.Errorf("Kustomization %s/%s: %w (or give --path)", ks.Namespace, ks.Name, err)
		}
	}
	node := &build.Node{Kind: build.KindKustomization, Kustomization: ks.Namespace + "/" + ks.Name}
	res, err := b.Build(ctx, ks, root)
	if err != nil {
		node.Err = err
	} else {
		node.Objects = res.Objects
	}
	return &build.Tree{Nodes: []*build.Node{node}}, nil
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

type jsonNode struct {
	Kind          string `json:"kind"`
	Kustomization string `json:"name"`
	Parent        string `json:"parent,omitempty"`
	// Status is built, failed or skipped; Reason says why a node was skipped.
	Status   string           `json:"status"`
	Reason   string           `json:"reason,omitempty"`
	Objects  []map[string]any `json:"objects"`
	Error    string           `json:"error,omitempty"`
	Warnings []string         `json:"warnings,omitempty"`
}

func write(w io.Writer, format string, tree *build.Tree) error {
	if format == cmdutil.OutputJSON {
		out := make([]jsonNode, 0, len(tree.Nodes))
		for _, n := range tree.Nodes {
			jn := jsonNode{Kind: n.Kind, Kustomization: n.Kustomization, Parent: n.Parent, Status: n.Status(), Objects: []map[string]any{}, Warnings: n.Warnings}
			for _, o := range n.Objects {
				jn.Objects = append(jn.Objects, o.Object)
			}
			var skip *build.SkippedError
			switch {
			case errors.As(n.Err, &skip):
				jn.Reason = skip.Reason
			case n.Err != nil:
				jn.Error = n.Err.Error()
			}
			out = append(out, jn)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	for _, n := range tree.FluxOrder() {
		for _, o := range n.Objects {
			b, err := yaml.Marshal(o.Object)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(w, "---\n# Source: %s %s\n%s", n.Kind, n.Kustomization, b); err != nil {
				return err
			}
		}
	}
	return nil
}

func writeDir(dir string, tree *build.Tree) error {
	for _, n := range tree.Nodes {
		if n.Err != nil {
			continue
		}
		folder := filepath.Join(dir, strings.ToLower(n.Kind), strings.ReplaceAll(n.Kustomization, "/", "_"))
		if err := os.MkdirAll(folder, 0o755); err != nil {
			return err
		}
		names := map[string]bool{}
		for _, o := range n.Objects {
			name := strings.ToLower(o.GetKind())
			if ns := o.GetNamespace(); ns != "" {
				name += "_" + ns
			}
			name += "_" + o.GetName() + ".yaml"
			if names[name] {
				return errors.New("two objects would be written to " + filepath.Join(folder, name))
			}
			names[name] = true
			b, err := yaml.Marshal(o.Object)
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(folder, name), b, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}
