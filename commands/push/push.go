// Package push implements `converge push artifact`.
package push

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/source/oci"
)

// ArtifactOptions are the inputs of `converge push artifact`.
type ArtifactOptions struct {
	IO              *cmdutil.IOStreams
	URL             string
	Path            string
	Source          string
	Revision        string
	Annotations     []string
	Ignore          []string
	AddIgnore       []string
	Registry        cmdutil.RegistryFlags
	DockerConfig    string
	Reproducible    bool
	ResolveSymlinks bool
	Debug           bool
	Output          string
	Clock           clock.PassiveClock
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
		Long: `Push packages a folder or a single file the way Flux's OCIRepository expects (Flux's media types and
the source/revision annotations) so CI can publish manifests and clusters pull them.
The command reads the credentials from '~/.docker/config.json' (docker login); they can also be passed
with --creds. Cloud provider login (--provider aws|azure|gcp) is not supported.`,
		Example: `  # Push manifests using the short Git SHA as the OCI artifact tag
  echo $GITHUB_PAT | docker login ghcr.io --username flux --password-stdin
  converge push artifact oci://ghcr.io/org/manifests:$(git rev-parse --short HEAD) \
    --path ./deploy --source "$(git config --get remote.origin.url)" \
    --revision "$(git branch --show-current)@sha1:$(git rev-parse HEAD)"

  # Push manifests passed on stdin with credentials, printing the digest as JSON
  kustomize build . | converge push artifact oci://ghcr.io/org/config/app:v1 -f - \
    --source "$(git config --get remote.origin.url)" --revision "v1@sha1:$(git rev-parse HEAD)" \
    --creds flux:$GITHUB_PAT --output json`,
		Args: cobra.ExactArgs(1),
		RunE: cmdutil.RunE(f, opts, true),
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.Path, "path", "f", "", "path to the directory where the Kubernetes manifests are located")
	fl.StringVar(&opts.Source, "source", "", "the source address, e.g. the Git URL")
	fl.StringVar(&opts.Revision, "revision", "", "the source revision in the format '<branch|tag>@sha1:<commit-sha>'")
	cmdutil.AddRegistryFlags(fl, &opts.Registry, "allows artifacts to be pushed without TLS")
	fl.StringSliceVar(&opts.Ignore, "ignore-paths", oci.DefaultPushIgnore, "set paths to ignore in .gitignore format")
	fl.StringSliceVar(&opts.AddIgnore, "add-ignore-paths", nil, "additional paths to ignore in .gitignore format (appended to --ignore-paths)")
	fl.StringArrayVarP(&opts.Annotations, "annotations", "a", nil, "Set custom OCI annotations in the format '<key>=<value>'")
	fl.StringVarP(&opts.Output, "output", "o", "", "the format in which the artifact digest should be printed, can be 'json' or 'yaml'")
	fl.BoolVar(&opts.Debug, "debug", false, "accepted for Flux compatibility; registry requests are not logged")
	fl.BoolVar(&opts.Reproducible, "reproducible", false, "ensure reproducible image digests by setting the created timestamp to '1970-01-01T00:00:00Z'")
	fl.BoolVar(&opts.ResolveSymlinks, "resolve-symlinks", false, "resolve symlinks by copying their targets into the artifact")
	fl.StringVar(&opts.DockerConfig, "creds-file", "", "docker config.json with the registry credentials (instead of ~/.docker/config.json)")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
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

// Validate checks the address, the required flags, the annotations, the provider and the output format.
func (o *ArtifactOptions) Validate() error {
	if _, err := oci.ParseArtifactURL(o.URL); err != nil {
		return cmdutil.FlagErrorf("%w", err)
	}
	switch {
	case o.Source == "":
		return cmdutil.FlagErrorf("--source is required")
	case o.Revision == "":
		return cmdutil.FlagErrorf("--revision is required")
	case o.Path == "":
		return cmdutil.FlagErrorf("invalid path %q", o.Path)
	}
	for _, a := range o.Annotations {
		if k, _, ok := strings.Cut(a, "="); !ok || k == "" || strings.Count(a, "=") != 1 {
			return cmdutil.FlagErrorf("invalid annotation %s, must be in the format key=value", a)
		}
	}
	if o.Registry.Creds != "" && o.DockerConfig != "" {
		return cmdutil.FlagErrorf("--creds and --creds-file are mutually exclusive")
	}
	if err := o.Registry.Validate(); err != nil {
		return err
	}
	if o.Output != "" && o.Output != cmdutil.OutputJSON && o.Output != cmdutil.OutputYAML {
		return cmdutil.FlagErrorf("unknown output format %q, want json or yaml", o.Output)
	}
	return nil
}

// Run pushes and reports the digest.
func (o *ArtifactOptions) Run(ctx context.Context) error {
	reg := o.Registry.Registry()
	po := oci.PushOptions{URL: o.URL, Source: o.Source, Revision: o.Revision, Insecure: reg.Insecure,
		Creds: reg.Creds, Provider: reg.Provider, Clock: o.Clock,
		Ignore: append(append([]string{}, o.Ignore...), o.AddIgnore...)}
	if o.Reproducible {
		po.Created = time.Unix(0, 0)
	}
	if len(o.Annotations) > 0 {
		po.Annotations = map[string]string{}
		for _, a := range o.Annotations {
			k, v, _ := strings.Cut(a, "=")
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
	path, cleanup, err := oci.StagePath(o.IO.In, o.Path, o.ResolveSymlinks)
	if err != nil {
		return err
	}
	defer cleanup()
	po.Path = path
	st := o.IO.ErrStyles()
	if o.Registry.Creds != "" {
		fmt.Fprintln(o.IO.ErrOut, st.ActionLine("logging in to registry with credentials"))
	}
	if o.Output == "" {
		fmt.Fprintln(o.IO.ErrOut, st.ActionLine("pushing artifact to "+strings.TrimPrefix(o.URL, "oci://")))
	}
	res, err := oci.Push(ctx, po)
	if err != nil {
		return fmt.Errorf("pushing artifact failed: %w", err)
	}
	if o.Output != "" {
		return cmdutil.WriteData(o.IO.Out, o.Output, res)
	}
	fmt.Fprintln(o.IO.ErrOut, st.SuccessLine("artifact successfully pushed to "+strings.TrimPrefix(res.URL, "oci://")))
	return nil
}
