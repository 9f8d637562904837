package artifact

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/source/oci"
)

// TagOptions are the inputs of `converge tag artifact`.
type TagOptions struct {
	IO       *cmdutil.IOStreams
	URL      string
	Tags     []string
	Registry cmdutil.RegistryFlags
}

// NewCmdTag returns the tag command group with `tag artifact`.
func NewCmdTag(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "tag", Short: "Tag artifacts in container registries"}
	opts := &TagOptions{}
	sub := &cobra.Command{
		Use:   "artifact oci://REGISTRY/REPOSITORY:TAG",
		Short: "Tag artifact",
		Long: `The tag artifact command creates tags for the given OCI artifact.
The command reads the credentials from '~/.docker/config.json'; they can also be passed with --creds.`,
		Example: `  # Tag an artifact version as latest
  converge tag artifact oci://ghcr.io/org/manifests/app:v0.0.1 --tag latest`,
		Args: cobra.ExactArgs(1),
		RunE: cmdutil.RunE(f, opts, true),
	}
	fl := sub.Flags()
	fl.StringSliceVar(&opts.Tags, "tag", nil, "tag name")
	// Flux's tag artifact has no --insecure-registry: loopback registries are reached over plain HTTP.
	cmdutil.AddRegistryFlags(fl, &opts.Registry, "")
	cmd.AddCommand(sub)
	return cmd
}

// Complete fills the streams and the address.
func (o *TagOptions) Complete(f *cmdutil.Factory, _ *cobra.Command, args []string) error {
	if o.IO == nil {
		o.IO = f.IO
	}
	o.URL = args[0]
	return nil
}

// Validate requires a tag and checks the address and provider.
func (o *TagOptions) Validate() error {
	if len(o.Tags) == 0 {
		return cmdutil.FlagErrorf("--tag is required")
	}
	if _, err := oci.ParseArtifactURL(o.URL); err != nil {
		return cmdutil.FlagErrorf("%w", err)
	}
	return o.Registry.Validate()
}

// Run adds each tag.
func (o *TagOptions) Run(ctx context.Context) error {
	url, _ := oci.ParseArtifactURL(o.URL)
	st := o.IO.ErrStyles()
	loginLine(o.IO, o.Registry)
	fmt.Fprintln(o.IO.ErrOut, st.ActionLine("tagging artifact"))
	for _, tag := range o.Tags {
		ref, err := oci.TagArtifact(ctx, url, tag, o.Registry.Registry())
		if err != nil {
			return fmt.Errorf("tagging artifact failed: %w", err)
		}
		fmt.Fprintln(o.IO.ErrOut, st.SuccessLine("artifact tagged as "+ref))
	}
	return nil
}
