// Package trace implements `converge trace`: which Kustomization or HelmRelease manages an object, and
// from which source revision.
package trace

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/inspect"
)

// Options are the inputs of `converge trace`.
type Options struct {
	IO        *cmdutil.IOStreams
	Getter    func() (inspect.Getter, error)
	GVK       schema.GroupVersionKind
	Namespace string
	Name      string
	Output    string
}

// NewCmdTrace returns the trace command.
func NewCmdTrace(f *cmdutil.Factory) *cobra.Command {
	opts := &Options{}
	cmd := &cobra.Command{
		Use:   "trace APIVERSION/KIND NAME",
		Short: "Show which Kustomization or HelmRelease manages an object, and from which source revision",
		Long: `Trace reads the owner labels Flux sets on the objects it applies (kustomize.toolkit.fluxcd.io/name and
namespace, helm.toolkit.fluxcd.io/name and namespace) and follows them: the managing Kustomization or
HelmRelease, its sources and their revisions, then whoever manages the manager, up to the root.`,
		Example: `  converge trace apps/v1/Deployment podinfo -n apps
  converge trace v1/ConfigMap settings -n apps -o json`,
		Args: cobra.ExactArgs(2),
		RunE: cmdutil.RunE(f, opts, true),
	}
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.OutputTable, cmdutil.OutputJSON, cmdutil.OutputYAML)
	return cmd
}

// Complete parses the object's APIVERSION/KIND and fills the streams, namespace and getter.
func (o *Options) Complete(f *cmdutil.Factory, _ *cobra.Command, args []string) error {
	gvk, err := ParseKind(args[0])
	if err != nil {
		return cmdutil.FlagErrorf("%v", err)
	}
	o.GVK, o.Name, o.Namespace = gvk, args[1], f.Namespace()
	if o.IO == nil {
		o.IO = f.IO
	}
	if o.Getter == nil {
		o.Getter = cmdutil.ClusterGetter(f)
	}
	return nil
}

// Validate checks the output format.
func (o *Options) Validate() error {
	return cmdutil.ValidateOutput(o.Output, cmdutil.OutputTable, cmdutil.OutputJSON, cmdutil.OutputYAML)
}

// ParseKind parses "group/version/Kind" or "version/Kind" (core kinds: "v1/ConfigMap").
func ParseKind(s string) (schema.GroupVersionKind, error) {
	i := strings.LastIndex(s, "/")
	if i <= 0 || i == len(s)-1 {
		return schema.GroupVersionKind{}, fmt.Errorf("%q: want APIVERSION/KIND, e.g. apps/v1/Deployment or v1/ConfigMap", s)
	}
	gv, err := schema.ParseGroupVersion(s[:i])
	if err != nil {
		return schema.GroupVersionKind{}, fmt.Errorf("%q: %w", s, err)
	}
	return gv.WithKind(s[i+1:]), nil
}

// Run traces the object and prints the chain.
func (o *Options) Run(ctx context.Context) error {
	get, err := o.Getter()
	if err != nil {
		return err
	}
	steps, err := inspect.Trace(ctx, get, o.GVK, o.Namespace, o.Name)
	var notManaged *inspect.ErrNotManaged
	if err != nil && !errors.As(err, &notManaged) {
		return err
	}
	if o.Output != cmdutil.OutputTable {
		if werr := cmdutil.WriteData(o.IO.Out, o.Output, steps); werr != nil {
			return werr
		}
		return err
	}
	if rerr := Render(o.IO.Out, steps); rerr != nil {
		return rerr
	}
	return err
}

// Render prints the steps as blocks of aligned fields separated by "---", as `flux trace` does.
func Render(w io.Writer, steps []inspect.TraceStep) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	for i, s := range steps {
		if i > 0 {
			fmt.Fprintln(tw, "---")
		}
		field := func(k, v string) {
			if v != "" {
				fmt.Fprintf(tw, "%s:\t%s\n", k, v)
			}
		}
		if s.Role == "object" {
			field("Object", s.Kind+"/"+s.Name)
			field("Namespace", s.Namespace)
			status := "Managed by converge"
			if len(steps) == 1 {
				status = "Not managed by a Kustomization or a HelmRelease"
			}
			field("Status", status)
			continue
		}
		field(s.Kind, s.Name)
		field("Namespace", s.Namespace)
		if s.Missing {
			field("Status", "Not found")
			continue
		}
		switch s.Kind {
		case "Kustomization":
			field("Path", s.Origin)
		case "HelmRelease", "HelmChart":
			field("Chart", s.Origin)
		default:
			field("URL", s.Origin)
		}
		field("Revision", s.Revision)
		field("Ready", s.Ready)
		field("Message", s.Message)
	}
	return tw.Flush()
}
