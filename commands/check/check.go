// Package check implements `converge check`.
package check

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/client-go/discovery"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/preflight"
)

// Options are the inputs of `converge check`.
type Options struct {
	IO        *cmdutil.IOStreams
	Discovery func() (discovery.DiscoveryInterface, error)
	Host      func() string
	Pre       bool
	Output    string
}

// NewCmdCheck returns the check command.
func NewCmdCheck(f *cmdutil.Factory) *cobra.Command {
	opts := &Options{IO: f.IO, Discovery: f.Discovery, Host: f.Host}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check that the cluster meets converge's prerequisites",
		Example: `  # Before installing: is the cluster reachable and recent enough?
  converge check --pre`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cmdutil.ValidateOutput(opts.Output, cmdutil.OutputTable, cmdutil.OutputYAML, cmdutil.OutputJSON); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), f.Timeout)
			defer cancel()
			return Run(ctx, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Pre, "pre", false, "only check the prerequisites (cluster reachable, Kubernetes version)")
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.OutputTable, cmdutil.OutputYAML, cmdutil.OutputJSON)
	return cmd
}

// Run performs the checks and reports them.
func Run(ctx context.Context, opts *Options) error {
	st := opts.IO.ErrStyles()
	dc, err := opts.Discovery()
	if err != nil {
		return err
	}
	if opts.Output == cmdutil.OutputTable {
		fmt.Fprintln(opts.IO.ErrOut, st.ActionLine("checking prerequisites"))
	}
	res, err := preflight.Check(ctx, dc)
	if err != nil {
		return fmt.Errorf("%w (server %s)", err, opts.Host())
	}
	if opts.Output != cmdutil.OutputTable {
		if err := cmdutil.WriteData(opts.IO.Out, opts.Output, res); err != nil {
			return err
		}
	} else if res.Supported {
		fmt.Fprintln(opts.IO.ErrOut, st.SuccessLine(fmt.Sprintf("Kubernetes %s %s", res.ServerVersion, res.Constraint)))
	} else {
		fmt.Fprintln(opts.IO.ErrOut, st.FailureLine(fmt.Sprintf("Kubernetes %s does not match %s", res.ServerVersion, res.Constraint)))
	}
	if !res.Supported {
		return fmt.Errorf("Kubernetes %s is older than converge supports (%s)", res.ServerVersion, res.Constraint)
	}
	if opts.Output == cmdutil.OutputTable {
		fmt.Fprintln(opts.IO.ErrOut, st.SuccessLine("prerequisites checks passed"))
	}
	return nil
}
