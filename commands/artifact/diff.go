package artifact

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/source/oci"
)

// DiffOptions are the inputs of `converge diff artifact`.
type DiffOptions struct {
	IO        *cmdutil.IOStreams
	URL       string
	Path      string
	Ignore    []string
	AddIgnore []string
	Registry  cmdutil.RegistryFlags
}

// NewCmdDiffArtifact returns `diff artifact`, to add under the diff command.
func NewCmdDiffArtifact(f *cmdutil.Factory) *cobra.Command {
	opts := &DiffOptions{}
	cmd := &cobra.Command{
		Use:   "artifact oci://REGISTRY/REPOSITORY:TAG",
		Short: "Diff Artifact",
		Long: `The diff artifact command computes the diff between the remote OCI artifact and a local directory or
file. It exits with 1 when they differ.`,
		Example: `  # Check if local files differ from remote
  converge diff artifact oci://ghcr.io/stefanprodan/manifests/podinfo:6.2.0 --path=./kustomize`,
		Args: cobra.ExactArgs(1),
		RunE: cmdutil.RunE(f, opts, true),
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Path, "path", "", "path to the directory where the Kubernetes manifests are located")
	cmdutil.AddRegistryFlags(fl, &opts.Registry, "allows the remote artifact to be pulled without TLS")
	addIgnoreFlags(cmd, &opts.Ignore, &opts.AddIgnore)
	return cmd
}

// Complete fills the streams and the address.
func (o *DiffOptions) Complete(f *cmdutil.Factory, _ *cobra.Command, args []string) error {
	if o.IO == nil {
		o.IO = f.IO
	}
	o.URL = args[0]
	return nil
}

// Validate requires --path and checks the address and provider.
func (o *DiffOptions) Validate() error {
	if o.Path == "" {
		return cmdutil.FlagErrorf("invalid path %q", o.Path)
	}
	if _, err := oci.ParseArtifactURL(o.URL); err != nil {
		return cmdutil.FlagErrorf("%w", err)
	}
	return o.Registry.Validate()
}

// Run compares; differences exit with 1.
func (o *DiffOptions) Run(ctx context.Context) error {
	url, _ := oci.ParseArtifactURL(o.URL)
	path, cleanup, err := oci.StagePath(o.IO.In, o.Path, false)
	if err != nil {
		return err
	}
	defer cleanup()
	st := o.IO.ErrStyles()
	loginLine(o.IO, o.Registry)
	err = oci.DiffArtifact(ctx, url, path, append(append([]string{}, o.Ignore...), o.AddIgnore...), o.Registry.Registry())
	if errors.Is(err, oci.ErrArtifactDiffers) {
		fmt.Fprintln(o.IO.ErrOut, st.FailureLine(err.Error()))
		return &cmdutil.SilentError{Code: cmdutil.ExitChanges}
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(o.IO.ErrOut, st.SuccessLine("no changes detected"))
	return nil
}

// loginLine says that --creds are used, as Flux does.
func loginLine(io *cmdutil.IOStreams, r cmdutil.RegistryFlags) {
	if r.Creds != "" {
		fmt.Fprintln(io.ErrOut, io.ErrStyles().ActionLine("logging in to registry with credentials"))
	}
}
