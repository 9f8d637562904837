package diff

import (
	"context"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/driver"
	"github.com/converge-gitops/converge/engine/kinds"
)

// KustomizationOptions are the inputs of `diff kustomization NAME`, Flux's shape of diff.
type KustomizationOptions struct {
	Options
	Diff driver.KustomizationDiff
	// Flux's flags: --local-sources adds to the workspace's local sources; --progress-bar and
	// --in-memory-build change nothing here (converge prints no bar and never writes into the folder).
	LocalSources     map[string]string
	IgnorePaths      []string
	Recursive        bool
	StrictSubstitute bool
	ProgressBar      bool
	InMemoryBuild    bool
}

func newCmdDiffKustomization(f *cmdutil.Factory) *cobra.Command {
	o := &KustomizationOptions{}
	kind := kinds.MustByKey("kustomizations")
	cmd := &cobra.Command{
		Use:     "kustomization NAME",
		Aliases: []string{"ks"},
		Short:   "Diff one Kustomization, built from a local folder, with the cluster",
		Long: `Diff kustomization builds one Kustomization (read from the cluster, or from --kustomization-file) from
the local folder --path (default: its source), dry-runs its objects on the server and prints what applying
it would change, prune included. Exit status, as Flux's: 0 no differences, 1 differences, 2 the diff failed.`,
		Example: `  # Preview local changes of a Kustomization against the cluster
  converge diff kustomization my-app --path ./path/to/local/manifests

  # With the Kustomization from a local file
  converge diff kustomization my-app --path ./path/to/local/manifests --kustomization-file ./path/to/local/my-app.yaml`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: cmdutil.CompleteNames(f, kind),
		RunE:              cmdutil.RunE(f, o, true),
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Diff.Workspace.Path, "path", "", "local folder to build instead of the Kustomization's spec.path in its source")
	fl.StringVar(&o.Diff.File, "kustomization-file", "", "file that defines the Kustomization (default: read it from the cluster)")
	fl.StringToStringVar(&o.LocalSources, "local-sources", nil, "use folders as sources' files: Kind/namespace/name=PATH,...")
	fl.BoolVar(&o.Diff.IgnoreNotFound, "ignore-not-found", false, "no differences when the Kustomization is not in the cluster")
	fl.StringSliceVar(&o.IgnorePaths, "ignore-paths", nil, "paths to leave out of the build, .gitignore format (not supported yet)")
	fl.BoolVarP(&o.Recursive, "recursive", "r", false, "also diff the Kustomizations the build contains (not supported here: use converge diff PATH)")
	fl.BoolVar(&o.StrictSubstitute, "strict-substitute", false, "fail when a variable without value or default is substituted")
	fl.BoolVar(&o.ProgressBar, "progress-bar", true, "accepted for Flux compatibility: converge prints no progress bar")
	fl.BoolVar(&o.InMemoryBuild, "in-memory-build", false, "accepted for Flux compatibility: converge never writes into the folder it builds")
	fl.StringVar(&o.Diff.Workspace.Root, "root", "", "root folder of the repository the path belongs to (default: the enclosing Git work tree)")
	fl.StringVar(&o.Diff.Workspace.CacheDir, "cache-dir", "", "artifact store for fetched sources")
	cmdutil.AddDecryptionKeyFlag(fl, &o.Diff.Workspace.DecryptionKeys)
	fl.BoolVar(&o.ShowSecrets, "show-secrets", false, "print Secret values instead of masking them")
	fl.BoolVar(&o.Summary, "summary", false, "list changed objects without their diffs")
	cmdutil.AddOutputFlag(cmd, &o.Output, cmdutil.OutputTable, cmdutil.OutputJSON, OutputMarkdown)
	return cmd
}

// Complete takes the NAME, namespace, clients and clock.
func (o *KustomizationOptions) Complete(f *cmdutil.Factory, _ *cobra.Command, args []string) error {
	o.IO, o.Clock = f.IO, f.Clock
	d := &o.Diff
	d.Name, d.Namespace, d.DefaultNamespace = args[0], f.Namespace(), cmdutil.DefaultNamespace
	d.Clients, d.Clock, d.ShowSecrets = f.KubeClients, f.Clock, o.ShowSecrets
	for ref, path := range o.LocalSources {
		d.Workspace.LocalSources = append(d.Workspace.LocalSources, ref+"="+path)
	}
	slices.Sort(d.Workspace.LocalSources)
	d.Workspace.LenientSubstitution = !o.StrictSubstitute
	d.Workspace.MaskSOPS = !o.ShowSecrets
	return nil
}

// Validate refuses what converge does not do for one Kustomization, and bad output formats.
func (o *KustomizationOptions) Validate() error {
	switch {
	case o.Recursive:
		return cmdutil.FlagErrorf("--recursive is not supported for one Kustomization: `converge diff PATH` diffs a whole tree")
	case len(o.IgnorePaths) > 0:
		return cmdutil.FlagErrorf("--ignore-paths is not supported yet: list the paths in a .sourceignore file of the folder instead")
	}
	if err := cmdutil.ValidateOutput(o.Output, cmdutil.OutputTable, cmdutil.OutputJSON, OutputMarkdown); err != nil {
		return err
	}
	return cmdutil.ValidateWorkspace(&o.Diff.Workspace)
}

// Run diffs the Kustomization and prints the changes; exit 1 when there are any.
func (o *KustomizationOptions) Run(ctx context.Context) error {
	st := o.IO.ErrStyles()
	start := o.Clock.Now()
	res, err := driver.DiffKustomization(ctx, &o.Diff)
	if err != nil {
		return err
	}
	cmdutil.PrintWarnings(o.IO.ErrOut, st, res.Warnings)
	for _, f := range res.Failures {
		fmt.Fprintln(o.IO.ErrOut, st.FailureLine(f))
	}
	for _, e := range res.Entries {
		o.printEntry(e)
	}
	return o.finish(res.Entries, res.Unchanged, res.Failures, start)
}
