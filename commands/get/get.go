// Package get implements `converge get`.
package get

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/inspect"
	"github.com/converge-gitops/converge/engine/kinds"
)

// Options are the inputs of `converge get`.
type Options struct {
	IO            *cmdutil.IOStreams
	Client        func() (dynamic.Interface, error)
	Namespace     string
	AllNamespaces bool
	Kinds         []inspect.Kind
	Output        string
	// Watch prints the table, then a row for every change until interrupted.
	Watch bool
	// StatusSelector keeps the objects whose condition has the given status ("ready=false") or not
	// ("ready!=true").
	StatusSelector string
	// LabelSelector keeps the objects whose labels match (-l, as kubectl spells it).
	LabelSelector string
	// NoHeader leaves the table header out.
	NoHeader bool
	// ShowShard adds a SHARD column (and the shard field of -o json/yaml): the object's
	// sharding.fluxcd.io/key label. Flux's get has no such flag: without it the output is Flux's.
	ShowShard bool
	// Name is the one object to show, from the optional NAME argument.
	Name string
	// ShowSource adds the SOURCE column (get kustomizations, get helmreleases).
	ShowSource bool
	// TZ is the time zone of the scan and run times; the local one by default, as Flux prints them.
	TZ       *time.Location
	selector *inspect.StatusSelector
}

// getGroup is a grouping subcommand of get and its "all" subcommand.
type getGroup struct {
	use      string
	aliases  []string
	short    string
	allShort string
}

var getGroups = map[string]getGroup{
	"source": {use: "sources", aliases: []string{"source"}, short: "Show the status of sources", allShort: "All sources"},
	"image":  {use: "images", aliases: []string{"image"}, short: "Show the status of image automation objects", allShort: "All image objects"},
}

// NewCmdGet returns the get command with one subcommand per kind of the kinds registry.
func NewCmdGet(f *cmdutil.Factory) *cobra.Command { return newCmdGet(f, &Options{}) }

// newCmdGet returns the get command filling opts (tests set the time zone).
func newCmdGet(f *cmdutil.Factory, opts *Options) *cobra.Command {
	cmd := &cobra.Command{Use: "get", Short: "Show the status of Flux objects"}
	cmd.PersistentFlags().BoolVarP(&opts.AllNamespaces, "all-namespaces", "A", false, "list across all namespaces")
	cmd.PersistentFlags().StringVarP(&opts.Output, "output", "o", cmdutil.OutputTable, "output format, one of [table yaml json]")
	cmd.PersistentFlags().BoolVarP(&opts.Watch, "watch", "w", false, "after listing, print a row for every change (until interrupted)")
	cmd.PersistentFlags().StringVar(&opts.StatusSelector, "status-selector", "", "only objects whose condition has this status, e.g. ready=false or ready!=true")
	cmd.PersistentFlags().StringVarP(&opts.LabelSelector, "label-selector", "l", "", "only objects whose labels match this selector, e.g. app=web,tier!=db")
	cmd.PersistentFlags().BoolVar(&opts.NoHeader, "no-header", false, "leave the table header out")
	cmd.PersistentFlags().BoolVar(&opts.ShowShard, "show-shard", false, "add a SHARD column: the object's "+inspect.ShardLabel+" label (converge's addition)")

	add := func(use string, aliases []string, short string, ks []inspect.Kind) *cobra.Command {
		c := &cobra.Command{Use: use + " [NAME]", Aliases: aliases, Short: short, Args: cobra.MaximumNArgs(1),
			RunE: cmdutil.RunE(f, listRunner{opts, ks}, true)}
		if len(ks) == 1 {
			c.ValidArgsFunction = cmdutil.CompleteNames(f, ks[0])
			if tableOf(ks[0].Key).source != nil {
				c.Flags().BoolVar(&opts.ShowSource, "show-source", false, "show the source reference of each "+strings.ToLower(ks[0].Kind))
			}
		}
		return c
	}
	groups := map[string]*cobra.Command{}
	for _, k := range kinds.All() {
		c := add(k.GetName, k.GetAliases, k.Plural(), []inspect.Kind{k})
		if k.CLIGroup == "" {
			cmd.AddCommand(c)
			continue
		}
		g, ok := groups[k.CLIGroup]
		if !ok {
			spec := getGroups[k.CLIGroup]
			g = &cobra.Command{Use: spec.use, Aliases: spec.aliases, Short: spec.short}
			g.AddCommand(add("all", nil, spec.allShort, fluxOrder(kinds.Select(func(o kinds.Kind) bool {
				return o.CLIGroup == k.CLIGroup && o.InGetGroupAll
			}))))
			groups[k.CLIGroup] = g
			cmd.AddCommand(g)
		}
		g.AddCommand(c)
	}
	cmd.AddCommand(add("all", nil, "Every Flux object", fluxOrder(kinds.Select(func(k kinds.Kind) bool { return k.InGetAll }))))
	// Flux's path for ArtifactGenerators: `get artifacts generators` (`get artifactgenerators` stays).
	gen := kinds.MustByKey("artifactgenerators")
	artifacts := &cobra.Command{Use: "artifacts", Aliases: []string{"artifact"}, Short: "Show the status of artifact objects"}
	artifacts.AddCommand(add("generators", []string{"generator"}, gen.Plural(), []inspect.Kind{gen}))
	cmd.AddCommand(artifacts)
	return cmd
}

