package artifact

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/source/oci"
)

// PullOptions are the inputs of `converge pull artifact`.
type PullOptions struct {
	IO       *cmdutil.IOStreams
	URL      string
	Output   string
	Registry cmdutil.RegistryFlags
}

// NewCmdPull returns the pull command group with `pull artifact`.
func NewCmdPull(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "pull", Short: "Pull artifacts from container registries"}
	opts := &PullOptions{}
	sub := &cobra.Command{
		Use:   "artifact oci://REGISTRY/REPOSITORY:TAG",
		Short: "Pull artifact",
		Long: `The pull artifact command downloads and extracts the OCI artifact content to the given path.
The command reads the credentials from '~/.docker/config.json'; they can also be passed with --creds.`,
		Example: `  # Pull an OCI artifact created by push artifact from GHCR
  converge pull artifact oci://ghcr.io/org/manifests/app:v0.0.1 --output ./path/to/local/manifests`,
		Args: cobra.ExactArgs(1),
		RunE: cmdutil.RunE(f, opts, true),
	}
	fl := sub.Flags()
	fl.StringVarP(&opts.Output, "output", "o", "", "path where the artifact content should be extracted.")
	cmdutil.AddRegistryFlags(fl, &opts.Registry, "allows artifacts to be pulled without TLS")
	cmd.AddCommand(sub)
	return cmd
}

// Complete fills the streams and the address.
func (o *PullOptions) Complete(f *cmdutil.Factory, _ *cobra.Command, args []string) error {
	if o.IO == nil {
		o.IO = f.IO
	}
	o.URL = args[0]
	return nil
}

// Validate requires an existing --output folder and checks the address and provider.
func (o *PullOptions) Validate() error {
	if o.Output == "" {
		return cmdutil.FlagErrorf("output path cannot be empty")
	}
	if fi, err := os.Stat(o.Output); err != nil {
		return cmdutil.FlagErrorf("invalid output path %q: %w", o.Output, err)
	} else if !fi.IsDir() {
		return cmdutil.FlagErrorf("invalid output path %q: not a directory", o.Output)
	}
	if _, err := oci.ParseArtifactURL(o.URL); err != nil {
		return cmdutil.FlagErrorf("%w", err)
	}
	return o.Registry.Validate()
}

// Run pulls and reports the artifact's metadata.
func (o *PullOptions) Run(ctx context.Context) error {
	url, _ := oci.ParseArtifactURL(o.URL)
	st := o.IO.ErrStyles()
	loginLine(o.IO, o.Registry)
	fmt.Fprintln(o.IO.ErrOut, st.ActionLine("pulling artifact from "+url))
	info, err := oci.PullArtifact(ctx, url, o.Output, o.Registry.Registry())
	if err != nil {
		return err
	}
	if info.Source != "" {
		fmt.Fprintln(o.IO.ErrOut, st.SuccessLine("source "+info.Source))
	}
	if info.Revision != "" {
		fmt.Fprintln(o.IO.ErrOut, st.SuccessLine("revision "+info.Revision))
	}
	fmt.Fprintln(o.IO.ErrOut, st.SuccessLine("digest "+info.Digest))
	fmt.Fprintln(o.IO.ErrOut, st.SuccessLine("artifact content extracted to "+o.Output))
	return nil
}
