// Package delete implements `converge delete`: Flux objects deleted from the cluster, after confirmation.
package delete

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/inspect"
	"github.com/converge-gitops/converge/engine/kinds"
)

// ErrAborted is returned when the user does not confirm the deletion.
var ErrAborted = errors.New("aborting")

// Options are the inputs of `converge delete KIND NAME`.
type Options struct {
	cmdutil.NamedObjects
	Kind inspect.Kind
	// Silent deletes without asking for confirmation.
	Silent bool
}

// NewCmdDelete returns `converge delete` with one subcommand per kind users write.
func NewCmdDelete(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete",
		Short: "Delete sources and resources",
		Long: "Delete a Flux object from the cluster, after confirmation (--silent skips it). Finalizers are\n" +
			"respected: an object the agent still finalizes goes once the agent has finalized it.",
		Example: `  converge delete kustomization apps
  converge delete source git podinfo -n apps --silent`,
	}
	silent := cmd.PersistentFlags().BoolP("silent", "s", false, "delete resource without asking for confirmation")
	cmdutil.AddKindCommands(f, cmd, kinds.Select(func(k kinds.Kind) bool { return k.Exportable }), func(kind kinds.Kind) *cobra.Command {
		opts := &Options{Kind: kind}
		return &cobra.Command{
			Use:   "[name]",
			Short: "Delete " + article(kind.Kind) + " " + kind.Kind,
			Args:  cobra.MaximumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				opts.Silent = *silent
				return cmdutil.RunE(f, opts, true)(cmd, args)
			},
		}
	})
	return cmd
}

// Validate wants one name.
func (o *Options) Validate() error {
	if len(o.Names) != 1 {
		return cmdutil.FlagErrorf("%s name is required", humanKind(o.Kind))
	}
	return nil
}

// Run reads the object (so a missing one fails before the question), asks for confirmation unless
// Silent, and deletes it.
func (o *Options) Run(ctx context.Context) error {
	c, err := o.Client()
	if err != nil {
		return err
	}
	op := &inspect.Operator{Client: c, Clock: o.Clock}
	ref := inspect.Ref{Kind: o.Kind, Namespace: o.Namespace, Name: o.Names[0]}
	if _, err := op.Get(ctx, ref); err != nil {
		return err
	}
	human := humanKind(o.Kind)
	if !o.Silent && !cmdutil.Confirm(o.IO, "Are you sure you want to delete this "+human) {
		return ErrAborted
	}
	st := o.IO.ErrStyles()
	fmt.Fprintln(o.IO.ErrOut, st.ActionLine(fmt.Sprintf("deleting %s %s in %s namespace", human, ref.Name, ref.Namespace)))
	if err := op.Delete(ctx, ref); err != nil {
		return err
	}
	fmt.Fprintln(o.IO.ErrOut, st.SuccessLine(human+" deleted"))
	return nil
}

// humanKind names the kind in messages as Flux's CLI does: "source git", "alert provider".
func humanKind(k inspect.Kind) string {
	if k.Kind == "ImageUpdateAutomation" {
		return "image update automation"
	}
	return strings.TrimSpace(k.CLIGroup + " " + strings.ReplaceAll(k.CLIName, "-", " "))
}

func article(word string) string {
	if strings.ContainsRune("AEIOU", rune(word[0])) {
		return "an"
	}
	return "a"
}
