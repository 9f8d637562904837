package git

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
	corev1 "k8s.io/api/core/v1"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/githubapp"
)

// errGitHubNoSecret is `provider: github` without a secretRef.
var errGitHubNoSecret = errors.New("secretRef with GitHub App data must be specified when provider is set to github")

// Keys of Flux's Git credentials Secret that have no TLS meaning (the TLS keys are source's).
const (
	KeyUsername    = "username"
	KeyPassword    = "password"
	KeyBearerToken = "bearerToken"
	KeyIdentity    = "identity"
	KeyIdentityPub = "identity.pub"
	KeyKnownHosts  = "known_hosts"
	// keyGitHubAppPrefix starts the keys of GitHub App authentication (provider: github).
	keyGitHubAppPrefix = "githubApp"
)

// Credentials are the keys of a Flux Git credentials Secret (a GitRepository's spec.secretRef, the Secret
// bootstrap writes), read once for fetch, clone and push. Reading checks only what every use needs; Auth
// checks what a URL's scheme needs.
type Credentials struct {
	// Secret is "namespace/name" of the Secret.
	Secret string
	// Username and Password are HTTP basic authentication; Password is also an SSH key's passphrase.
	Username, Password string
	// BearerToken is sent as "Authorization: Bearer"; it wins over basic authentication.
	BearerToken string
	// Identity is the PEM of the SSH private key, IdentityPub its authorized_keys line, KnownHosts the
	// known_hosts content the server's host key is verified against.
	Identity, IdentityPub, KnownHosts []byte
	// TLS is the CA bundle and client certificate of HTTPS remotes; nil when the Secret has none.
	TLS *source.TLSData
	// GitHubApp is the GitHub App of `provider: github`; UseGitHubApp turns it into Username and Password.
	GitHubApp *githubapp.App
}

// CredentialsFromSecret reads secret as Flux's source-controller does for `provider: generic`. It refuses
// the GitHub App keys (they need `provider: github`, see CredentialsForProvider) and TLS keys that are
// half a pair or do not parse.
func CredentialsFromSecret(secret *corev1.Secret) (*Credentials, error) {
	return CredentialsForProvider(secret, sourcev1.GitProviderGeneric)
}

// CredentialsForProvider reads secret for a GitRepository's spec.provider: with "github" the Secret must
// hold a GitHub App (githubapp.FromSecret), with "generic" (or "") it must not.
func CredentialsForProvider(secret *corev1.Secret, provider string) (*Credentials, error) {
	data := secretData(secret)
	c := &Credentials{
		Secret:      secret.Namespace + "/" + secret.Name,
		Username:    string(data[KeyUsername]),
		Password:    string(data[KeyPassword]),
		BearerToken: string(data[KeyBearerToken]),
		Identity:    data[KeyIdentity],
		IdentityPub: data[KeyIdentityPub],
		KnownHosts:  data[KeyKnownHosts],
	}
	switch provider {
	case sourcev1.GitProviderGitHub:
		if !githubapp.HasAppData(data) {
			return nil, withReason(sourcev1.InvalidProviderConfigurationReason, fmt.Errorf(
				"Secret %s has no GitHub App data: spec.provider github needs %q, %q and %q (or %q) in spec.secretRef",
				c.Secret, githubapp.KeyAppID, githubapp.KeyAppPrivateKey, githubapp.KeyAppInstallationID, githubapp.KeyAppInstallationOwner))
		}
		app, err := githubapp.FromData(c.Secret, data)
		if err != nil {
			return nil, withReason(sourcev1.InvalidProviderConfigurationReason, err)
		}
		c.GitHubApp = app
	case sourcev1.GitProviderGeneric, "":
		for k := range data {
			if strings.HasPrefix(k, keyGitHubAppPrefix) {
				return nil, withReason(sourcev1.InvalidProviderConfigurationReason, fmt.Errorf(
					"Secret %s has GitHub App data (%q) but spec.provider is not github", c.Secret, k))
			}
		}
	default:
		return nil, withReason(sourcev1.InvalidProviderConfigurationReason, fmt.Errorf("provider %q is not supported: use %q or %q",
			provider, sourcev1.GitProviderGeneric, sourcev1.GitProviderGitHub))
	}
	tlsData, err := source.TLSDataFromSecret(secret)
	switch {
	case err == nil:
		c.TLS = tlsData
	case !errors.Is(err, source.ErrNoTLSData):
		return nil, err
	}
	return c, nil
}

