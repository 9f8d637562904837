// Package reconcile implements `converge reconcile`: ask the agent to reconcile an object now and wait
// for its answer.
package reconcile

import (
	"context"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/inspect"
	"github.com/converge-gitops/converge/engine/kinds"
)

// Options are the inputs of `converge reconcile`.
type Options struct {
	IO         *cmdutil.IOStreams
	Client     func() (dynamic.Interface, error)
	Clock      clock.PassiveClock
	Namespace  string
	Kind       inspect.Kind
	Name       string
	WithSource bool
	Force      bool
	Reset      bool
	// Interval between polls while waiting (default 500ms).
	Interval time.Duration
}

// NewCmdReconcile returns the reconcile command with its kind subcommands.
func NewCmdReconcile(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reconcile",
		Short: "Ask the agent to reconcile an object now, and wait for the result",
		Long: `Reconcile sets the reconcile.fluxcd.io/requestedAt annotation of a Flux object, as Flux's CLI does, and
waits until the agent (or Flux's controllers) reports it handled the request (status.lastHandledReconcileAt),
then prints the Ready condition. It fails (exit code 1, as Flux) with the condition's message when Ready is False.`,
		Example: `  converge reconcile kustomization apps --with-source
  converge reconcile source git flux-system -n flux-system
  converge reconcile helmrelease podinfo -n apps --timeout 2m
  converge reconcile helmrelease podinfo -n apps --reset --force
  converge reconcile image repository podinfo`,
	}
	cmdutil.AddKindCommands(f, cmd, kinds.Select(func(k kinds.Kind) bool { return k.Reconcilable }), func(kind kinds.Kind) *cobra.Command {
		opts := &Options{Kind: kind}
		c := &cobra.Command{
			Use:   "NAME",
			Short: "Reconcile one " + kind.Kind,
			Args:  cobra.ExactArgs(1),
			RunE:  cmdutil.RunE(f, opts, true),
		}
		if kind.CLIGroup == "" || kind.Kind == "HelmChart" {
			c.Flags().BoolVar(&opts.WithSource, "with-source", false, "reconcile the source(s) first")
		}
		if kind.Kind == "HelmRelease" {
			c.Flags().BoolVar(&opts.Force, "force", false, "force a one-off install or upgrade (reconcile.fluxcd.io/forceAt)")
			c.Flags().BoolVar(&opts.Reset, "reset", false, "reset the failure counters, so that exhausted retries start again (reconcile.fluxcd.io/resetAt)")
		}
		return c
	})
	return cmd
}

// Complete fills the streams, clock, namespace, name and client.
func (o *Options) Complete(f *cmdutil.Factory, _ *cobra.Command, args []string) error {
	if o.IO == nil {
		o.IO = f.IO
	}
	if o.Clock == nil {
		o.Clock = f.Clock
	}
	if o.Client == nil {
		o.Client = f.DynamicClient
	}
	o.Namespace, o.Name = f.Namespace(), args[0]
	return nil
}

// Validate has nothing to check: cobra checks the one argument.
func (o *Options) Validate() error { return nil }

// Run requests the reconciliations and waits for each.
func (o *Options) Run(ctx context.Context) error {
	c, err := o.Client()
	if err != nil {
		return err
	}
	op := &inspect.Operator{Client: c, Clock: o.Clock, Interval: o.Interval}
	ref := inspect.Ref{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
	if o.WithSource {
		sources, err := op.Sources(ctx, ref)
		if err != nil {
			return err
		}
		for _, src := range sources {
			if _, err := cmdutil.RequestReconcile(ctx, o.IO, op, src, false); err != nil {
				return err
			}
		}
	}
	_, err = cmdutil.RequestReconcileWith(ctx, o.IO, op, ref, inspect.RequestOptions{Force: o.Force, Reset: o.Reset})
	return err
}
