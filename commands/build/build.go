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
	"slices"
	"strings"

	"github.com/spf13/cobra"
	k8sversion "k8s.io/apimachinery/pkg/util/version"
	"sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/build"
	"github.com/converge-gitops/converge/engine/driver"
	"github.com/converge-gitops/converge/engine/helmrelease"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/manifest"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/workspace"
)

// Options are the inputs of `converge build`.
type Options struct {
	IO *cmdutil.IOStreams

	// Workspace are the build's inputs: Path is the folder of a tree build, or the folder of one
	// Kustomization (--path).
	Workspace workspace.Options
	// Kustomization names one Kustomization to build, with KustomizationFile holding its definition.
	Kustomization     string
	KustomizationFile string
	// HelmRelease names one HelmRelease to render, with HelmReleaseFile holding its definition.
	HelmRelease     string
	HelmReleaseFile string
	Namespace       string

	Output      string
	OutputDir   string
	ShowSecrets bool

	// Flux's flags of build kustomization. LocalSourcesMap (--local-sources) adds to
	// Workspace.LocalSources; DryRun builds without the cluster, from --kustomization-file;
	// StrictSubstitute fails on variables without value or default; InMemoryBuild is accepted and
	// changes nothing (converge never writes into the folder it builds).
	LocalSourcesMap  map[string]string
	DryRun           bool
	StrictSubstitute bool
	InMemoryBuild    bool
	Recursive        bool
	IgnorePaths      []string
	// Clients reads the Kustomization and its substituteFrom objects from the cluster when no
	// --kustomization-file is given.
	Clients func() (*kube.Clients, error)

	// what is the subcommand run: "", kustomization or helmrelease.
	what string
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

  # One Kustomization of the cluster, built from a local folder (as flux build kustomization)
  converge build kustomization apps --path apps/production

  # One Kustomization, defined in a file, built from a local folder, without a cluster
  converge build kustomization apps --kustomization-file clusters/production/apps.yaml --path apps/production --dry-run

  # Supply the ConfigMaps that postBuild.substituteFrom needs, without a cluster
  converge build clusters/production --local-resource ConfigMap/flux-system/cluster-vars=vars.yaml

  # Decrypt SOPS-encrypted Secrets offline with a local age key (SOPS_AGE_KEY_FILE works too)
  converge build clusters/production --decryption-key ~/.config/sops/age/keys.txt --show-secrets

  # Render HelmReleases for a given cluster version and extra APIs
  converge build clusters/production --kube-version 1.33.2 --api-versions monitoring.coreos.com/v1`,
		Args: cobra.MaximumNArgs(1),
		RunE: cmdutil.RunE(f, opts, true),
	}
	addFlags(cmd, opts)

	ks := &cobra.Command{
		Use:   "kustomization NAME",
		Short: "Render one Kustomization",
		Args:  cobra.ExactArgs(1),
		RunE:  cmdutil.RunE(f, opts, true),
	}
	hr := &cobra.Command{
		Use:   "helmrelease NAME",
		Short: "Render one HelmRelease, as helm-controller would install it",
		Example: `  converge build helmrelease podinfo --helmrelease-file apps/podinfo/release.yaml
  # the file may also hold the HelmRepository; other sources resolve as for a tree build`,
		Args: cobra.ExactArgs(1),
		RunE: cmdutil.RunE(f, opts, true),
	}
	hr.Aliases = []string{"hr"}
	hr.Flags().StringVar(&opts.HelmReleaseFile, "helmrelease-file", "", "file that defines the HelmRelease (and optionally its sources)")
	addFlags(hr, opts)
	cmd.AddCommand(hr)

	ks.Aliases = []string{"ks"}
	ks.Flags().StringVar(&opts.Workspace.Path, "path", "", "local folder to build instead of the Kustomization's spec.path in its source")
	ks.Flags().StringVar(&opts.KustomizationFile, "kustomization-file", "", "file that defines the Kustomization (default: read it from the cluster)")
	ks.Flags().StringToStringVar(&opts.LocalSourcesMap, "local-sources", nil, "use folders as sources' files: Kind/namespace/name=PATH,... (as --local-source)")
	ks.Flags().BoolVar(&opts.DryRun, "dry-run", false, "build without the cluster: needs --kustomization-file")
	ks.Flags().BoolVar(&opts.StrictSubstitute, "strict-substitute", false, "fail when a variable without value or default is substituted (default: substitute \"\")")
	ks.Flags().BoolVar(&opts.InMemoryBuild, "in-memory-build", false, "accepted for Flux compatibility: converge never writes into the folder it builds")
	ks.Flags().BoolVarP(&opts.Recursive, "recursive", "r", false, "also build the Kustomizations the build contains (not supported here: use converge build PATH)")
	ks.Flags().StringSliceVar(&opts.IgnorePaths, "ignore-paths", nil, "paths to leave out of the build, .gitignore format (not supported yet)")
	addFlags(ks, opts)
	cmd.AddCommand(ks)
	return cmd
}

