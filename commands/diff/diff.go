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
	"github.com/converge-gitops/converge/engine/build"
	"github.com/converge-gitops/converge/engine/diff"
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
	opts := &Options{Apply: applycmd.Options{Build: buildcmd.Options{IO: f.IO}, Now: f.Now, Revision: applycmd.LocalRevision, Clients: f.KubeClients}}
	cmd := &cobra.Command{
		Use:   "diff [PATH]",
		Short: "Show what apply would change in the cluster; exit 1 when anything would",
		Long: `Diff builds the tree at PATH exactly as apply would, asks the API server for a server-side dry-run of
every object, and compares the result with the live object. It reports objects to be created, changed and
deleted (what prune would remove), with unified diffs; Secret values are masked. Exit codes: 0 no changes,
1 changes, 2 errors.`,
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

// Run diffs every Kustomization of the tree.
func Run(ctx context.Context, opts *Options) error {
	io := opts.Apply.Build.IO
	st := io.ErrStyles()
	out := io.Styles()
	var all []diff.Entry
	var failures []string
	failed := false
	unchanged := 0
	start := time.Now()
	if opts.Base != "" {
		entries, same, errs, err := runOffline(ctx, opts)
		if err != nil {
			return err
		}
		unchanged, failures, failed = same, errs, len(errs) > 0
		for _, f := range errs {
			fmt.Fprintln(io.ErrOut, st.FailureLine(f))
		}
		for _, e := range entries {
			all = append(all, e)
			if opts.Output == cmdutil.OutputTable {
				fmt.Fprintf(io.Out, "%s %s %s (%s %s)\n", marker(out, e.Action), e.Subject, e.Action, e.Owner, e.Kustomization)
				if !opts.Summary && e.Diff != "" {
					fmt.Fprint(io.Out, colour(out, e.Diff))
				}
			}
		}
		return finish(opts, all, unchanged, failures, failed, start)
	}
	p, err := applycmd.Prepare(ctx, &opts.Apply)
	if err != nil {
		return err
	}
	order, err := applycmd.Order(p.Tree)
	if err != nil {
		return err
	}
	d := &diff.Differ{Apply: p.Apply, Kustomizations: p.Kustomizations, ShowSecrets: opts.ShowSecrets}
	for _, n := range order {
		if n.Err != nil {
			failed = true
			failures = append(failures, n.Err.Error())
			for _, line := range strings.Split(n.Err.Error(), "\n") {
				fmt.Fprintln(io.ErrOut, st.FailureLine(line))
			}
			continue
		}
		ns, name, _ := strings.Cut(n.Kustomization, "/")
		var entries []diff.Entry
		if n.Kind == build.KindHelmRelease {
			entries, err = d.Objects(ctx, n.Kind, n.Kustomization, n.Objects)
		} else {
			entries, err = d.Kustomization(ctx, ns, name, n.Objects)
		}
		if err != nil {
			failed = true
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
			if opts.Output != cmdutil.OutputTable {
				continue
			}
			fmt.Fprintf(io.Out, "%s %s %s (%s %s)\n", marker(out, e.Action), e.Subject, e.Action, e.Owner, e.Kustomization)
			if !opts.Summary && e.Diff != "" {
				fmt.Fprint(io.Out, colour(out, e.Diff))
			}
		}
	}
	return finish(opts, all, unchanged, failures, failed, start)
}

// finish prints the machine-readable output and the summary, and returns the exit status.
func finish(opts *Options, all []diff.Entry, unchanged int, failures []string, failed bool, start time.Time) error {
	io := opts.Apply.Build.IO
	st := io.ErrStyles()
	switch opts.Output {
	case cmdutil.OutputJSON:
		if err := cmdutil.WriteData(io.Out, cmdutil.OutputJSON, map[string]any{"changes": nonNil(all), "unchanged": unchanged}); err != nil {
			return err
		}
	case OutputMarkdown:
		if err := writeMarkdown(io.Out, all, unchanged, failures, markdownLimit); err != nil {
			return err
		}
	}
	summary := fmt.Sprintf("%d to create, %d to change, %d to delete, %d unchanged (%s)", count(all, diff.Created), count(all, diff.Changed),
		count(all, diff.Deleted), unchanged, time.Since(start).Round(time.Millisecond))
	switch {
	case failed:
		fmt.Fprintln(io.ErrOut, st.FailureLine(summary+"; some Kustomizations could not be diffed"))
		return &cmdutil.SilentError{Code: cmdutil.ExitError}
	case len(all) > 0:
		fmt.Fprintln(io.ErrOut, st.WarningLine(summary))
		return cmdutil.ErrChanges
	}
	fmt.Fprintln(io.ErrOut, st.SuccessLine("no changes: "+summary))
	return nil
}

func nonNil(e []diff.Entry) []diff.Entry {
	if e == nil {
		return []diff.Entry{}
	}
	return e
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
