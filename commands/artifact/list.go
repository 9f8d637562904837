package artifact

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/source/oci"
)

// ListOptions are the inputs of `converge list artifacts`.
type ListOptions struct {
	IO       *cmdutil.IOStreams
	URL      string
	Semver   string
	Regex    string
	Registry cmdutil.RegistryFlags
}

// NewCmdList returns the list command group with `list artifacts`.
func NewCmdList(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List artifacts"}
	opts := &ListOptions{}
	sub := &cobra.Command{
		Use:   "artifacts oci://REGISTRY/REPOSITORY",
		Short: "list artifacts",
		Long: `The list command fetches the tags and their metadata from a remote OCI repository.
The command reads the credentials from '~/.docker/config.json'; they can also be passed with --creds.`,
		Example: `  # List the artifacts stored in an OCI repository
  converge list artifacts oci://ghcr.io/org/config/app`,
		Args: cobra.ExactArgs(1),
		RunE: cmdutil.RunE(f, opts, true),
	}
	fl := sub.Flags()
	fl.StringVar(&opts.Semver, "filter-semver", "", "filter tags returned from the oci repository using semver")
	fl.StringVar(&opts.Regex, "filter-regex", "", "filter tags returned from the oci repository using regex")
	cmdutil.AddRegistryFlags(fl, &opts.Registry, "allows the remote artifacts list to be fetched without TLS")
	cmd.AddCommand(sub)
	return cmd
}

// Complete fills the streams and the address.
func (o *ListOptions) Complete(f *cmdutil.Factory, _ *cobra.Command, args []string) error {
	if o.IO == nil {
		o.IO = f.IO
	}
	o.URL = args[0]
	return nil
}

// Validate checks the address and provider.
func (o *ListOptions) Validate() error {
	if _, err := oci.ParseArtifactURL(o.URL); err != nil {
		return cmdutil.FlagErrorf("%w", err)
	}
	return o.Registry.Validate()
}

// Run lists the artifacts as Flux's table.
func (o *ListOptions) Run(ctx context.Context) error {
	url, _ := oci.ParseArtifactURL(o.URL)
	loginLine(o.IO, o.Registry)
	arts, err := oci.ListArtifacts(ctx, url, o.Registry.Registry(), oci.ListOptions{SemverFilter: o.Semver, RegexFilter: o.Regex})
	if err != nil {
		return err
	}
	rows := make([][]string, 0, len(arts))
	for _, a := range arts {
		rows = append(rows, []string{a.URL, a.Digest, a.Source, a.Revision})
	}
	return cmdutil.WriteFluxTable(o.IO.Out, []string{"artifact", "digest", "source", "revision"}, rows)
}
