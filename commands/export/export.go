// Package export implements `converge export`: Flux objects as clean YAML, ready for a Git repository.
package export

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/commands/get"
	"github.com/converge-gitops/converge/engine/inspect"
)

// Options are the inputs of `converge export`.
type Options struct {
	IO        *cmdutil.IOStreams
	Client    func() (dynamic.Interface, error)
	Namespace string
	Kind      inspect.Kind
	Names     []string
	All       bool
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
	get.AddKindCommands(f, cmd, get.Exportable, func(_ get.KindCommand, kind inspect.Kind) *cobra.Command {
		opts := &Options{IO: f.IO, Kind: kind}
		opts.Client = func() (dynamic.Interface, error) {
			cfg, err := f.RESTConfig()
			if err != nil {
				return nil, err
			}
			return dynamic.NewForConfig(cfg)
		}
		c := &cobra.Command{
			Use:   "[NAME...]",
			Short: "Export " + kind.Kind + " objects",
			RunE: func(cmd *cobra.Command, args []string) error {
				if opts.All == (len(args) > 0) {
					return cmdutil.FlagErrorf("give object names or --all, not both or neither")
				}
				opts.Namespace, opts.Names = f.Namespace(), args
				ctx, cancel := context.WithTimeout(cmd.Context(), f.Timeout)
				defer cancel()
				return Run(ctx, opts)
			},
		}
		c.ValidArgsFunction = get.CompleteManyNames(f, kind)
		c.Flags().BoolVar(&opts.All, "all", false, "export every "+kind.Kind+" in the namespace")
		return c
	})
	return cmd
}

// Run reads and prints the objects.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	op := &inspect.Operator{Client: c}
	names := opts.Names
	if opts.All {
		if names, err = op.Names(ctx, opts.Kind, opts.Namespace); err != nil {
			return err
		}
		if len(names) == 0 {
			fmt.Fprintf(opts.IO.ErrOut, "no %s objects found in namespace %s\n", opts.Kind.Kind, opts.Namespace)
			return nil
		}
	}
	var objs []*unstructured.Unstructured
	for _, name := range names {
		u, err := op.Get(ctx, inspect.Ref{Kind: opts.Kind, Namespace: opts.Namespace, Name: name})
		if err != nil {
			return err
		}
		objs = append(objs, u)
	}
	out, err := inspect.ExportYAML(objs)
	if err != nil {
		return err
	}
	_, err = opts.IO.Out.Write(out)
	return err
}
