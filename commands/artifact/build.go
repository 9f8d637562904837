package artifact

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/source/oci"
)

// BuildOptions are the inputs of `converge build artifact`.
type BuildOptions struct {
	IO              *cmdutil.IOStreams
	Path            string
	Output          string
	Ignore          []string
	AddIgnore       []string
	ResolveSymlinks bool
}

// NewCmdBuildArtifact returns `build artifact`, to add under the build command.
func NewCmdBuildArtifact(f *cmdutil.Factory) *cobra.Command {
	opts := &BuildOptions{}
	cmd := &cobra.Command{
		Use:   "artifact",
		Short: "Build artifact",
		Long: `The build artifact command creates a tgz file with the manifests from the given directory or a single
manifest file, byte for byte the layer that push artifact uploads.`,
		Example: `  # Build the given manifests directory into an artifact
  converge build artifact --path ./path/to/local/manifests --output ./path/to/artifact.tgz

  # Build the given single manifest file into an artifact
  converge build artifact --path ./path/to/local/manifest.yaml --output ./path/to/artifact.tgz

  # List the files bundled in the artifact
  tar -ztvf ./path/to/artifact.tgz`,
		Args: cobra.NoArgs,
		RunE: cmdutil.RunE(f, opts, true),
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.Path, "path", "p", "", "Path to the directory where the Kubernetes manifests are located.")
	fl.StringVarP(&opts.Output, "output", "o", "artifact.tgz", "Path to where the artifact tgz file should be written.")
	addIgnoreFlags(cmd, &opts.Ignore, &opts.AddIgnore)
	fl.BoolVar(&opts.ResolveSymlinks, "resolve-symlinks", false, "resolve symlinks by copying their targets into the artifact")
	return cmd
}

func addIgnoreFlags(cmd *cobra.Command, ignore, add *[]string) {
	cmd.Flags().StringSliceVar(ignore, "ignore-paths", oci.DefaultPushIgnore, "set paths to ignore in .gitignore format")
	cmd.Flags().StringSliceVar(add, "add-ignore-paths", nil, "additional paths to ignore in .gitignore format (appended to --ignore-paths)")
}

// Complete fills the streams.
func (o *BuildOptions) Complete(f *cmdutil.Factory, _ *cobra.Command, _ []string) error {
	if o.IO == nil {
		o.IO = f.IO
	}
	return nil
}

// Validate requires --path and --output.
func (o *BuildOptions) Validate() error {
	if o.Path == "" {
		return cmdutil.FlagErrorf("invalid path %q", o.Path)
	}
	if o.Output == "" {
		return cmdutil.FlagErrorf("invalid output %q", o.Output)
	}
	return nil
}

// Run writes the artifact.
func (o *BuildOptions) Run(context.Context) error {
	path, cleanup, err := oci.StagePath(o.IO.In, o.Path, o.ResolveSymlinks)
	if err != nil {
		return err
	}
	defer cleanup()
	st := o.IO.ErrStyles()
	fmt.Fprintln(o.IO.ErrOut, st.ActionLine("building artifact from "+path))
	if err := oci.BuildArtifact(o.Output, path, append(append([]string{}, o.Ignore...), o.AddIgnore...)); err != nil {
		return fmt.Errorf("building artifact failed, error: %w", err)
	}
	fmt.Fprintln(o.IO.ErrOut, st.SuccessLine("artifact created at "+o.Output))
	return nil
}
