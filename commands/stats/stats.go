// Package stats implements `converge stats`.
package stats

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/inspect"
	"github.com/converge-gitops/converge/engine/kube"
)

// Options are the inputs of `converge stats`.
type Options struct {
	IO            *cmdutil.IOStreams
	AllNamespaces bool
	Namespace     string
	Client        func() (dynamic.Interface, error)
	// ShowShard adds a table per shard (converge's addition): objects by sharding.fluxcd.io/key and the
	// reconcile rate of each shard's agent, installed in AgentNamespace.
	ShowShard      bool
	AgentNamespace string
	Clients        func() (*kube.Clients, error)
	Clock          clock.PassiveClock
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
	cmd.Flags().BoolVar(&opts.ShowShard, "show-shard", false,
		"add a table per shard (converge's addition): objects by their "+inspect.ShardLabel+" label and the reconciles per minute of each shard's agent")
	cmd.Flags().StringVar(&opts.AgentNamespace, "agent-namespace", cmdutil.DefaultNamespace, "namespace of the agents whose reconcile rates --show-shard reads")
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
	if o.Clients == nil {
		o.Clients = f.KubeClients
	}
	if o.Clock == nil {
		o.Clock = f.Clock
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
	if err := cmdutil.WriteFluxTable(o.IO.Out, []string{"Reconcilers", "Running", "Failing", "Suspended", "Storage"}, table); err != nil || !o.ShowShard {
		return err
	}
	clients, err := o.Clients()
	if err != nil {
		return err
	}
	shards, err := inspect.ShardStats(ctx, dyn, clients.Core, o.Namespace, o.AgentNamespace, o.Clock.Now())
	if err != nil {
		return err
	}
	table = table[:0]
	var warnings []string
	for _, r := range shards {
		name, rate, agent := r.Shard, "-", r.Agent
		if name == "" {
			name = "(default)"
		}
		if agent == "" {
			agent = "-"
		}
		if r.RateError == "" {
			rate = strconv.FormatFloat(r.ReconcilesPerMinute, 'f', 1, 64)
		} else {
			warnings = append(warnings, fmt.Sprintf("shard %s: no reconcile rate: %s", name, r.RateError))
		}
		table = append(table, []string{name, strconv.Itoa(r.Running), strconv.Itoa(r.Failing), strconv.Itoa(r.Suspended), agent, rate})
	}
	fmt.Fprintln(o.IO.Out)
	if err := cmdutil.WriteFluxTable(o.IO.Out, []string{"Shard", "Running", "Failing", "Suspended", "Agent", "Reconciles/min"}, table); err != nil {
		return err
	}
	cmdutil.PrintWarnings(o.IO.ErrOut, o.IO.ErrStyles(), warnings)
	return nil
}
