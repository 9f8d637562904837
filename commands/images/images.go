// Package images implements `converge images update`: the image update automation as a one-shot command
// over a work tree, for CI jobs that move image tags without an agent.
package images

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/image"
	"github.com/converge-gitops/converge/engine/source"
)

// Options are the inputs of `converge images update`.
type Options struct {
	IO          *cmdutil.IOStreams
	Path        string
	Namespace   string
	FromCluster bool
	DryRun      bool
	Output      string
	ExitCode    bool
	CacheDir    string

	Commit      bool
	AuthorName  string
	AuthorEmail string
	Message     string

	// Secrets resolves the ImageRepositories' secretRef and certSecretRef (the cluster's); nil without one.
	Secrets func() (source.Secrets, error)
	// Cluster lists the image objects of the namespace (--from-cluster).
	Cluster func(ctx context.Context, namespace string) (*image.Objects, error)
	Clock   clock.PassiveClock
}

var _ cmdutil.Runner = (*Options)(nil)

// Report is what `images update -o json` prints.
type Report = image.WorkTreeResult

// NewCmdImages returns `converge images` with its update subcommand.
func NewCmdImages(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "images", Short: "Image update automation without an agent"}
	cmd.AddCommand(newCmdUpdate(f))
	return cmd
}

func newCmdUpdate(f *cmdutil.Factory) *cobra.Command {
	opts := &Options{}
	cmd := &cobra.Command{
		Use:   "update [PATH]",
		Short: "Move the image tags marked with $imagepolicy comments to the latest images",
		Long: `Update scans the registries of the ImageRepositories found under PATH (or, with --from-cluster, in the
-n namespace of the cluster), elects each ImagePolicy's latest image as Flux's image-reflector-controller
does, and rewrites the values marked with Flux's setter comments in the YAML files under PATH:

  image: ghcr.io/org/app:1.0.0 # {"$imagepolicy": "flux-system:app"}
  tag: 1.0.0 # {"$imagepolicy": "flux-system:app:tag"}    (also :name and :digest)

Only the marked values change; comments, formatting and other lines are kept byte for byte. Each change
is printed; --commit commits the changed files in the Git work tree holding PATH with the commit message
template (Flux's template data: .Changed.FileChanges, .Changed.Objects, .Changed.Changes).

Exit codes: 0 success (with or without changes), 1 files changed and --exit-code given, 2 errors: a
policy that elects nothing, an unreachable registry, a marker naming an ImagePolicy that does not exist
(the other markers are still applied).`,
		Example: `  converge images update ./clusters/prod
  converge images update . --commit --author-email bot@example.com
  converge images update apps --from-cluster -n flux-system --dry-run -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: cmdutil.RunE(f, opts, true),
	}
	fl := cmd.Flags()
	fl.BoolVar(&opts.FromCluster, "from-cluster", false, "use the ImageRepositories and ImagePolicies of the cluster's -n namespace instead of those under PATH")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "print the changes without writing files")
	fl.BoolVar(&opts.ExitCode, "exit-code", false, "exit with 1 when files changed (as git diff --exit-code)")
	fl.StringVar(&opts.CacheDir, "cache-dir", "", "artifact store for the scanned tags (default "+source.DefaultRoot()+")")
	fl.BoolVar(&opts.Commit, "commit", false, "commit the changed files in the Git work tree holding PATH")
	fl.StringVar(&opts.AuthorName, "author-name", "converge", "commit author name")
	fl.StringVar(&opts.AuthorEmail, "author-email", "", "commit author email (required with --commit)")
	fl.StringVar(&opts.Message, "message", image.DefaultMessageTemplate, "commit message template (Go template over Flux's .Changed data)")
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.OutputTable, cmdutil.OutputJSON, cmdutil.OutputYAML)
	return cmd
}

// Complete takes PATH (default ".") and the namespace, and wires the cluster's Secrets and objects.
func (o *Options) Complete(f *cmdutil.Factory, _ *cobra.Command, args []string) error {
	o.IO, o.Clock = f.IO, f.Clock
	o.Path = "."
	if len(args) == 1 {
		o.Path = args[0]
	}
	o.Namespace = f.Namespace()
	o.Secrets = func() (source.Secrets, error) { return f.KubeClients() }
	o.Cluster = func(ctx context.Context, namespace string) (*image.Objects, error) {
		c, err := f.KubeClients()
		if err != nil {
			return nil, err
		}
		return clusterObjects(ctx, c.Dynamic, namespace)
	}
	return nil
}

// Validate refuses an unknown output format and --commit without an author email or with --dry-run.
func (o *Options) Validate() error {
	if err := cmdutil.ValidateOutput(o.Output, cmdutil.OutputTable, cmdutil.OutputJSON, cmdutil.OutputYAML); err != nil {
		return err
	}
	if o.Commit && o.AuthorEmail == "" {
		return cmdutil.FlagErrorf("--commit needs --author-email")
	}
	if o.Commit && o.DryRun {
		return cmdutil.FlagErrorf("--commit and --dry-run exclude each other")
	}
	return nil
}

// Run performs the update (one engine call) and reports it.
func (o *Options) Run(ctx context.Context) error {
	u := image.WorkTreeUpdate{Root: o.Path, Namespace: o.Namespace, FromCluster: o.FromCluster, Cluster: o.Cluster,
		CacheDir: o.CacheDir, Secrets: o.Secrets, DryRun: o.DryRun, Clock: o.Clock}
	if o.Commit {
		u.Commit = &image.WorkTreeCommit{AuthorName: o.AuthorName, AuthorEmail: o.AuthorEmail, MessageTemplate: o.Message}
	}
	report, err := image.UpdateWorkTree(ctx, u)
	if err != nil {
		return err
	}
	if err := render(o, report); err != nil {
		return err
	}
	switch {
	case report.Failed():
		return &cmdutil.SilentError{Code: 2}
	case o.ExitCode && len(report.Changes) > 0:
		return &cmdutil.SilentError{Code: 1}
	}
	return nil
}

func render(opts *Options, r *Report) error {
	if opts.Output != cmdutil.OutputTable {
		return cmdutil.WriteData(opts.IO.Out, opts.Output, r)
	}
	st := opts.IO.ErrStyles()
	for _, e := range r.Policies {
		if e.Error != "" {
			fmt.Fprintln(opts.IO.ErrOut, st.FailureLine(e.Error))
		}
	}
	for _, p := range r.Errors {
		fmt.Fprintln(opts.IO.ErrOut, st.FailureLine(p.Error()))
	}
	if len(r.Changes) == 0 {
		fmt.Fprintln(opts.IO.ErrOut, st.SuccessLine("no image to update"))
		return nil
	}
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tOBJECT\tOLD\tNEW\tPOLICY")
	for _, c := range r.Changes {
		fmt.Fprintf(tw, "%s:%d\t%s\t%s\t%s\t%s\n", c.File, c.Line, c.Object, c.OldValue, c.NewValue, c.Setter)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Commit != "" {
		fmt.Fprintln(opts.IO.ErrOut, st.SuccessLine("committed "+r.Commit))
	}
	return nil
}
