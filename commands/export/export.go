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
	// WithCredentials prints, after each source, the Secret its spec.secretRef names.
	WithCredentials bool

	group *groupFlags
}

// groupFlags are the flags Flux declares once on export (--all) and export source (--with-credentials).
type groupFlags struct {
	all, withCredentials bool
}

// Complete takes --all and --with-credentials from the group flags.
func (o *Options) Complete(f *cmdutil.Factory, cmd *cobra.Command, args []string) error {
	if err := o.NamedObjects.Complete(f, cmd, args); err != nil {
		return err
	}
	if o.group != nil {
		o.All, o.WithCredentials = o.group.all, o.group.withCredentials
	}
	return nil
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
  converge export source git --all -n flux-system
  converge export source git flux-system --with-credentials`,
	}
	group := &groupFlags{}
	cmd.PersistentFlags().BoolVar(&group.all, "all", false, "export every object of the kind in the namespace")
	newKindCmd := func(kind kinds.Kind) *cobra.Command {
		opts := &Options{Kind: kind, group: group}
		c := &cobra.Command{
			Use:               "[NAME...]",
			Short:             "Export " + kind.Kind + " objects",
			ValidArgsFunction: cmdutil.CompleteManyNames(f, kind),
			RunE:              cmdutil.RunE(f, opts, true),
		}
		return c
	}
	cmdutil.AddKindCommands(f, cmd, kinds.Select(func(k kinds.Kind) bool { return k.Exportable }), newKindCmd)
	for _, c := range cmd.Commands() {
		if c.Name() == "source" {
			c.PersistentFlags().BoolVar(&group.withCredentials, "with-credentials", false,
				"include the Secret each source's spec.secretRef names")
		}
	}
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
		if o.WithCredentials {
			secret, err := op.CredentialSecret(ctx, u)
			if err != nil {
				return err
			}
			if secret != nil {
				objs = append(objs, secret)
			}
		}
	}
	out, err := inspect.ExportYAML(objs)
	if err != nil {
		return err
	}
	_, err = o.IO.Out.Write(out)
	return err
}