// UseGitHubApp exchanges the GitHub App of c (provider: github) for an installation access token, through
// tokens' cache and proxy (nil: the environment's), and makes it the HTTP basic authentication
// (x-access-token and the token), as Flux does. Without an App it does nothing.
func (c *Credentials) UseGitHubApp(ctx context.Context, tokens *githubapp.Tokens, proxy *url.URL) error {
	if c.GitHubApp == nil {
		return nil
	}
	var cfg *tls.Config
	if c.TLS != nil {
		cfg = c.TLS.Config()
	}
	tok, err := tokens.Token(ctx, githubapp.HTTPClient(cfg, proxy), c.GitHubApp)
	if err != nil {
		return err
	}
	c.Username, c.Password, c.BearerToken = githubapp.Username, tok.Value, ""
	return nil
}

// Auth is what authenticates to one remote: Credentials checked for its scheme, the SSH key and
// known_hosts parsed.
type Auth struct {
	*Credentials
	// Signer is the parsed SSH identity and HostKeys verifies the server's host key (SSH only).
	Signer   ssh.Signer
	HostKeys ssh.HostKeyCallback
}

// Auth checks the credentials for u: SSH needs identity (decrypted with password when encrypted) and
// known_hosts, HTTP(S) refuses a password without a username. tmp is a folder for the short-lived file
// known_hosts is parsed from ("" is the system's).
func (c *Credentials) Auth(u *url.URL, tmp string) (*Auth, error) {
	a := &Auth{Credentials: c}
	where := "Secret " + c.Secret
	if c.GitHubApp != nil && u.Scheme != "https" && u.Scheme != "http" {
		return nil, withReason(sourcev1.InvalidProviderConfigurationReason,
			fmt.Errorf("provider github authenticates over HTTPS: %s is not an https:// URL", redactURL(u)))
	}
	if u.Scheme == "ssh" {
		if len(c.Identity) == 0 {
			return nil, fmt.Errorf("%s has no %q key: SSH needs a private key", where, KeyIdentity)
		}
		if len(c.KnownHosts) == 0 {
			return nil, fmt.Errorf("%s has no %q key: SSH host keys are always verified", where, KeyKnownHosts)
		}
		signer, err := parseIdentity(c.Identity, []byte(c.Password))
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %w", where, KeyIdentity, err)
		}
		hostKeys, err := KnownHosts(c.KnownHosts, tmp)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %w", where, KeyKnownHosts, err)
		}
		a.Signer, a.HostKeys = signer, hostKeys
		return a, nil
	}
	if c.BearerToken == "" && c.Username == "" && c.Password != "" {
		return nil, fmt.Errorf("%s has %q without %q", where, KeyPassword, KeyUsername)
	}
	return a, nil
}

// httpAuth is go-git's HTTP authentication: the bearer token, else basic authentication, else none.
func (a *Auth) httpAuth() githttp.AuthMethod {
	switch {
	case a.BearerToken != "":
		return &githttp.TokenAuth{Token: a.BearerToken}
	case a.Username != "":
		return &githttp.BasicAuth{Username: a.Username, Password: a.Password}
	}
	return nil
}

// KnownHosts parses known_hosts content into a host key callback. x/crypto's parser reads only files,
// so the content goes through a short-lived file in tmp ("" is the system's temporary folder).
func KnownHosts(content []byte, tmp string) (ssh.HostKeyCallback, error) {
	dir, err := os.MkdirTemp(tmp, "known-hosts-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(p, content, 0o600); err != nil {
		return nil, err
	}
	cb, err := knownhosts.New(p)
	if err != nil {
		return nil, fmt.Errorf("parsing known_hosts: %w", err)
	}
	return cb, nil
}

