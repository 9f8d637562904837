package bootstrap

import (
	"bytes"
	"context"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/google/go-containerregistry/pkg/authn"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/install"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/source"
	sourcegit "github.com/converge-gitops/converge/engine/source/git"
)

// Keys of the credentials Secret, as Flux's source-controller reads them (git.CredentialsFromSecret).
const (
	SecretIdentity    = sourcegit.KeyIdentity
	SecretIdentityPub = sourcegit.KeyIdentityPub
	SecretKnownHosts  = sourcegit.KeyKnownHosts
	SecretUsername    = sourcegit.KeyUsername
	SecretPassword    = sourcegit.KeyPassword
	SecretBearerToken = sourcegit.KeyBearerToken
)

// Credentials are what the user gave to reach the repository; they are also stored in the cluster.
type Credentials struct {
	// Username and Password authenticate over HTTP(S) (a token is a password; the username defaults
	// to "git"). With PrivateKey, Password is the key's passphrase.
	Username string
	Password string
	// PrivateKey is a PEM SSH private key (--private-key-file).
	PrivateKey []byte
	// BearerToken authenticates over HTTP(S) as "Authorization: Bearer" instead of Username and
	// Password; it is stored as the Secret's bearerToken.
	BearerToken string
}

func (c Credentials) given(ssh bool) bool {
	if ssh {
		return len(c.PrivateKey) > 0
	}
	return c.Username != "" || c.Password != "" || c.BearerToken != ""
}

// Author signs the commits.
type Author struct {
	Name  string
	Email string
}

// EventKind says what an Event reports.
type EventKind int

// Event kinds, rendered by commands as Flux's CLI does (►, ✔, ◎, ⚠).
const (
	EventAction EventKind = iota
	EventSuccess
	EventWaiting
	EventWarning
)

// Event is a step of the bootstrap, for progress output.
type Event struct {
	Kind    EventKind
	Message string
}

// Options are the inputs of Run.
type Options struct {
	// URL is the repository: ssh://, https:// or http://.
	URL string
	// Branch is created (orphan) when missing; default main.
	Branch string
	// Path is the cluster's folder in the repository, e.g. clusters/production ("" is the root).
	Path string
	// Install selects the components (namespace, image, version, extra components).
	Install install.Options
	// Credentials given by the user; see Run for how a re-run without them reuses the cluster's Secret.
	Credentials Credentials
	// SSHAgentSocket, when set, pushes over SSH with the SSH agent's keys if no PrivateKey is given.
	SSHAgentSocket string
	// KeyAlgorithm of a generated deploy key (default ECDSA P-384).
	KeyAlgorithm KeyAlgorithm
	// RSABits is the size of a generated RSA deploy key (default 4096), ECDSACurve the curve of a
	// generated ECDSA one (default P-384).
	RSABits    int
	ECDSACurve elliptic.Curve
	// SecretName names the credentials Secret written and referenced by the GitRepository (default
	// flux-system).
	SecretName string
	// Interval is the GitRepository's spec.interval (default 1m); RecurseSubmodules and SparseCheckout go
	// into its spec as well (the cluster's path must be within one of the sparse checkout folders).
	Interval          time.Duration
	RecurseSubmodules bool
	SparseCheckout    []string
	// SSHHostname replaces the host (HOST[:PORT]) of an ssh:// URL the cluster syncs from, when the SSH
	// server answers on another name than the one pushed to; its host key is scanned as well.
	SSHHostname string
	// HostKeyAlgorithms, when set, are the host key algorithms SSH connections offer (scanning and
	// pushing), in order of preference.
	HostKeyAlgorithms []string
	// CA is a PEM CA bundle trusted, beside the system's, for HTTPS; an HTTPS sync stores it in the
	// Secret as ca.crt.
	CA     []byte
	Author Author
	// CommitMessageAppendix is added, after an empty line, to each commit's message.
	CommitMessageAppendix string
	// Signer, when set, signs the commits (OpenPGP or SSH, see image.OpenPGPSigner and image.SSHSigner).
	Signer gogit.Signer
	// ConfirmDeployKey is called with a generated deploy key's public key (authorized_keys form) before
	// anything uses it; it returns once the key is registered with the Git server, or an error to stop.
	// Nil does not wait.
	ConfirmDeployKey func(ctx context.Context, publicKey string) error
	// RegisterDeployKey, when set, is called on every SSH run with the deploy key's public key (generated,
	// given or kept), before the Secret is written: a Git provider's API registers it when missing.
	RegisterDeployKey func(ctx context.Context, publicKey string) error
	// Push, when set, is where and how commits are pushed instead of URL and the SSH or HTTP credentials
	// (a provider's HTTPS URL with its API token); URL stays what the cluster syncs from.
	Push *PushTarget
	// Wait for the agent's Deployment to be ready and the Kustomization flux-system to apply the pushed
	// revision, within the context's deadline.
	Wait bool
	// Takeover replaces a Flux installation: Flux's components in Git become converge's and Flux's
	// controller Deployments are deleted; Flux's objects, their inventories and what they deployed are
	// kept (the agent takes over their fields). Without it, a Flux installation is refused.
	Takeover bool
	// Events receives progress; nil discards it.
	Events func(Event)
	// Keychain gives the credentials to look up the agent image's digest (install.Options.PinDigest);
	// default authn.DefaultKeychain (the Docker config).
	Keychain authn.Keychain
	// TempDir holds the clone (default os.TempDir()).
	TempDir string
	// Clock stamps commits and reconcile requests (required).
	Clock clock.PassiveClock
	// DialTimeout bounds SSH connections (default 30s).
	DialTimeout time.Duration
}

