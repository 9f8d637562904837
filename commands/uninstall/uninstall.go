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
}

// ErrAborted is returned when the user does not confirm.
var ErrAborted = errors.New("uninstall aborted")

// NewCmdUninstall returns the uninstall command.
func NewCmdUninstall(f *cmdutil.Factory) *cobra.Command {
	opts := &Options{IO: f.IO}
	opts.Client = func() (dynamic.Interface, error) {
		cfg, err := f.RESTConfig()
		if err != nil {
			return nil, err
		}
		return dynamic.NewForConfig(cfg)
	}
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Remove the converge agent, the Flux CRDs and the namespace, keeping what was deployed",
		Long: `Uninstall removes, in this order: Flux's finalizer (finalizers.fluxcd.io) from every Flux object, so
that nothing they deployed is pruned; the agent's Deployment, Services, NetworkPolicies, RBAC and
ServiceAccount (waiting until its pods are gone); the Flux CRDs, and with them every Flux object; then the
namespace (-n, default flux-system) unless --keep-namespace. Objects the Kustomizations and HelmReleases
applied stay in the cluster.`,
		Example: `  converge uninstall
  converge uninstall --keep-namespace --silent`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Namespace = f.Namespace()
			ctx, cancel := context.WithTimeout(cmd.Context(), f.Timeout)
			defer cancel()
			return Run(ctx, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.KeepNamespace, "keep-namespace", false, "keep the namespace")
	cmd.Flags().BoolVar(&opts.Silent, "silent", false, "do not ask for confirmation")
	return cmd
}

// Run asks for confirmation (unless Silent) and uninstalls.
func Run(ctx context.Context, opts *Options) error {
	if !opts.Silent {
		fmt.Fprintf(opts.IO.ErrOut, "Are you sure you want to delete converge and the Flux CRDs from namespace %s (the objects they deployed are kept)? [y/N] ", opts.Namespace)
		answer, _ := bufio.NewReader(opts.IO.In).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			return ErrAborted
		}
	}
	client, err := opts.Client()
	if err != nil {
		return err
	}
	st := opts.IO.ErrStyles()
	u := &engineinstall.Uninstaller{Client: client, Namespace: opts.Namespace}

	fmt.Fprintln(opts.IO.ErrOut, st.ActionLine("removing "+engineinstall.Finalizer+" from every Flux object"))
	changed, err := u.RemoveFinalizers(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(opts.IO.ErrOut, st.ActionLine("deleting the agent"))
	deleted, err := u.DeleteComponents(ctx)
	for _, d := range deleted {
		fmt.Fprintln(opts.IO.Out, d+" deleted")
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
		fmt.Fprintln(opts.IO.Out, c+" finalizer removed")
	}
	fmt.Fprintln(opts.IO.ErrOut, st.ActionLine("deleting the Flux CRDs"))
	crds, err := u.DeleteCRDs(ctx)
	for _, c := range crds {
		fmt.Fprintln(opts.IO.Out, "CustomResourceDefinition/"+c+" deleted")
	}
	if err != nil {
		return err
	}
	if !opts.KeepNamespace {
		fmt.Fprintln(opts.IO.ErrOut, st.ActionLine("deleting namespace "+opts.Namespace))
		ok, err := u.DeleteNamespace(ctx)
		if err != nil {
			return err
		}
		if ok {
			fmt.Fprintln(opts.IO.Out, "Namespace/"+opts.Namespace+" deleted")
		}
	}
	fmt.Fprintln(opts.IO.ErrOut, st.SuccessLine("uninstall finished"))
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
