// Package bootstrap implements `converge bootstrap git`: commit converge's manifests to a Git repository,
// install them, and let the cluster manage itself (and converge) from that repository.
package bootstrap

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/converge-gitops/converge/commands/cmdutil"
	enginebootstrap "github.com/converge-gitops/converge/engine/bootstrap"
	"github.com/converge-gitops/converge/engine/create"
	"github.com/converge-gitops/converge/engine/image"
	"github.com/converge-gitops/converge/engine/kube"
)

// Options are the inputs of `converge bootstrap git`.
type Options struct {
	IO      *cmdutil.IOStreams
	Clients func() (*kube.Clients, error)

	Bootstrap         enginebootstrap.Options
	Username          string
	Password          string
	Silent            bool
	AllowInsecureHTTP bool
	WithBearerToken   bool

	common   *commonFlags
	interval time.Duration
}

// NewCmdBootstrap returns the bootstrap command and its git subcommand.
func NewCmdBootstrap(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bootstrap",
		Short: "Install converge so that the cluster manages itself, and converge, from a Git repository",
		Long: `Bootstrap commits converge's manifests (<path>/flux-system/gotk-components.yaml), the sync objects
(GitRepository and Kustomization flux-system, gotk-sync.yaml) and a kustomization.yaml listing both to a Git
repository, applies them to the cluster with the credentials Secret flux-system, and waits for the agent to
sync the cluster from the repository. From then on, converge's own upgrades are commits to that repository.
Running it again changes nothing when nothing changed.`,
	}
	common := &commonFlags{}
	addCommonFlags(cmd, common)
	cmd.AddCommand(newCmdGit(f, common))
	for _, k := range []enginebootstrap.ProviderKind{enginebootstrap.GitHub, enginebootstrap.GitLab, enginebootstrap.Gitea, enginebootstrap.BitbucketServer} {
		cmd.AddCommand(newCmdProvider(f, k, common))
	}
	return cmd
}

// commonFlags are the flags Flux declares once on bootstrap, inherited by every provider subcommand.
type commonFlags struct {
	branch, path, keyAlgorithm, authorName, authorEmail string
	commitMessageAppendix                               string
	gpgKeyRing, gpgKeyID, gpgPassphrase                 string
	sshSigningKeyFile, sshSigningPassword               string
	sshSigningReusePrivateKey                           bool
	takeover, wait                                      bool
	install                                             cmdutil.InstallFlags

	secretName, caFile, privateKeyFile, sshHostname, ecdsaCurve string
	tokenAuth, recurseSubmodules                                bool
	sparseCheckout, hostKeyAlgorithms                           []string
	rsaBits                                                     int
}

// ecdsaCurves are the --ssh-ecdsa-curve names, in Flux's order.
var ecdsaCurves = []string{"p256", "p384", "p521"}

