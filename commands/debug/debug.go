// Package debug implements `converge debug kustomization|helmrelease`.
package debug

import (
	"context"
	"fmt"
	"sort"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/commands/cmdutil"
	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	enginedebug "github.com/converge-gitops/converge/engine/debug"
	"github.com/converge-gitops/converge/engine/inspect"
	"github.com/converge-gitops/converge/engine/kinds"
)

// Where Flux's debug command points for the fields it prints.
const (
	ksStatusDoc  = "# Status documentation: https://fluxcd.io/flux/components/kustomize/kustomizations/#kustomization-status"
	ksHistoryDoc = "# History documentation: https://fluxcd.io/flux/components/kustomize/kustomizations/#history"
	hrStatusDoc  = "# Status documentation: https://fluxcd.io/flux/components/helm/helmreleases/#helmrelease-status"
	hrHistoryDoc = "# History documentation: https://fluxcd.io/flux/components/helm/helmreleases/#history"
)

// Options are the inputs of `converge debug kustomization` and `converge debug helmrelease`.
type Options struct {
	IO        *cmdutil.IOStreams
	Kind      string // Kustomization or HelmRelease
	Name      string
	Namespace string
	Status    bool
	Vars      bool // Kustomization: --show-vars
	Values    bool // HelmRelease: --show-values
	History   bool
	Reader    func() (enginedebug.Reader, error)
}

// NewCmdDebug returns the debug command group.
func NewCmdDebug(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "debug",
		Short: "Debug a flux resource",
		Long:  `The debug command can be used to troubleshoot failing resource reconciliations.`,
	}
	cmd.AddCommand(newCmd(f, "Kustomization"), newCmd(f, "HelmRelease"))
	return cmd
}

func newCmd(f *cmdutil.Factory, kind string) *cobra.Command {
	opts := &Options{Kind: kind}
	k, _ := kinds.Named(kind)
	cmd := &cobra.Command{
		Args:              cobra.ExactArgs(1),
		RunE:              cmdutil.RunE(f, opts, true),
		ValidArgsFunction: cmdutil.CompleteNames(f, inspect.Kind(k)),
	}
	fl := cmd.Flags()
	if kind == "Kustomization" {
		cmd.Use, cmd.Aliases = "kustomization NAME", []string{"ks"}
		cmd.Short = "Debug a Flux Kustomization resource"
		cmd.Long = `The debug kustomization command prints what helps troubleshoot a failing Kustomization: its status, its
reconciliation history, or the variables its postBuild substitutes.
WARNING: --show-vars prints the values of the Secrets in .spec.postBuild.substituteFrom in clear.`
		cmd.Example = `  # Print the status of a Flux Kustomization
  converge debug ks podinfo --show-status

  # Export the final variables used for post-build substitutions composed from referred ConfigMaps and Secrets
  converge debug ks podinfo --show-vars > vars.env

  # Print the reconciliation history of a Flux Kustomization
  converge debug ks podinfo --show-history`
		fl.BoolVar(&opts.Status, "show-status", false, "print the status of the Flux Kustomization")
		fl.BoolVar(&opts.Vars, "show-vars", false, "print the final vars of the Flux Kustomization in dot env format")
		fl.BoolVar(&opts.History, "show-history", false, "print the reconciliation history of the Flux Kustomization")
	} else {
		cmd.Use, cmd.Aliases = "helmrelease NAME", []string{"hr"}
		cmd.Short = "Debug a HelmRelease resource"
		cmd.Long = `The debug helmrelease command prints what helps troubleshoot a failing HelmRelease: its status, its
release history, or the values it installs with (valuesFrom merged with the inline values).
WARNING: --show-values prints the values taken from the Secrets in .spec.valuesFrom in clear.`
		cmd.Example = `  # Print the status of a Helm release
  converge debug hr podinfo --show-status

  # Export the final values of a Helm release composed from referred ConfigMaps and Secrets
  converge debug hr podinfo --show-values > values.yaml

  # Print the reconciliation history of a Helm release
  converge debug hr podinfo --show-history`
		fl.BoolVar(&opts.Status, "show-status", false, "print the status of the Helm release")
		fl.BoolVar(&opts.Values, "show-values", false, "print the final values of the Helm release")
		fl.BoolVar(&opts.History, "show-history", false, "print the reconciliation history of the Helm release")
	}
	return cmd
}

// Complete fills the streams, the name, the namespace and the cluster reader.
func (o *Options) Complete(f *cmdutil.Factory, _ *cobra.Command, args []string) error {
	if o.IO == nil {
		o.IO = f.IO
	}
	o.Name = args[0]
	if o.Namespace == "" {
		o.Namespace = f.Namespace()
	}
	if o.Reader == nil {
		o.Reader = func() (enginedebug.Reader, error) {
			c, err := f.KubeClients()
			if err != nil {
				return enginedebug.Reader{}, err
			}
			return enginedebug.Reader{Dynamic: c.Dynamic, ConfigMaps: c, Secrets: c}, nil
		}
	}
	return nil
}

// Validate requires exactly one --show-* flag.
func (o *Options) Validate() error {
	n := 0
	for _, b := range []bool{o.Status, o.Vars, o.Values, o.History} {
		if b {
			n++
		}
	}
	if n != 1 {
		what := "--show-vars"
		if o.Kind == "HelmRelease" {
			what = "--show-values"
		}
		return cmdutil.FlagErrorf("exactly one of --show-status, %s, or --show-history must be set", what)
	}
	return nil
}

// Run reads the object and prints what was asked.
func (o *Options) Run(ctx context.Context) error {
	r, err := o.Reader()
	if err != nil {
		return err
	}
	if o.Kind == "Kustomization" {
		ks, err := r.Kustomization(ctx, o.Namespace, o.Name)
		if err != nil {
			return err
		}
		switch {
		case o.Status:
			return o.printYAML(ksStatusDoc, ks.Status)
		case o.History:
			h := ks.Status.History
			if h == nil {
				h = kustomizev1.History{}
			}
			return o.printYAML(ksHistoryDoc, h)
		}
		vars, err := r.KustomizationVars(ctx, ks)
		if err != nil {
			return err
		}
		keys := make([]string, 0, len(vars))
		for k := range vars {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintln(o.IO.Out, k+"="+vars[k])
		}
		return nil
	}
	hr, err := r.HelmRelease(ctx, o.Namespace, o.Name)
	if err != nil {
		return err
	}
	switch {
	case o.Status:
		return o.printYAML(hrStatusDoc, hr.Status)
	case o.History:
		h := hr.Status.History
		if h == nil {
			h = helmv2.Snapshots{}
		}
		return o.printYAML(hrHistoryDoc, h)
	}
	values, err := r.HelmReleaseValues(ctx, hr)
	if err != nil {
		return err
	}
	return o.printYAML("", values)
}

func (o *Options) printYAML(header string, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	if header != "" {
		fmt.Fprintln(o.IO.Out, header)
	}
	_, err = o.IO.Out.Write(b)
	return err
}