// PushTarget is an HTTP(S) remote with basic-auth credentials.
type PushTarget struct {
	URL      string
	Username string
	Password string
}

// SecretAction is what happened to the credentials Secret.
type SecretAction string

// Secret actions.
const (
	SecretCreated   SecretAction = "created"
	SecretUpdated   SecretAction = "updated"
	SecretUnchanged SecretAction = "unchanged"
	// SecretKept means the Secret existed and no new credentials were given: it was not touched.
	SecretKept SecretAction = "kept"
)

// Result is what a bootstrap did.
type Result struct {
	// Commits are the new commits, oldest first; none when the repository was up to date.
	Commits []Commit `json:"commits"`
	// Revision is the branch's head after the push, as Flux writes it: <branch>@sha1:<hash>.
	Revision   string           `json:"revision"`
	Components *apply.ChangeSet `json:"components,omitempty"`
	Secret     SecretAction     `json:"secret"`
	Sync       *apply.ChangeSet `json:"sync,omitempty"`
	// DeployKey is the public key of a generated deploy key.
	DeployKey string `json:"deployKey,omitempty"`
	// KnownHosts is the known_hosts content stored for an SSH repository.
	KnownHosts string `json:"knownHosts,omitempty"`
	// Removed are Flux's controller Deployments a takeover deleted.
	Removed []string `json:"removed,omitempty"`
	// Warnings are conditions worth a look that did not stop the bootstrap.
	Warnings []string `json:"warnings,omitempty"`
}

// FluxPartOf is the app.kubernetes.io/part-of label value of Flux's components.
const FluxPartOf = "flux"

// findFluxControllers lists the Deployments of a Flux installation in ns (label
// app.kubernetes.io/part-of=flux), sorted by name.
func findFluxControllers(ctx context.Context, clients *kube.Clients, ns string) ([]string, error) {
	list, err := clients.Core.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: install.PartOfLabel + "=" + FluxPartOf})
	if err != nil {
		return nil, fmt.Errorf("looking for Flux's controllers in %s: %w", ns, err)
	}
	var out []string
	for _, d := range list.Items {
		out = append(out, d.Name)
	}
	sort.Strings(out)
	return out, nil
}

// isFluxManifest reports whether content is a manifest Flux's bootstrap generated (its header says so).
func isFluxManifest(content []byte) bool {
	head, _, _ := strings.Cut(string(content), "\n")
	return strings.Contains(head, "generated by flux")
}

func ptr[T any](v T) *T { return &v }

// Changed reports whether the run changed the repository or the cluster.
func (r *Result) Changed() bool {
	return len(r.Commits) > 0 || len(r.Removed) > 0 || (r.Components != nil && r.Components.Changed()) || (r.Sync != nil && r.Sync.Changed()) ||
		r.Secret == SecretCreated || r.Secret == SecretUpdated
}

