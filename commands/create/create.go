// Package create implements `converge create`: Flux objects written from flags, applied to the cluster
// or printed with --export.
package create

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/apply"
)

// NewCmdCreate returns `converge create` with its subcommands.
func NewCmdCreate(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create or update Flux objects from flags",
		Long: "Create or update Flux objects from flags. With --export the objects are printed as YAML\n" +
			"instead of applied, ready to commit to a repository.",
	}
	cmd.PersistentFlags().Bool("export", false, "print the objects as YAML instead of applying them")
	cmd.PersistentFlags().Duration("interval", time.Minute, "source sync interval")
	cmd.PersistentFlags().StringSlice("label", nil, "set labels on the resource (can specify multiple labels with commas: label1=value1,label2=value2)")
	cmd.AddCommand(fluxCommands(f)...)
	cmd.AddCommand(secretCommands(f))
	cmd.AddCommand(notificationCommands(f)...)
	cmd.AddCommand(imageCommands(f)...)
	return cmd
}

// Common are the options every create subcommand shares.
type Common struct {
	IO     *cmdutil.IOStreams
	Export bool
	// Clients is called only when the objects are applied.
	Clients func() (*applyClients, error)
}

type applyClients struct {
	Manager *apply.Manager
}

func common(f *cmdutil.Factory, cmd *cobra.Command) Common {
	export, _ := cmd.Flags().GetBool("export")
	return Common{
		IO:     f.IO,
		Export: export,
		Clients: func() (*applyClients, error) {
			c, err := f.KubeClients()
			if err != nil {
				return nil, err
			}
			return &applyClients{Manager: &apply.Manager{Client: c.Dynamic, Mapper: c.Mapper}}, nil
		},
	}
}

// emit prints objs as a YAML stream with --export, or server-side applies them and reports each.
func (c Common) emit(ctx context.Context, objs ...runtime.Object) error {
	us := make([]*unstructured.Unstructured, 0, len(objs))
	for _, o := range objs {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			return err
		}
		u := &unstructured.Unstructured{Object: m}
		unstructured.RemoveNestedField(u.Object, "status")
		unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
		us = append(us, u)
	}
	if c.Export {
		for _, u := range us {
			b, err := yaml.Marshal(u.Object)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.IO.Out, "---\n%s", b)
		}
		return nil
	}
	clients, err := c.Clients()
	if err != nil {
		return err
	}
	cs, err := clients.Manager.Apply(ctx, us, apply.Options{})
	if cs != nil {
		st := c.IO.ErrStyles()
		for _, e := range cs.Entries {
			fmt.Fprintln(c.IO.ErrOut, st.SuccessLine(fmt.Sprintf("%s %s", e.Subject, e.Action)))
		}
	}
	return err
}

// createRunner runs a create subcommand: build makes the object from the arguments and flags, refusing
// bad ones, before anything is applied.
type createRunner struct {
	Common
	build func(args []string) (runtime.Object, error)
	args  []string
	obj   runtime.Object
}

// Complete reads --export and fills the streams and clients.
func (r *createRunner) Complete(f *cmdutil.Factory, cmd *cobra.Command, args []string) error {
	r.Common, r.args = common(f, cmd), args
	return nil
}

// Validate builds the object from the flags.
func (r *createRunner) Validate() error {
	obj, err := r.build(r.args)
	r.obj = obj
	return err
}

// Run prints or applies the object.
func (r *createRunner) Run(ctx context.Context) error { return r.emit(ctx, r.obj) }
