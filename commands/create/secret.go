package create

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/converge-gitops/converge/commands/cmdutil"
	engcreate "github.com/converge-gitops/converge/engine/create"
)

var secretTypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}

// secretRunner creates a Secret of credentials: printed with --export, else applied.
type secretRunner struct {
	Common
	meta *engcreate.Meta
	// what names the Secret in the report ("git" for "git secret 'x' created").
	what string
	// build makes the Secret; it runs in Run, as it may read the network (host keys).
	build func(ctx context.Context) (*corev1.Secret, error)
	// trailer follows the exported YAML ("\n": the blank line Flux's CLI prints).
	trailer string
}

func (r *secretRunner) Complete(f *cmdutil.Factory, cmd *cobra.Command, args []string) error {
	r.Common = common(f, cmd)
	if len(args) < 1 {
		return cmdutil.FlagErrorf("name is required")
	}
	labels, err := cmd.Flags().GetStringSlice("label")
	*r.meta = engcreate.Meta{Name: args[0], Namespace: f.Namespace(), Labels: labels}
	return err
}

func (r *secretRunner) Validate() error {
	_, err := r.meta.ObjectMeta()
	return err
}

func (r *secretRunner) Run(ctx context.Context) error {
	s, err := r.build(ctx)
	if err != nil {
		return err
	}
	if r.Export {
		return r.export(r.trailer, s)
	}
	st := r.IO.ErrStyles()
	if pub, ok := s.StringData["identity.pub"]; ok {
		fmt.Fprintln(r.IO.ErrOut, generateLine(st, "deploy key: "+pub))
	}
	if _, err := r.applyObjects(ctx, s); err != nil {
		return err
	}
	fmt.Fprintln(r.IO.ErrOut, st.ActionLine(fmt.Sprintf("%s secret '%s' created in '%s' namespace", r.what, s.Name, s.Namespace)))
	return nil
}

func secretCommands(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "secret", Short: "Create or update Kubernetes secrets for Flux"}
	cmd.AddCommand(newCmdSecretGit(f), newCmdSecretHelm(f), newCmdSecretOCI(f), newCmdSecretTLS(f), newCmdSecretProxy(f),
		newCmdSecretNotation(f), newCmdSecretGitHubApp(f), newCmdSecretReceiver(f))
	return cmd
}

func secretCmd(f *cmdutil.Factory, r *secretRunner, use, short, example string) *cobra.Command {
	return &cobra.Command{Use: use + " [name]", Short: short, Example: example, Args: cobra.MaximumNArgs(1), RunE: cmdutil.RunE(f, r, true)}
}

func newCmdSecretGit(f *cmdutil.Factory) *cobra.Command {
	o := engcreate.GitSecretOptions{KeyAlgorithm: "ecdsa", RSABits: 2048, ECDSACurve: "p384"}
	r := &secretRunner{meta: &o.Meta, what: "git", trailer: "\n"}
	r.build = func(ctx context.Context) (*corev1.Secret, error) { return engcreate.GitSecret(ctx, o) }
	cmd := secretCmd(f, r, "git", "Create or update a Kubernetes secret for Git authentication",
		`  # An SSH deploy key (generated) and the server's host key (scanned)
  converge create secret git podinfo-auth --url ssh://git@github.com/stefanprodan/podinfo --export

  # Basic auth over HTTPS, with a CA
  converge create secret git podinfo-auth --url https://github.com/stefanprodan/podinfo \
    --username username --password password --ca-crt-file ./ca.crt --export`)
	fl := cmd.Flags()
	fl.StringVar(&o.URL, "url", "", "git address, e.g. ssh://git@host/org/repository")
	fl.StringVarP(&o.Username, "username", "u", "", "basic authentication username")
	fl.StringVarP(&o.Password, "password", "p", "", "basic authentication password")
	fl.StringVar(&o.BearerToken, "bearer-token", "", "bearer authentication token")
	fl.StringVar(&o.KeyAlgorithm, "ssh-key-algorithm", o.KeyAlgorithm, "SSH public key algorithm: rsa, ecdsa, ed25519")
	cmdutil.RSAKeyBitsVar(fl, &o.RSABits, "ssh-rsa-bits", "SSH RSA public key bit size (multiplies of 8, min 1024)")
	fl.StringVar(&o.ECDSACurve, "ssh-ecdsa-curve", o.ECDSACurve, "SSH ECDSA public key curve: p256, p384, p521")
	fl.StringVar(&o.CAFile, "ca-crt-file", "", "path to TLS CA certificate file used for validating self-signed certificates")
	fl.StringVar(&o.PrivateKeyFile, "private-key-file", "", "path to a passwordless private key file used for authenticating to the Git SSH server")
	completeFixed(cmd, "ssh-key-algorithm", "rsa", "ecdsa", "ed25519")
	completeFixed(cmd, "ssh-ecdsa-curve", "p256", "p384", "p521")
	return cmd
}