func (o *Options) defaults() {
	if o.Branch == "" {
		o.Branch = "main"
	}
	if o.SecretName == "" {
		o.SecretName = SyncName
	}
	if o.Install.Namespace == "" {
		o.Install.Namespace = install.DefaultNamespace
	}
	if o.Author.Name == "" {
		o.Author.Name = "converge"
	}
	if o.Keychain == nil {
		o.Keychain = authn.DefaultKeychain
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 30 * time.Second
	}
	if o.KeyAlgorithm == "" {
		o.KeyAlgorithm = KeyECDSA
	}
}

func (o *Options) event(kind EventKind, format string, args ...any) {
	if o.Events != nil {
		o.Events(Event{Kind: kind, Message: fmt.Sprintf(format, args...)})
	}
}

// parseURL checks the repository URL: ssh, https or http, with a host and a path.
func parseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("the repository URL is required")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		if !strings.Contains(raw, "://") && strings.Contains(raw, ":") {
			return nil, fmt.Errorf("URL %q: scp-like addresses are not supported, write %s", raw, SSHURL(raw))
		}
		return nil, fmt.Errorf("URL %q: want ssh://, https:// or http:// with a host", raw)
	}
	switch u.Scheme {
	case "ssh", "https", "http":
	default:
		return nil, fmt.Errorf("URL %q: unsupported scheme %q, want ssh, https or http", raw, u.Scheme)
	}
	if strings.Trim(u.Path, "/") == "" {
		return nil, fmt.Errorf("URL %q has no repository path", raw)
	}
	if u.Scheme != "ssh" && u.User != nil {
		if _, hasPassword := u.User.Password(); hasPassword {
			return nil, errors.New("URL: do not put a password in the URL, give it as the password")
		}
	}
	return u, nil
}

// Validate checks the options after defaults.
func (o Options) Validate() error {
	o.defaults()
	u, err := parseURL(o.URL)
	if err != nil {
		return err
	}
	if _, err := cleanPath(o.Path); err != nil {
		return err
	}
	if strings.ContainsAny(o.Branch, " ~^:?*[\\") || strings.HasPrefix(o.Branch, "-") {
		return fmt.Errorf("branch %q is not a valid branch name", o.Branch)
	}
	if u.Scheme == "ssh" && (o.Credentials.Username != "") {
		return errors.New("username: SSH takes the user from the URL (ssh://user@host/...)")
	}
	if u.Scheme != "ssh" && len(o.Credentials.PrivateKey) > 0 {
		return fmt.Errorf("private key: %s URLs authenticate with a username and password, not a key", u.Scheme)
	}
	if o.Push != nil {
		pu, err := parseURL(o.Push.URL)
		if err != nil {
			return fmt.Errorf("push URL: %w", err)
		}
		if pu.Scheme == "ssh" {
			return errors.New("push URL: want https:// (the push target authenticates with a username and password)")
		}
	}
	switch o.KeyAlgorithm {
	case KeyECDSA, KeyED25519, KeyRSA:
	default:
		return fmt.Errorf("unknown SSH key algorithm %q, want ecdsa, ed25519 or rsa", o.KeyAlgorithm)
	}
	if o.RSABits != 0 && (o.RSABits < 1024 || o.RSABits%8 != 0) {
		return fmt.Errorf("RSA key size %d: want a multiple of 8, at least 1024", o.RSABits)
	}
	if errs := validation.IsDNS1123Subdomain(o.SecretName); len(errs) > 0 {
		return fmt.Errorf("secret name %q: %s", o.SecretName, strings.Join(errs, "; "))
	}
	if o.Interval < 0 {
		return fmt.Errorf("interval %s: want a positive duration", o.Interval)
	}
	if err := checkSparseCheckout(o.SparseCheckout, o.Path); err != nil {
		return err
	}
	if o.SSHHostname != "" {
		if strings.ContainsAny(o.SSHHostname, "/@ ") {
			return fmt.Errorf("SSH hostname %q: want HOST[:PORT]", o.SSHHostname)
		}
		if u.Scheme != "ssh" {
			return fmt.Errorf("SSH hostname %q: the repository is synced over %s, not SSH", o.SSHHostname, u.Scheme)
		}
	}
	if len(o.CA) > 0 && !x509.NewCertPool().AppendCertsFromPEM(o.CA) {
		return errors.New("CA file: holds no PEM certificate")
	}
	return o.Install.Validate()
}