// addCommonFlags declares the common flags as persistent flags of the bootstrap command.
func addCommonFlags(cmd *cobra.Command, c *commonFlags) {
	fl := cmd.PersistentFlags()
	fl.StringVar(&c.branch, "branch", "main", "Git branch (created when missing)")
	fl.StringVar(&c.keyAlgorithm, "ssh-key-algorithm", string(enginebootstrap.KeyECDSA), "algorithm of a generated deploy key: ecdsa (--ssh-ecdsa-curve), ed25519 or rsa (--ssh-rsa-bits)")
	c.rsaBits = 2048
	cmdutil.RSAKeyBitsVar(fl, &c.rsaBits, "ssh-rsa-bits", "size of a generated RSA deploy key: a multiple of 8, at least 1024")
	fl.StringVar(&c.ecdsaCurve, "ssh-ecdsa-curve", "p384", "curve of a generated ECDSA deploy key: "+strings.Join(ecdsaCurves, ", "))
	fl.StringVar(&c.secretName, "secret-name", enginebootstrap.SyncName, "the Secret the sync credentials are stored in and the GitRepository references")
	fl.StringVar(&c.caFile, "ca-file", "", "PEM CA bundle trusted for a self-signed HTTPS server: pushes, the provider's API, and ca.crt of the Secret of an HTTPS sync")
	fl.StringVar(&c.privateKeyFile, "private-key-file", "", "SSH private key to store as the deploy key (and, for bootstrap git, to push with)")
	fl.BoolVar(&c.tokenAuth, "token-auth", false, "the cluster fetches over HTTPS with the token (git: --password) instead of an SSH deploy key")
	fl.BoolVar(&c.recurseSubmodules, "recurse-submodules", false, "the GitRepository includes Git submodules in its artifact")
	fl.StringSliceVar(&c.sparseCheckout, "sparse-checkout", nil, "folders of the GitRepository's sparse checkout; --path must be within one of them")
	fl.StringVar(&c.sshHostname, "ssh-hostname", "", "SSH HOST[:PORT] the cluster syncs from, when the SSH server's name differs from the HTTPS one")
	fl.StringSliceVar(&c.hostKeyAlgorithms, "ssh-hostkey-algos", nil, "host key algorithms SSH connections of this command offer, e.g. ssh-ed25519,rsa-sha2-512")
	fl.StringVar(&c.authorName, "author-name", "Flux", "author name of the commits")
	fl.StringVar(&c.authorEmail, "author-email", "", "author email of the commits")
	fl.StringVar(&c.commitMessageAppendix, "commit-message-appendix", "", "string added, after an empty line, to the message of each commit")
	fl.StringVar(&c.gpgKeyRing, "gpg-key-ring", "", "armored OpenPGP key ring file whose key signs the commits")
	fl.StringVar(&c.gpgKeyID, "gpg-key-id", "", "ID (or fingerprint) of the key of --gpg-key-ring that signs (default: the first)")
	fl.StringVar(&c.gpgPassphrase, "gpg-passphrase", "", "passphrase of the --gpg-key-ring key")
	fl.StringVar(&c.sshSigningKeyFile, "ssh-signing-key-file", "", "SSH private key file that signs the commits (git's gpg.format=ssh)")
	fl.StringVar(&c.sshSigningPassword, "ssh-signing-password", "", "password of the --ssh-signing-key-file key")
	fl.BoolVar(&c.sshSigningReusePrivateKey, "ssh-signing-reuse-private-key", false, "sign the commits with --private-key-file")
	fl.BoolVar(&c.takeover, "takeover", false, "replace a Flux installation: Flux's components in Git become converge's and Flux's controllers are removed; Flux's objects, their inventories and what they deployed are kept")
	fl.BoolVar(&c.wait, "wait", true, "wait for the agent to become ready and the Kustomization flux-system to apply the pushed revision")
	cmdutil.AddInstallFlags(cmd, fl, &c.install)
	_ = cmd.RegisterFlagCompletionFunc("ssh-key-algorithm", cobra.FixedCompletions([]string{"ecdsa", "ed25519", "rsa"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("ssh-ecdsa-curve", cobra.FixedCompletions(ecdsaCurves, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("ssh-rsa-bits", cobra.FixedCompletions([]string{"2048", "3072", "4096"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("ssh-hostkey-algos", cobra.FixedCompletions(hostKeyAlgorithms, cobra.ShellCompDirectiveNoFileComp))
}

// hostKeyAlgorithms complete --ssh-hostkey-algos.
var hostKeyAlgorithms = []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}

// completeCommon fills the bootstrap options from the common flags, the namespace, the version, the
// clock, the commit signer and the key algorithm and size.
func completeCommon(f *cmdutil.Factory, io *cmdutil.IOStreams, cmd *cobra.Command, c *commonFlags, b *enginebootstrap.Options, interval time.Duration) error {
	privateKeyFile := c.privateKeyFile
	b.Branch, b.Author = c.branch, enginebootstrap.Author{Name: c.authorName, Email: c.authorEmail}
	b.SecretName, b.Interval, b.RecurseSubmodules, b.SparseCheckout = c.secretName, interval, c.recurseSubmodules, c.sparseCheckout
	b.SSHHostname, b.HostKeyAlgorithms, b.RSABits = c.sshHostname, c.hostKeyAlgorithms, c.rsaBits
	curve, ok := create.ECDSACurves[c.ecdsaCurve]
	if !ok {
		return cmdutil.FlagErrorf("--ssh-ecdsa-curve %q: want %s", c.ecdsaCurve, strings.Join(ecdsaCurves, ", "))
	}
	b.ECDSACurve = curve
	if c.caFile != "" {
		ca, err := os.ReadFile(c.caFile)
		if err != nil {
			return cmdutil.FlagErrorf("--ca-file: %v", err)
		}
		b.CA = ca
	}
	b.Takeover, b.Wait, b.CommitMessageAppendix = c.takeover, c.wait, c.commitMessageAppendix
	warnings, err := c.install.Apply(cmd.Flags(), &b.Install)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintln(io.ErrOut, io.ErrStyles().WarningLine(w))
	}
	b.Install.Namespace = f.Namespace()
	if b.Install.Version == "" {
		b.Install.Version = f.Build.Version
		if b.Install.Version == "" || b.Install.Version == "dev" {
			b.Install.Version = "latest"
			fmt.Fprintln(io.ErrOut, io.ErrStyles().WarningLine("this is a development build: bootstrapping the image tag \"latest\" (set --version)"))
		}
	}
	b.KeyAlgorithm = enginebootstrap.KeyAlgorithm(c.keyAlgorithm)
	b.Clock = f.Clock
	return completeSigner(c, b, privateKeyFile)
}

// completeSigner reads the commit signing key: an OpenPGP key ring, or an SSH key.
func completeSigner(c *commonFlags, b *enginebootstrap.Options, privateKeyFile string) error {
	sshKey := c.sshSigningKeyFile
	if c.sshSigningReusePrivateKey {
		if privateKeyFile == "" {
			return cmdutil.FlagErrorf("--ssh-signing-reuse-private-key needs --private-key-file")
		}
		sshKey = privateKeyFile
	}
	switch {
	case c.gpgKeyRing != "" && sshKey != "":
		return cmdutil.FlagErrorf("sign with --gpg-key-ring or an SSH key, not both")
	case c.gpgKeyRing != "":
		ring, err := os.ReadFile(c.gpgKeyRing)
		if err != nil {
			return cmdutil.FlagErrorf("--gpg-key-ring: %v", err)
		}
		signer, err := image.OpenPGPSigner(ring, []byte(c.gpgPassphrase), c.gpgKeyID)
		if err != nil {
			return cmdutil.FlagErrorf("--gpg-key-ring %s: %v", c.gpgKeyRing, err)
		}
		b.Signer = signer
	case c.gpgKeyID != "" || c.gpgPassphrase != "":
		return cmdutil.FlagErrorf("--gpg-key-id and --gpg-passphrase need --gpg-key-ring")
	case sshKey != "":
		key, err := os.ReadFile(sshKey)
		if err != nil {
			return cmdutil.FlagErrorf("SSH signing key: %v", err)
		}
		signer, err := image.SSHSigner(key, []byte(c.sshSigningPassword))
		if err != nil {
			return cmdutil.FlagErrorf("SSH signing key %s: %v", sshKey, err)
		}
		b.Signer = signer
	case c.sshSigningPassword != "":
		return cmdutil.FlagErrorf("--ssh-signing-password needs --ssh-signing-key-file")
	}
	return nil
}

func newCmdGit(f *cmdutil.Factory, common *commonFlags) *cobra.Command {
	opts := &Options{common: common}
	b := &opts.Bootstrap
	cmd := &cobra.Command{
		Use:   "git",
		Short: "Bootstrap from any Git server over SSH or HTTPS",
		Long: `Bootstrap from a Git repository reached over SSH or HTTP(S).

SSH: the deploy key stored in the cluster is --private-key-file (its passphrase in --password), else the
key already in the Secret flux-system, else a new key (--ssh-key-algorithm, ECDSA P-384 by default) whose
public key is printed: add it to the repository as a deploy key, then confirm (--silent skips the
question). Pushes use --private-key-file, else your SSH agent (SSH_AUTH_SOCK), else the deploy key (which
then needs write access). The server's host key is scanned on the first run and stored as known_hosts;
later runs verify the server against it.

HTTPS: --username and --password (or --token-auth with a token as --password) push and are stored in
the Secret. A re-run without credentials reuses the Secret's; the Secret is only rewritten when new
credentials are given.`,
		Example: `  converge bootstrap git --url ssh://git@example.com/fleet.git --path clusters/production
  converge bootstrap git --url https://example.com/fleet.git --username me --password "$TOKEN" --path clusters/staging
  converge bootstrap git --url https://example.com/fleet.git --token-auth --password "$TOKEN" --path clusters/dev
  converge bootstrap git --url ssh://git@example.com/fleet.git --private-key-file ~/.ssh/fleet --path clusters/dev --silent`,
		Args: cobra.NoArgs,
		RunE: cmdutil.RunE(f, opts, true),
	}
	fl := cmd.Flags()
	fl.StringVar(&b.URL, "url", "", "Git repository URL: ssh://user@host/path, https://host/path")
	fl.DurationVar(&opts.interval, "interval", time.Minute, "the GitRepository's sync interval")
	fl.StringVarP(&opts.Username, "username", "u", "git", "HTTPS username; for an ssh:// URL, its user when given")
	fl.StringVarP(&opts.Password, "password", "p", "", "HTTPS password or token, or the private key's passphrase (default $GIT_PASSWORD)")
	fl.BoolVarP(&opts.Silent, "silent", "s", false, "do not ask to confirm a generated deploy key")
	fl.BoolVar(&opts.AllowInsecureHTTP, "allow-insecure-http", false, "allow an http:// URL (credentials sent in the clear)")
	fl.BoolVar(&opts.WithBearerToken, "with-bearer-token", false, "send --password as a bearer token (Authorization: Bearer), stored as the Secret's bearerToken; implies --token-auth")
	fl.StringVar(&b.Path, "path", "", "the cluster's folder in the repository, e.g. clusters/production")
	return cmd
}

var _ cmdutil.Runner = (*Options)(nil)

// Complete fills the namespace, the version, the key algorithm, the password from $GIT_PASSWORD, the SSH
// agent and the private key file (SSH URLs only: Validate refuses it for others).
func (o *Options) Complete(f *cmdutil.Factory, cmd *cobra.Command, _ []string) error {
	o.IO, o.Clients = f.IO, f.KubeClients
	b := &o.Bootstrap
	if err := completeCommon(f, o.IO, cmd, o.common, b, o.interval); err != nil {
		return err
	}
	if o.Password == "" {
		o.Password = os.Getenv("GIT_PASSWORD")
	}
	if o.WithBearerToken {
		o.common.tokenAuth = true
	}
	usernameGiven := cmd.Flags().Changed("username")
	switch {
	case o.isSSH():
		b.SSHAgentSocket = os.Getenv("SSH_AUTH_SOCK")
		b.Credentials = enginebootstrap.Credentials{Password: o.Password}
		// As Flux: a given --username is the SSH user of the URL.
		if u, err := url.Parse(b.URL); err == nil && usernameGiven {
			u.User = url.User(o.Username)
			b.URL = u.String()
		}
	case o.WithBearerToken:
		b.Credentials = enginebootstrap.Credentials{BearerToken: o.Password}
	case usernameGiven || o.Password != "":
		b.Credentials = enginebootstrap.Credentials{Username: o.Username, Password: o.Password}
	}
	return nil
}

func (o *Options) isSSH() bool { return strings.HasPrefix(o.Bootstrap.URL, "ssh://") }

// Validate refuses flags that do not fit the URL's scheme and bad bootstrap options; it reads the
// private key file once the flags are known to fit.
func (o *Options) Validate() error {
	b := &o.Bootstrap
	if strings.HasPrefix(b.URL, "http://") && !o.AllowInsecureHTTP {
		return cmdutil.FlagErrorf("%s: http:// sends the credentials in the clear: pass --allow-insecure-http to allow it", b.URL)
	}
	if o.common.tokenAuth {
		if o.isSSH() {
			return cmdutil.FlagErrorf("--token-auth needs an https:// URL, not %s", b.URL)
		}
		if o.Password == "" {
			return cmdutil.FlagErrorf("--token-auth needs the token as --password (or $GIT_PASSWORD)")
		}
	}
	if pk := o.common.privateKeyFile; pk != "" {
		if !o.isSSH() {
			return cmdutil.FlagErrorf("--private-key-file needs an ssh:// URL")
		}
		key, err := os.ReadFile(pk)
		if err != nil {
			return cmdutil.FlagErrorf("--private-key-file: %v", err)
		}
		b.Credentials.PrivateKey = key
	}
	if o.common.sshHostname != "" && !o.isSSH() {
		return cmdutil.FlagErrorf("--ssh-hostname needs an ssh:// URL")
	}
	if err := b.Validate(); err != nil {
		return cmdutil.FlagErrorf("%v", err)
	}
	return nil
}

// Run bootstraps (one engine call) and prints each step.
func (o *Options) Run(ctx context.Context) error {
	st := o.IO.ErrStyles()
	b := o.Bootstrap
	b.Events = printer(o.IO)
	in := bufio.NewReader(o.IO.In)
	b.ConfirmDeployKey = func(ctx context.Context, pub string) error {
		fmt.Fprintln(o.IO.ErrOut, st.ActionLine("add this public key to the repository as a deploy key:"))
		fmt.Fprintln(o.IO.Out, pub)
		if o.Silent {
			return nil
		}
		fmt.Fprint(o.IO.ErrOut, "Has the deploy key been added to the repository? [y/N] ")
		line, err := in.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			return errors.New("answered no: add the key and run bootstrap again, or use --silent")
		}
		return nil
	}
	clients, err := o.Clients()
	if err != nil {
		return err
	}
	res, err := enginebootstrap.Run(ctx, clients, b)
	return finish(o.IO, res, err)
}

func printer(io *cmdutil.IOStreams) func(enginebootstrap.Event) {
	st := io.ErrStyles()
	return func(e enginebootstrap.Event) {
		switch e.Kind {
		case enginebootstrap.EventSuccess:
			fmt.Fprintln(io.ErrOut, st.SuccessLine(e.Message))
		case enginebootstrap.EventWaiting:
			fmt.Fprintln(io.ErrOut, st.WaitingLine(e.Message))
		case enginebootstrap.EventWarning:
			fmt.Fprintln(io.ErrOut, st.WarningLine(e.Message))
		default:
			fmt.Fprintln(io.ErrOut, st.ActionLine(e.Message))
		}
	}
}

func finish(ios *cmdutil.IOStreams, res *enginebootstrap.Result, err error) error {
	st := ios.ErrStyles()
	if err != nil {
		fmt.Fprintln(ios.ErrOut, st.FailureLine(err.Error()))
		return err
	}
	if !res.Changed() {
		fmt.Fprintln(ios.ErrOut, st.SuccessLine("bootstrap finished: nothing changed"))
		return nil
	}
	fmt.Fprintln(ios.ErrOut, st.SuccessLine("bootstrap finished"))
	return nil
}
