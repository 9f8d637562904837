package cmdutil

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"

	"github.com/converge-gitops/converge/engine/inspect"
	"github.com/converge-gitops/converge/engine/kinds"
)

// DynamicClient returns a dynamic client for the selected cluster.
func (f *Factory) DynamicClient() (dynamic.Interface, error) {
	cfg, err := f.RESTConfig()
	if err != nil {
		return nil, err
	}
	return dynamic.NewForConfig(cfg)
}

// AddKindCommands adds one subcommand per kind to parent, named as the kinds registry's CLIName and
// CLIAliases (grouped under "source"/"image" subcommands), each built by build and given dynamic
// completion of object names unless build set one.
func AddKindCommands(f *Factory, parent *cobra.Command, ks []kinds.Kind, build func(kinds.Kind) *cobra.Command) {
	groups := map[string]*cobra.Command{}
	for _, k := range ks {
		c := build(k)
		c.Use = k.CLIName + " " + c.Use
		c.Aliases = k.CLIAliases
		if c.ValidArgsFunction == nil {
			c.ValidArgsFunction = CompleteNames(f, k)
		}
		target := parent
		if k.CLIGroup != "" {
			g, ok := groups[k.CLIGroup]
			if !ok {
				g = &cobra.Command{Use: k.CLIGroup, Short: parent.Name() + " " + k.CLIGroup + " objects"}
				if k.CLIGroup == "source" {
					g.Aliases = []string{"sources"}
				}
				groups[k.CLIGroup] = g
				parent.AddCommand(g)
			}
			target = g
		}
		target.AddCommand(c)
	}
}

// CompleteNames completes the first argument with the names of kind's objects in the -n namespace.
func CompleteNames(f *Factory, kind inspect.Kind) cobra.CompletionFunc {
	return completeNames(f, kind, false)
}

// CompleteManyNames completes every argument with the names of kind's objects not given yet.
func CompleteManyNames(f *Factory, kind inspect.Kind) cobra.CompletionFunc {
	return completeNames(f, kind, true)
}

func completeNames(f *Factory, kind inspect.Kind, many bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 && !many {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		client, err := f.DynamicClient()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		names, err := (&inspect.Operator{Client: client, Clock: f.Clock}).Names(ctx, kind, f.Namespace())
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		return slices.DeleteFunc(names, func(n string) bool { return slices.Contains(args, n) }), cobra.ShellCompDirectiveNoFileComp
	}
}

// CompleteKinds completes a flag naming a Flux kind ("Kustomization") with the registry's kinds.
func CompleteKinds(cmd *cobra.Command, flag string) {
	var names []string
	for _, k := range kinds.All() {
		names = append(names, k.Kind)
	}
	_ = cmd.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(names, cobra.ShellCompDirectiveNoFileComp))
}

// ClusterGetter returns a function that reads objects from the selected cluster, for inspect's tree and
// trace.
func ClusterGetter(f *Factory) func() (inspect.Getter, error) {
	return func() (inspect.Getter, error) {
		c, err := f.KubeClients()
		if err != nil {
			return nil, err
		}
		return inspect.ClusterGetter(c.Dynamic, c.Mapper), nil
	}
}

// ObjectNames returns names, or with all the names of every kind object in namespace; when there is
// none it says so on stderr and returns none.
func ObjectNames(ctx context.Context, io *IOStreams, op *inspect.Operator, kind inspect.Kind, namespace string, names []string, all bool) ([]string, error) {
	if !all {
		return names, nil
	}
	names, err := op.Names(ctx, kind, namespace)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		fmt.Fprintf(io.ErrOut, "no %s objects found in namespace %s\n", kind.Kind, namespace)
	}
	return names, nil
}
