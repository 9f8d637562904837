// Package reconcile implements `converge reconcile`: ask the agent to reconcile an object now and wait
// for its answer.
package reconcile

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/commands/get"
	"github.com/converge-gitops/converge/engine/inspect"
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
then prints the Ready condition. It fails (exit code 2) with the condition's message when Ready is False.`,
		Example: `  converge reconcile kustomization apps --with-source
  converge reconcile source git flux-system -n flux-system
  converge reconcile helmrelease podinfo -n apps --timeout 2m
  converge reconcile image repository podinfo`,
	}
	get.AddKindCommands(f, cmd, reconcilable(), func(spec get.KindCommand, kind inspect.Kind) *cobra.Command {
		opts := &Options{IO: f.IO, Clock: f.Clock, Kind: kind, Client: client(f)}
		c := &cobra.Command{
			Use:   "NAME",
			Short: "Reconcile one " + kind.Kind,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				opts.Namespace, opts.Name = f.Namespace(), args[0]
				ctx, cancel := context.WithTimeout(cmd.Context(), f.Timeout)
				defer cancel()
				return Run(ctx, opts)
			},
		}
		if spec.Parent == "" {
			c.Flags().BoolVar(&opts.WithSource, "with-source", false, "reconcile the source(s) first")
		}
		if kind.Kind == "HelmRelease" {
			c.Flags().BoolVar(&opts.Force, "force", false, "force a one-off install or upgrade (reconcile.fluxcd.io/forceAt)")
		}
		return c
	})
	return cmd
}

// reconcilable are the kinds the agent reconciles on request: get.Reconcilable and the image kinds with
// an interval (an ImagePolicy follows its ImageRepository).
func reconcilable() []get.KindCommand {
	return append(append([]get.KindCommand{}, get.Reconcilable...),
		get.KindCommand{Parent: "image", Use: "repository", Kind: "imagerepositories"},
		get.KindCommand{Parent: "image", Use: "update", Kind: "imageupdateautomations"})
}

func client(f *cmdutil.Factory) func() (dynamic.Interface, error) {
	return func() (dynamic.Interface, error) {
		cfg, err := f.RESTConfig()
		if err != nil {
			return nil, err
		}
		return dynamic.NewForConfig(cfg)
	}
}

// Run requests the reconciliations and waits for each.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	op := &inspect.Operator{Client: c, Clock: opts.Clock, Interval: opts.Interval}
	ref := inspect.Ref{Kind: opts.Kind, Namespace: opts.Namespace, Name: opts.Name}
	if opts.WithSource {
		sources, err := op.Sources(ctx, ref)
		if err != nil {
			return err
		}
		for _, src := range sources {
			if _, err := Once(ctx, opts.IO, op, src, false); err != nil {
				return err
			}
		}
	}
	_, err = Once(ctx, opts.IO, op, ref, opts.Force)
	return err
}

// Once requests one reconciliation, waits for it and reports progress on stderr, as Flux's CLI does.
func Once(ctx context.Context, io *cmdutil.IOStreams, op *inspect.Operator, ref inspect.Ref, force bool) (inspect.Result, error) {
	st := io.ErrStyles()
	fmt.Fprintln(io.ErrOut, st.ActionLine(fmt.Sprintf("annotating %s %s in %s namespace", ref.Kind.Kind, ref.Name, ref.Namespace)))
	token, err := op.RequestReconcile(ctx, ref, force)
	if err != nil {
		return inspect.Result{}, err
	}
	fmt.Fprintln(io.ErrOut, st.SuccessLine(ref.Kind.Kind+" annotated"))
	return Wait(ctx, io, op, ref, token)
}

// Wait waits for the request token and reports the Ready condition.
func Wait(ctx context.Context, io *cmdutil.IOStreams, op *inspect.Operator, ref inspect.Ref, token string) (inspect.Result, error) {
	st := io.ErrStyles()
	fmt.Fprintln(io.ErrOut, st.WaitingLine(fmt.Sprintf("waiting for %s reconciliation", ref.Kind.Kind)))
	res, err := op.WaitReconciled(ctx, ref, token)
	if err != nil { // Ready=False included: the error carries the condition's message
		return res, err
	}
	fmt.Fprintln(io.ErrOut, st.SuccessLine(successMessage(ref.Kind.Kind, res)))
	return res, nil
}

func successMessage(kind string, res inspect.Result) string {
	switch {
	case res.Revision == "":
		return kind + " reconciliation completed: " + res.Message
	case kind == "Kustomization" || kind == "HelmRelease":
		return "applied revision " + res.Revision
	default:
		return "fetched revision " + res.Revision
	}
}
