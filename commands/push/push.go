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
	opts := &ArtifactOptions{IO: f.IO, Clock: f.Clock}
	cmd := &cobra.Command{
		Use:   "artifact oci://REGISTRY/REPOSITORY:TAG",
		Short: "Package a folder as a Flux OCI artifact and push it",
		Long: `Push packages a folder the way Flux's OCIRepository expects (Flux's media types and the
source/revision annotations) so CI can publish manifests and clusters pull them.`,
		Example: `  converge push artifact oci://ghcr.io/org/manifests:$(git rev-parse --short HEAD) \
    --path ./deploy --source "$(git config --get remote.origin.url)" \
    --revision "$(git branch --show-current)@sha1:$(git rev-parse HEAD)"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.URL = args[0]
			if !strings.HasPrefix(opts.URL, "oci://") {
				return cmdutil.FlagErrorf("the artifact address must start with oci://, got %q", opts.URL)
			}
			if opts.Path == "" || opts.Source == "" || opts.Revision == "" {
				return cmdutil.FlagErrorf("--path, --source and --revision are required")
			}
			if err := cmdutil.ValidateOutput(opts.Output, cmdutil.OutputTable, cmdutil.OutputJSON, cmdutil.OutputYAML); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), f.Timeout)
			defer cancel()
			return RunArtifact(ctx, opts)
		},
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

// RunArtifact pushes and reports the digest.
func RunArtifact(ctx context.Context, opts *ArtifactOptions) error {
	po := oci.PushOptions{URL: opts.URL, Path: opts.Path, Source: opts.Source, Revision: opts.Revision, Insecure: opts.Insecure,
		Clock: opts.Clock}
	if len(opts.Ignore) > 0 {
		po.Ignore = opts.Ignore
	}
	if len(opts.Annotations) > 0 {
		po.Annotations = map[string]string{}
		for _, a := range opts.Annotations {
			k, v, ok := strings.Cut(a, "=")
			if !ok || k == "" {
				return cmdutil.FlagErrorf("annotation %q: want key=value", a)
			}
			po.Annotations[k] = v
		}
	}
	if opts.DockerConfig != "" {
		b, err := os.ReadFile(opts.DockerConfig)
		if err != nil {
			return fmt.Errorf("--creds-file: %w", err)
		}
		po.DockerConfig = b
	}
	st := opts.IO.ErrStyles()
	if opts.Output == cmdutil.OutputTable {
		fmt.Fprintln(opts.IO.ErrOut, st.ActionLine("pushing artifact to "+opts.URL))
	}
	digest, err := oci.Push(ctx, po)
	if err != nil {
		return err
	}
	if opts.Output != cmdutil.OutputTable {
		return cmdutil.WriteData(opts.IO.Out, opts.Output, map[string]string{"url": opts.URL, "digest": digest, "revision": opts.Revision})
	}
	fmt.Fprintln(opts.IO.ErrOut, st.SuccessLine("artifact successfully pushed to "+strings.TrimPrefix(opts.URL, "oci://")+"@"+digest))
	return nil
}