func newCmdSecretHelm(f *cmdutil.Factory) *cobra.Command {
	o := engcreate.HelmSecretOptions{}
	r := &secretRunner{meta: &o.Meta, what: "helm", trailer: "\n"}
	r.build = func(context.Context) (*corev1.Secret, error) { return engcreate.HelmSecret(o) }
	cmd := secretCmd(f, r, "helm", "Create or update a Kubernetes secret for Helm repository authentication",
		`  converge create secret helm repo-auth --username=my-username --password=my-password --export
  converge create secret helm repo-auth --tls-crt-file=./cert.crt --tls-key-file=./key.crt --ca-crt-file=./ca.crt --export`)
	fl := cmd.Flags()
	fl.StringVarP(&o.Username, "username", "u", "", "basic authentication username")
	fl.StringVarP(&o.Password, "password", "p", "", "basic authentication password")
	fl.StringVar(&o.CertFile, "tls-crt-file", "", "TLS authentication cert file path")
	fl.StringVar(&o.KeyFile, "tls-key-file", "", "TLS authentication key file path")
	fl.StringVar(&o.CAFile, "ca-crt-file", "", "TLS authentication CA file path")
	return cmd
}

func newCmdSecretOCI(f *cmdutil.Factory) *cobra.Command {
	var m engcreate.Meta
	var url, username, password string
	r := &secretRunner{meta: &m, what: "oci", trailer: "\n"}
	r.build = func(context.Context) (*corev1.Secret, error) { return engcreate.OCISecret(m, url, username, password) }
	cmd := secretCmd(f, r, "oci", "Create or update a Kubernetes image pull secret",
		`  converge create secret oci ghcr-auth --url=ghcr.io --username=username --password=password --export`)
	fl := cmd.Flags()
	fl.StringVar(&url, "url", "", "oci repository address e.g ghcr.io/stefanprodan/charts")
	fl.StringVarP(&username, "username", "u", "", "basic authentication username")
	fl.StringVarP(&password, "password", "p", "", "basic authentication password")
	return cmd
}

func newCmdSecretTLS(f *cmdutil.Factory) *cobra.Command {
	var m engcreate.Meta
	var ca, crt, key string
	r := &secretRunner{meta: &m, what: "tls"}
	r.build = func(context.Context) (*corev1.Secret, error) { return engcreate.TLSSecret(m, ca, crt, key) }
	cmd := secretCmd(f, r, "tls", "Create or update a Kubernetes secret with TLS certificates",
		`  converge create secret tls certs --tls-crt-file=./client.crt --tls-key-file=./client.key --ca-crt-file=./ca.crt --export`)
	fl := cmd.Flags()
	fl.StringVar(&crt, "tls-crt-file", "", "TLS authentication cert file path")
	fl.StringVar(&key, "tls-key-file", "", "TLS authentication key file path")
	fl.StringVar(&ca, "ca-crt-file", "", "TLS authentication CA file path")
	return cmd
}

