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
}

// NewCmdEvents returns the events command.
func NewCmdEvents(f *cmdutil.Factory) *cobra.Command {
	opts := &Options{IO: f.IO, Clock: f.Clock}
	opts.Core = func() (kubernetes.Interface, error) {
		cfg, err := f.RESTConfig()
		if err != nil {
			return nil, err
		}
		if opts.Watch {
			cfg.Timeout = 0
		}
		return kubernetes.NewForConfig(cfg)
	}
	opts.Dynamic = func() (dynamic.Interface, error) {
		cfg, err := f.RESTConfig()
		if err != nil {
			return nil, err
		}
		return dynamic.NewForConfig(cfg)
	}
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Show the Kubernetes Events of Flux objects",
		Long: `Events lists the Events the agent (or Flux's controllers) recorded about Flux objects, oldest first.
--for Kind/name shows those of one object and of the sources it reconciles from.`,
		Example: `  converge events -A
  converge events --for Kustomization/apps
  converge events --for GitRepository --watch`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Namespace = f.Namespace()
			for _, t := range opts.Types {
				if t != "Normal" && t != "Warning" {
					return cmdutil.FlagErrorf("--types %q: want Normal or Warning", t)
				}
			}
			if opts.Watch {
				return Run(cmd.Context(), opts) // until interrupted
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), f.Timeout)
			defer cancel()
			return Run(ctx, opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.AllNamespaces, "all-namespaces", "A", false, "events of Flux objects in every namespace")
	cmd.Flags().StringVar(&opts.For, "for", "", "only events of this object (Kind/name) and its sources, or of every object of a Kind")
	cmd.Flags().StringSliceVar(&opts.Types, "types", nil, "only events of these types (Normal, Warning)")
	cmd.Flags().BoolVarP(&opts.Watch, "watch", "w", false, "after listing, print new events as they come (until interrupted)")
	return cmd
}

// Run lists (and watches) the events.
func Run(ctx context.Context, opts *Options) error {
	core, err := opts.Core()
	if err != nil {
		return err
	}
	ns := opts.Namespace
	if opts.AllNamespaces {
		ns = ""
	}
	filter, err := opts.filter(ctx, ns)
	if err != nil {
		return err
	}
	rows, rv, err := inspect.Events(ctx, core, ns, filter)
	if err != nil {
		return err
	}
	rows = keepTypes(rows, opts.Types)
	if len(rows) == 0 && !opts.Watch {
		where := "namespace " + ns
		if ns == "" {
			where = "any namespace"
		}
		fmt.Fprintf(opts.IO.ErrOut, "no events found in %s\n", where)
		return nil
	}
	now := opts.Clock.Now()
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header(opts.AllNamespaces), "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(columns(r, now, opts.AllNamespaces), "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !opts.Watch {
		return nil
	}
	err = inspect.WatchEvents(ctx, core, ns, rv, filter, func(r inspect.EventRow) error {
		if len(keepTypes([]inspect.EventRow{r}, opts.Types)) == 0 {
			return nil
		}
		_, err := fmt.Fprintln(opts.IO.Out, strings.Join(columns(r, opts.Clock.Now(), opts.AllNamespaces), "   "))
		return err
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (o *Options) filter(ctx context.Context, ns string) (inspect.EventFilter, error) {
	if o.For == "" {
		return inspect.EventFilter{}, nil
	}
	obj, err := inspect.ParseEventObject(o.For, ns)
	if err != nil {
		return inspect.EventFilter{}, cmdutil.FlagErrorf("--for %v", err)
	}
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
