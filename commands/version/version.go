// Package version implements `converge version`.
package version

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/converge-gitops/converge/commands/cmdutil"
)

// Options are the inputs of `converge version`.
type Options struct {
	IO     *cmdutil.IOStreams
	Build  cmdutil.BuildInfo
	Output string
}

// NewCmdVersion returns the version command.
func NewCmdVersion(f *cmdutil.Factory) *cobra.Command {
	opts := &Options{IO: f.IO, Build: f.Build}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the converge version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := cmdutil.ValidateOutput(opts.Output, cmdutil.OutputTable, cmdutil.OutputYAML, cmdutil.OutputJSON); err != nil {
				return err
			}
			return Run(opts)
		},
	}
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.OutputTable, cmdutil.OutputYAML, cmdutil.OutputJSON)
	return cmd
}

// Run prints the build information.
func Run(opts *Options) error {
	if opts.Output != cmdutil.OutputTable {
		return cmdutil.WriteData(opts.IO.Out, opts.Output, opts.Build)
	}
	_, err := fmt.Fprintf(opts.IO.Out, "converge: %s\ncommit: %s\nbuilt: %s\n", opts.Build.Version, opts.Build.Commit, opts.Build.Date)
	return err
}
