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
	"unicode"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/inspect"
)

// Options are the inputs of `converge trace`.
type Options struct {
	IO     *cmdutil.IOStreams
	Getter func() (inspect.Getter, error)
	// Mapper resolves resource names ("deployment", "cm", "helmrelease") to kinds.
	Mapper    func() (meta.RESTMapper, error)
	Namespace string
	// Kind and APIVersion name the objects' kind, as Flux's --kind and --api-version; then every
	// argument is a name.
	Kind, APIVersion string
	Output           string
	args             []string
	targets          []target
}

// target is one object to trace.
type target struct {
	GVK  schema.GroupVersionKind
	Name string
}

// NewCmdTrace returns the trace command.
func NewCmdTrace(f *cmdutil.Factory) *cobra.Command {
	opts := &Options{}
	cmd := &cobra.Command{
		Use:   "trace <resource> <name> [<name> ...]",
		Short: "Show which Kustomization or HelmRelease manages an object, and from which source revision",
		Long: `Trace reads the owner labels Flux sets on the objects it applies (kustomize.toolkit.fluxcd.io/name and
namespace, helm.toolkit.fluxcd.io/name and namespace) and follows them: the managing Kustomization or
HelmRelease, its sources and their revisions, then whoever manages the manager, up to the root.`,
		Example: `  converge trace deployment podinfo -n apps
  converge trace pod/podinfo-0 cm/settings -n apps
  converge trace podinfo --kind Deployment --api-version apps/v1 -n apps
  converge trace apps/v1/Deployment podinfo -n apps
  converge trace v1/ConfigMap settings -n apps -o json`,
		Args: cobra.MinimumNArgs(1),
		RunE: cmdutil.RunE(f, opts, true),
	}
	cmd.Flags().StringVar(&opts.Kind, "kind", "", "the objects' kind, e.g. Deployment (with --api-version; every argument is then a name)")
	cmd.Flags().StringVar(&opts.APIVersion, "api-version", "", "the objects' API version, e.g. apps/v1 (with --kind)")
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.OutputTable, cmdutil.OutputJSON, cmdutil.OutputYAML)
	return cmd
}

// Complete keeps the arguments and fills the streams, namespace, getter and mapper.
func (o *Options) Complete(f *cmdutil.Factory, _ *cobra.Command, args []string) error {
	o.args, o.Namespace = args, f.Namespace()
	if o.IO == nil {
		o.IO = f.IO
	}
	if o.Getter == nil {
		o.Getter = cmdutil.ClusterGetter(f)
	}
	if o.Mapper == nil {
		o.Mapper = f.KubeFlags.ToRESTMapper
	}
	return nil
}

// Validate checks the output format and the shape of the arguments: NAME... with --kind and
// --api-version, APIVERSION/KIND NAME, TYPE NAME [NAME...], or TYPE/NAME [TYPE/NAME...].
func (o *Options) Validate() error {
	if err := cmdutil.ValidateOutput(o.Output, cmdutil.OutputTable, cmdutil.OutputJSON, cmdutil.OutputYAML); err != nil {
		return err
	}
	if (o.Kind == "") != (o.APIVersion == "") {
		return cmdutil.FlagErrorf("--kind and --api-version go together: give both or neither")
	}
	if o.Kind != "" {
		for _, a := range o.args {
			if strings.Contains(a, "/") {
				return cmdutil.FlagErrorf("%q: with --kind and --api-version every argument is a name", a)
			}
		}
		return nil
	}
	slashed := 0
	for _, a := range o.args {
		if strings.Contains(a, "/") {
			slashed++
		}
	}
	switch {
	case slashed == 0 && len(o.args) < 2:
		return cmdutil.FlagErrorf("either <resource>/<name> or <resource> <name> is required as an argument")
	case slashed > 0 && slashed < len(o.args) && !(len(o.args) == 2 && isKindArg(o.args[0])):
		return cmdutil.FlagErrorf("mixed arguments %v: give <resource> <name>... or <resource>/<name>...", o.args)
	}
	return nil
}

// isKindArg tells APIVERSION/KIND ("apps/v1/Deployment") from TYPE/NAME ("deployment/web"): a kind
// starts with a capital letter, an object name cannot.
func isKindArg(s string) bool {
	i := strings.LastIndex(s, "/")
	return i > 0 && i < len(s)-1 && unicode.IsUpper(rune(s[i+1]))
}

// resolve turns the arguments into the objects to trace, resource names through the API server's
// discovery (short names such as cm and ks included).
func (o *Options) resolve() ([]target, error) {
	if o.Kind != "" {
		gv, err := schema.ParseGroupVersion(o.APIVersion)
		if err != nil {
			return nil, cmdutil.FlagErrorf("--api-version %q: %v", o.APIVersion, err)
		}
		var ts []target
		for _, name := range o.args {
			ts = append(ts, target{GVK: gv.WithKind(o.Kind), Name: name})
		}
		return ts, nil
	}
	if len(o.args) == 2 && isKindArg(o.args[0]) {
		gvk, err := ParseKind(o.args[0])
		if err != nil {
			return nil, cmdutil.FlagErrorf("%v", err)
		}
		return []target{{GVK: gvk, Name: o.args[1]}}, nil
	}
	mapper, err := o.Mapper()
	if err != nil {
		return nil, err
	}
	kindOf := func(resource string) (schema.GroupVersionKind, error) {
		gvr, gr := schema.ParseResourceArg(strings.ToLower(resource))
		if gvr != nil {
			if gvk, err := mapper.KindFor(*gvr); err == nil {
				return gvk, nil
			}
		}
		gvk, err := mapper.KindFor(gr.WithVersion(""))
		if err != nil {
			return gvk, fmt.Errorf("resource type %q: %w", resource, err)
		}
		return gvk, nil
	}
	var ts []target
	if !strings.Contains(o.args[0], "/") {
		gvk, err := kindOf(o.args[0])
		if err != nil {
			return nil, err
		}
		for _, name := range o.args[1:] {
			ts = append(ts, target{GVK: gvk, Name: name})
		}
		return ts, nil
	}
	for _, a := range o.args {
		resource, name, _ := strings.Cut(a, "/")
		if resource == "" || name == "" {
			return nil, cmdutil.FlagErrorf("%q: want <resource>/<name>", a)
		}
		gvk, err := kindOf(resource)
		if err != nil {
			return nil, err
		}
		ts = append(ts, target{GVK: gvk, Name: name})
	}
	return ts, nil
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

// Run traces each object and prints the chains, "---" between objects. Every object is traced; the
// errors are returned together.
func (o *Options) Run(ctx context.Context) error {
	targets, err := o.resolve()
	if err != nil {
		return err
	}
	get, err := o.Getter()
	if err != nil {
		return err
	}
	var errs []error
	for i, t := range targets {
		if i > 0 && o.Output == cmdutil.OutputTable {
			fmt.Fprintln(o.IO.Out, "---")
		}
		if err := o.traceOne(ctx, get, t); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (o *Options) traceOne(ctx context.Context, get inspect.Getter, t target) error {
	steps, err := inspect.Trace(ctx, get, t.GVK, o.Namespace, t.Name)
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