func newCmdSecretProxy(f *cmdutil.Factory) *cobra.Command {
	var m engcreate.Meta
	var address, username, password string
	r := &secretRunner{meta: &m, what: "proxy", trailer: "\n"}
	r.build = func(context.Context) (*corev1.Secret, error) {
		return engcreate.ProxySecret(m, address, username, password)
	}
	cmd := secretCmd(f, r, "proxy", "Create or update a Kubernetes secret for proxy authentication",
		`  converge create secret proxy my-proxy --address=https://my-proxy.com --username=my-username --password=my-password --export`)
	fl := cmd.Flags()
	fl.StringVar(&address, "address", "", "proxy address")
	fl.StringVarP(&username, "username", "u", "", "basic authentication username")
	fl.StringVarP(&password, "password", "p", "", "basic authentication password")
	return cmd
}

func newCmdSecretNotation(f *cmdutil.Factory) *cobra.Command {
	var m engcreate.Meta
	var policy string
	var cas []string
	r := &secretRunner{meta: &m, what: "notation configuration", trailer: "\n"}
	r.build = func(context.Context) (*corev1.Secret, error) { return engcreate.NotationSecret(m, policy, cas) }
	cmd := secretCmd(f, r, "notation", "Create or update a Kubernetes secret for verifications of artifacts signed by Notation",
		`  converge create secret notation my-notation-cert --ca-cert-file=./ca.crt --trust-policy-file=./trustpolicy.json --export`)
	fl := cmd.Flags()
	fl.StringSliceVar(&cas, "ca-cert-file", nil, "root ca cert file path")
	fl.StringVar(&policy, "trust-policy-file", "", "notation trust policy file path")
	return cmd
}

func newCmdSecretGitHubApp(f *cmdutil.Factory) *cobra.Command {
	o := engcreate.GitHubAppOptions{}
	r := &secretRunner{meta: &o.Meta, what: "githubapp", trailer: "\n"}
	r.build = func(context.Context) (*corev1.Secret, error) { return engcreate.GitHubAppSecret(o) }
	cmd := secretCmd(f, r, "githubapp", "Create or update a github app secret",
		`  converge create secret githubapp podinfo-auth --app-id=1 --app-installation-owner=my-org --app-private-key=./private-key-file.pem --export`)
	fl := cmd.Flags()
	fl.StringVar(&o.AppID, "app-id", "", "github app ID")
	fl.StringVar(&o.InstallationID, "app-installation-id", "", "github app installation ID")
	fl.StringVar(&o.InstallationOwner, "app-installation-owner", "", "github app installation owner (user or organization)")
	fl.StringVar(&o.PrivateKeyFile, "app-private-key", "", "github app private key file path")
	fl.StringVar(&o.BaseURL, "app-base-url", "", "github app base URL")
	return cmd
}

func newCmdSecretReceiver(f *cmdutil.Factory) *cobra.Command {
	o := engcreate.ReceiverSecretOptions{}
	r := &secretRunner{meta: &o.Meta, what: "receiver", trailer: "\n"}
	r.build = func(context.Context) (*corev1.Secret, error) { return engcreate.ReceiverSecret(o) }
	cmd := secretCmd(f, r, "receiver", "Create or update a Kubernetes secret for a Receiver webhook",
		`  converge create secret receiver github-receiver --type github --hostname flux.example.com --export`)
	fl := cmd.Flags()
	fl.StringVar(&o.Type, "type", "", "the receiver type: "+receiverTypes)
	fl.StringVar(&o.Token, "token", "", "webhook token used for payload validation and URL computation, auto-generated if not specified")
	fl.StringVar(&o.Hostname, "hostname", "", "hostname for the webhook URL e.g. flux.example.com")
	fl.StringVar(&o.EmailClaim, "email-claim", "", "IAM service account email, required for gcr type")
	fl.StringVar(&o.AudienceClaim, "audience-claim", "", "custom OIDC token audience for gcr type, defaults to the webhook URL")
	return cmd
}