// Run bootstraps the repository and the cluster.
//
// Credentials: over HTTP(S) the given username and password push and are stored in the Secret
// flux-system (username, password); without them a re-run reuses the Secret's. Over SSH the deploy key is
// the given private key, else the Secret's, else a new key (KeyAlgorithm) that ConfirmDeployKey is asked
// to register; pushes use the given key, else the SSH agent, else the deploy key. The server's host key
// is scanned once and stored as known_hosts; a re-run verifies the server against the stored one.
// An existing Secret is only rewritten when new credentials are given.
func Run(ctx context.Context, clients *kube.Clients, opts Options) (*Result, error) {
	opts.defaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	u, _ := parseURL(opts.URL)
	clusterPath, _ := cleanPath(opts.Path)
	ns := opts.Install.Namespace
	res := &Result{}
	// The cluster syncs from syncURL: the URL, with the SSH hostname when one is given.
	syncURL := *u
	if opts.SSHHostname != "" {
		syncURL.Host = opts.SSHHostname
	}
	syncOpts := SyncOptions{Namespace: ns, URL: syncURL.String(), Branch: opts.Branch, Path: clusterPath, SecretName: opts.SecretName,
		Interval: opts.Interval, RecurseSubmodules: opts.RecurseSubmodules, SparseCheckout: opts.SparseCheckout}
	// The components pin the agent image by digest when its registry tells it.
	var warning string
	if opts.Install, warning = opts.Install.PinDigest(ctx, opts.Keychain); warning != "" {
		opts.event(EventWarning, "%s", warning)
	}

	existing, err := clients.Core.CoreV1().Secrets(ns).Get(ctx, opts.SecretName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		existing = nil
	case err != nil:
		return nil, fmt.Errorf("reading Secret %s/%s: %w", ns, opts.SecretName, err)
	}

	fluxControllers, err := findFluxControllers(ctx, clients, ns)
	if err != nil {
		return nil, err
	}
	if len(fluxControllers) > 0 && !opts.Takeover {
		return nil, fmt.Errorf("Flux runs in namespace %s (%s): bootstrap with --takeover to replace it with converge; Flux's objects and what they deployed are kept",
			ns, strings.Join(fluxControllers, ", "))
	}

	creds, err := opts.credentials(ctx, u, &syncURL, existing)
	if err != nil {
		return nil, err
	}
	defer creds.close()
	res.DeployKey, res.KnownHosts = creds.deployKey, string(creds.secret[SecretKnownHosts])
	confirmed := false
	confirm := func() error {
		if confirmed || creds.deployKey == "" || opts.ConfirmDeployKey == nil {
			return nil
		}
		confirmed = true
		if err := opts.ConfirmDeployKey(ctx, creds.deployKey); err != nil {
			return fmt.Errorf("deploy key not confirmed: %w", err)
		}
		return nil
	}
	if creds.pushWithDeployKey && opts.Push == nil {
		if err := confirm(); err != nil {
			return nil, err
		}
	}

	// Git: clone, one commit per changed file, push.
	pushURL, pushAuth := u, creds.push
	if opts.Push != nil {
		if pushURL, err = parseURL(opts.Push.URL); err != nil {
			return nil, fmt.Errorf("push URL: %w", err)
		}
		pushAuth = httpAuth(opts.Push.Username, opts.Push.Password)
	}
	remote := &sourcegit.Remote{URL: pushURL.String(), Auth: pushAuth}
	if ca := opts.CA; len(ca) > 0 || len(creds.ca) > 0 {
		if len(ca) == 0 {
			ca = creds.ca
		}
		remote.TLS = &source.TLSData{CA: ca}
	}
	opts.event(EventAction, "cloning branch %q from %s", opts.Branch, redact(pushURL))
	tmp := opts.TempDir
	if tmp == "" {
		tmp = os.TempDir()
	}
	w, err := clone(ctx, tmp, remote, opts.Branch)
	if err != nil {
		return nil, err
	}
	defer w.close()
	opts.event(EventSuccess, "cloned repository")

	dir := dirOf(clusterPath)
	components, err := ComponentsManifest(opts.Install)
	if err != nil {
		return nil, err
	}
	sync, err := SyncManifest(syncOpts)
	if err != nil {
		return nil, err
	}
	if err := checkPathOwner(ctx, clients, w, dir, ns, sync, res, &opts); err != nil {
		return nil, err
	}
	author := object.Signature{Name: opts.Author.Name, Email: opts.Author.Email, When: opts.Clock.Now()}
	type file struct {
		name, addMsg, updateMsg string
		content                 []byte
		onlyIfAbsent            bool
	}
	files := []file{
		{ComponentsFile, "Add converge " + opts.Install.Version + " component manifests",
			"Update converge component manifests to " + opts.Install.Version, components, false},
		{SyncFile, "Add converge sync manifests", "Update converge sync manifests", sync, false},
		{KustomizationFile, "Add converge kustomization.yaml", "", KustomizationManifest(), true},
	}
	for _, f := range files {
		p := dir + "/" + f.name
		old, err := w.read(p)
		if err != nil {
			return nil, err
		}
		if old != nil && f.onlyIfAbsent {
			continue
		}
		msg := f.addMsg
		if old != nil {
			msg = f.updateMsg
		}
		if isFluxManifest(old) {
			if !opts.Takeover {
				return nil, fmt.Errorf("%s was generated by Flux: bootstrap with --takeover to replace Flux with converge", p)
			}
			msg = "Replace Flux's " + strings.TrimSuffix(strings.TrimPrefix(f.name, "gotk-"), ".yaml") + " manifests with converge's"
		}
		if opts.CommitMessageAppendix != "" {
			msg += "\n\n" + opts.CommitMessageAppendix
		}
		c, err := w.writeAndCommit(p, f.content, msg, author, opts.Signer)
		if err != nil {
			return nil, err
		}
		if c != nil {
			res.Commits = append(res.Commits, *c)
			opts.event(EventSuccess, "committed %q (%s)", c.Message, c.Hash[:7])
		}
	}
	if len(res.Commits) > 0 {
		opts.event(EventAction, "pushing %d commit(s) to branch %q", len(res.Commits), opts.Branch)
		if err := w.push(ctx); err != nil {
			return res, err
		}
		opts.event(EventSuccess, "pushed to %s", redact(pushURL))
	} else {
		opts.event(EventSuccess, "repository up to date: nothing to commit")
	}
	head, err := w.head()
	if err != nil {
		return res, err
	}
	res.Revision = opts.Branch + "@sha1:" + head

	// Cluster: components, credentials, sync objects, as the repository now holds them.
	componentObjs, syncObjs, err := buildFluxSystem(ctx, w.dir, dir, ns, syncOpts)
	if err != nil {
		return res, err
	}
	m := &apply.Manager{Client: clients.Dynamic, Mapper: clients.Mapper}
	opts.event(EventAction, "applying the components")
	res.Components, err = m.Apply(ctx, componentObjs, apply.Options{})
	if err != nil {
		return res, fmt.Errorf("applying the components: %w", err)
	}
	opts.event(EventSuccess, "components %s", summary(res.Components))

	for _, name := range fluxControllers {
		if err := clients.Core.AppsV1().Deployments(ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: ptr(metav1.DeletePropagationBackground)}); err != nil && !apierrors.IsNotFound(err) {
			return res, fmt.Errorf("removing Flux's Deployment %s/%s: %w", ns, name, err)
		}
		res.Removed = append(res.Removed, "Deployment/"+ns+"/"+name)
		opts.event(EventSuccess, "removed Flux's controller Deployment %s/%s", ns, name)
	}

	if err := confirm(); err != nil {
		return res, err
	}
	if opts.RegisterDeployKey != nil && creds.publicKey != "" {
		if err := opts.RegisterDeployKey(ctx, creds.publicKey); err != nil {
			return res, fmt.Errorf("registering the deploy key: %w", err)
		}
	}
	res.Secret, err = applySecret(ctx, m, ns, opts.SecretName, existing, creds)
	if err != nil {
		return res, err
	}
	opts.event(EventSuccess, "Secret %s/%s %s", ns, opts.SecretName, res.Secret)

	opts.event(EventAction, "applying the sync objects")
	res.Sync, err = m.Apply(ctx, syncObjs, apply.Options{})
	if err != nil {
		return res, fmt.Errorf("applying the sync objects: %w", err)
	}
	opts.event(EventSuccess, "sync objects %s", summary(res.Sync))

	if !opts.Wait {
		return res, nil
	}
	if err := waitReady(ctx, clients, ns, componentObjs, res.Revision, &opts); err != nil {
		return res, err
	}
	return res, nil
}