// fluxOrder sorts kinds in the order in which Flux's `get all` prints its tables: sources, image
// automation, then releases, Kustomizations and notification objects. Kinds Flux does not list follow
// in registry order.
func fluxOrder(ks []kinds.Kind) []kinds.Kind {
	order := []string{"oci", "bucket", "git", "helm", "chart", "external", "imagerepositories", "imagepolicies",
		"imageupdateautomations", "helmreleases", "kustomizations", "receivers", "providers", "alerts"}
	rank := func(k kinds.Kind) int {
		if i := slices.Index(order, k.Key); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.SortStableFunc(ks, func(a, b kinds.Kind) int { return rank(a) - rank(b) })
	return ks
}

// listRunner runs get for one subcommand's kinds, with the flags parsed into the shared Options.
type listRunner struct {
	*Options
	kinds []inspect.Kind
}

func (r listRunner) Complete(f *cmdutil.Factory, cmd *cobra.Command, args []string) error {
	r.Kinds = r.kinds
	return r.Options.Complete(f, cmd, args)
}

// Complete fills the streams, namespace, client and the name argument.
func (o *Options) Complete(f *cmdutil.Factory, _ *cobra.Command, args []string) error {
	if len(args) > 0 {
		o.Name = args[0]
	}
	if o.IO == nil {
		o.IO = f.IO
	}
	if o.Client == nil {
		o.Client = f.DynamicClient
	}
	o.Namespace = f.Namespace()
	if o.TZ == nil {
		o.TZ = time.Local
	}
	return nil
}

// Validate checks the output format and the status selector.
func (o *Options) Validate() error {
	if err := cmdutil.ValidateOutput(o.Output, cmdutil.OutputTable, cmdutil.OutputYAML, cmdutil.OutputJSON); err != nil {
		return err
	}
	sel, err := inspect.ParseStatusSelector(o.StatusSelector)
	if err != nil {
		return cmdutil.FlagErrorf("--status-selector: %v", err)
	}
	o.selector = sel
	if _, err := labels.Parse(o.LabelSelector); err != nil {
		return cmdutil.FlagErrorf("--label-selector: %v", err)
	}
	if o.Watch && len(o.Kinds) > 1 {
		return cmdutil.FlagErrorf("--watch follows one kind: name it instead of all")
	}
	if o.Watch && o.Output != cmdutil.OutputTable {
		return cmdutil.FlagErrorf("--watch prints a table: it cannot be combined with -o %s", o.Output)
	}
	return nil
}

// Streaming is true with --watch: it runs until interrupted.
func (o *Options) Streaming() bool { return o.Watch }

// Run lists and prints.
func (o *Options) Run(ctx context.Context) error {
	client, err := o.Client()
	if err != nil {
		return err
	}
	ns := o.Namespace
	if o.AllNamespaces {
		ns = ""
	}
	sel := inspect.Selection{Name: o.Name, Labels: o.LabelSelector}
	var all []inspect.Row
	perKind := make([][]inspect.Row, len(o.Kinds))
	versions := make([]string, len(o.Kinds))
	listed := make([]bool, len(o.Kinds))
	for i, k := range o.Kinds {
		rows, rv, err := inspect.ListFrom(ctx, client, k, ns, sel)
		if err != nil {
			if len(o.Kinds) > 1 && apierrors.IsNotFound(err) {
				continue // get all: a kind whose API the cluster does not serve has no objects
			}
			return err
		}
		if len(rows) == 0 && len(o.Kinds) == 1 && !o.Watch {
			// As Flux: nothing to list is an error (exit 1) for one kind, silence for several.
			if o.Name != "" {
				return fmt.Errorf("%s object '%s' not found in %s namespace", k.Kind, o.Name, where(ns))
			}
			return fmt.Errorf("no %s objects found in %s namespace", k.Kind, where(ns))
		}
		versions[i], listed[i] = rv, len(rows) > 0
		l := o.layout(k, false)
		for _, r := range rows {
			if !o.ShowShard {
				r.Shard = ""
			}
			if l.selects(o.selector, r) {
				all = append(all, r)
				perKind[i] = append(perKind[i], r)
			}
		}
	}
	if o.Watch {
		return watchRows(ctx, o, client, ns, sel, all, versions)
	}
	if o.Output != cmdutil.OutputTable {
		if all == nil {
			all = []inspect.Row{}
		}
		return cmdutil.WriteData(o.IO.Out, o.Output, all)
	}
	if len(o.Kinds) == 1 {
		// One kind: the table, its header alone when the status selector left no row.
		return table(o.IO.Out, o.layout(o.Kinds[0], false), perKind[0], o.NoHeader)
	}
	// Several kinds: a table per kind that has selected objects, each followed by an empty line, as Flux
	// prints.
	for i, rows := range perKind {
		if len(rows) == 0 || !listed[i] {
			continue
		}
		if err := table(o.IO.Out, o.layout(o.Kinds[i], true), rows, o.NoHeader); err != nil {
			return err
		}
		fmt.Fprintln(o.IO.Out)
	}
	return nil
}

// layout is the table shape of kind k with the flags given.
func (o *Options) layout(k inspect.Kind, withKind bool) layout {
	return layout{table: tableOf(k.Key), namespace: o.AllNamespaces, kind: withKind, source: o.ShowSource, shard: o.ShowShard, tz: o.TZ}
}

// where names the namespace listed as Flux's messages do: "any" or the quoted name.
func where(ns string) string {
	if ns == "" {
		return "any"
	}
	return strconv.Quote(ns)
}

// table writes rows as Flux's tables: every cell padded to its column and followed by a tab.
func table(w io.Writer, l layout, rows []inspect.Row, noHeader bool) error {
	cells := make([][]string, 0, len(rows))
	for _, r := range rows {
		cells = append(cells, l.row(r))
	}
	if noHeader {
		return cmdutil.WriteFluxRows(w, cells)
	}
	return cmdutil.WriteFluxTable(w, l.header(), cells)
}

// watchRows prints the current rows, then one row per change, padded to the widths of the first table.
func watchRows(ctx context.Context, opts *Options, client dynamic.Interface, ns string, sel inspect.Selection, rows []inspect.Row, versions []string) error {
	l := opts.layout(opts.Kinds[0], false)
	widths := make([]int, len(l.header()))
	measure := func(cols []string) {
		for i, c := range cols {
			widths[i] = max(widths[i], len(c))
		}
	}
	measure(l.header())
	for _, r := range rows {
		measure(l.row(r))
	}
	var mu sync.Mutex
	printRow := func(cols []string) error {
		mu.Lock()
		defer mu.Unlock()
		var b strings.Builder
		for i, c := range cols {
			if i == len(cols)-1 {
				b.WriteString(c)
				break
			}
			b.WriteString(c + strings.Repeat(" ", max(widths[i]-len(c), 0)+3))
		}
		_, err := fmt.Fprintln(opts.IO.Out, strings.TrimRight(b.String(), " "))
		return err
	}
	if !opts.NoHeader {
		if err := printRow(upper(l.header())); err != nil {
			return err
		}
	}
	for _, r := range rows {
		if err := printRow(l.row(r)); err != nil {
			return err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for i, k := range opts.Kinds {
		g.Go(func() error {
			return inspect.Watch(gctx, client, k, ns, versions[i], sel, func(r inspect.Row, deleted bool) error {
				if !l.selects(opts.selector, r) {
					return nil
				}
				cols := l.row(r)
				if deleted {
					cols[len(cols)-1] = "deleted"
				}
				return printRow(cols)
			})
		})
	}
	err := g.Wait()
	if ctx.Err() != nil {
		return nil // interrupted (or --timeout): the watch simply ends
	}
	return err
}

func upper(head []string) []string {
	out := make([]string, len(head))
	for i, h := range head {
		out[i] = strings.ToUpper(h)
	}
	return out
}
