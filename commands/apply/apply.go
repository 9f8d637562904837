// Package apply implements `converge apply`: it renders the progress events and results of the
// engine's tree driver (engine/driver).
package apply

import (
	"context"
	"fmt"
	goio "io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/commands/cmdutil"
	engineapply "github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/build"
	"github.com/converge-gitops/converge/engine/driver"
	"github.com/converge-gitops/converge/engine/events"
	"github.com/converge-gitops/converge/engine/health"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/notify"
	"github.com/converge-gitops/converge/engine/reconcile"
)

// Options are the inputs of `converge apply`: the driver's (workspace, clients, revision, clock,
// concurrency, dependency requeue) and how the result is shown and reported.
type Options struct {
	driver.Options
	IO     *cmdutil.IOStreams
	Output string
	// NoNotify turns off the notifications to the Providers of the cluster's Alerts.
	NoNotify bool
	// NoEvents turns off the core/v1 Events recorded on the Kustomizations and HelmReleases.
	NoEvents bool
}

// NewCmdApply returns the apply command.
func NewCmdApply(f *cmdutil.Factory) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "apply [PATH]",
		Short: "Make the cluster match a tree of Kustomizations now: server-side apply, prune, wait for health",
		Long: `Apply builds the tree at PATH (as converge build does), then reconciles each Kustomization in
dependency order exactly as the agent would: validate with a server-side dry-run, apply in stages, prune
what left the inventory, wait for health, and write the Kustomization's status. A dependsOn outside the
tree is waited for as the agent does (Ready for its current generation, or its readyExpr): checked again
every --requeue-dependency until --timeout; nothing of the dependent is applied before.`,
		Example: `  converge apply clusters/production
  converge apply clusters/production --install-crds`,
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
	fl.BoolVar(&opts.InstallCRDs, "install-crds", false, "install or upgrade the Flux CRDs first")
	fl.IntVar(&opts.Concurrent, "concurrent", 4, "how many independent Kustomizations to reconcile at once")
	fl.BoolVar(&opts.NoNotify, "no-notify", false, "do not send the reconcile events to the Providers of the cluster's Alerts")
	fl.BoolVar(&opts.NoEvents, "no-events", false, "do not record the reconcile results as Kubernetes Events on the Flux objects")
	fl.DurationVar(&opts.DependencyRequeue, "requeue-dependency", 5*time.Second, "how often to check again a dependsOn outside the tree that is not ready (waited for until --timeout)")
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.OutputTable, cmdutil.OutputJSON)
	return cmd
}

// Complete takes the PATH, and the clients, clock and revision of the factory where not set.
func (o *Options) Complete(f *cmdutil.Factory, _ *cobra.Command, args []string) error {
	cmdutil.CompleteDriver(f, &o.Options, args)
	return nil
}

// Validate refuses bad flags before anything is read.
func (o *Options) Validate() error {
	if err := cmdutil.ValidateOutput(o.Output, cmdutil.OutputTable, cmdutil.OutputJSON); err != nil {
		return err
	}
	return cmdutil.ValidateWorkspace(&o.Workspace)
}

// Prepared is what the events and notifications of an apply go through (see notify.go).
type Prepared struct {
	Clients *kube.Clients
	// Notifier, when set, sends each result to the Alerts' Providers.
	Notifier *notify.Notifier
	// Events, when set, records each result as a core/v1 Event on its object, as the agent does.
	Events events.Sink
	Clock  clock.PassiveClock
}

// observer hands the driver's results to the events and notifications of p.
type observer struct{ p *Prepared }

func (o observer) Kustomization(ctx context.Context, res *reconcile.KustomizationResult) {
	o.p.notifyKustomization(ctx, res)
}

func (o observer) HelmRelease(ctx context.Context, namespace, name string, res *reconcile.HelmReleaseResult) {
	o.p.notifyHelmRelease(ctx, namespace, name, res)
}