// checkPathOwner guards a path another installation may sync from: when the repository already holds
// sync manifests at the path and this cluster has no Kustomization flux-system, different manifests mean
// another cluster (other URL, branch or namespace) syncs from there, and rewriting them would break it:
// that is refused. Identical ones are most likely this cluster being rebuilt: a warning.
func checkPathOwner(ctx context.Context, clients *kube.Clients, w *workTree, dir, ns string, sync []byte, res *Result, opts *Options) error {
	old, err := w.read(dir + "/" + SyncFile)
	if err != nil || old == nil {
		return err
	}
	_, err = clients.Dynamic.Resource(kustomizationsGVR).Namespace(ns).Get(ctx, SyncName, metav1.GetOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading Kustomization %s/%s: %w", ns, SyncName, err)
	}
	if !bytes.Equal(old, sync) {
		return fmt.Errorf("%s/%s holds another installation's sync manifests and this cluster has no Kustomization %s/%s: "+
			"another cluster probably syncs from %s; bootstrap this one with another --path (or remove that folder from the repository first)",
			dir, SyncFile, ns, SyncName, kustomizationPath(strings.TrimSuffix(strings.TrimSuffix(dir, Dir), "/")))
	}
	msg := fmt.Sprintf("%s/%s already exists but this cluster has no Kustomization %s/%s: if another cluster syncs from this path, both apply and prune the same objects",
		dir, SyncFile, ns, SyncName)
	res.Warnings = append(res.Warnings, msg)
	opts.event(EventWarning, "%s", msg)
	return nil
}