// HostKeyAlgorithms returns the host key algorithms hostKeys knows for hostport (host:port), so that the
// server is asked for a key that can be verified; nil when the host is unknown.
func HostKeyAlgorithms(hostKeys ssh.HostKeyCallback, hostport string) []string {
	err := hostKeys(hostport, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 22}, probeKey{})
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, w := range ke.Want {
		algos := []string{w.Key.Type()}
		if w.Key.Type() == ssh.KeyAlgoRSA {
			algos = []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
		}
		for _, a := range algos {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	return out
}

// SSHAuth is go-git's SSH authentication with the host keys verified against known_hosts and the host
// key algorithms limited to those known_hosts has for the host.
type SSHAuth struct {
	User     string
	Signers  func() ([]ssh.Signer, error)
	HostKeys ssh.HostKeyCallback
	// HostPort is the server's host:port, for the host key algorithms.
	HostPort string
	// Timeout bounds the connection; 0 is none.
	Timeout time.Duration
	// Source says where the keys come from, for messages.
	Source string
}

// Name implements transport.AuthMethod.
func (a *SSHAuth) Name() string { return "ssh-public-keys" }

func (a *SSHAuth) String() string { return "user: " + a.User + ", keys: " + a.Source }

// ClientConfig implements go-git's SSH AuthMethod.
func (a *SSHAuth) ClientConfig() (*ssh.ClientConfig, error) {
	return &ssh.ClientConfig{
		User: a.User,
		Auth: []ssh.AuthMethod{ssh.PublicKeysCallback(a.Signers)},
		HostKeyCallback: func(hostname string, remote net.Addr, key ssh.PublicKey) error {
			if err := a.HostKeys(hostname, remote, key); err != nil {
				return &hostKeyError{host: hostname, err: err}
			}
			return nil
		},
		HostKeyAlgorithms: HostKeyAlgorithms(a.HostKeys, a.HostPort),
		Timeout:           a.Timeout,
	}, nil
}

// Remote is a repository and what reaches it: the one clone, fetch and push stack of image automation
// and bootstrap (go-git, with the credentials and TLS of a Flux Secret or of the user).
type Remote struct {
	URL string
	// Auth is go-git's authentication: *SSHAuth, basic or token authentication; nil is anonymous.
	Auth transport.AuthMethod
	// TLS adds a CA bundle to the system's and a client certificate (HTTPS); nil is neither.
	TLS *source.TLSData
	// Proxy is the proxy to reach the remote through (source.ProxyURLFromSecret); nil is none.
	Proxy *url.URL
}

// proxyOptions is go-git's form of proxy; nil is no proxy.
func proxyOptions(p *url.URL) transport.ProxyOptions {
	if p == nil {
		return transport.ProxyOptions{}
	}
	o := transport.ProxyOptions{URL: (&url.URL{Scheme: p.Scheme, Host: p.Host}).String()}
	if p.User != nil {
		o.Username = p.User.Username()
		o.Password, _ = p.User.Password()
	}
	return o
}

// ProxyFromSecret reads a GitRepository's proxySecretRef Secret for the remote at u. converge reaches
// ssh:// remotes directly: a proxy for one is refused.
func ProxyFromSecret(u *url.URL, secret *corev1.Secret) (*url.URL, error) {
	if u.Scheme == "ssh" {
		return nil, errors.New("spec.proxySecretRef: converge reaches ssh:// remotes directly; a proxy is supported for http(s):// URLs only")
	}
	p, err := source.ProxyURLFromSecret(secret)
	if err != nil {
		return nil, fmt.Errorf("spec.proxySecretRef: %w", err)
	}
	return p, nil
}

// RemoteOptions say what reaches a GitRepository's remote (see NewRemote).
type RemoteOptions struct {
	// URL is the remote's URL; Provider the GitRepository's spec.provider ("" is generic).
	URL, Provider string
	// Secret authenticates (nil: anonymous); ProxySecret is the proxy to go through (nil: directly).
	Secret, ProxySecret *corev1.Secret
	// TempDir is a folder for known_hosts ("" is the system's).
	TempDir string
	// GitHubApp caches the installation tokens of `provider: github`; nil exchanges every time.
	GitHubApp *githubapp.Tokens
}

// RemoteFromSecret returns the remote at rawURL authenticated with secret (nil: anonymous) and reached
// through the proxy of proxySecret (nil: directly); tmp is a folder for known_hosts ("" is the system's).
func RemoteFromSecret(rawURL string, secret, proxySecret *corev1.Secret, tmp string) (*Remote, error) {
	return NewRemote(context.Background(), RemoteOptions{URL: rawURL, Secret: secret, ProxySecret: proxySecret, TempDir: tmp})
}

// NewRemote returns the remote of o: for `provider: github` the Secret's GitHub App is exchanged for an
// installation token (the App's API reached with the Secret's CA and through the proxy).
func NewRemote(ctx context.Context, o RemoteOptions) (*Remote, error) {
	rawURL, secret, proxySecret := o.URL, o.Secret, o.ProxySecret
	r := &Remote{URL: rawURL}
	if o.Provider == sourcev1.GitProviderGitHub && secret == nil {
		return nil, withReason(sourcev1.InvalidProviderConfigurationReason, errGitHubNoSecret)
	}
	if secret == nil && proxySecret == nil {
		return r, nil
	}
	u, err := parseRemoteURL(rawURL)
	if err != nil {
		return nil, err
	}
	if proxySecret != nil {
		if r.Proxy, err = ProxyFromSecret(u, proxySecret); err != nil {
			return nil, err
		}
	}
	if secret == nil {
		return r, nil
	}
	creds, err := CredentialsForProvider(secret, o.Provider)
	if err != nil {
		return nil, err
	}
	a, err := creds.Auth(u, o.TempDir)
	if err != nil {
		return nil, err
	}
	if err := creds.UseGitHubApp(ctx, o.GitHubApp, r.Proxy); err != nil {
		return nil, err
	}
	r.TLS = creds.TLS
	if u.Scheme != "ssh" {
		if h := a.httpAuth(); h != nil {
			r.Auth = h
		}
		return r, nil
	}
	user := u.User.Username()
	if user == "" {
		user = "git"
	}
	port := u.Port()
	if port == "" {
		port = "22"
	}
	r.Auth = &SSHAuth{User: user, Signers: func() ([]ssh.Signer, error) { return []ssh.Signer{a.Signer}, nil },
		HostKeys: a.HostKeys, HostPort: net.JoinHostPort(u.Hostname(), port), Source: "Secret " + creds.Secret}
	return r, nil
}

func (r *Remote) tls() (ca, cert, key []byte) {
	if r.TLS == nil {
		return nil, nil, nil
	}
	return r.TLS.CA, r.TLS.Cert, r.TLS.Key
}

// List returns the references the remote advertises; an empty repository has none (no error).
func (r *Remote) List(ctx context.Context) ([]*plumbing.Reference, error) {
	ca, cert, key := r.tls()
	rem := gogit.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{r.URL}})
	refs, err := rem.ListContext(ctx, &gogit.ListOptions{Auth: r.Auth, CABundle: ca, ClientCert: cert, ClientKey: key, ProxyOptions: proxyOptions(r.Proxy)})
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return nil, nil
	}
	return refs, err
}

