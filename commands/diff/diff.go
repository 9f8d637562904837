// Package diff implements `converge diff`.
package diff

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	applycmd "github.com/converge-gitops/converge/commands/apply"
	buildcmd "github.com/converge-gitops/converge/commands/build"
	"github.com/converge-gitops/converge/commands/cmdutil"
	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/engine/build"
	"github.com/converge-gitops/converge/engine/diff"
	"github.com/converge-gitops/converge/engine/manifest"
	"github.com/converge-gitops/converge/engine/reconcile"
)

// Options are the inputs of `converge diff`.
type Options struct {
	Apply applycmd.Options
	// Base, when set, diffs the build at this Git revision against the work tree, offline.
	Base        string
	ShowSecrets bool
	Summary     bool
	Output      string
}

// NewCmdDiff returns the diff command.
func NewCmdDiff(f *cmdutil.Factory) *cobra.Command {
	opts := &Options{Apply: applycmd.Options{Build: buildcmd.Options{IO: f.IO}, Clock: f.Clock, Revision: applycmd.LocalRevision, Clients: f.KubeClients}}
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
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Apply.Build.Path = "."
			if len(args) == 1 {
				opts.Apply.Build.Path = args[0]
			}
			if err := cmdutil.ValidateOutput(opts.Output, cmdutil.OutputTable, cmdutil.OutputJSON, OutputMarkdown); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), f.Timeout)
			defer cancel()
			return Run(ctx, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Apply.Build.Root, "root", "", "root folder of the repository the path belongs to (default: the enclosing Git work tree)")
	fl.StringArrayVar(&opts.Apply.Build.LocalSources, "local-source", nil, "use a folder as a source's files: Kind/namespace/name=PATH (repeatable)")
	fl.StringArrayVar(&opts.Apply.Build.LocalResources, "local-resource", nil, "a ConfigMap or Secret for substituteFrom: Kind/namespace/name=FILE (repeatable)")
	fl.StringVar(&opts.Apply.Build.CacheDir, "cache-dir", "", "artifact store for fetched sources")
	buildcmd.AddDecryptionKeyFlag(fl, &opts.Apply.Build)
	fl.BoolVar(&opts.ShowSecrets, "show-secrets", false, "print Secret values instead of masking them")
	fl.BoolVar(&opts.Summary, "summary", false, "list changed objects without their diffs")
	fl.StringVar(&opts.Base, "base", "", "offline: diff the build at this Git revision (e.g. origin/main) against the work tree; no cluster needed")
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.OutputTable, cmdutil.OutputJSON, OutputMarkdown)
	return cmd
}

