package bootstrap

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

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
	// Username pushes with the token (Bitbucket Server's --username; the owner when personal).
	Username string
	Teams    []string

	common   *commonFlags
	interval time.Duration

	// apiURLErr is why no default API URL could be derived, reported by Validate.
	apiURLErr error
}

var _ cmdutil.Runner = (*ProviderOptions)(nil)

var providerNames = map[enginebootstrap.ProviderKind]string{
	enginebootstrap.GitHub: "GitHub", enginebootstrap.GitLab: "GitLab", enginebootstrap.Gitea: "Gitea",
	enginebootstrap.BitbucketServer: "Bitbucket Server",
}

// defaultHostnames are Flux's --hostname defaults (Bitbucket Server has none: it is required).
var defaultHostnames = map[enginebootstrap.ProviderKind]string{
	enginebootstrap.GitHub: "github.com", enginebootstrap.GitLab: "gitlab.com", enginebootstrap.Gitea: "gitea.com",
}

// tokenEnv is the environment variable holding the provider's API token.
func tokenEnv(k enginebootstrap.ProviderKind) string {
	if k == enginebootstrap.BitbucketServer {
		return "BITBUCKET_TOKEN"
	}
	return strings.ToUpper(string(k)) + "_TOKEN"
}

// gitlabVisibilities are the values of gitlab's --visibility.
var gitlabVisibilities = []string{"public", "internal", "private"}

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
	owner := "the organization, group or (with --personal) user owning the repository"
	if kind == enginebootstrap.BitbucketServer {
		owner = "the project key or (with --personal) user owning the repository"
	}
	fl.StringVar(&ro.Owner, "owner", "", owner)
	fl.StringVar(&ro.Name, "repository", "", "the repository name")
	fl.BoolVar(&ro.Personal, "personal", false, "the owner is the token's user, not an organization, group or project")
	fl.BoolVar(&ro.Private, "private", true, "create the repository private")
	fl.DurationVar(&opts.interval, "interval", time.Minute, "the GitRepository's sync interval")
	fl.StringVar(&opts.Hostname, "hostname", defaultHostnames[kind], "the provider's host: HOST[:PORT] (HTTPS), or http://HOST[:PORT] for a server without TLS")
	fl.StringVar(&opts.APIURL, "api-url", "", "the API root (default from --hostname: https://HOST/api/v3 for GitHub Enterprise, /api/v4 for GitLab, /api/v1 for Gitea, https://HOST for Bitbucket Server)")
	fl.BoolVar(&opts.Provider.ReadWriteKey, "read-write-key", false, "register the deploy key with write access (image automation)")
	fl.BoolVar(&opts.Provider.Reconcile, "reconcile", false, "also set an existing repository's visibility and existing teams' permissions to the ones asked")
	fl.StringVar(&opts.Bootstrap.Path, "path", "", "the cluster's folder in the repository, e.g. clusters/production")
	switch kind {
	case enginebootstrap.BitbucketServer:
		fl.StringSliceVar(&opts.Teams, "group", nil, "groups given access to the repository: GROUP or GROUP:PERMISSION (pull, push, admin; default push)")
		fl.StringVarP(&opts.Username, "username", "u", "git", "the user pushing with the token, and stored with it by --token-auth (the owner with --personal)")
	case enginebootstrap.GitLab:
		fl.StringSliceVar(&opts.Teams, "team", nil, "groups given access to the project: GROUP or GROUP:PERMISSION (pull, triage, push, maintain, admin; default maintain)")
		fl.StringVar(&ro.Visibility, "visibility", "private", "visibility of the project: "+strings.Join(gitlabVisibilities, ", "))
		_ = fl.MarkDeprecated("private", "use --visibility instead")
		fl.BoolVar(&opts.Provider.DeployTokenAuth, "deploy-token-auth", false, "the cluster fetches over HTTPS with a project deploy token (read_repository) created through the API, instead of an SSH deploy key")
		_ = cmd.RegisterFlagCompletionFunc("visibility", cobra.FixedCompletions(gitlabVisibilities, cobra.ShellCompDirectiveNoFileComp))
	default:
		fl.StringSliceVar(&opts.Teams, "team", nil, "teams given access to the repository: TEAM or TEAM:PERMISSION (pull, triage, push, maintain, admin; default maintain)")
	}
	return cmd
}

