package get

import (
	"context"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/inspect"
)

// KindCommand is a kind subcommand as Flux's CLI spells it: `kustomization`, `source git`, `image policy`.
type KindCommand struct {
	// Parent is "" or the grouping subcommand ("source", "image").
	Parent  string
	Use     string
	Aliases []string
	// Kind is the key of inspect.Kinds.
	Kind string
}

// Kind subcommand sets.
var (
	Reconcilable = []KindCommand{
		{Use: "kustomization", Aliases: []string{"ks", "kustomizations"}, Kind: "kustomizations"},
		{Use: "helmrelease", Aliases: []string{"hr", "helmreleases"}, Kind: "helmreleases"},
		{Parent: "source", Use: "git", Kind: "git"},
		{Parent: "source", Use: "oci", Kind: "oci"},
		{Parent: "source", Use: "bucket", Kind: "bucket"},
		{Parent: "source", Use: "helm", Kind: "helm"},
		{Parent: "source", Use: "chart", Kind: "chart"},
	}
	// Suspendable also covers the notification and image kinds that have spec.suspend.
	Suspendable = append(append([]KindCommand{}, Reconcilable...),
		KindCommand{Use: "alert", Aliases: []string{"alerts"}, Kind: "alerts"},
		KindCommand{Use: "alert-provider", Aliases: []string{"provider", "providers"}, Kind: "providers"},
		KindCommand{Use: "receiver", Aliases: []string{"receivers"}, Kind: "receivers"},
		KindCommand{Parent: "image", Use: "repository", Kind: "imagerepositories"},
		KindCommand{Parent: "image", Use: "policy", Kind: "imagepolicies"},
		KindCommand{Parent: "image", Use: "update", Kind: "imageupdateautomations"},
	)
	// Exportable is every kind users write.
	Exportable = append(append([]KindCommand{}, Suspendable...),
		KindCommand{Use: "artifactgenerator", Aliases: []string{"artifactgenerators"}, Kind: "artifactgenerators"})
)

// AddKindCommands adds one subcommand per spec to parent (grouped under "source"/"image" subcommands),
// each built by build and given dynamic completion of object names.
func AddKindCommands(f *cmdutil.Factory, parent *cobra.Command, specs []KindCommand, build func(KindCommand, inspect.Kind) *cobra.Command) {
	groups := map[string]*cobra.Command{}
	for _, s := range specs {
		kind := inspect.Kinds[s.Kind]
		c := build(s, kind)
		c.Use = s.Use + " " + c.Use
		c.Aliases = s.Aliases
		if c.ValidArgsFunction == nil {
			c.ValidArgsFunction = CompleteNames(f, kind)
		}
		target := parent
		if s.Parent != "" {
			g, ok := groups[s.Parent]
			if !ok {
				g = &cobra.Command{Use: s.Parent, Short: parent.Name() + " " + s.Parent + " objects"}
				if s.Parent == "source" {
					g.Aliases = []string{"sources"}
				}
				groups[s.Parent] = g
				parent.AddCommand(g)
			}
			target = g
		}
		target.AddCommand(c)
	}
}

// CompleteNames completes the first argument with the names of kind's objects in the -n namespace.
func CompleteNames(f *cmdutil.Factory, kind inspect.Kind) cobra.CompletionFunc {
	return completeNames(f, kind, false)
}

// CompleteManyNames completes every argument with the names of kind's objects not given yet.
func CompleteManyNames(f *cmdutil.Factory, kind inspect.Kind) cobra.CompletionFunc {
	return completeNames(f, kind, true)
}

func completeNames(f *cmdutil.Factory, kind inspect.Kind, many bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 && !many {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		cfg, err := f.RESTConfig()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		client, err := dynamic.NewForConfig(cfg)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		names, err := (&inspect.Operator{Client: client}).Names(ctx, kind, f.Namespace())
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		return slices.DeleteFunc(names, func(n string) bool { return slices.Contains(args, n) }), cobra.ShellCompDirectiveNoFileComp
	}
}