// Run builds the tree and reconciles every Kustomization and HelmRelease through the engine's driver,
// rendering its progress: those that depend on none of each other concurrently (at most
// Options.Concurrent at a time), each after its parent and its dependsOn.
func (o *Options) Run(ctx context.Context) error {
	io := o.IO
	st := io.ErrStyles()
	start := o.Clock.Now()
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
	p := &Prepared{Clients: drv.Clients, Clock: o.Clock}
	if !o.NoEvents {
		host, _ := os.Hostname()
		p.Events = &events.Kubernetes{Client: p.Clients.Core, Host: host, Clock: o.Clock}
	}
	if !o.NoNotify {
		n, err := startNotifier(ctx, p, o)
		if err != nil {
			fmt.Fprintln(io.ErrOut, st.WarningLine(fmt.Sprintf("notifications off: %v", err)))
		}
		p.Notifier = n
	}
	drv.Observer = observer{p}
	r := &renderer{st: st, w: io.ErrOut, live: io.ErrLive()}
	results, err := drv.Run(ctx, r.event)
	if err != nil {
		return err
	}
	r.close()

	var done []*driver.Result
	failed := false
	for _, res := range results {
		switch {
		case res.Skipped == nil:
			done = append(done, res)
			failed = failed || res.Err() != nil
		case res.Node.Kind != build.KindHelmRelease:
			failed = true // skipped after a failed dependency
		}
	}
	for _, err := range drv.MarkLocalSources(ctx) {
		fmt.Fprintln(io.ErrOut, st.WarningLine(err.Error()))
	}
	if p.Notifier != nil {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notifyWait)
		if err := p.Notifier.Wait(wctx); err != nil {
			fmt.Fprintln(io.ErrOut, st.WarningLine(fmt.Sprintf("notifications still being sent after %s: not waited for", notifyWait)))
		}
		cancel()
	}
	summary(io, st, done, o.Clock.Now().Sub(start))
	if o.Output == cmdutil.OutputJSON {
		if err := cmdutil.WriteData(io.Out, cmdutil.OutputJSON, jsonResults(done)); err != nil {
			return err
		}
	}
	if failed {
		return &cmdutil.SilentError{Code: cmdutil.ExitError}
	}
	return nil
}

// renderer renders the driver's events on the display of the planned nodes.
type renderer struct {
	st   cmdutil.Styles
	w    goio.Writer
	live bool
	d    *display
}

func (r *renderer) event(e driver.Event) {
	st := r.st
	switch e := e.(type) {
	case driver.Planned:
		names := make([]string, len(e.Nodes))
		for i, n := range e.Nodes {
			names[i] = n.Name
		}
		r.d = newDisplay(r.w, st, r.live, names)
	case driver.Phase:
		r.d.phase(e.Index, e.Progress)
	case driver.Started:
		r.d.line(e.Index, st.ActionLine("reconciling "+e.Node.Kind+" "+e.Node.Name))
	case driver.Waiting:
		r.d.line(e.Index, st.WarningLine(fmt.Sprintf("%s %s: %v: waiting (checked every %s)", e.Node.Kind, e.Node.Name, e.Err, e.Every)))
	case driver.NoInventory:
		r.d.line(e.Index, st.WarningLine(e.Reason))
	case driver.Skipped:
		r.d.line(e.Index, st.FailureLine(fmt.Sprintf("%s %s skipped: %s %s failed", e.Node.Kind, e.Node.Name, e.Relation, e.Dependency.Name)))
		r.d.finish(e.Index)
	case driver.Finished:
		if e.Result.HelmRelease != nil {
			reportHelmRelease(r.d, e.Index, st, e.Result.Node.Name, e.Result.HelmRelease)
		} else {
			report(r.d, e.Index, st, e.Result.Kustomization)
		}
		r.d.finish(e.Index)
	}
}

// close prints what the display holds, if any node was planned.
func (r *renderer) close() {
	if r.d != nil {
		r.d.close()
	}
}

