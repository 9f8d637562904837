// Package uninstall implements `converge uninstall`.
package uninstall

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"

	"github.com/converge-gitops/converge/commands/cmdutil"
	engineinstall "github.com/converge-gitops/converge/engine/install"
)

// Options are the inputs of `converge uninstall`.
type Options struct {
	IO            *cmdutil.IOStreams
	Client        func() (dynamic.Interface, error)
	Namespace     string
	KeepNamespace bool
	Silent        bool
	// DryRun only prints what would be deleted and changed (server-side dry run).
	DryRun bool
}

// ErrAborted is returned when the user does not confirm.
var ErrAborted = errors.New("uninstall aborted")

// NewCmdUninstall returns the uninstall command.
func NewCmdUninstall(f *cmdutil.Factory) *cobra.Command {
	opts := &Options{}
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Remove the converge agent, the Flux CRDs and the namespace, keeping what was deployed",
		Long: `Uninstall removes, in this order: Flux's finalizer (finalizers.fluxcd.io) from every Flux object, so
that nothing they deployed is pruned; the agent's Deployment, Services, NetworkPolicies, RBAC and
ServiceAccount (waiting until its pods are gone); the Flux CRDs, and with them every Flux object; then the
namespace (-n, default flux-system) unless --keep-namespace. Objects the Kustomizations and HelmReleases
applied stay in the cluster.`,
		Example: `  converge uninstall
  converge uninstall --keep-namespace --silent
  converge uninstall --dry-run`,
		Args: cobra.NoArgs,
		RunE: cmdutil.RunE(f, opts, true),
	}
	cmd.Flags().BoolVar(&opts.KeepNamespace, "keep-namespace", false, "keep the namespace")
	cmd.Flags().BoolVarP(&opts.Silent, "silent", "s", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "only print what would be deleted (a server-side dry run; no confirmation asked)")
	return cmd
}

// Complete fills the streams, the client and the namespace.
func (o *Options) Complete(f *cmdutil.Factory, _ *cobra.Command, _ []string) error {
	if o.IO == nil {
		o.IO = f.IO
	}
	if o.Client == nil {
		o.Client = f.DynamicClient
	}
	o.Namespace = f.Namespace()
	return nil
}

// Validate has nothing to check.
func (o *Options) Validate() error { return nil }

// Run asks for confirmation (unless Silent) and uninstalls.
func (o *Options) Run(ctx context.Context) error {
	if !o.Silent && !o.DryRun {
		fmt.Fprintf(o.IO.ErrOut, "Are you sure you want to delete converge and the Flux CRDs from namespace %s (the objects they deployed are kept)? [y/N] ", o.Namespace)
		answer, _ := bufio.NewReader(o.IO.In).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			return ErrAborted
		}
	}
	client, err := o.Client()
	if err != nil {
		return err
	}
	st := o.IO.ErrStyles()
	u := &engineinstall.Uninstaller{Client: client, Namespace: o.Namespace, DryRun: o.DryRun}
	suffix := ""
	if o.DryRun {
		suffix = " (dry run)"
	}

	fmt.Fprintln(o.IO.ErrOut, st.ActionLine("removing "+engineinstall.Finalizer+" from every Flux object"))
	changed, err := u.RemoveFinalizers(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(o.IO.ErrOut, st.ActionLine("deleting the agent"))
	deleted, err := u.DeleteComponents(ctx)
	for _, d := range deleted {
		fmt.Fprintln(o.IO.Out, d+" deleted"+suffix)
	}
	if err != nil {
		return err
	}
	// Again, now that no agent runs: one may have added the finalizer back meanwhile.
	again, err := u.RemoveFinalizers(ctx)
	if err != nil {
		return err
	}
	for _, c := range unique(append(changed, again...)) {
		fmt.Fprintln(o.IO.Out, c+" finalizer removed"+suffix)
	}
	fmt.Fprintln(o.IO.ErrOut, st.ActionLine("deleting the Flux CRDs"))
	crds, err := u.DeleteCRDs(ctx)
	for _, c := range crds {
		fmt.Fprintln(o.IO.Out, "CustomResourceDefinition/"+c+" deleted"+suffix)
	}
	if err != nil {
		return err
	}
	if !o.KeepNamespace {
		fmt.Fprintln(o.IO.ErrOut, st.ActionLine("deleting namespace "+o.Namespace))
		ok, err := u.DeleteNamespace(ctx)
		if err != nil {
			return err
		}
		if ok {
			fmt.Fprintln(o.IO.Out, "Namespace/"+o.Namespace+" deleted"+suffix)
		}
	}
	fmt.Fprintln(o.IO.ErrOut, st.SuccessLine("uninstall finished"))
	return nil
}

func unique(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