// Run diffs every Kustomization and HelmRelease of the tree.
func Run(ctx context.Context, opts *Options) error {
	io := opts.Apply.Build.IO
	st := io.ErrStyles()
	var all []diff.Entry
	var failures []string
	unchanged := 0
	start := time.Now()
	if opts.Base != "" {
		entries, same, errs, err := runOffline(ctx, opts)
		if err != nil {
			return err
		}
		unchanged, failures = same, errs
		for _, f := range errs {
			for _, line := range strings.Split(f, "\n") {
				fmt.Fprintln(io.ErrOut, st.FailureLine(line))
			}
		}
		for _, e := range entries {
			all = append(all, e)
			printEntry(opts, e)
		}
		return finish(opts, all, unchanged, failures, start)
	}
	p, err := applycmd.Prepare(ctx, &opts.Apply)
	if err != nil {
		return err
	}
	order, err := applycmd.Order(p.Tree)
	if err != nil {
		return err
	}
	dec, err := manifest.NewDecoder()
	if err != nil {
		return err
	}
	declared := declaredObjects(ctx, dec, p.Tree)
	d := &diff.Differ{Apply: p.Apply, Kustomizations: p.Kustomizations, HelmReleases: p.HelmReleases, Core: p.Clients.Core, ShowSecrets: opts.ShowSecrets}
	for _, n := range order {
		if n.Err != nil {
			failures = append(failures, n.Err.Error())
			for _, line := range strings.Split(n.Err.Error(), "\n") {
				fmt.Fprintln(io.ErrOut, st.FailureLine(line))
			}
			continue
		}
		ns, name, _ := strings.Cut(n.Kustomization, "/")
		var entries []diff.Entry
		if n.Kind == build.KindHelmRelease {
			hr := declared.helmReleases[n.Kustomization]
			if hr == nil {
				err = fmt.Errorf("HelmRelease %s: not found in the build of %s", n.Kustomization, n.Parent)
			} else {
				entries, err = d.HelmRelease(ctx, hr, n.Chart, n.Objects)
			}
		} else if !reconcile.NodeOwnsInventory(n) {
			// As apply: a root no Kustomization points at is applied without an inventory, nothing pruned.
			fmt.Fprintln(io.ErrOut, st.WarningLine(reconcile.NoInventoryReason(p.Path)))
			entries, err = d.Objects(ctx, n.Kustomization, n.Objects)
		} else {
			entries, err = d.Kustomization(ctx, ns, name, declared.kustomizations[n.Kustomization], n.Objects)
		}
		if err != nil {
			failures = append(failures, err.Error())
			fmt.Fprintln(io.ErrOut, st.FailureLine(err.Error()))
			continue
		}
		for _, e := range entries {
			if e.Action == diff.Unchanged || e.Action == diff.Skipped {
				unchanged++
				continue
			}
			all = append(all, e)
			printEntry(opts, e)
		}
	}
	return finish(opts, all, unchanged, failures, start)
}

// declared holds the Kustomizations and HelmReleases as the tree declares them, by namespace/name.
type declared struct {
	kustomizations map[string]*kustomizev1.Kustomization
	helmReleases   map[string]*helmv2.HelmRelease
}

func declaredObjects(ctx context.Context, dec *manifest.Decoder, tree *build.Tree) declared {
	out := declared{kustomizations: map[string]*kustomizev1.Kustomization{}, helmReleases: map[string]*helmv2.HelmRelease{}}
	for _, n := range tree.Nodes {
		if n.Kind == build.KindHelmRelease {
			continue
		}
		for _, o := range n.Objects {
			if !dec.IsFluxKind(o.GroupVersionKind()) {
				continue
			}
			// Decoded to the storage version, as the tree build reads them (older versions converted).
			typed, err := dec.DecodeObject(ctx, "build output of Kustomization "+n.Kustomization, o)
			if err != nil {
				continue // the tree build reported it
			}
			id := o.GetNamespace() + "/" + o.GetName()
			switch v := typed.(type) {
			case *kustomizev1.Kustomization:
				out.kustomizations[id] = v
			case *helmv2.HelmRelease:
				out.helmReleases[id] = v
			}
		}
	}
	return out
}

// printEntry writes one change as text: a line naming it, then its diff unless --summary.
func printEntry(opts *Options, e diff.Entry) {
	if opts.Output != cmdutil.OutputTable {
		return
	}
	io := opts.Apply.Build.IO
	out := io.Styles()
	line := fmt.Sprintf("%s %s %s (%s %s)", marker(out, e.Action), e.Subject, verb(e), e.Owner, e.Kustomization)
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
	return e.Action
}

// finish prints the machine-readable output and the summary, and returns the exit status: 2 when
// something could not be diffed or will fail, 1 for changes, 0 otherwise.
func finish(opts *Options, all []diff.Entry, unchanged int, failures []string, start time.Time) error {
	io := opts.Apply.Build.IO
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
	summary += fmt.Sprintf(" (%s)", time.Since(start).Round(time.Millisecond))
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

func count(entries []diff.Entry, action string) int {
	n := 0
	for _, e := range entries {
		if e.Action == action {
			n++
		}
	}
	return n
}

func marker(st cmdutil.Styles, action string) string {
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
