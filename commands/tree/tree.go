// Package tree implements `converge tree`: the objects a Kustomization applied, nested ones expanded.
package tree

import (
	"context"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/commands/get"
	"github.com/converge-gitops/converge/engine/inspect"
)

// Options are the inputs of `converge tree`.
type Options struct {
	IO     *cmdutil.IOStreams
	Getter func() (inspect.Getter, error)
	Ref    inspect.Ref
	Output string
}

// NewCmdTree returns the tree command.
func NewCmdTree(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tree",
		Short: "Print the objects a Kustomization or HelmRelease applied, as a tree",
		Long: `Tree prints the inventory of a Kustomization (status.inventory) as a tree; the Kustomizations and
HelmReleases in it are expanded with their own inventories, recursively.`,
		Example: `  converge tree kustomization flux-system
  converge tree ks apps -n flux-system -o json`,
	}
	specs := []get.KindCommand{
		{Use: "kustomization", Aliases: []string{"ks", "kustomizations"}, Kind: "kustomizations"},
		{Use: "helmrelease", Aliases: []string{"hr", "helmreleases"}, Kind: "helmreleases"},
	}
	get.AddKindCommands(f, cmd, specs, func(_ get.KindCommand, kind inspect.Kind) *cobra.Command {
		opts := &Options{IO: f.IO}
		opts.Getter = func() (inspect.Getter, error) {
			c, err := f.KubeClients()
			if err != nil {
				return nil, err
			}
			return inspect.ClusterGetter(c.Dynamic, c.Mapper), nil
		}
		c := &cobra.Command{
			Use:   "NAME",
			Short: "Print the inventory of a " + kind.Kind,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				if err := cmdutil.ValidateOutput(opts.Output, cmdutil.OutputTable, cmdutil.OutputJSON, cmdutil.OutputYAML); err != nil {
					return err
				}
				opts.Ref = inspect.Ref{Kind: kind, Namespace: f.Namespace(), Name: args[0]}
				ctx, cancel := context.WithTimeout(cmd.Context(), f.Timeout)
				defer cancel()
				return Run(ctx, opts)
			},
		}
		cmdutil.AddOutputFlag(c, &opts.Output, cmdutil.OutputTable, cmdutil.OutputJSON, cmdutil.OutputYAML)
		return c
	})
	return cmd
}

// Run reads the tree and prints it.
func Run(ctx context.Context, opts *Options) error {
	get, err := opts.Getter()
	if err != nil {
		return err
	}
	root, err := inspect.Tree(ctx, get, opts.Ref)
	if err != nil {
		return err
	}
	if opts.Output != cmdutil.OutputTable {
		return cmdutil.WriteData(opts.IO.Out, opts.Output, root)
	}
	return Render(opts.IO.Out, root)
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
