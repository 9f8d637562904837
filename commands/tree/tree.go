// Package tree implements `converge tree`: the objects a Kustomization applied, nested ones expanded.
package tree

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/inspect"
	"github.com/converge-gitops/converge/engine/kinds"
)

// Options are the inputs of `converge tree`.
type Options struct {
	IO     *cmdutil.IOStreams
	Getter func() (inspect.Getter, error)
	Ref    inspect.Ref
	Output string
	// Compact keeps the Flux objects only (--compact).
	Compact bool
	// Generator prints an ArtifactGenerator and the ExternalArtifacts of its inventory.
	Generator bool
}

// NewCmdTree returns the tree command.
func NewCmdTree(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tree",
		Short: "Print the objects a Kustomization or HelmRelease applied, as a tree",
		Long: `Tree prints the inventory of a Kustomization (status.inventory) as a tree; the Kustomizations and
HelmReleases in it are expanded with their own inventories, recursively.`,
		Example: `  converge tree kustomization flux-system
  converge tree ks apps -n flux-system -o json
  converge tree ks flux-system --compact`,
	}
	cmdutil.AddKindCommands(f, cmd, kinds.Select(func(k kinds.Kind) bool { return k.Inventory }), func(kind kinds.Kind) *cobra.Command {
		opts := &Options{Ref: inspect.Ref{Kind: kind}}
		c := &cobra.Command{
			Use:   "NAME",
			Short: "Print the inventory of a " + kind.Kind,
			Args:  cobra.ExactArgs(1),
			RunE:  cmdutil.RunE(f, opts, true),
		}
		addOutputFlag(c, &opts.Output)
		c.Flags().BoolVar(&opts.Compact, "compact", false, "list the Flux objects only")
		return c
	})
	cmd.AddCommand(newCmdTreeArtifact(f))
	return cmd
}

// newCmdTreeArtifact returns `tree artifact generator NAME`, as `flux tree artifact generator`.
func newCmdTreeArtifact(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "artifact",
		Short: "Print artifact objects as a tree",
	}
	kind, _ := kinds.Named("ArtifactGenerator")
	opts := &Options{Ref: inspect.Ref{Kind: kind}, Generator: true}
	gen := &cobra.Command{
		Use:   "generator NAME",
		Short: "Print the ExternalArtifacts an ArtifactGenerator manages",
		Example: `  # Print the ExternalArtifacts managed by an ArtifactGenerator
  converge tree artifact generator my-generator -n flux-system`,
		Args:              cobra.ExactArgs(1),
		RunE:              cmdutil.RunE(f, opts, true),
		ValidArgsFunction: cmdutil.CompleteNames(f, kind),
	}
	addOutputFlag(gen, &opts.Output)
	cmd.AddCommand(gen)
	return cmd
}

// addOutputFlag declares -o as Flux's tree does: empty (the tree) by default, or json or yaml; table
// names the tree too.
func addOutputFlag(cmd *cobra.Command, target *string) {
	formats := []string{cmdutil.OutputJSON, cmdutil.OutputYAML, cmdutil.OutputTable}
	cmd.Flags().StringVarP(target, "output", "o", "", fmt.Sprintf("output format, one of %v (default: the tree)", formats))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(formats, cobra.ShellCompDirectiveNoFileComp))
}

// Complete fills the streams, the object and the getter.
func (o *Options) Complete(f *cmdutil.Factory, _ *cobra.Command, args []string) error {
	if o.IO == nil {
		o.IO = f.IO
	}
	if o.Getter == nil {
		o.Getter = cmdutil.ClusterGetter(f)
	}
	o.Ref.Namespace, o.Ref.Name = f.Namespace(), args[0]
	if o.Output == "" {
		o.Output = cmdutil.OutputTable
	}
	return nil
}

// Validate checks the output format.
func (o *Options) Validate() error {
	return cmdutil.ValidateOutput(o.Output, cmdutil.OutputTable, cmdutil.OutputJSON, cmdutil.OutputYAML)
}

// Run reads the tree and prints it.
func (o *Options) Run(ctx context.Context) error {
	get, err := o.Getter()
	if err != nil {
		return err
	}
	tree := inspect.Tree
	if o.Generator {
		tree = inspect.GeneratorTree
	}
	root, err := tree(ctx, get, o.Ref)
	if err != nil {
		return err
	}
	if o.Compact {
		root = inspect.Compact(root)
	}
	if o.Output != cmdutil.OutputTable {
		return cmdutil.WriteData(o.IO.Out, o.Output, root)
	}
	return Render(o.IO.Out, root)
}

// Render draws n with box-drawing branches, as `flux tree` does.
func Render(w io.Writer, n *inspect.Node) error {
	var b strings.Builder
	b.WriteString(label(n) + "\n")
	renderChildren(&b, n, "")
	_, err := io.WriteString(w, b.String())
	return err
}

func renderChildren(b *strings.Builder, n *inspect.Node, prefix string) {
	for i, c := range n.Children {
		branch, next := "├── ", "│   "
		if i == len(n.Children)-1 {
			branch, next = "└── ", "    "
		}
		b.WriteString(prefix + branch + label(c) + "\n")
		renderChildren(b, c, prefix+next)
	}
}

func label(n *inspect.Node) string {
	if n.Missing {
		return n.String() + " (not found)"
	}
	return n.String()
}