func addFlags(cmd *cobra.Command, opts *Options) {
	fl := cmd.Flags()
	ws := &opts.Workspace
	fl.StringVar(&ws.Root, "root", "", "root folder of the repository the path belongs to (default: the enclosing Git work tree)")
	fl.StringVar(&ws.CacheDir, "cache-dir", "", "artifact store for fetched sources (default "+source.DefaultRoot()+")")
	fl.StringArrayVar(&ws.LocalSources, "local-source", nil, "use a folder as a source's files: Kind/namespace/name=PATH (repeatable)")
	fl.StringArrayVar(&ws.LocalResources, "local-resource", nil, "a ConfigMap or Secret for substituteFrom: Kind/namespace/name=FILE (repeatable)")
	fl.StringVar(&opts.OutputDir, "output-dir", "", "write a folder per Kustomization instead of printing")
	fl.BoolVar(&opts.ShowSecrets, "show-secrets", false, "print Secret values instead of masking them")
	fl.IntVar(&ws.Concurrency, "concurrency", 4, "Kustomizations built in parallel")
	cmdutil.AddDecryptionKeyFlag(fl, &ws.DecryptionKeys)
	fl.StringVar(&ws.KubeVersion, "kube-version", "", "Kubernetes version HelmReleases are rendered for (.Capabilities.KubeVersion; default "+helmrelease.DefaultKubeVersion()+")")
	fl.StringSliceVar(&ws.APIVersions, "api-versions", nil, "API versions added to .Capabilities.APIVersions, as group/version or group/version/Kind (comma-separated, repeatable)")
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.OutputYAML, cmdutil.OutputJSON)
}

// Complete takes the PATH of a tree build, or the NAME of the kustomization and helmrelease
// subcommands, and the namespace.
func (o *Options) Complete(f *cmdutil.Factory, cmd *cobra.Command, args []string) error {
	o.what = cmd.Name()
	switch o.what {
	case "kustomization":
		o.Kustomization = args[0]
		for ref, path := range o.LocalSourcesMap {
			o.Workspace.LocalSources = append(o.Workspace.LocalSources, ref+"="+path)
		}
		slices.Sort(o.Workspace.LocalSources)
		o.Workspace.LenientSubstitution = !o.StrictSubstitute
		if o.Clients == nil {
			o.Clients = f.KubeClients
		}
	case "helmrelease":
		o.HelmRelease = args[0]
	default:
		o.what = ""
		if len(args) == 1 {
			o.Workspace.Path = args[0]
		}
		if o.Workspace.Path == "" {
			o.Workspace.Path = "."
		}
	}
	o.Namespace = f.Namespace()
	o.Workspace.MaskSOPS = !o.ShowSecrets
	if o.Workspace.RenderCache == nil {
		o.Workspace.RenderCache = f.RenderCache()
	}
	return nil
}

// Validate refuses bad flags before anything is read.
func (o *Options) Validate() error {
	switch {
	case o.what == "kustomization" && o.DryRun && o.KustomizationFile == "":
		return cmdutil.FlagErrorf("--dry-run builds without the cluster: give the Kustomization with --kustomization-file")
	case o.Recursive:
		return cmdutil.FlagErrorf("--recursive is not supported for one Kustomization: `converge build PATH` builds a whole tree recursively")
	case len(o.IgnorePaths) > 0:
		return cmdutil.FlagErrorf("--ignore-paths is not supported yet: list the paths in a .sourceignore file of the folder instead")
	case o.what == "helmrelease" && o.HelmReleaseFile == "":
		return cmdutil.FlagErrorf("--helmrelease-file is required")
	}
	if err := cmdutil.ValidateOutput(o.Output, cmdutil.OutputYAML, cmdutil.OutputJSON); err != nil {
		return err
	}
	if o.Workspace.Concurrency < 1 {
		return cmdutil.FlagErrorf("--concurrency must be at least 1")
	}
	if o.Workspace.KubeVersion != "" {
		if _, err := k8sversion.ParseGeneric(o.Workspace.KubeVersion); err != nil {
			return cmdutil.FlagErrorf("--kube-version %q: want a version such as 1.33.2 or v1.33.2", o.Workspace.KubeVersion)
		}
	}
	for _, v := range o.Workspace.APIVersions {
		if v == "" || strings.ContainsAny(v, " \t") || strings.Count(v, "/") > 2 || strings.HasPrefix(v, "/") || strings.HasSuffix(v, "/") {
			return cmdutil.FlagErrorf("--api-versions %q: want group/version or group/version/Kind", v)
		}
	}
	return cmdutil.ValidateWorkspace(&o.Workspace)
}

