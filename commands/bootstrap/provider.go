package bootstrap

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/converge-gitops/converge/commands/cmdutil"
	enginebootstrap "github.com/converge-gitops/converge/engine/bootstrap"
	"github.com/converge-gitops/converge/engine/kube"
)

// ProviderOptions are the inputs of `converge bootstrap github|gitlab|gitea`.
type ProviderOptions struct {
	IO      *cmdutil.IOStreams
	Clients func() (*kube.Clients, error)

	Kind      enginebootstrap.ProviderKind
	Bootstrap enginebootstrap.Options
	Provider  enginebootstrap.ProviderOptions
	Hostname  string
	APIURL    string
	Token     string

	common *commonFlags

	// apiURLErr is why no default API URL could be derived, reported by Validate.
	apiURLErr error
}

var _ cmdutil.Runner = (*ProviderOptions)(nil)

var providerNames = map[enginebootstrap.ProviderKind]string{
	enginebootstrap.GitHub: "GitHub", enginebootstrap.GitLab: "GitLab", enginebootstrap.Gitea: "Gitea",
}

// tokenEnv is the environment variable holding the provider's API token.
func tokenEnv(k enginebootstrap.ProviderKind) string { return strings.ToUpper(string(k)) + "_TOKEN" }

func newCmdProvider(f *cmdutil.Factory, kind enginebootstrap.ProviderKind, common *commonFlags) *cobra.Command {
	opts := &ProviderOptions{Kind: kind, common: common}
	name := providerNames[kind]
	cmd := &cobra.Command{
		Use:   string(kind),
		Short: "Bootstrap from a " + name + " repository, creating it and its deploy key through the API",
		Long: fmt.Sprintf(`Bootstrap from a %[1]s repository. With the API token in $%[2]s it creates the repository when it
is missing (private unless --private=false; in --owner's organization or group unless --personal),
pushes the manifests over HTTPS with the token, and registers a deploy key (read-only unless
--read-write-key) that the cluster fetches with over SSH; with --token-auth the cluster fetches over
HTTPS with the token instead. Then as `+"`converge bootstrap git`"+`.`, name, tokenEnv(kind)),
		Example: fmt.Sprintf(`  export %[2]s=<token>
  converge bootstrap %[1]s --owner my-org --repository fleet --path clusters/production
  converge bootstrap %[1]s --owner me --personal --repository fleet --path clusters/dev --token-auth`, kind, tokenEnv(kind)),
		Args: cobra.NoArgs,
		RunE: cmdutil.RunE(f, opts, true),
	}
	fl := cmd.Flags()
	ro := &opts.Provider.Repository
	fl.StringVar(&ro.Owner, "owner", "", "the organization, group or (with --personal) user owning the repository")
	fl.StringVar(&ro.Name, "repository", "", "the repository name")
	fl.BoolVar(&ro.Personal, "personal", false, "the owner is the token's user, not an organization or group")
	fl.BoolVar(&ro.Private, "private", true, "create the repository private")
	fl.StringVar(&opts.Hostname, "hostname", "", "the provider's host, for self-hosted servers: HOST[:PORT] (HTTPS), or http://HOST[:PORT] for a server without TLS")
	fl.StringVar(&opts.APIURL, "api-url", "", "the API root (default from --hostname: https://HOST/api/v3 for GitHub Enterprise, /api/v4 for GitLab, /api/v1 for Gitea)")
	fl.BoolVar(&opts.Provider.ReadWriteKey, "read-write-key", false, "register the deploy key with write access (image automation)")
	fl.BoolVar(&opts.Provider.TokenAuth, "token-auth", false, "the cluster fetches over HTTPS with the token instead of an SSH deploy key")
	fl.StringVar(&opts.Bootstrap.Path, "path", "", "the cluster's folder in the repository, e.g. clusters/production")
	return cmd
}

// Complete fills the namespace, the version, the key algorithm, the token from the provider's
// environment variable and the default API URL.
func (o *ProviderOptions) Complete(f *cmdutil.Factory, cmd *cobra.Command, _ []string) error {
	o.IO, o.Clients = f.IO, f.KubeClients
	if err := completeCommon(f, o.IO, cmd, o.common, &o.Bootstrap, ""); err != nil {
		return err
	}
	o.Token = os.Getenv(tokenEnv(o.Kind))
	if o.APIURL == "" {
		o.APIURL, o.apiURLErr = enginebootstrap.DefaultAPIURL(o.Kind, o.Hostname)
	}
	return nil
}

// Validate refuses a missing repository or token, a host without a default API URL and bad bootstrap
// options.
func (o *ProviderOptions) Validate() error {
	if o.Provider.Repository.Owner == "" || o.Provider.Repository.Name == "" {
		return cmdutil.FlagErrorf("--owner and --repository are required")
	}
	if o.Token == "" {
		return cmdutil.FlagErrorf("$%s is not set: export the %s API token", tokenEnv(o.Kind), providerNames[o.Kind])
	}
	if o.apiURLErr != nil {
		return cmdutil.FlagErrorf("%v", o.apiURLErr)
	}
	// The URL is the provider's; validate the rest with a stand-in.
	check := o.Bootstrap
	check.URL = "https://" + strings.TrimPrefix(strings.TrimPrefix(o.APIURL, "https://"), "http://") + "/x"
	if err := check.Validate(); err != nil {
		return cmdutil.FlagErrorf("%v", err)
	}
	return nil
}

// Run bootstraps through the provider's API (one engine call) and prints each step.
func (o *ProviderOptions) Run(ctx context.Context) error {
	b := o.Bootstrap
	b.Events = printer(o.IO)
	clients, err := o.Clients()
	if err != nil {
		return err
	}
	p := &enginebootstrap.Provider{Kind: o.Kind, BaseURL: o.APIURL, Token: o.Token}
	res, err := enginebootstrap.RunProvider(ctx, clients, p, o.Provider, b)
	return finish(o.IO, res, err)
}
