package cmdutil

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	engineinstall "github.com/converge-gitops/converge/engine/install"
)

// FluxRegistry is the default of Flux's --registry: it stands for converge's own image repository.
const FluxRegistry = "ghcr.io/fluxcd"

// InstallFlags are the flags `flux install` and `flux bootstrap` share, with Flux's names and defaults,
// read into an engine install.Options by Apply.
type InstallFlags struct {
	Image              string
	Version            string
	Components         []string
	ComponentsExtra    []string
	Registry           string
	RegistryCreds      string
	ImagePullSecret    string
	TolerationKeys     []string
	NetworkPolicy      bool
	WatchAllNamespaces bool
	ClusterDomain      string
	LogLevel           string
	Force              bool
	Shards             []string
}

// AddInstallFlags declares the install flags on fs.
func AddInstallFlags(cmd *cobra.Command, fs *pflag.FlagSet, fl *InstallFlags) {
	fs.StringVar(&fl.Image, "image", engineinstall.DefaultImage, "the agent's image: repository (tagged --version), repository:tag, either @sha256:<digest> to pin it")
	fs.StringVarP(&fl.Version, "version", "v", "", "image tag and version label (default: this binary's version)")
	fs.StringSliceVar(&fl.Components, "components", engineinstall.Components,
		"Flux components: the agent serves the API of all of "+strings.Join(engineinstall.Components, ", ")+
			" whatever is listed; listing "+strings.Join(engineinstall.ExtraComponents, ", ")+" adds their CRDs as --components-extra")
	fs.StringSliceVar(&fl.ComponentsExtra, "components-extra", nil,
		"extra Flux APIs whose CRDs to install: "+strings.Join(engineinstall.ExtraComponents, ", "))
	fs.StringVar(&fl.Registry, "registry", FluxRegistry, "container registry the agent image is pulled from, as REGISTRY/converge (the default stands for "+engineinstall.DefaultImage+")")
	fs.StringVar(&fl.RegistryCreds, "registry-creds", "", "registry credentials 'user:password' stored in the --image-pull-secret Secret")
	fs.StringVar(&fl.ImagePullSecret, "image-pull-secret", "", "Secret the agent's pods pull their image with (private registry)")
	fs.StringSliceVar(&fl.TolerationKeys, "toleration-keys", nil, "taint keys the agent's pods tolerate (nodes dedicated to Flux)")
	fs.BoolVar(&fl.NetworkPolicy, "network-policy", true, "deny ingress to the agent from other namespaces (webhooks and metrics aside) with NetworkPolicies")
	fs.BoolVar(&fl.WatchAllNamespaces, "watch-all-namespaces", true, "reconcile objects in all namespaces; false: only in the namespace of the installation")
	fs.StringVar(&fl.ClusterDomain, "cluster-domain", engineinstall.DefaultClusterDomain, "the cluster's DNS domain (in the artifact URLs)")
	fs.StringVar(&fl.LogLevel, "log-level", "info", "the agent's log level: "+strings.Join(engineinstall.LogLevels(), ", "))
	fs.BoolVar(&fl.Force, "force", false, "accepted for Flux's scripts: converge never asks before replacing an existing installation")
	fs.StringSliceVar(&fl.Shards, "shards", nil,
		"one more agent Deployment per shard name, reconciling the objects labelled sharding.fluxcd.io/key=<name> (the default agent leaves them out)")
	all := append(slices.Clone(engineinstall.Components), engineinstall.ExtraComponents...)
	_ = cmd.RegisterFlagCompletionFunc("components", cobra.FixedCompletions(all, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("components-extra", cobra.FixedCompletions(engineinstall.ExtraComponents, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("log-level", cobra.FixedCompletions(engineinstall.LogLevels(), cobra.ShellCompDirectiveNoFileComp))
}

// Apply sets o from the flags (the namespace and a default version are the caller's) and returns
// warnings for what one agent cannot do as Flux's controllers would, or an error for a bad flag.
func (fl *InstallFlags) Apply(flags *pflag.FlagSet, o *engineinstall.Options) (warnings []string, err error) {
	o.Version = fl.Version
	o.ImagePullSecret, o.RegistryCredentials = fl.ImagePullSecret, fl.RegistryCreds
	o.TolerationKeys, o.ClusterDomain, o.LogLevel = fl.TolerationKeys, fl.ClusterDomain, fl.LogLevel
	o.NoNetworkPolicy, o.WatchNamespaceOnly = !fl.NetworkPolicy, !fl.WatchAllNamespaces
	o.ComponentsExtra = slices.Clone(fl.ComponentsExtra)
	o.Image = fl.Image
	o.Shards = slices.Clone(fl.Shards)
	if fl.Registry != FluxRegistry && fl.Registry != "" {
		if flags.Changed("image") {
			return nil, FlagErrorf("give --image or --registry, not both")
		}
		o.Image, o.Registry = "", fl.Registry
	}
	if flags.Changed("components") {
		var left []string
		for _, c := range fl.Components {
			switch {
			case slices.Contains(engineinstall.ExtraComponents, c):
				if !slices.Contains(o.ComponentsExtra, c) {
					o.ComponentsExtra = append(o.ComponentsExtra, c)
				}
			case !slices.Contains(engineinstall.Components, c):
				return nil, FlagErrorf("--components: unknown component %q, want some of %s", c, strings.Join(append(slices.Clone(engineinstall.Components), engineinstall.ExtraComponents...), ", "))
			}
		}
		for _, c := range engineinstall.Components {
			if !slices.Contains(fl.Components, c) {
				left = append(left, c)
			}
		}
		if len(left) > 0 {
			warnings = append(warnings, fmt.Sprintf("--components leaves out %s: converge runs one agent that serves every default component's API, so their CRDs are installed all the same", strings.Join(left, ", ")))
		}
	}
	return warnings, nil
}
