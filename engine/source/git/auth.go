package git

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
	corev1 "k8s.io/api/core/v1"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
)

// LocalAuth is push mode's fallback to the user's own credentials, used when a GitRepository has no
// secretRef or its Secret cannot be read.
type LocalAuth struct {
	// SSHAgentSocket is the path of the SSH agent's socket (SSH_AUTH_SOCK); empty when there is none.
	SSHAgentSocket string
	// KnownHostsFiles verify SSH host keys, typically ~/.ssh/known_hosts. Missing files are skipped; with
	// no file at all, SSH fetches fail.
	KnownHostsFiles []string
	// HTTPCredentials returns a username and password for an HTTP(S) repository once its server has asked
	// for credentials (see GitCredentialFill). Nil means anonymous access only.
	HTTPCredentials func(ctx context.Context, u *url.URL) (username, password string, err error)
}

// LocalAuthFromEnv returns the user's SSH agent (SSH_AUTH_SOCK), ~/.ssh/known_hosts and
// `git credential fill`.
func LocalAuthFromEnv() *LocalAuth {
	l := &LocalAuth{SSHAgentSocket: os.Getenv("SSH_AUTH_SOCK"), HTTPCredentials: GitCredentialFill(nil)}
	if home, err := os.UserHomeDir(); err == nil {
		l.KnownHostsFiles = []string{filepath.Join(home, ".ssh", "known_hosts")}
	}
	return l
}

// GitCredentialFill returns a LocalAuth.HTTPCredentials that asks `git credential fill` (the user's
// configured credential helpers), with env added to the process environment. Git never prompts on a
// terminal: without a helper that knows the URL, the lookup fails.
func GitCredentialFill(env []string) func(ctx context.Context, u *url.URL) (string, string, error) {
	return func(ctx context.Context, u *url.URL) (string, string, error) {
		var in bytes.Buffer
		fmt.Fprintf(&in, "protocol=%s\nhost=%s\n", u.Scheme, u.Host)
		if p := strings.TrimPrefix(u.Path, "/"); p != "" {
			fmt.Fprintf(&in, "path=%s\n", p)
		}
		if u.User != nil && u.User.Username() != "" {
			fmt.Fprintf(&in, "username=%s\n", u.User.Username())
		}
		in.WriteString("\n")
		cmd := exec.CommandContext(ctx, "git", "credential", "fill")
		cmd.Env = append(append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GCM_INTERACTIVE=never"), env...)
		cmd.Stdin = &in
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			msg := strings.TrimSpace(stderr.String())
			if msg == "" {
				msg = err.Error()
			}
			return "", "", fmt.Errorf("git credential fill: %s", msg)
		}
		var user, pass string
		sc := bufio.NewScanner(&stdout)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), "=")
			switch k {
			case "username":
				user = v
			case "password":
				pass = v
			}
		}
		if user == "" && pass == "" {
			return "", "", errors.New("git credential fill: no credentials for this URL")
		}
		return user, pass, nil
	}
}

// credentials are what one fetch authenticates with.
type credentials struct {
	// origin is the scheme and host the HTTP credentials belong to; they are not sent elsewhere.
	origin string

	httpAuth   githttp.AuthMethod
	caBundle   []byte
	clientCert []byte
	clientKey  []byte
	// proxy is the HTTP(S) proxy (spec.proxySecretRef); nil is none.
	proxy *url.URL
	// askHTTP, when set, is asked for a username and password after the server required authentication.
	askHTTP func(ctx context.Context, u *url.URL) (string, string, error)

	sshAuth  []ssh.AuthMethod
	hostKeys ssh.HostKeyCallback
	// sshSource says where the SSH credentials come from, for messages.
	sshSource string

	closers []io.Closer
}

func (c *credentials) close() {
	for _, cl := range c.closers {
		_ = cl.Close()
	}
}

// forURL returns the credentials to use for u (a submodule, say): HTTP credentials only go to their own
// origin, SSH keys and known_hosts are used for every SSH host, as Flux does.
func (c *credentials) forURL(u *url.URL) *credentials {
	if u.Scheme == "ssh" || u.Scheme+"://"+u.Host == c.origin {
		return c
	}
	return &credentials{origin: u.Scheme + "://" + u.Host, caBundle: c.caBundle, askHTTP: c.askHTTP, proxy: c.proxy,
		sshAuth: c.sshAuth, hostKeys: c.hostKeys, sshSource: c.sshSource}
}

