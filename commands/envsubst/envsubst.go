// Package envsubst implements `converge envsubst`.
package envsubst

import (
	"context"
	"os"

	"github.com/spf13/cobra"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/build"
)

// Options are the inputs of `converge envsubst`.
type Options struct {
	IO     *cmdutil.IOStreams
	Strict bool
	// LookupEnv reads the environment; os.LookupEnv unless a test sets it.
	LookupEnv func(string) (string, bool)
}

// NewCmdEnvsubst returns the envsubst command.
func NewCmdEnvsubst(f *cmdutil.Factory) *cobra.Command {
	opts := &Options{}
	cmd := &cobra.Command{
		Use:   "envsubst",
		Short: "envsubst substitutes the values of environment variables",
		Long: `The envsubst command substitutes the values of environment variables in the text piped as standard
input and writes the result to standard output, with the substitution a Kustomization's postBuild applies
(${var}, ${var:=default}, ${var:-default}, $${escaped} and the other bash forms).`,
		Example: `  # Run env var substitutions on the kustomization build output
  export cluster_region=eu-central-1
  kustomize build . | converge envsubst

  # Run env var substitutions and error out if a variable is not set
  kustomize build . | converge envsubst --strict`,
		Args: cobra.NoArgs,
		RunE: cmdutil.RunE(f, opts, false),
	}
	cmd.Flags().BoolVar(&opts.Strict, "strict", false,
		"fail if a variable without a default value is declared in the input but is missing from the environment")
	return cmd
}

// Complete fills the streams and the environment.
func (o *Options) Complete(f *cmdutil.Factory, _ *cobra.Command, _ []string) error {
	if o.IO == nil {
		o.IO = f.IO
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	return nil
}

// Validate has nothing to check.
func (o *Options) Validate() error { return nil }

// Run substitutes stdin to stdout. Without --strict an unset variable is empty, as in Flux.
func (o *Options) Run(context.Context) error {
	lookup := o.LookupEnv
	if !o.Strict {
		lookup = func(k string) (string, bool) { v, _ := o.LookupEnv(k); return v, true }
	}
	return build.SubstituteLines(o.IO.In, o.IO.Out, lookup, o.Strict)
}