func summary(cs *apply.ChangeSet) string {
	if cs == nil || !cs.Changed() {
		return "unchanged"
	}
	var parts []string
	for _, a := range []apply.Action{apply.Created, apply.Configured, apply.Unchanged} {
		if n := cs.Count(a); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, a))
		}
	}
	return strings.Join(parts, ", ")
}

func redact(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User(c.User.Username())
	}
	return c.String()
}

// credentials are the push authentication and the Secret's desired data.
type credentials struct {
	push transport.AuthMethod
	// secret is the desired data of the Secret flux-system.
	secret map[string][]byte
	// replace is set when the Secret must hold secret even if it exists (new credentials given, or a
	// newly scanned host).
	replace bool
	// deployKey is a generated public key that must be registered with the server.
	deployKey         string
	pushWithDeployKey bool
	// publicKey is the deploy key's public key (SSH only).
	publicKey string
	// ca is the CA bundle of an HTTPS sync: the given one, else the Secret's.
	ca      []byte
	closers []io.Closer
}

func (c *credentials) close() {
	for _, cl := range c.closers {
		_ = cl.Close()
	}
}

// credentials reads the push authentication and the Secret's data; u is pushed to, syncURL synced from.
func (o *Options) credentials(ctx context.Context, u, syncURL *url.URL, existing *corev1.Secret) (*credentials, error) {
	old := &sourcegit.Credentials{}
	if existing != nil {
		var err error
		if old, err = sourcegit.CredentialsFromSecret(existing); err != nil {
			return nil, err
		}
	}
	c := &credentials{}
	if u.Scheme != "ssh" {
		user, pass, bearer := o.Credentials.Username, o.Credentials.Password, o.Credentials.BearerToken
		if o.Credentials.given(false) {
			c.replace = true
		} else if existing != nil {
			user, pass, bearer = old.Username, old.Password, old.BearerToken
		}
		c.push = httpAuth(user, pass)
		c.secret = map[string][]byte{}
		switch {
		case bearer != "":
			c.push = &githttp.TokenAuth{Token: bearer}
			c.secret[SecretBearerToken] = []byte(bearer)
		case user != "" || pass != "":
			if user == "" {
				user = "git"
			}
			c.secret[SecretUsername], c.secret[SecretPassword] = []byte(user), []byte(pass)
		}
		ca := o.CA
		if len(ca) == 0 && old.TLS != nil && !o.Credentials.given(false) {
			ca = old.TLS.CA
		}
		c.ca = ca
		if len(ca) > 0 {
			c.secret[source.KeyCACert] = ca
			if existing != nil && (old.TLS == nil || !bytes.Equal(ca, old.TLS.CA)) {
				c.replace = true
			}
		}
		return c, nil
	}

	hp := hostPort(u.Host)
	knownHosts := old.KnownHosts
	// The host synced from and the host pushed to (the same unless an SSH hostname is given) need a
	// known host key each.
	hosts := []string{hostPort(syncURL.Host)}
	if hp != hosts[0] {
		hosts = append(hosts, hp)
	}
	for _, h := range hosts {
		if len(knownHosts) > 0 {
			hk, err := sourcegit.KnownHosts(knownHosts, o.TempDir)
			if err != nil {
				return nil, fmt.Errorf("Secret %s/%s: %q: %w", o.Install.Namespace, o.SecretName, SecretKnownHosts, err)
			}
			if sourcegit.HostKeyAlgorithms(hk, h) != nil {
				continue
			}
		}
		o.event(EventAction, "scanning the SSH host key of %s", h)
		line, key, err := ScanHostKeyWith(ctx, h, o.DialTimeout, o.HostKeyAlgorithms)
		if err != nil {
			return nil, err
		}
		o.event(EventSuccess, "host key %s %s (trusted on first use)", key.Type(), ssh.FingerprintSHA256(key))
		knownHosts = append(append([]byte{}, knownHosts...), line...)
		if existing != nil {
			c.replace = true
		}
	}
	checker, err := sourcegit.KnownHosts(knownHosts, o.TempDir)
	if err != nil {
		return nil, err
	}

	var deploy *KeyPair
	passphrase := []byte(o.Credentials.Password)
	switch {
	case len(o.Credentials.PrivateKey) > 0:
		if deploy, err = ParseKey(o.Credentials.PrivateKey, passphrase); err != nil {
			return nil, fmt.Errorf("private key: %w", err)
		}
		c.replace = true
	case len(old.Identity) > 0:
		passphrase = []byte(old.Password)
		if deploy, err = ParseKey(old.Identity, passphrase); err != nil {
			return nil, fmt.Errorf("Secret %s/%s: %q: %w", o.Install.Namespace, o.SecretName, SecretIdentity, err)
		}
	default:
		o.event(EventAction, "generating a %s deploy key", o.KeyAlgorithm)
		bits := o.RSABits
		if bits == 0 {
			bits = 4096
		}
		if deploy, err = GenerateKeyWith(o.KeyAlgorithm, bits, o.ECDSACurve); err != nil {
			return nil, err
		}
		passphrase = nil
		c.deployKey = strings.TrimSpace(string(deploy.PublicKey))
		c.replace = true
	}
	c.publicKey = strings.TrimSpace(string(deploy.PublicKey))
	c.secret = map[string][]byte{
		SecretIdentity:    deploy.PrivateKey,
		SecretIdentityPub: deploy.PublicKey,
		SecretKnownHosts:  knownHosts,
	}
	if len(passphrase) > 0 {
		c.secret[SecretPassword] = passphrase
	}

	user := "git"
	if u.User != nil && u.User.Username() != "" {
		user = u.User.Username()
	}
	auth := &sourcegit.SSHAuth{User: user, HostKeys: checker, HostPort: hp, Timeout: o.DialTimeout}
	switch {
	case len(o.Credentials.PrivateKey) > 0:
		auth.Signers, auth.Source = staticSigners(deploy.Signer), "the private key file"
	case o.SSHAgentSocket != "":
		conn, err := net.Dial("unix", o.SSHAgentSocket)
		if err != nil {
			return nil, fmt.Errorf("connecting to the SSH agent at %s: %w", o.SSHAgentSocket, err)
		}
		c.closers = append(c.closers, conn)
		auth.Signers, auth.Source = agent.NewClient(conn).Signers, "the SSH agent"
	default:
		auth.Signers, auth.Source = staticSigners(deploy.Signer), "the deploy key"
		c.pushWithDeployKey = true
	}
	c.push = auth
	if len(o.HostKeyAlgorithms) > 0 {
		c.push = &hostKeyAlgorithmsAuth{SSHAuth: auth, algorithms: o.HostKeyAlgorithms}
	}
	return c, nil
}

// hostKeyAlgorithmsAuth is SSHAuth offering the given host key algorithms.
type hostKeyAlgorithmsAuth struct {
	*sourcegit.SSHAuth
	algorithms []string
}

// ClientConfig implements go-git's SSH AuthMethod.
func (a *hostKeyAlgorithmsAuth) ClientConfig() (*ssh.ClientConfig, error) {
	cfg, err := a.SSHAuth.ClientConfig()
	if err != nil {
		return nil, err
	}
	cfg.HostKeyAlgorithms = a.algorithms
	return cfg, nil
}

func staticSigners(s ssh.Signer) func() ([]ssh.Signer, error) {
	return func() ([]ssh.Signer, error) { return []ssh.Signer{s}, nil }
}
