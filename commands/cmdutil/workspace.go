package cmdutil

import (
	"errors"

	"github.com/spf13/pflag"

	"github.com/converge-gitops/converge/engine/driver"
	"github.com/converge-gitops/converge/engine/reconcile"
	"github.com/converge-gitops/converge/engine/workspace"
)

// AddDecryptionKeyFlag registers --decryption-key (build, diff and apply share it).
func AddDecryptionKeyFlag(fl *pflag.FlagSet, keys *[]string) {
	fl.StringArrayVar(keys, "decryption-key", nil, "file of SOPS age identities or an armored PGP private key, for Kustomizations with spec.decryption (repeatable)")
}

// AddTenancyFlags registers Flux's multi-tenancy lockdown flags (the agent, apply and diff share them).
func AddTenancyFlags(fl *pflag.FlagSet, t *reconcile.Tenancy) {
	fl.BoolVar(&t.NoCrossNamespaceRefs, "no-cross-namespace-refs", false, "refuse references to sources in other namespaces (spec.sourceRef, a HelmRelease's chart source, Alert event sources, Receiver resources)")
	fl.StringVar(&t.DefaultServiceAccount, "default-service-account", "", "ServiceAccount impersonated, in the object's namespace, by Kustomizations and HelmReleases without spec.serviceAccountName")
	fl.BoolVar(&t.NoRemoteBases, "no-remote-bases", false, "refuse kustomize remote bases and resources: everything must be in the source")
}

// ValidateWorkspace refuses malformed --local-resource and --local-source values as usage errors.
func ValidateWorkspace(o *workspace.Options) error {
	err := o.Validate()
	var in *workspace.InputError
	if errors.As(err, &in) {
		return &FlagError{Err: in.Err}
	}
	return err
}

// CompleteDriver takes the PATH argument (default ".") and, where not set, the factory's clients and
// clock and the work tree's revision: what apply and diff complete alike.
func CompleteDriver(f *Factory, o *driver.Options, args []string) {
	o.Workspace.Path = "."
	if len(args) == 1 {
		o.Workspace.Path = args[0]
	}
	if o.Clients == nil {
		o.Clients = f.KubeClients
	}
	if o.Clock == nil {
		o.Clock = f.Clock
	}
	if o.Revision == nil {
		o.Revision = workspace.LocalRevision
	}
	if o.Workspace.RenderCache == nil {
		o.Workspace.RenderCache = f.RenderCache()
	}
}