// reportHelmRelease renders the result of HelmRelease name.
func reportHelmRelease(d *display, i int, st cmdutil.Styles, name string, res *reconcile.HelmReleaseResult) {
	switch {
	case res.Suspended:
		d.line(i, st.WarningLine("HelmRelease "+name+" is suspended: skipped"))
	case res.Err != nil:
		for _, line := range strings.Split(res.Err.Error(), "\n") {
			d.line(i, st.FailureLine(line))
		}
	case len(res.Actions) == 0:
		d.line(i, st.SuccessLine(fmt.Sprintf("HelmRelease %s: release %s is up to date (chart %s)", name, res.Release, res.Revision)))
	default:
		d.line(i, st.SuccessLine(fmt.Sprintf("HelmRelease %s: %v succeeded: release %s, chart %s", name, res.Actions, res.Release, res.Revision)))
	}
}

func report(d *display, i int, st cmdutil.Styles, res *reconcile.KustomizationResult) {
	cs := res.ChangeSet
	for _, e := range cs.Entries {
		if e.Action == engineapply.Unchanged {
			continue
		}
		line := fmt.Sprintf("%s %s", e.Subject, e.Action)
		if e.Reason != "" {
			line += " (" + e.Reason + ")"
		}
		d.line(i, "  "+line)
	}
	switch {
	case res.Suspended:
		d.line(i, st.WarningLine("Kustomization "+res.Kustomization+" is suspended: skipped"))
	case res.Err != nil:
		for _, line := range strings.Split(res.Err.Error(), "\n") {
			d.line(i, st.FailureLine(line))
		}
	default:
		d.line(i, st.SuccessLine(fmt.Sprintf("Kustomization %s reconciled: %d created, %d configured, %d unchanged, %d deleted",
			res.Kustomization, cs.Count(engineapply.Created), cs.Count(engineapply.Configured), cs.Count(engineapply.Unchanged), cs.Count(engineapply.Deleted))))
	}
}

func summary(io *cmdutil.IOStreams, st cmdutil.Styles, results []*driver.Result, took time.Duration) {
	var c, cf, u, d, failed, releases int
	for _, r := range results {
		if r.HelmRelease != nil {
			releases++
		} else {
			cs := r.Kustomization.ChangeSet
			c += cs.Count(engineapply.Created)
			cf += cs.Count(engineapply.Configured)
			u += cs.Count(engineapply.Unchanged)
			d += cs.Count(engineapply.Deleted)
		}
		if r.Err() != nil {
			failed++
		}
	}
	what := fmt.Sprintf("%d Kustomizations", len(results)-releases)
	if releases > 0 {
		what += fmt.Sprintf(" and %d HelmRelease", releases)
		if releases > 1 {
			what += "s"
		}
	}
	line := fmt.Sprintf("%s: %d created, %d configured, %d unchanged, %d deleted in %s", what, c, cf, u, d, took.Round(time.Millisecond))
	if failed > 0 {
		fmt.Fprintln(io.ErrOut, st.FailureLine(fmt.Sprintf("%s; %d failed", line, failed)))
		return
	}
	fmt.Fprintln(io.ErrOut, st.SuccessLine(line))
}

// jsonResult is one entry of apply -o json: a Kustomization's result, or a HelmRelease's in the same
// shape (named HelmRelease/namespace/name, with an empty change set).
type jsonResult struct {
	Kustomization string                 `json:"kustomization"`
	Revision      string                 `json:"revision"`
	ChangeSet     *engineapply.ChangeSet `json:"changeSet"`
	Health        []health.State         `json:"health,omitempty"`
	Suspended     bool                   `json:"suspended,omitempty"`
	Duration      time.Duration          `json:"duration"`
	Error         string                 `json:"error,omitempty"`
}

func jsonResults(results []*driver.Result) []jsonResult {
	out := make([]jsonResult, 0, len(results))
	for _, r := range results {
		var jr jsonResult
		if k := r.Kustomization; k != nil {
			jr = jsonResult{Kustomization: k.Kustomization, Revision: k.Revision, ChangeSet: k.ChangeSet, Health: k.Health, Suspended: k.Suspended, Duration: k.Duration}
		} else {
			h := r.HelmRelease
			jr = jsonResult{Kustomization: "HelmRelease/" + r.Node.Name, Revision: h.Revision, ChangeSet: &engineapply.ChangeSet{}, Suspended: h.Suspended, Duration: h.Duration}
		}
		if err := r.Err(); err != nil {
			jr.Error = err.Error()
		}
		out = append(out, jr)
	}
	return out
}
