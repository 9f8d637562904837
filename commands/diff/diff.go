// Package diff implements `converge diff`.
package diff

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/diff"
	"github.com/converge-gitops/converge/engine/driver"
)

// Options are the inputs of `converge diff`: the driver's (workspace, clients, revision, clock) and
// what is shown.
type Options struct {
	driver.Options
	IO *cmdutil.IOStreams
	// Base, when set, diffs the build at this Git revision against the work tree, offline.
	Base        string
	ShowSecrets bool
	Summary     bool
	Output      string
}

// NewCmdDiff returns the diff command.
func NewCmdDiff(f *cmdutil.Factory) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "diff [PATH]",
		Short: "Show what apply would change in the cluster; exit 1 when anything would",
		Long: `Diff builds the tree at PATH exactly as apply would and shows what apply would change, without writing:
every object is dry-run on the server (server-side apply, with the Kustomization's force and the ssa and
reconcile annotations apply honours) and compared with the live one; prune deletions come from the live
inventory, with what a deleted Kustomization's finalizer deletes in turn (its inventory, when its
deletionPolicy deletes) and a deleted HelmRelease's uninstall. HelmReleases are diffed object by object as
the release engine would change them: nothing for a release in sync, Helm's own patches (dry-run) for an
upgrade, the stored release's objects the new render drops as deletions. An immutable field change is
reported as "will fail", or "will be recreated" with force; any other dry-run rejection as "will fail" with
the server's message. Secret values are masked.

-o json writes {"changes": [{"owner", "name", "subject", "action", "reason", "diff"}], "unchanged": N,
"errors": [...]}, action being created, changed, recreated, deleted or failed. Exit codes: 0 no changes,
1 changes, 2 errors (including objects that will fail).

With --base, the diffs are headed base/… and head/…; a Kustomization or HelmRelease that fails to build on
one side is an entry of action failed with "side": "base" or "head" (its objects, and those under it, are
not compared) and an error naming that side.`,
		Example: `  converge diff clusters/production
  converge diff clusters/production -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: cmdutil.RunE(f, opts, true),
	}
	fl := cmd.Flags()
	ws := &opts.Workspace
	fl.StringVar(&ws.Root, "root", "", "root folder of the repository the path belongs to (default: the enclosing Git work tree)")
	fl.StringArrayVar(&ws.LocalSources, "local-source", nil, "use a folder as a source's files: Kind/namespace/name=PATH (repeatable)")
	fl.StringArrayVar(&ws.LocalResources, "local-resource", nil, "a ConfigMap or Secret for substituteFrom: Kind/namespace/name=FILE (repeatable)")
	fl.StringVar(&ws.CacheDir, "cache-dir", "", "artifact store for fetched sources")
	cmdutil.AddDecryptionKeyFlag(fl, &ws.DecryptionKeys)
	cmdutil.AddTenancyFlags(fl, &opts.Tenancy)
	fl.BoolVar(&opts.ShowSecrets, "show-secrets", false, "print Secret values instead of masking them")
	fl.BoolVar(&opts.Summary, "summary", false, "list changed objects without their diffs")
	fl.StringVar(&opts.Base, "base", "", "offline: diff the build at this Git revision (e.g. origin/main) against the work tree; no cluster needed")
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.OutputTable, cmdutil.OutputJSON, OutputMarkdown)
	cmd.AddCommand(newCmdDiffKustomization(f))
	return cmd
}

// Complete takes the PATH, and the clients, clock and revision of the factory where not set.
func (o *Options) Complete(f *cmdutil.Factory, _ *cobra.Command, args []string) error {
	cmdutil.CompleteDriver(f, &o.Options, args)
	return nil
}

// Validate refuses bad flags before anything is read.
func (o *Options) Validate() error {
	if err := cmdutil.ValidateOutput(o.Output, cmdutil.OutputTable, cmdutil.OutputJSON, OutputMarkdown); err != nil {
		return err
	}
	return cmdutil.ValidateWorkspace(&o.Workspace)
}

// Run diffs every Kustomization and HelmRelease of the tree: against the cluster, or offline against
// the build at --base.
func (o *Options) Run(ctx context.Context) error {
	io := o.IO
	st := io.ErrStyles()
	start := o.Clock.Now()
	if o.Base != "" {
		res, err := driver.DiffBase(ctx, &o.Workspace, o.Base, o.ShowSecrets)
		if err != nil {
			return err
		}
		cmdutil.PrintWarnings(io.ErrOut, st, res.Warnings) // the change under review
		for _, f := range res.Failures {
			for _, line := range strings.Split(f, "\n") {
				fmt.Fprintln(io.ErrOut, st.FailureLine(line))
			}
		}
		for _, e := range res.Entries {
			o.printEntry(e)
		}
		return o.finish(res.Entries, res.Unchanged, res.Failures, start)
	}
	building := func(e driver.Event) {
		if b, ok := e.(driver.Building); ok {
			fmt.Fprintln(io.ErrOut, st.ActionLine(fmt.Sprintf("building %s at %s", b.Path, b.Revision)))
		}
	}
	drv, err := driver.Prepare(ctx, &o.Options, building)
	if err != nil {
		return err
	}
	cmdutil.PrintWarnings(io.ErrOut, st, drv.Tree.Warnings())
	res, err := drv.Diff(ctx, o.ShowSecrets, func(e driver.Event) {
		d, ok := e.(driver.Diffed)
		if !ok {
			return
		}
		if d.Warning != "" {
			fmt.Fprintln(io.ErrOut, st.WarningLine(d.Warning))
		}
		switch {
		case d.Err != nil && d.BuildFailed:
			for _, line := range strings.Split(d.Err.Error(), "\n") {
				fmt.Fprintln(io.ErrOut, st.FailureLine(line))
			}
		case d.Err != nil:
			fmt.Fprintln(io.ErrOut, st.FailureLine(d.Err.Error()))
		}
		for _, e := range d.Entries {
			o.printEntry(e)
		}
	})
	if err != nil {
		return err
	}
	return o.finish(res.Entries, res.Unchanged, res.Failures, start)
}

// printEntry writes one change as text: a line naming it, then its diff unless --summary.
func (opts *Options) printEntry(e diff.Entry) {
	if opts.Output != cmdutil.OutputTable {
		return
	}
	io := opts.IO
	out := io.Styles()
	line := fmt.Sprintf("%s %s %s (%s %s)", marker(out, e.Action), e.Subject, verb(e), e.Owner, e.OwnerName)
	if e.Side != "" {
		// A build failure on one side of an offline diff: the error lines say it (each names the side).
		line = fmt.Sprintf("%s %s %s: its objects are not compared", marker(out, e.Action), e.Subject, verb(e))
	} else if e.Reason != "" {
		line += ": " + e.Reason
	}
	fmt.Fprintln(io.Out, line)
	if !opts.Summary && e.Diff != "" {
		fmt.Fprint(io.Out, colour(out, e.Diff))
	}
}

func verb(e diff.Entry) string {
	switch {
	case e.Action == diff.Failed && e.Side != "":
		return "failed to build on " + e.Side
	case e.Action == diff.Recreated:
		return "will be recreated"
	case e.Action == diff.Failed:
		return "will fail"
	}
	return string(e.Action)
}

// finish prints the machine-readable output and the summary, and returns the exit status: 2 when
// something could not be diffed or will fail, 1 for changes, 0 otherwise.
func (opts *Options) finish(all []diff.Entry, unchanged int, failures []string, start time.Time) error {
	io := opts.IO
	st := io.ErrStyles()
	switch opts.Output {
	case cmdutil.OutputJSON:
		if err := cmdutil.WriteData(io.Out, cmdutil.OutputJSON, map[string]any{"changes": nonNil(all), "unchanged": unchanged, "errors": nonNilStrings(failures)}); err != nil {
			return err
		}
	case OutputMarkdown:
		if err := writeMarkdown(io.Out, all, unchanged, failures, markdownLimit); err != nil {
			return err
		}
	}
	summary := fmt.Sprintf("%d to create, %d to change, %d to delete, %d unchanged", count(all, diff.Created), count(all, diff.Changed),
		count(all, diff.Deleted), unchanged)
	if n := count(all, diff.Recreated); n > 0 {
		summary += fmt.Sprintf(", %d to recreate", n)
	}
	failing := count(all, diff.Failed) - countBuildFailures(all)
	if failing > 0 {
		summary += fmt.Sprintf(", %d will fail", failing)
	}
	summary += fmt.Sprintf(" (%s)", opts.Clock.Since(start).Round(time.Millisecond))
	switch {
	case len(failures) > 0:
		what := "; some Kustomizations could not be diffed"
		if opts.Base != "" {
			what = "; some Kustomizations or HelmReleases failed to build on one side: their objects are not compared"
		}
		fmt.Fprintln(io.ErrOut, st.FailureLine(summary+what))
		return &cmdutil.SilentError{Code: cmdutil.ExitError}
	case failing > 0:
		fmt.Fprintln(io.ErrOut, st.FailureLine(summary+"; apply would fail on the objects the server rejects"))
		return &cmdutil.SilentError{Code: cmdutil.ExitError}
	case len(all) > 0:
		fmt.Fprintln(io.ErrOut, st.WarningLine(summary))
		return cmdutil.ErrChanges
	}
	fmt.Fprintln(io.ErrOut, st.SuccessLine("no changes: "+summary))
	return nil
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNil(e []diff.Entry) []diff.Entry {
	if e == nil {
		return []diff.Entry{}
	}
	return e
}

// countBuildFailures counts the entries of an offline diff for nodes that failed to build on one side.
func countBuildFailures(entries []diff.Entry) int {
	n := 0
	for _, e := range entries {
		if e.Action == diff.Failed && e.Side != "" {
			n++
		}
	}
	return n
}

func count(entries []diff.Entry, action diff.Action) int {
	n := 0
	for _, e := range entries {
		if e.Action == action {
			n++
		}
	}
	return n
}

func marker(st cmdutil.Styles, action diff.Action) string {
	switch action {
	case diff.Created:
		return st.Added.Render("+")
	case diff.Deleted:
		return st.Removed.Render("-")
	case diff.Failed:
		return st.Removed.Render("!")
	}
	return st.Warning.Render("~")
}

func colour(st cmdutil.Styles, text string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(text, "\n") {
		switch {
		case strings.HasPrefix(line, "+++") || strings.HasPrefix(line, "---"):
			b.WriteString(st.Header.Render(strings.TrimSuffix(line, "\n")) + "\n")
		case strings.HasPrefix(line, "+"):
			b.WriteString(st.Added.Render(strings.TrimSuffix(line, "\n")) + "\n")
		case strings.HasPrefix(line, "-"):
			b.WriteString(st.Removed.Render(strings.TrimSuffix(line, "\n")) + "\n")
		default:
			b.WriteString(line)
		}
	}
	return b.String()
}