// authError marks a credential problem found before talking to the server.
type authError struct{ err error }

func (e *authError) Error() string { return e.err.Error() }
func (e *authError) Unwrap() error { return e.err }

func authErrorf(format string, args ...any) error {
	return &authError{fmt.Errorf(format, args...)}
}

// credentials builds the credentials for obj from its secretRef, or from Local in push mode.
func (f *Fetcher) credentials(ctx context.Context, obj *sourcev1.GitRepository, u *url.URL) (*credentials, error) {
	proxy, err := f.proxy(ctx, obj, u)
	if err != nil {
		return nil, err
	}
	c, err := f.secretRefCredentials(ctx, obj, u, proxy)
	if err != nil {
		return nil, err
	}
	c.proxy = proxy
	return c, nil
}

// proxy reads spec.proxySecretRef: the proxy HTTP(S) remotes are reached through; nil without one.
func (f *Fetcher) proxy(ctx context.Context, obj *sourcev1.GitRepository, u *url.URL) (*url.URL, error) {
	ref := obj.Spec.ProxySecretRef
	if ref == nil || ref.Name == "" {
		return nil, nil
	}
	if f.Secrets == nil {
		return nil, authErrorf("cannot read proxy Secret %s/%s: no Secrets source configured", obj.Namespace, ref.Name)
	}
	secret, err := f.Secrets.GetSecret(ctx, obj.Namespace, ref.Name)
	if err != nil {
		return nil, authErrorf("reading proxy Secret %s/%s: %w", obj.Namespace, ref.Name, err)
	}
	p, err := ProxyFromSecret(u, secret)
	if err != nil {
		return nil, &authError{err}
	}
	return p, nil
}

func (f *Fetcher) secretRefCredentials(ctx context.Context, obj *sourcev1.GitRepository, u *url.URL, proxy *url.URL) (*credentials, error) {
	if obj.Spec.SecretRef == nil || obj.Spec.SecretRef.Name == "" {
		if obj.GetProvider() == sourcev1.GitProviderGitHub {
			return nil, withReason(sourcev1.InvalidProviderConfigurationReason, errGitHubNoSecret)
		}
		if f.Local != nil {
			return f.localCredentials(u)
		}
		if u.Scheme == "ssh" {
			return nil, authErrorf("%s needs SSH credentials: set spec.secretRef to a Secret with %q and %q",
				redactURL(u), KeyIdentity, KeyKnownHosts)
		}
		return &credentials{origin: u.Scheme + "://" + u.Host}, nil
	}
	name := obj.Spec.SecretRef.Name
	if f.Secrets == nil {
		if f.Local != nil {
			return f.localCredentials(u)
		}
		return nil, authErrorf("cannot read Secret %s/%s: no Secrets source configured", obj.Namespace, name)
	}
	secret, err := f.Secrets.GetSecret(ctx, obj.Namespace, name)
	if err != nil {
		if f.Local != nil {
			return f.localCredentials(u)
		}
		return nil, authErrorf("reading Secret %s/%s: %w", obj.Namespace, name, err)
	}
	return f.secretCredentials(ctx, secret, obj.GetProvider(), u, proxy)
}

func secretData(s *corev1.Secret) map[string][]byte {
	data := make(map[string][]byte, len(s.Data)+len(s.StringData))
	for k, v := range s.Data {
		data[k] = v
	}
	for k, v := range s.StringData {
		data[k] = []byte(v)
	}
	return data
}

