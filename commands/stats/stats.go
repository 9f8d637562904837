// Package stats implements `converge stats`.
package stats

import (
	"context"
	"strconv"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/inspect"
)

// Options are the inputs of `converge stats`.
type Options struct {
	IO            *cmdutil.IOStreams
	AllNamespaces bool
	Namespace     string
	Client        func() (dynamic.Interface, error)
}

// NewCmdStats returns the stats command.
func NewCmdStats(f *cmdutil.Factory) *cobra.Command {
	opts := &Options{}
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Stats of Flux reconciles",
		Long: `The stats command prints a report of the Flux objects in a namespace or the whole cluster: per kind,
how many run, fail (Ready is False) and are suspended, and the storage their artifacts use.`,
		Example: `  # Print the stats report for a namespace
  converge stats --namespace default

  # Print the stats report for the whole cluster
  converge stats -A`,
		Args: cobra.NoArgs,
		RunE: cmdutil.RunE(f, opts, true),
	}
	cmd.PersistentFlags().BoolVarP(&opts.AllNamespaces, "all-namespaces", "A", false,
		"list the statistics for objects across all namespaces")
	return cmd
}

// Complete fills the streams, the namespace and the cluster client.
func (o *Options) Complete(f *cmdutil.Factory, _ *cobra.Command, _ []string) error {
	if o.IO == nil {
		o.IO = f.IO
	}
	if o.Namespace == "" && !o.AllNamespaces {
		o.Namespace = f.Namespace()
	}
	if o.Client == nil {
		o.Client = f.DynamicClient
	}
	return nil
}

// Validate has nothing to check.
func (o *Options) Validate() error { return nil }

// Run counts and prints Flux's table.
func (o *Options) Run(ctx context.Context) error {
	dyn, err := o.Client()
	if err != nil {
		return err
	}
	rows, err := inspect.Stats(ctx, dyn, o.Namespace)
	if err != nil {
		return err
	}
	table := make([][]string, 0, len(rows))
	for _, r := range rows {
		table = append(table, []string{r.Kind, strconv.Itoa(r.Running), strconv.Itoa(r.Failing), strconv.Itoa(r.Suspended),
			inspect.FormatSize(r.Storage)})
	}
	return cmdutil.WriteFluxTable(o.IO.Out, []string{"Reconcilers", "Running", "Failing", "Suspended", "Storage"}, table)
}
