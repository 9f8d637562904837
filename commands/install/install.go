// Package install implements `converge install`: the agent, its CRDs and RBAC in the cluster.
package install

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/health"
	engineinstall "github.com/converge-gitops/converge/engine/install"
	"github.com/converge-gitops/converge/engine/kube"
)

// Options are the inputs of `converge install`.
type Options struct {
	IO      *cmdutil.IOStreams
	Clients func() (*kube.Clients, error)
	Install engineinstall.Options
	// Keychain gives the credentials to look up the image's digest (default: the Docker config).
	Keychain authn.Keychain
	Export   bool
	Wait     bool
	Timeout  time.Duration
	// Flags are Flux's install flags, read into Install by Complete.
	Flags cmdutil.InstallFlags
}

// NewCmdInstall returns the install command.
func NewCmdInstall(f *cmdutil.Factory) *cobra.Command {
	opts := &Options{}
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Install the converge agent, the Flux CRDs and their RBAC in the cluster",
		Long: `Install applies, in the namespace -n (default flux-system): the Namespace, the Flux CRDs, the agent's
ServiceAccount, RBAC, Deployment, the converge Service (artifacts) and the webhook-receiver Service, and
NetworkPolicies like Flux's. Then it waits for the agent to become ready (--wait=false to skip).

The agent applies whatever the Kustomizations and HelmReleases hold, so, like Flux's controllers, its
ServiceAccount is bound to cluster-admin; a Role in its namespace grants what the agent itself needs
(Leases for leader election, Events). Use a Kustomization's spec.serviceAccountName to restrict what a
tenant's objects may do.

--export prints the manifests instead of applying them (for a Git repository or a bootstrap).`,
		Example: `  converge install
  converge install --export > clusters/production/flux-system/converge.yaml
  converge install --version v0.3.0 --components-extra image-reflector-controller,image-automation-controller`,
		Args: cobra.NoArgs,
		RunE: cmdutil.RunE(f, opts, true),
	}
	fl := cmd.Flags()
	fl.BoolVar(&opts.Export, "export", false, "print the manifests instead of applying them")
	cmdutil.AddInstallFlags(cmd, fl, &opts.Flags)
	fl.BoolVar(&opts.Wait, "wait", true, "wait for the agent's Deployment to become ready")
	return cmd
}

// Complete fills the streams, clients, namespace, timeout and the version (this binary's, or "latest"
// for a development build).
func (o *Options) Complete(f *cmdutil.Factory, cmd *cobra.Command, _ []string) error {
	if o.IO == nil {
		o.IO = f.IO
	}
	warnings, err := o.Flags.Apply(cmd.Flags(), &o.Install)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintln(o.IO.ErrOut, o.IO.ErrStyles().WarningLine(w))
	}
	if o.Export && o.Install.RegistryCredentials != "" {
		fmt.Fprintln(o.IO.ErrOut, o.IO.ErrStyles().WarningLine("--registry-creds is not exported (credentials stay out of manifests): create the --image-pull-secret Secret in the cluster"))
	}
	if o.Clients == nil {
		o.Clients = f.KubeClients
	}
	if o.Keychain == nil {
		o.Keychain = authn.DefaultKeychain
	}
	o.Install.Namespace = f.Namespace()
	if o.Install.Version == "" {
		o.Install.Version = f.Build.Version
		if o.Install.Version == "" || o.Install.Version == "dev" {
			o.Install.Version = "latest"
			fmt.Fprintln(o.IO.ErrOut, o.IO.ErrStyles().WarningLine("this is a development build: installing the image tag \"latest\" (set --version)"))
		}
	}
	o.Timeout = f.Timeout
	return nil
}

// Validate checks the installation's options.
func (o *Options) Validate() error {
	if err := o.Install.Validate(); err != nil {
		return cmdutil.FlagErrorf("%v", err)
	}
	return nil
}

// Run exports or applies the installation, the image pinned by the digest its registry gives.
func (o *Options) Run(ctx context.Context) error {
	inst, warning := o.Install.PinDigest(ctx, o.Keychain)
	if warning != "" {
		fmt.Fprintln(o.IO.ErrOut, o.IO.ErrStyles().WarningLine(warning))
	}
	objs, err := engineinstall.Objects(inst)
	if err != nil {
		return err
	}
	if o.Export {
		return export(o, objs)
	}
	st := o.IO.ErrStyles()
	clients, err := o.Clients()
	if err != nil {
		return err
	}
	ns := o.Install.Namespace
	fmt.Fprintln(o.IO.ErrOut, st.ActionLine(fmt.Sprintf("installing converge %s in %s namespace", o.Install.Version, ns)))
	secret, err := engineinstall.PullSecret(inst)
	if err != nil {
		return err
	}
	if secret != nil {
		// After the Namespace, before the Deployment whose pods pull with it.
		objs = append(objs[:1], append([]*unstructured.Unstructured{secret}, objs[1:]...)...)
	}
	m := &apply.Manager{Client: clients.Dynamic, Mapper: clients.Mapper}
	cs, err := m.Apply(ctx, objs, apply.Options{})
	if cs != nil {
		for _, e := range cs.Entries {
			fmt.Fprintf(o.IO.Out, "%s %s\n", e.Subject, e.Action)
		}
	}
	if err != nil {
		return fmt.Errorf("installing: %w", err)
	}
	fmt.Fprintln(o.IO.ErrOut, st.SuccessLine("install applied"))
	if !o.Wait {
		return nil
	}
	fmt.Fprintln(o.IO.ErrOut, st.WaitingLine("waiting for the agent to become ready"))
	checker := &health.Checker{Client: clients.Dynamic, Mapper: clients.Mapper}
	deploys := []health.Object{{GVK: schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, Namespace: ns, Name: engineinstall.AgentName}}
	for _, shard := range o.Install.Shards {
		deploys = append(deploys, health.Object{GVK: deploys[0].GVK, Namespace: ns, Name: engineinstall.ShardName(shard)})
	}
	timeout := o.Timeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if _, err := checker.Wait(ctx, deploys, timeout); err != nil {
		return fmt.Errorf("the agent did not become ready: %w", err)
	}
	for _, d := range deploys {
		fmt.Fprintln(o.IO.ErrOut, st.SuccessLine(d.Name+": deployment ready"))
	}
	fmt.Fprintln(o.IO.ErrOut, st.SuccessLine("install finished"))
	return nil
}

func export(opts *Options, objs []*unstructured.Unstructured) error {
	out, err := engineinstall.Manifest(objs)
	if err != nil {
		return err
	}
	head := fmt.Sprintf("# converge %s\n# Components: %s\n", opts.Install.Version,
		strings.Join(append(append([]string{}, engineinstall.Components...), opts.Install.ComponentsExtra...), ", "))
	if _, err := fmt.Fprint(opts.IO.Out, head); err != nil {
		return err
	}
	_, err = opts.IO.Out.Write(out)
	return err
}
