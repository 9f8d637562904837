// Package events implements `converge events`: the Kubernetes Events of Flux objects.
package events

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/inspect"
)

// Options are the inputs of `converge events`.
type Options struct {
	IO            *cmdutil.IOStreams
	Core          func() (kubernetes.Interface, error)
	Dynamic       func() (dynamic.Interface, error)
	Clock         clock.PassiveClock
	Namespace     string
	AllNamespaces bool
	For           string
	Types         []string
	Watch         bool
	forObject     *inspect.EventObject
}

// NewCmdEvents returns the events command.
func NewCmdEvents(f *cmdutil.Factory) *cobra.Command {
	opts := &Options{}
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Show the Kubernetes Events of Flux objects",
		Long: `Events lists the Events the agent (or Flux's controllers) recorded about Flux objects, oldest first.
--for Kind/name shows those of one object and of the sources it reconciles from.`,
		Example: `  converge events -A
  converge events --for Kustomization/apps
  converge events --for GitRepository --watch`,
		Args: cobra.NoArgs,
		RunE: cmdutil.RunE(f, opts, true),
	}
	cmd.Flags().BoolVarP(&opts.AllNamespaces, "all-namespaces", "A", false, "events of Flux objects in every namespace")
	cmd.Flags().StringVar(&opts.For, "for", "", "only events of this object (Kind/name) and its sources, or of every object of a Kind")
	cmd.Flags().StringSliceVar(&opts.Types, "types", nil, "only events of these types (Normal, Warning)")
	cmd.Flags().BoolVarP(&opts.Watch, "watch", "w", false, "after listing, print new events as they come (until interrupted)")
	cmdutil.CompleteKinds(cmd, "for")
	return cmd
}

// Complete fills the streams, clock, namespace and clients (a watching client has no request timeout).
func (o *Options) Complete(f *cmdutil.Factory, _ *cobra.Command, _ []string) error {
	if o.IO == nil {
		o.IO = f.IO
	}
	if o.Clock == nil {
		o.Clock = f.Clock
	}
	if o.Core == nil {
		o.Core = func() (kubernetes.Interface, error) {
			cfg, err := f.RESTConfig()
			if err != nil {
				return nil, err
			}
			if o.Watch {
				cfg.Timeout = 0
			}
			return kubernetes.NewForConfig(cfg)
		}
	}
	if o.Dynamic == nil {
		o.Dynamic = f.DynamicClient
	}
	o.Namespace = f.Namespace()
	return nil
}

// Validate checks --types and parses --for.
func (o *Options) Validate() error {
	for _, t := range o.Types {
		if t != "Normal" && t != "Warning" {
			return cmdutil.FlagErrorf("--types %q: want Normal or Warning", t)
		}
	}
	o.forObject = nil
	if o.For != "" {
		obj, err := inspect.ParseEventObject(o.For, o.namespace())
		if err != nil {
			return cmdutil.FlagErrorf("--for %v", err)
		}
		o.forObject = &obj
	}
	return nil
}

// Streaming is true with --watch: it runs until interrupted.
func (o *Options) Streaming() bool { return o.Watch }

func (o *Options) namespace() string {
	if o.AllNamespaces {
		return ""
	}
	return o.Namespace
}

// Run lists (and watches) the events.
func (o *Options) Run(ctx context.Context) error {
	core, err := o.Core()
	if err != nil {
		return err
	}
	ns := o.namespace()
	filter, err := o.filter(ctx, ns)
	if err != nil {
		return err
	}
	rows, rv, err := inspect.Events(ctx, core, ns, filter)
	if err != nil {
		return err
	}
	rows = keepTypes(rows, o.Types)
	if len(rows) == 0 && !o.Watch {
		where := "namespace " + ns
		if ns == "" {
			where = "any namespace"
		}
		fmt.Fprintf(o.IO.ErrOut, "no events found in %s\n", where)
		return nil
	}
	now := o.Clock.Now()
	tw := tabwriter.NewWriter(o.IO.Out, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header(o.AllNamespaces), "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(columns(r, now, o.AllNamespaces), "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !o.Watch {
		return nil
	}
	err = inspect.WatchEvents(ctx, core, ns, rv, filter, func(r inspect.EventRow) error {
		if len(keepTypes([]inspect.EventRow{r}, o.Types)) == 0 {
			return nil
		}
		_, err := fmt.Fprintln(o.IO.Out, strings.Join(columns(r, o.Clock.Now(), o.AllNamespaces), "   "))
		return err
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (o *Options) filter(ctx context.Context, ns string) (inspect.EventFilter, error) {
	if o.forObject == nil {
		return inspect.EventFilter{}, nil
	}
	obj := *o.forObject
	f := inspect.EventFilter{For: []inspect.EventObject{obj}}
	if obj.Name == "" || ns == "" {
		return f, nil
	}
	dyn, err := o.Dynamic()
	if err != nil {
		return f, err
	}
	kind, _ := inspect.KindNamed(obj.Kind)
	op := &inspect.Operator{Client: dyn, Clock: o.Clock}
	sources, err := op.Sources(ctx, inspect.Ref{Kind: kind, Namespace: ns, Name: obj.Name})
	if err != nil {
		return f, nil // the object may be gone while its events remain
	}
	for _, s := range sources {
		f.For = append(f.For, inspect.EventObject{Kind: s.Kind.Kind, Namespace: s.Namespace, Name: s.Name})
	}
	return f, nil
}

func keepTypes(rows []inspect.EventRow, types []string) []inspect.EventRow {
	if len(types) == 0 {
		return rows
	}
	var out []inspect.EventRow
	for _, r := range rows {
		for _, t := range types {
			if strings.EqualFold(t, r.Type) {
				out = append(out, r)
			}
		}
	}
	return out
}

func header(withNamespace bool) []string {
	h := []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"}
	if withNamespace {
		h = append([]string{"NAMESPACE"}, h...)
	}
	return h
}

func columns(r inspect.EventRow, now time.Time, withNamespace bool) []string {
	seen := "<unknown>"
	if !r.LastSeen.IsZero() {
		seen = duration.HumanDuration(now.Sub(r.LastSeen))
	}
	msg := strings.ReplaceAll(r.Message, "\n", " ")
	c := []string{seen, r.Type, r.Reason, r.Object, msg}
	if withNamespace {
		c = append([]string{r.Namespace}, c...)
	}
	return c
}