// Complete fills the namespace, the version, the key algorithm, the token from the provider's
// environment variable and the default API URL.
func (o *ProviderOptions) Complete(f *cmdutil.Factory, cmd *cobra.Command, _ []string) error {
	o.IO, o.Clients = f.IO, f.KubeClients
	if err := completeCommon(f, o.IO, cmd, o.common, &o.Bootstrap, o.interval); err != nil {
		return err
	}
	o.Token = os.Getenv(tokenEnv(o.Kind))
	if o.APIURL == "" {
		o.APIURL, o.apiURLErr = enginebootstrap.DefaultAPIURL(o.Kind, o.Hostname)
	}
	o.Provider.TokenAuth = o.common.tokenAuth
	if o.Kind == enginebootstrap.BitbucketServer && o.Provider.Repository.Personal {
		o.Username = o.Provider.Repository.Owner
	}
	if o.Kind == enginebootstrap.GitLab && !cmd.Flags().Changed("visibility") && cmd.Flags().Changed("private") && !o.Provider.Repository.Private {
		o.Provider.Repository.Visibility = "public" // the deprecated --private=false
	}
	if len(o.Teams) > 0 {
		o.Provider.Teams = map[string]string{}
		for _, t := range o.Teams {
			name, perm, _ := strings.Cut(t, ":")
			o.Provider.Teams[name] = perm
		}
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
	if v := o.Provider.Repository.Visibility; v != "" && !slices.Contains(gitlabVisibilities, v) {
		return cmdutil.FlagErrorf("--visibility %q: want %s", v, strings.Join(gitlabVisibilities, ", "))
	}
	if o.Provider.DeployTokenAuth && o.Provider.TokenAuth {
		return cmdutil.FlagErrorf("--token-auth and --deploy-token-auth exclude each other")
	}
	if (o.Provider.TokenAuth || o.Provider.DeployTokenAuth) && o.common.sshHostname != "" {
		return cmdutil.FlagErrorf("--ssh-hostname applies to an SSH sync, not to a sync over HTTPS with a token")
	}
	if len(o.Provider.Teams) > 0 && o.Provider.Repository.Personal {
		return cmdutil.FlagErrorf("teams are granted access to an organization's repository, not to a personal one: drop --personal or the teams")
	}
	if err := enginebootstrap.ValidateTeams(o.Kind, o.Provider.Teams); err != nil {
		return cmdutil.FlagErrorf("%v", err)
	}
	if pk := o.common.privateKeyFile; pk != "" {
		if o.Provider.TokenAuth || o.Provider.DeployTokenAuth {
			return cmdutil.FlagErrorf("--private-key-file is the SSH deploy key: not with a sync over HTTPS")
		}
		key, err := os.ReadFile(pk)
		if err != nil {
			return cmdutil.FlagErrorf("--private-key-file: %v", err)
		}
		o.Bootstrap.Credentials.PrivateKey = key
	}
	// The URL is the provider's; validate the rest with a stand-in.
	check := o.Bootstrap
	host := strings.TrimPrefix(strings.TrimPrefix(o.APIURL, "https://"), "http://")
	check.URL = "https://" + host + "/x"
	if !o.Provider.TokenAuth && !o.Provider.DeployTokenAuth {
		check.URL = "ssh://git@" + host + "/x"
	}
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
	p := &enginebootstrap.Provider{Kind: o.Kind, BaseURL: o.APIURL, Token: o.Token, Username: o.Username, CA: o.Bootstrap.CA}
	res, err := enginebootstrap.RunProvider(ctx, clients, p, o.Provider, b)
	return finish(o.IO, res, err)
}