// Clone clones the remote into dir as origin, without tags; a non-empty ref clones only that reference.
func (r *Remote) Clone(ctx context.Context, dir string, ref plumbing.ReferenceName) (*gogit.Repository, error) {
	ca, cert, key := r.tls()
	opts := &gogit.CloneOptions{URL: r.URL, Auth: r.Auth, CABundle: ca, ClientCert: cert, ClientKey: key, Tags: gogit.NoTags,
		ProxyOptions: proxyOptions(r.Proxy)}
	if ref != "" {
		opts.ReferenceName, opts.SingleBranch = ref, true
	}
	return gogit.PlainCloneContext(ctx, dir, false, opts)
}

// Fetch fetches specs from the remote into repo's origin, without tags. Nothing new is not an error.
func (r *Remote) Fetch(ctx context.Context, repo *gogit.Repository, specs ...config.RefSpec) error {
	ca, cert, key := r.tls()
	err := repo.FetchContext(ctx, &gogit.FetchOptions{RemoteName: "origin", RefSpecs: specs, Auth: r.Auth,
		CABundle: ca, ClientCert: cert, ClientKey: key, Tags: gogit.NoTags, ProxyOptions: proxyOptions(r.Proxy)})
	if errors.Is(err, gogit.NoErrAlreadyUpToDate) {
		return nil
	}
	return err
}

// Push pushes specs from repo to the remote (as origin) with the push options; nothing to push is not an
// error.
func (r *Remote) Push(ctx context.Context, repo *gogit.Repository, specs []config.RefSpec, options map[string]string) error {
	ca, cert, key := r.tls()
	err := repo.PushContext(ctx, &gogit.PushOptions{RemoteName: "origin", RefSpecs: specs, Auth: r.Auth,
		CABundle: ca, ClientCert: cert, ClientKey: key, Options: options, ProxyOptions: proxyOptions(r.Proxy)})
	if errors.Is(err, gogit.NoErrAlreadyUpToDate) {
		return nil
	}
	return err
}