// Run builds and prints.
func (o *Options) Run(ctx context.Context) error {
	dec, err := manifest.NewDecoder()
	if err != nil {
		return err
	}
	tree, err := o.build(ctx, dec)
	if err != nil {
		return err
	}
	for _, s := range tree.Sources {
		fmt.Fprintf(o.IO.ErrOut, "source %s: %s\n", s.ID, s.From)
	}
	if !o.ShowSecrets {
		workspace.MaskRenderedSecrets(tree)
	}
	if o.OutputDir != "" {
		err = writeDir(o.OutputDir, tree)
	} else {
		err = write(o.IO.Out, o.Output, tree)
	}
	if err != nil {
		return err
	}
	st := o.IO.ErrStyles()
	cmdutil.PrintWarnings(o.IO.ErrOut, st, tree.Warnings())
	for _, n := range tree.Nodes {
		if n.Err != nil {
			for _, line := range flatten(n.Err) {
				fmt.Fprintln(o.IO.ErrOut, st.FailureLine(line.Error()))
			}
		}
	}
	built, failed, skipped := tree.Counts()
	summary := fmt.Sprintf("%d built, %d failed, %d skipped", built, failed, skipped)
	if failed+skipped > 0 {
		fmt.Fprintln(o.IO.ErrOut, st.FailureLine(summary))
		return &cmdutil.SilentError{Code: cmdutil.ExitError}
	}
	fmt.Fprintln(o.IO.ErrOut, st.SuccessLine(summary))
	return nil
}

// build makes the one engine call of the subcommand run.
func (o *Options) build(ctx context.Context, dec *manifest.Decoder) (*build.Tree, error) {
	switch o.what {
	case "helmrelease":
		root := o.Workspace.Root
		if root == "" {
			r, _, err := workspace.RepoRoot("", ".")
			if err != nil {
				return nil, err
			}
			root = r
		}
		ws, err := workspace.OpenAt(&o.Workspace, root, workspace.DetectWorkTree(root), nil)
		if err != nil {
			return nil, err
		}
		return ws.RenderHelmRelease(ctx, dec, o.HelmReleaseFile, o.Namespace, o.HelmRelease)
	case "kustomization":
		root := o.Workspace.Root
		if root == "" {
			root = "."
		}
		if o.KustomizationFile != "" {
			ws, err := workspace.OpenAt(&o.Workspace, root, workspace.DetectWorkTree(root), nil)
			if err != nil {
				return nil, err
			}
			return ws.BuildKustomization(ctx, dec, o.KustomizationFile, o.Namespace, o.Kustomization, cmdutil.DefaultNamespace)
		}
		clients, err := o.Clients()
		if err != nil {
			return nil, err
		}
		ks, err := driver.ClusterKustomization(ctx, clients, o.Namespace, o.Kustomization)
		if err != nil {
			return nil, err
		}
		ws, err := workspace.OpenAt(&o.Workspace, root, workspace.DetectWorkTree(root), clients)
		if err != nil {
			return nil, err
		}
		return ws.BuildKustomizationObject(ctx, ks)
	}
	ws, err := workspace.Open(&o.Workspace, nil)
	if err != nil {
		return nil, err
	}
	return ws.BuildTree(ctx, dec)
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

type jsonNode struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Parent string `json:"parent,omitempty"`
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
			jn := jsonNode{Kind: n.Kind, Name: n.Name, Parent: n.Parent, Status: n.Status(), Objects: []map[string]any{}, Warnings: n.Warnings}
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
			if _, err := fmt.Fprintf(w, "---\n# Source: %s %s\n%s", n.Kind, n.Name, b); err != nil {
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
		folder := filepath.Join(dir, strings.ToLower(n.Kind), strings.ReplaceAll(n.Name, "/", "_"))
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
