// Package images implements `converge images update`: the image update automation as a one-shot command
// over a work tree, for CI jobs that move image tags without an agent.
package images

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
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

// Report is what `images update -o json` prints.
type Report struct {
	Policies []image.Election     `json:"policies"`
	Changes  []image.Change       `json:"changes"`
	Errors   []*image.MarkerError `json:"markerErrors,omitempty"`
	Commit   string               `json:"commit,omitempty"`
}

// NewCmdImages returns `converge images` with its update subcommand.
func NewCmdImages(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "images", Short: "Image update automation without an agent"}
	cmd.AddCommand(newCmdUpdate(f))
	return cmd
}

func newCmdUpdate(f *cmdutil.Factory) *cobra.Command {
	opts := &Options{IO: f.IO, Clock: f.Clock}
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
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Path = "."
			if len(args) == 1 {
				opts.Path = args[0]
			}
			if err := cmdutil.ValidateOutput(opts.Output, cmdutil.OutputTable, cmdutil.OutputJSON, cmdutil.OutputYAML); err != nil {
				return err
			}
			if opts.Commit && opts.AuthorEmail == "" {
				return cmdutil.FlagErrorf("--commit needs --author-email")
			}
			if opts.Commit && opts.DryRun {
				return cmdutil.FlagErrorf("--commit and --dry-run exclude each other")
			}
			opts.Namespace = f.Namespace()
			opts.Secrets = func() (source.Secrets, error) { return f.KubeClients() }
			opts.Cluster = func(ctx context.Context, namespace string) (*image.Objects, error) {
				c, err := f.KubeClients()
				if err != nil {
					return nil, err
				}
				return clusterObjects(ctx, c.Dynamic, namespace)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), f.Timeout)
			defer cancel()
			return Run(ctx, opts)
		},
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

// Run performs the update and reports it.
func Run(ctx context.Context, opts *Options) error {
	root, err := filepath.Abs(opts.Path)
	if err != nil {
		return err
	}
	if opts.Commit {
		if err := checkNothingStaged(root); err != nil {
			return err
		}
	}
	var objs *image.Objects
	if opts.FromCluster {
		objs, err = opts.Cluster(ctx, opts.Namespace)
	} else {
		objs, err = image.LoadObjects(root, opts.Namespace)
	}
	if err != nil {
		return err
	}
	if len(objs.Policies) == 0 {
		where := root
		if opts.FromCluster {
			where = "namespace " + opts.Namespace
		}
		return fmt.Errorf("no ImagePolicy found in %s", where)
	}
	store, err := source.OpenStore(opts.CacheDir)
	if err != nil {
		return err
	}
	scanner := &image.Scanner{Store: store, Clock: opts.Clock}
	if needsSecrets(objs) && opts.Secrets != nil {
		if scanner.Secrets, err = opts.Secrets(); err != nil {
			return fmt.Errorf("ImageRepositories reference Secrets, which are read from the cluster: %w", err)
		}
	}
	policies, elections := scanner.Elect(ctx, objs)
	known := map[string]bool{}
	for _, p := range objs.Policies {
		known[p.Namespace+"/"+p.Name] = true
	}
	res, problems, err := image.UpdateFiles(root, root, policies, image.UpdateOptions{DryRun: opts.DryRun,
		Known: func(ns, name string) bool { return known[ns+"/"+name] }})
	if err != nil {
		return err
	}
	report := Report{Policies: elections, Changes: res.All(), Errors: problems}
	if report.Changes == nil {
		report.Changes = []image.Change{}
	}
	if opts.Commit && len(report.Changes) > 0 {
		if report.Commit, err = commit(root, res, opts); err != nil {
			return err
		}
	}
	if err := render(opts, report); err != nil {
		return err
	}
	failed := len(problems) > 0
	for _, e := range elections {
		failed = failed || e.Error != ""
	}
	switch {
	case failed:
		return &cmdutil.SilentError{Code: 2}
	case opts.ExitCode && len(report.Changes) > 0:
		return &cmdutil.SilentError{Code: 1}
	}
	return nil
}

func needsSecrets(objs *image.Objects) bool {
	for _, r := range objs.Repositories {
		if r.Spec.SecretRef != nil || r.Spec.CertSecretRef != nil || r.Spec.ProxySecretRef != nil {
			return true
		}
	}
	return false
}

func render(opts *Options, r Report) error {
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

// checkNothingStaged refuses a work tree whose index differs from HEAD: the image update commit would
// carry the user's staged changes too. It runs before any file is rewritten.
func checkNothingStaged(root string) error {
	repo, err := git.PlainOpenWithOptions(root, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return fmt.Errorf("--commit: %s is not in a Git work tree: %w", root, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return err
	}
	st, err := wt.Status()
	if err != nil {
		return fmt.Errorf("--commit: reading the work tree status: %w", err)
	}
	var staged []string
	for name, fs := range st {
		if fs.Staging != git.Unmodified && fs.Staging != git.Untracked {
			staged = append(staged, name)
		}
	}
	if len(staged) > 0 {
		sort.Strings(staged)
		return fmt.Errorf("--commit: the index already has staged changes (%s): commit or unstage them first, the image update commit would include them", strings.Join(staged, ", "))
	}
	return nil
}

// commit commits the changed files (named relative to root) in the work tree holding root.
func commit(root string, res image.Result, opts *Options) (string, error) {
	repo, err := git.PlainOpenWithOptions(root, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return "", fmt.Errorf("--commit: %s is not in a Git work tree: %w", root, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return "", err
	}
	top := wt.Filesystem.Root()
	for _, f := range res.Files() {
		rel, err := filepath.Rel(top, filepath.Join(root, filepath.FromSlash(f)))
		if err != nil {
			return "", err
		}
		if _, err := wt.Add(filepath.ToSlash(rel)); err != nil {
			return "", fmt.Errorf("staging %s: %w", rel, err)
		}
	}
	msg, err := image.RenderMessage(opts.Message, image.TemplateData{Changed: res})
	if err != nil {
		return "", err
	}
	now := opts.Clock.Now()
	sig := &object.Signature{Name: opts.AuthorName, Email: opts.AuthorEmail, When: now}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		return "", fmt.Errorf("committing: %w", err)
	}
	return h.String(), nil
}
