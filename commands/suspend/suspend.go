// Package suspend implements `converge suspend` and `converge resume`.
package suspend

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/inspect"
	"github.com/converge-gitops/converge/engine/kinds"
)

// Options are the inputs of `converge suspend` and `converge resume`.
type Options struct {
	cmdutil.NamedObjects
	Kind inspect.Kind
	// Suspend is true for suspend, false for resume.
	Suspend bool
	// Wait, for resume, waits for the reconciliation the resume requests.
	Wait     bool
	Interval time.Duration

	group *groupFlags
}

// groupFlags are the flags Flux declares once on suspend and resume, inherited by every kind below.
type groupFlags struct {
	all, wait bool
}

// Complete takes --all and --wait from the group flags: as Flux, resume waits when --wait is given, or
// when it is not given and exactly one object is named.
func (o *Options) Complete(f *cmdutil.Factory, cmd *cobra.Command, args []string) error {
	if err := o.NamedObjects.Complete(f, cmd, args); err != nil {
		return err
	}
	if o.group != nil {
		o.All = o.group.all
		o.Wait = o.group.wait || !cmd.Flags().Changed("wait") && len(args) == 1
	}
	return nil
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
with one NAME (or --wait) waits until the agent handled it and prints the Ready condition, as reconcile
does (--wait=false to skip).`
	}
	cmd := &cobra.Command{
		Use:     verb,
		Short:   short,
		Long:    long,
		Example: fmt.Sprintf("  converge %[1]s kustomization apps\n  converge %[1]s source git --all -n flux-system", verb),
	}
	group := &groupFlags{}
	cmd.PersistentFlags().BoolVar(&group.all, "all", false, verb+" every object of the kind in the namespace")
	if !suspend {
		cmd.PersistentFlags().BoolVar(&group.wait, "wait", false,
			"wait for the reconciliation of each object (default: when exactly one NAME is given)")
	}
	cmdutil.AddKindCommands(f, cmd, kinds.Select(func(k kinds.Kind) bool { return k.Suspendable }), func(kind kinds.Kind) *cobra.Command {
		opts := &Options{Kind: kind, Suspend: suspend, group: group}
		c := &cobra.Command{
			Use:               "[NAME...]",
			Short:             fmt.Sprintf("%s %s objects", verb, kind.Kind),
			ValidArgsFunction: cmdutil.CompleteManyNames(f, kind),
			RunE:              cmdutil.RunE(f, opts, true),
		}
		return c
	})
	return cmd
}

// Run suspends or resumes the objects (all of the namespace with All), then, when resuming with Wait,
// waits for each reconciliation; it fails if any object fails.
func (o *Options) Run(ctx context.Context) error {
	c, err := o.Client()
	if err != nil {
		return err
	}
	op := &inspect.Operator{Client: c, Clock: o.Clock, Interval: o.Interval}
	names, err := cmdutil.ObjectNames(ctx, o.IO, op, o.Kind, o.Namespace, o.Names, o.All)
	if err != nil || len(names) == 0 {
		return err
	}
	st := o.IO.ErrStyles()
	tokens := map[string]string{}
	for _, name := range names {
		ref := inspect.Ref{Kind: o.Kind, Namespace: o.Namespace, Name: name}
		verb := "suspending"
		if !o.Suspend {
			verb = "resuming"
		}
		fmt.Fprintln(o.IO.ErrOut, st.ActionLine(fmt.Sprintf("%s %s %s in %s namespace", verb, o.Kind.Kind, name, o.Namespace)))
		token, err := op.SetSuspend(ctx, ref, o.Suspend)
		if err != nil {
			return err
		}
		tokens[name] = token
		if o.Suspend {
			fmt.Fprintln(o.IO.ErrOut, st.SuccessLine(o.Kind.Kind+" suspended"))
		} else {
			fmt.Fprintln(o.IO.ErrOut, st.SuccessLine(o.Kind.Kind+" resumed"))
		}
	}
	// Alerts and Providers (notification v1beta3) have no status: a resume has nothing to wait for.
	if o.Suspend || !o.Wait || !o.Kind.HandlesRequests {
		return nil
	}
	var errs []error
	for _, name := range names {
		ref := inspect.Ref{Kind: o.Kind, Namespace: o.Namespace, Name: name}
		if _, err := cmdutil.WaitReconciled(ctx, o.IO, op, ref, tokens[name]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
