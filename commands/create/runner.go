package create

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/apply"
	engcreate "github.com/converge-gitops/converge/engine/create"
	"github.com/converge-gitops/converge/engine/inspect"
	"github.com/converge-gitops/converge/engine/kinds"
)

// fluxRunner creates one Flux object as Flux's CLI does: with --export it prints it; else it writes the
// credentials Secret (if any), applies the object and waits until it is Ready, under --timeout.
type fluxRunner struct {
	Common
	f *cmdutil.Factory
	// meta and interval are filled from the arguments and create's persistent flags.
	meta     *engcreate.Meta
	interval *time.Duration
	// build makes the object; it refuses bad flags before anything is read or written.
	build func() (runtime.Object, error)
	// credentials, when set, returns the Secret to write before the object (nil: none); it may print
	// and prompt. It runs only when the object is applied.
	credentials func(ctx context.Context, r *fluxRunner) (*corev1.Secret, error)
	// noun names the object in messages ("GitRepository source"); created overrides "<noun> created".
	noun, created string
	// ready reports the object once Ready: the lines after "<noun> reconciliation completed".
	ready func(name string, res inspect.Result) []string
	// static objects (OCI HelmRepositories) have no status to wait for.
	static func(obj runtime.Object) bool

	obj runtime.Object
}

// Complete reads the name, namespace, --label, --interval and --export.
func (r *fluxRunner) Complete(f *cmdutil.Factory, cmd *cobra.Command, args []string) error {
	r.Common, r.f = common(f, cmd), f
	if len(args) < 1 {
		return cmdutil.FlagErrorf("name is required")
	}
	labels, err := cmd.Flags().GetStringSlice("label")
	if err != nil {
		return err
	}
	*r.meta = engcreate.Meta{Name: args[0], Namespace: f.Namespace(), Labels: labels}
	if r.interval != nil {
		if *r.interval, err = cmd.Flags().GetDuration("interval"); err != nil {
			return err
		}
	}
	return nil
}

// Validate builds the object.
func (r *fluxRunner) Validate() (err error) {
	r.obj, err = r.build()
	return err
}

func toUnstructured(objs ...runtime.Object) ([]*unstructured.Unstructured, error) {
	us := make([]*unstructured.Unstructured, 0, len(objs))
	for _, o := range objs {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			return nil, err
		}
		u := &unstructured.Unstructured{Object: m}
		unstructured.RemoveNestedField(u.Object, "status")
		unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
		if spec, ok := u.Object["spec"].(map[string]any); ok && len(spec) == 0 {
			delete(u.Object, "spec") // a Namespace's
		}
		us = append(us, u)
	}
	return us, nil
}

// export prints objs as Flux's CLI does: each after "---"; trailer follows each.
func (c Common) export(trailer string, objs ...runtime.Object) error {
	us, err := toUnstructured(objs...)
	if err != nil {
		return err
	}
	for _, u := range us {
		b, err := yaml.Marshal(u.Object)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.IO.Out, "---\n%s%s", b, trailer)
	}
	return nil
}

// applyObjects server-side applies objs and returns what happened to each.
func (c Common) applyObjects(ctx context.Context, objs ...runtime.Object) ([]apply.Change, error) {
	us, err := toUnstructured(objs...)
	if err != nil {
		return nil, err
	}
	clients, err := c.Clients()
	if err != nil {
		return nil, err
	}
	cs, err := clients.Manager.Apply(ctx, us, apply.Options{})
	if cs == nil {
		return nil, err
	}
	return cs.Entries, err
}

// generateLine is Flux's "✚ msg".
func generateLine(st cmdutil.Styles, msg string) string { return st.Action.Render("✚") + " " + msg }

// Run exports, or applies and waits.
func (r *fluxRunner) Run(ctx context.Context) error {
	if r.Export {
		return r.export("", r.obj)
	}
	st := r.IO.ErrStyles()
	kind := r.obj.GetObjectKind().GroupVersionKind().Kind
	fmt.Fprintln(r.IO.ErrOut, generateLine(st, "generating "+r.noun))
	if r.credentials != nil {
		s, err := r.credentials(ctx, r)
		if err != nil {
			return err
		}
		if s != nil {
			fmt.Fprintln(r.IO.ErrOut, st.ActionLine("applying secret with "+credentialsNoun(kind)))
			if _, err := r.applyObjects(ctx, s); err != nil {
				return err
			}
			setSecretRef(r.obj, s.Name)
			fmt.Fprintln(r.IO.ErrOut, st.SuccessLine("authentication configured"))
		}
	}
	fmt.Fprintln(r.IO.ErrOut, st.ActionLine("applying "+r.noun))
	changes, err := r.applyObjects(ctx, r.obj)
	if err != nil {
		return err
	}
	created := r.created
	if created == "" {
		created = r.noun
	}
	verb := "updated"
	if len(changes) == 1 && changes[0].Action == apply.Created {
		verb = "created"
	}
	fmt.Fprintln(r.IO.ErrOut, st.SuccessLine(created+" "+verb))

	k, ok := kinds.Named(kind)
	if !ok {
		return fmt.Errorf("%s: not a kind of the registry", kind)
	}
	fmt.Fprintln(r.IO.ErrOut, st.WaitingLine("waiting for "+r.noun+" reconciliation"))
	client, err := r.f.DynamicClient()
	if err != nil {
		return err
	}
	op := &inspect.Operator{Client: client, Clock: r.f.Clock}
	ref := inspect.Ref{Kind: k, Namespace: r.meta.Namespace, Name: r.meta.Name}
	if r.static != nil && r.static(r.obj) {
		if _, err := op.Get(ctx, ref); err != nil {
			return err
		}
		fmt.Fprintln(r.IO.ErrOut, st.SuccessLine(r.noun+" reconciliation completed"))
		return nil
	}
	res, err := op.WaitReady(ctx, ref)
	if err != nil {
		return err
	}
	for _, l := range r.ready(r.meta.Name, res) {
		fmt.Fprintln(r.IO.ErrOut, st.SuccessLine(l))
	}
	return nil
}

// sourceReady is what a source reports once Ready.
func sourceReady(noun string) func(string, inspect.Result) []string {
	return func(_ string, res inspect.Result) []string {
		return []string{noun + " reconciliation completed", "fetched revision: " + res.Revision}
	}
}

// appliedReady is what a Kustomization or HelmRelease reports once Ready.
func appliedReady(kind string) func(string, inspect.Result) []string {
	return func(name string, res inspect.Result) []string {
		return []string{fmt.Sprintf("%s %s is ready", kind, name), "applied revision " + res.Revision}
	}
}
