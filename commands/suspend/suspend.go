// Package suspend implements `converge suspend` and `converge resume`.
package suspend

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/commands/get"
	"github.com/converge-gitops/converge/commands/reconcile"
	"github.com/converge-gitops/converge/engine/inspect"
)

// Options are the inputs of `converge suspend` and `converge resume`.
type Options struct {
	IO        *cmdutil.IOStreams
	Client    func() (dynamic.Interface, error)
	Clock     clock.PassiveClock
	Namespace string
	Kind      inspect.Kind
	Names     []string
	All       bool
	// Suspend is true for suspend, false for resume.
	Suspend bool
	// Wait, for resume, waits for the reconciliation the resume requests.
	Wait     bool
	Interval time.Duration
}

// NewCmdSuspend returns the suspend command.
func NewCmdSuspend(f *cmdutil.Factory) *cobra.Command {
	return newCmd(f, true)
}

// NewCmdResume returns the resume command.
func NewCmdResume(f *cmdutil.Factory) *cobra.Command {
	return newCmd(f, false)
}

func newCmd(f *cmdutil.Factory, suspend bool) *cobra.Command {
	verb, short, long := "suspend", "Suspend the reconciliation of Flux objects",
		`Suspend sets spec.suspend: true; the agent stops reconciling the objects until they are resumed.`
	if !suspend {
		verb, short, long = "resume", "Resume the reconciliation of suspended Flux objects",
			`Resume sets spec.suspend: false and requests a reconciliation (reconcile.fluxcd.io/requestedAt), then
waits until the agent handled it and prints the Ready condition, as reconcile does (--wait=false to skip).`
	}
	cmd := &cobra.Command{
		Use:     verb,
		Short:   short,
		Long:    long,
		Example: fmt.Sprintf("  converge %[1]s kustomization apps\n  converge %[1]s source git --all -n flux-system", verb),
	}
	get.AddKindCommands(f, cmd, get.Suspendable, func(_ get.KindCommand, kind inspect.Kind) *cobra.Command {
		opts := &Options{IO: f.IO, Clock: f.Clock, Kind: kind, Suspend: suspend}
		opts.Client = func() (dynamic.Interface, error) {
			cfg, err := f.RESTConfig()
			if err != nil {
				return nil, err
			}
			return dynamic.NewForConfig(cfg)
		}
		c := &cobra.Command{
			Use:   "[NAME...]",
			Short: fmt.Sprintf("%s %s objects", verb, kind.Kind),
			RunE: func(cmd *cobra.Command, args []string) error {
				if opts.All == (len(args) > 0) {
					return cmdutil.FlagErrorf("give object names or --all, not both or neither")
				}
				opts.Namespace, opts.Names = f.Namespace(), args
				ctx, cancel := context.WithTimeout(cmd.Context(), f.Timeout)
				defer cancel()
				return Run(ctx, opts)
			},
		}
		c.ValidArgsFunction = get.CompleteManyNames(f, kind)
		c.Flags().BoolVar(&opts.All, "all", false, verb+" every "+kind.Kind+" in the namespace")
		if !suspend {
			c.Flags().BoolVar(&opts.Wait, "wait", true, "wait for the reconciliation the resume requests")
		}
		return c
	})
	return cmd
}

// Run suspends or resumes the objects (all of the namespace with All), then, when resuming with Wait,
// waits for each reconciliation; it fails if any object fails.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	op := &inspect.Operator{Client: c, Clock: opts.Clock, Interval: opts.Interval}
	names := opts.Names
	if opts.All {
		if names, err = op.Names(ctx, opts.Kind, opts.Namespace); err != nil {
			return err
		}
		if len(names) == 0 {
			fmt.Fprintf(opts.IO.ErrOut, "no %s objects found in namespace %s\n", opts.Kind.Kind, opts.Namespace)
			return nil
		}
	}
	st := opts.IO.ErrStyles()
	tokens := map[string]string{}
	for _, name := range names {
		ref := inspect.Ref{Kind: opts.Kind, Namespace: opts.Namespace, Name: name}
		verb := "suspending"
		if !opts.Suspend {
			verb = "resuming"
		}
		fmt.Fprintln(opts.IO.ErrOut, st.ActionLine(fmt.Sprintf("%s %s %s in %s namespace", verb, opts.Kind.Kind, name, opts.Namespace)))
		token, err := op.SetSuspend(ctx, ref, opts.Suspend)
		if err != nil {
			return err
		}
		tokens[name] = token
		if opts.Suspend {
			fmt.Fprintln(opts.IO.ErrOut, st.SuccessLine(opts.Kind.Kind+" suspended"))
		} else {
			fmt.Fprintln(opts.IO.ErrOut, st.SuccessLine(opts.Kind.Kind+" resumed"))
		}
	}
	if opts.Suspend || !opts.Wait || !reconciled(opts.Kind) {
		return nil
	}
	var errs []error
	for _, name := range names {
		ref := inspect.Ref{Kind: opts.Kind, Namespace: opts.Namespace, Name: name}
		if _, err := reconcile.Wait(ctx, opts.IO, op, ref, tokens[name]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// reconciled tells whether the agent records handling a request on objects of kind: Alerts and Providers
// (notification v1beta3) have no status, so a resume has nothing to wait for.
func reconciled(kind inspect.Kind) bool {
	return kind.Kind != "Alert" && kind.Kind != "Provider"
}
