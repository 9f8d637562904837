// Package push implements `converge push artifact`.
package push

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/source/oci"
)

// ArtifactOptions are the inputs of `converge push artifact`.
type ArtifactOptions struct {
	IO           *cmdutil.IOStreams
	URL          string
	Path         string
	Source       string
	Revision     string
	Annotations  []string
	Ignore       []string
	Insecure     bool
	DockerConfig string
	Output       string
	Clock        clock.PassiveClock
}

// NewCmdPush returns the push command group.
func NewCmdPush(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "push", Short: "Push artifacts to OCI registries"}
	cmd.AddCommand(newCmdArtifact(f))
	return cmd
}

func newCmdArtifact(f *cmdutil.Factory) *cobra.Command {
	opts := &ArtifactOptions{}
	cmd := &cobra.Command{
		Use:   "artifact oci://REGISTRY/REPOSITORY:TAG",
		Short: "Package a folder as a Flux OCI artifact and push it",
		Long: `Push packages a folder the way Flux's OCIRepository expects (Flux's media types and the
source/revision annotations) so CI can publish manifests and clusters pull them.`,
		Example: `  converge push artifact oci://ghcr.io/org/manifests:$(git rev-parse --short HEAD) \
    --path ./deploy --source "$(git config --get remote.origin.url)" \
    --revision "$(git branch --show-current)@sha1:$(git rev-parse HEAD)"`,
		Args: cobra.ExactArgs(1),
		RunE: cmdutil.RunE(f, opts, true),
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Path, "path", "", "folder (or file) to package")
	fl.StringVar(&opts.Source, "source", "", "source address recorded in the artifact, e.g. the Git remote URL")
	fl.StringVar(&opts.Revision, "revision", "", "source revision recorded in the artifact, e.g. main@sha1:<commit>")
	fl.StringArrayVarP(&opts.Annotations, "annotations", "a", nil, "extra manifest annotations, key=value (repeatable)")
	fl.StringSliceVar(&opts.Ignore, "ignore-paths", nil, "paths to leave out, .gitignore syntax (default: Flux's)")
	fl.BoolVar(&opts.Insecure, "insecure-registry", false, "use plain HTTP")
	fl.StringVar(&opts.DockerConfig, "creds-file", "", "docker config.json with the registry credentials")
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.OutputTable, cmdutil.OutputJSON, cmdutil.OutputYAML)
	return cmd
}

// Complete fills the streams and the address.
func (o *ArtifactOptions) Complete(f *cmdutil.Factory, _ *cobra.Command, args []string) error {
	if o.IO == nil {
		o.IO = f.IO
	}
	if o.Clock == nil {
		o.Clock = f.Clock
	}
	o.URL = args[0]
	return nil
}

// Validate checks the address, the required flags, the annotations and the output format.
func (o *ArtifactOptions) Validate() error {
	if !strings.HasPrefix(o.URL, "oci://") {
		return cmdutil.FlagErrorf("the artifact address must start with oci://, got %q", o.URL)
	}
	if o.Path == "" || o.Source == "" || o.Revision == "" {
		return cmdutil.FlagErrorf("--path, --source and --revision are required")
	}
	return cmdutil.ValidateOutput(o.Output, cmdutil.OutputTable, cmdutil.OutputJSON, cmdutil.OutputYAML)
}

// Run pushes and reports the digest.
func (o *ArtifactOptions) Run(ctx context.Context) error {
	po := oci.PushOptions{URL: o.URL, Path: o.Path, Source: o.Source, Revision: o.Revision, Insecure: o.Insecure,
		Clock: o.Clock}
	if len(o.Ignore) > 0 {
		po.Ignore = o.Ignore
	}
	if len(o.Annotations) > 0 {
		po.Annotations = map[string]string{}
		for _, a := range o.Annotations {
			k, v, ok := strings.Cut(a, "=")
			if !ok || k == "" {
				return cmdutil.FlagErrorf("annotation %q: want key=value", a)
			}
			po.Annotations[k] = v
		}
	}
	if o.DockerConfig != "" {
		b, err := os.ReadFile(o.DockerConfig)
		if err != nil {
			return fmt.Errorf("--creds-file: %w", err)
		}
		po.DockerConfig = b
	}
	st := o.IO.ErrStyles()
	if o.Output == cmdutil.OutputTable {
		fmt.Fprintln(o.IO.ErrOut, st.ActionLine("pushing artifact to "+o.URL))
	}
	digest, err := oci.Push(ctx, po)
	if err != nil {
		return err
	}
	if o.Output != cmdutil.OutputTable {
		return cmdutil.WriteData(o.IO.Out, o.Output, map[string]string{"url": o.URL, "digest": digest, "revision": o.Revision})
	}
	fmt.Fprintln(o.IO.ErrOut, st.SuccessLine("artifact successfully pushed to "+strings.TrimPrefix(o.URL, "oci://")+"@"+digest))
	return nil
}
