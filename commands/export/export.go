// Package export implements `converge export`: Flux objects as clean YAML, ready for a Git repository.
package export

import (
	"context"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/inspect"
	"github.com/converge-gitops/converge/engine/kinds"
)

// Options are the inputs of `converge export`.
type Options struct {
	cmdutil.NamedObjects
	Kind inspect.Kind
}

// NewCmdExport returns the export command with its kind subcommands.
func NewCmdExport(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Print Flux objects as clean YAML",
		Long: `Export prints Flux objects as they belong in a Git repository: status and the metadata the API server
sets (uid, resourceVersion, generation, creationTimestamp, managedFields, finalizers) and kubectl's
last-applied annotation are left out.`,
		Example: `  converge export kustomization apps > apps.yaml
  converge export source git --all -n flux-system`,
	}
	newKindCmd := func(kind kinds.Kind) *cobra.Command {
		opts := &Options{Kind: kind}
		c := &cobra.Command{
			Use:               "[NAME...]",
			Short:             "Export " + kind.Kind + " objects",
			ValidArgsFunction: cmdutil.CompleteManyNames(f, kind),
			RunE:              cmdutil.RunE(f, opts, true),
		}
		c.Flags().BoolVar(&opts.All, "all", false, "export every "+kind.Kind+" in the namespace")
		return c
	}
	cmdutil.AddKindCommands(f, cmd, kinds.Select(func(k kinds.Kind) bool { return k.Exportable }), newKindCmd)
	// Flux's path for ArtifactGenerators: `export artifact generator` (`export artifactgenerator` stays).
	artifact := &cobra.Command{Use: "artifact", Short: "Export artifact objects"}
	gen := newKindCmd(kinds.MustByKey("artifactgenerators"))
	gen.Use = "generator " + gen.Use
	artifact.AddCommand(gen)
	cmd.AddCommand(artifact)
	return cmd
}

// Run reads and prints the objects.
func (o *Options) Run(ctx context.Context) error {
	c, err := o.Client()
	if err != nil {
		return err
	}
	op := &inspect.Operator{Client: c, Clock: o.Clock}
	names, err := cmdutil.ObjectNames(ctx, o.IO, op, o.Kind, o.Namespace, o.Names, o.All)
	if err != nil || len(names) == 0 {
		return err
	}
	var objs []*unstructured.Unstructured
	for _, name := range names {
		u, err := op.Get(ctx, inspect.Ref{Kind: o.Kind, Namespace: o.Namespace, Name: name})
		if err != nil {
			return err
		}
		objs = append(objs, u)
	}
	out, err := inspect.ExportYAML(objs)
	if err != nil {
		return err
	}
	_, err = o.IO.Out.Write(out)
	return err
}
