package cmdutil

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/converge-gitops/converge/engine/source/oci"
)

// ociProviders are the values Flux's --provider of the artifact commands accepts.
var ociProviders = []string{"generic", "aws", "azure", "gcp"}

// OCIProvider is the --provider flag of the artifact commands: Flux's values, "generic" by default. Cloud
// providers parse (so the shape is Flux's) and are refused when the command runs.
type OCIProvider string

// String implements pflag.Value.
func (p *OCIProvider) String() string { return string(*p) }

// Set implements pflag.Value.
func (p *OCIProvider) Set(s string) error {
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("no source OCI provider given, please specify the OCI provider name")
	}
	for _, v := range ociProviders {
		if v == s {
			*p = OCIProvider(s)
			return nil
		}
	}
	return fmt.Errorf("source OCI provider '%s' is not supported, must be one of: %s", s, strings.Join(ociProviders, ", "))
}

// Type implements pflag.Value.
func (p *OCIProvider) Type() string { return strings.Join(ociProviders, "|") }

// RegistryFlags are the registry flags Flux's artifact commands share: --creds, --provider and, where
// insecure is set, --insecure-registry.
type RegistryFlags struct {
	Creds    string
	Provider OCIProvider
	Insecure bool
}

// AddRegistryFlags adds --creds and --provider (default generic) to fl, and --insecure-registry with
// insecureHelp when that is not empty.
func AddRegistryFlags(fl *pflag.FlagSet, r *RegistryFlags, insecureHelp string) {
	r.Provider = "generic"
	fl.StringVar(&r.Creds, "creds", "", "credentials for OCI registry in the format <username>[:<password>] if --provider is generic")
	fl.Var(&r.Provider, "provider", "the OCI provider name")
	if insecureHelp != "" {
		fl.BoolVar(&r.Insecure, "insecure-registry", false, insecureHelp)
	}
}

// Validate refuses a cloud provider, which converge cannot log in with.
func (r *RegistryFlags) Validate() error {
	if err := oci.CheckProvider(string(r.Provider)); err != nil {
		return FlagErrorf("--provider: %w", err)
	}
	return nil
}

// Registry returns the engine's registry settings.
func (r *RegistryFlags) Registry() oci.Registry {
	return oci.Registry{Creds: r.Creds, Provider: string(r.Provider), Insecure: r.Insecure}
}