func (f *Fetcher) secretCredentials(ctx context.Context, s *corev1.Secret, provider string, u *url.URL, proxy *url.URL) (*credentials, error) {
	creds, err := CredentialsForProvider(s, provider)
	if err != nil {
		return nil, &authError{err}
	}
	tmp, err := f.Store.TempDir("known-hosts-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	a, err := creds.Auth(u, tmp)
	if err != nil {
		return nil, &authError{err}
	}
	c := &credentials{origin: u.Scheme + "://" + u.Host}
	if u.Scheme == "ssh" {
		c.sshAuth = []ssh.AuthMethod{ssh.PublicKeys(a.Signer)}
		c.hostKeys = a.HostKeys
		c.sshSource = "Secret " + creds.Secret
		return c, nil
	}
	if err := creds.UseGitHubApp(ctx, f.GitHubApp, proxy); err != nil {
		return nil, &authError{err}
	}
	c.httpAuth = a.httpAuth()
	if creds.TLS != nil {
		c.caBundle, c.clientCert, c.clientKey = creds.TLS.CA, creds.TLS.Cert, creds.TLS.Key
	}
	return c, nil
}

func parseIdentity(pem, password []byte) (ssh.Signer, error) {
	signer, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if len(password) == 0 {
			return nil, fmt.Errorf("the private key is encrypted: put its passphrase under %q", KeyPassword)
		}
		signer, err = ssh.ParsePrivateKeyWithPassphrase(pem, password)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing private key: %w", err)
	}
	return signer, nil
}

func (f *Fetcher) localCredentials(u *url.URL) (*credentials, error) {
	c := &credentials{origin: u.Scheme + "://" + u.Host, askHTTP: f.Local.HTTPCredentials}
	if u.Scheme != "ssh" {
		return c, nil
	}
	var files []string
	for _, p := range f.Local.KnownHostsFiles {
		if _, err := os.Stat(p); err == nil {
			files = append(files, p)
		}
	}
	if len(files) == 0 {
		return nil, authErrorf("no known_hosts file (looked for %s): SSH host keys are always verified",
			strings.Join(f.Local.KnownHostsFiles, ", "))
	}
	cb, err := knownhosts.New(files...)
	if err != nil {
		return nil, authErrorf("reading known_hosts: %w", err)
	}
	if f.Local.SSHAgentSocket == "" {
		return nil, authErrorf("no SSH credentials for %s: no secretRef and no SSH agent (SSH_AUTH_SOCK is not set)", redactURL(u))
	}
	conn, err := net.Dial("unix", f.Local.SSHAgentSocket)
	if err != nil {
		return nil, authErrorf("connecting to the SSH agent at %s: %w", f.Local.SSHAgentSocket, err)
	}
	ag := agent.NewClient(conn)
	c.sshAuth = []ssh.AuthMethod{ssh.PublicKeysCallback(ag.Signers)}
	c.hostKeys = cb
	c.sshSource = "the SSH agent"
	c.closers = append(c.closers, conn)
	return c, nil
}

// hostKeyError is a refused SSH host key.
type hostKeyError struct {
	host string
	err  error
}

func (e *hostKeyError) Error() string {
	var ke *knownhosts.KeyError
	if errors.As(e.err, &ke) {
		if len(ke.Want) == 0 {
			return fmt.Sprintf("host key verification failed: %s is not in known_hosts", e.host)
		}
		return fmt.Sprintf("host key verification failed: the key of %s does not match known_hosts (possible man-in-the-middle attack)", e.host)
	}
	return fmt.Sprintf("host key verification failed for %s: %v", e.host, e.err)
}
func (e *hostKeyError) Unwrap() error { return e.err }

// sshClientConfig completes the SSH configuration for hostport: the host key algorithms are limited to the
// types known_hosts has for the host, so that the server presents a key that can be checked.
func (c *credentials) sshClientConfig(user, hostport string) (*ssh.ClientConfig, error) {
	if c.hostKeys == nil || len(c.sshAuth) == 0 {
		return nil, authErrorf("no SSH credentials for %s", hostport)
	}
	cfg := &ssh.ClientConfig{
		User: user,
		Auth: c.sshAuth,
		HostKeyCallback: func(hostname string, remote net.Addr, key ssh.PublicKey) error {
			if err := c.hostKeys(hostname, remote, key); err != nil {
				return &hostKeyError{host: hostname, err: err}
			}
			return nil
		},
	}
	cfg.HostKeyAlgorithms = HostKeyAlgorithms(c.hostKeys, hostport)
	return cfg, nil
}

// probeKey matches no known_hosts line; checking it lists the keys known for a host.
type probeKey struct{}

func (probeKey) Type() string                        { return "probe" }
func (probeKey) Marshal() []byte                     { return []byte("\x00\x00\x00\x05probe") }
func (probeKey) Verify([]byte, *ssh.Signature) error { return errors.New("probe key") }
