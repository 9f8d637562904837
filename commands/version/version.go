// Package version implements `converge version`.
package version

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/converge-gitops/converge/commands/cmdutil"
)

// Options are the inputs of `converge version`.
type Options struct {
	IO     *cmdutil.IOStreams
	Build  cmdutil.BuildInfo
	Output string
	Client bool
}

// NewCmdVersion returns the version command.
func NewCmdVersion(f *cmdutil.Factory) *cobra.Command {
	opts := &Options{}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the converge version",
		Example: `  # Print the client version, as flux version --client
  converge version --client

  # Print it as JSON
  converge version -o json`,
		Args: cobra.NoArgs,
		RunE: cmdutil.RunE(f, opts, false),
	}
	// yaml is the default, as Flux's: the lines "converge: VERSION", "commit: ...", "built: ..." are YAML;
	// table is kept as a name for the same lines.
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.OutputYAML, cmdutil.OutputJSON, cmdutil.OutputTable)
	// Flux's version reports the controllers too unless --client; converge's reports the client only, so
	// the flag is accepted for scripts written for Flux and changes nothing.
	cmd.Flags().BoolVar(&opts.Client, "client", false, "print only client version (the only version converge prints)")
	return cmd
}

// Complete fills the streams and the build information.
func (o *Options) Complete(f *cmdutil.Factory, _ *cobra.Command, _ []string) error {
	if o.IO == nil {
		o.IO = f.IO
	}
	if o.Build == (cmdutil.BuildInfo{}) {
		o.Build = f.Build
	}
	return nil
}

// Validate checks the output format.
func (o *Options) Validate() error {
	return cmdutil.ValidateOutput(o.Output, cmdutil.OutputYAML, cmdutil.OutputJSON, cmdutil.OutputTable)
}

// Run prints the build information.
func (o *Options) Run(context.Context) error {
	if o.Output == cmdutil.OutputJSON {
		return cmdutil.WriteData(o.IO.Out, o.Output, o.Build)
	}
	_, err := fmt.Fprintf(o.IO.Out, "converge: %s\ncommit: %s\nbuilt: %s\n", o.Build.Version, o.Build.Commit, o.Build.Date)
	return err
}
