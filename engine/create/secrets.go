package create

import (
	"context"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/converge-gitops/converge/engine/bootstrap"
)

func secret(om metav1.ObjectMeta, typ corev1.SecretType, data map[string]string) *corev1.Secret {
	return &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: om, Type: typ, StringData: data}
}

func readFile(what, p string) ([]byte, error) {
	if p == "" {
		return nil, nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		if what == "TLS CA file" || what == "private key file" {
			return nil, fmt.Errorf("unable to read %s: %w", what, err)
		}
		return nil, fmt.Errorf("failed to read %s: %w", what, err)
	}
	return b, nil
}

// ECDSACurves are the curves --ssh-ecdsa-curve accepts.
var ECDSACurves = map[string]elliptic.Curve{"p256": elliptic.P256(), "p384": elliptic.P384(), "p521": elliptic.P521()}

// GitSecretOptions are the inputs of `create secret git` (and of the credentials `create source git`
// writes).
type GitSecretOptions struct {
	Meta
	URL                             string
	Username, Password, BearerToken string
	CAFile, PrivateKeyFile          string
	KeyAlgorithm, ECDSACurve        string
	RSABits                         int
	// Anonymous allows http(s) URLs without credentials (`create source git`): the Secret is then nil
	// unless a CA is given.
	Anonymous bool
	// HostKeyTimeout bounds the scan of the SSH server's host key (default 30s).
	HostKeyTimeout time.Duration
}

// GitSecret returns the Secret of Git credentials: for ssh:// URLs a key pair (read from
// PrivateKeyFile, else generated) and the server's host key, scanned; for http(s) basic auth or a bearer
// token, and a CA.
func GitSecret(ctx context.Context, o GitSecretOptions) (*corev1.Secret, error) {
	if o.URL == "" {
		return nil, fmt.Errorf("url is required")
	}
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, fmt.Errorf("git URL parse failed: %w", err)
	}
	om, err := o.ObjectMeta()
	if err != nil {
		return nil, err
	}
	data := map[string]string{}
	switch u.Scheme {
	case "ssh":
		var kp *bootstrap.KeyPair
		if o.PrivateKeyFile != "" {
			pem, err := readFile("private key file", o.PrivateKeyFile)
			if err != nil {
				return nil, err
			}
			if kp, err = bootstrap.ParseKey(pem, []byte(o.Password)); err != nil {
				return nil, fmt.Errorf("%s: %w", o.PrivateKeyFile, err)
			}
		} else {
			curve, ok := ECDSACurves[o.ECDSACurve]
			if !ok && o.ECDSACurve != "" {
				return nil, fmt.Errorf("--ssh-ecdsa-curve %q: want p256, p384 or p521", o.ECDSACurve)
			}
			if kp, err = bootstrap.GenerateKeyWith(bootstrap.KeyAlgorithm(o.KeyAlgorithm), o.RSABits, curve); err != nil {
				return nil, err
			}
		}
		timeout := o.HostKeyTimeout
		if timeout <= 0 {
			timeout = 30 * time.Second
		}
		hostKey, _, err := bootstrap.ScanHostKey(ctx, sshHostPort(u.Host), timeout)
		if err != nil {
			return nil, err
		}
		data["identity"], data["identity.pub"], data["known_hosts"] = string(kp.PrivateKey), string(kp.PublicKey), string(hostKey)
		if o.Password != "" {
			data["password"] = o.Password
		}
	case "http", "https":
		if (o.Username == "" || o.Password == "") && o.BearerToken == "" && !o.Anonymous {
			return nil, fmt.Errorf("for Git over HTTP/S the username and password, or a bearer token is required")
		}
		if o.Username != "" && o.Password != "" && o.BearerToken != "" {
			return nil, fmt.Errorf("user credentials and bearer token cannot be used together")
		}
		if o.Username != "" && o.Password != "" {
			data["username"], data["password"] = o.Username, o.Password
		}
		if o.BearerToken != "" {
			data["bearerToken"] = o.BearerToken
		}
		ca, err := readFile("TLS CA file", o.CAFile)
		if err != nil {
			return nil, err
		}
		if len(ca) > 0 {
			data["ca.crt"] = string(ca)
		}
	default:
		return nil, fmt.Errorf("git URL scheme '%s' not supported, can be: ssh, http and https", u.Scheme)
	}
	if len(data) == 0 {
		return nil, nil
	}
	return secret(om, "", data), nil
}

// sshHostPort is host:port of an ssh:// URL host (port 22 by default).
func sshHostPort(host string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), "22")
}

// HelmSecretOptions are the inputs of `create secret helm` (and of `create source helm`'s credentials).
type HelmSecretOptions struct {
	Meta
	Username, Password        string
	CAFile, CertFile, KeyFile string
}

// HelmSecret returns the Secret of a Helm repository's credentials: a client certificate (TLS type),
// else basic auth (with the CA), else the CA alone.
func HelmSecret(o HelmSecretOptions) (*corev1.Secret, error) {
	om, err := o.ObjectMeta()
	if err != nil {
		return nil, err
	}
	ca, err := readFile("TLS CA file", o.CAFile)
	if err != nil {
		return nil, err
	}
	crt, err := readFile("cert file", o.CertFile)
	if err != nil {
		return nil, err
	}
	key, err := readFile("key file", o.KeyFile)
	if err != nil {
		return nil, err
	}
	switch {
	case len(crt) > 0 || len(key) > 0:
		return tlsSecret(om, ca, crt, key)
	case o.Username != "" || o.Password != "":
		data := map[string]string{"username": o.Username, "password": o.Password}
		if len(ca) > 0 {
			data["ca.crt"] = string(ca)
		}
		return secret(om, corev1.SecretTypeBasicAuth, data), nil
	case len(ca) > 0:
		return tlsSecret(om, ca, nil, nil)
	}
	return secret(om, "", nil), nil
}

func tlsSecret(om metav1.ObjectMeta, ca, crt, key []byte) (*corev1.Secret, error) {
	switch {
	case len(crt) > 0 && len(key) == 0:
		return nil, errors.New("found certificate but missing private key")
	case len(crt) == 0 && len(key) > 0:
		return nil, errors.New("found private key but missing certificate")
	}
	data := map[string]string{}
	typ := corev1.SecretTypeOpaque
	if len(crt) > 0 {
		data["tls.crt"], data["tls.key"], typ = string(crt), string(key), corev1.SecretTypeTLS
	}
	if len(ca) > 0 {
		data["ca.crt"] = string(ca)
	}
	if len(data) == 0 {
		return nil, errors.New("no CA certificate or client certificate pair found")
	}
	return secret(om, typ, data), nil
}

// TLSSecret returns the Secret of a client certificate and/or CA (`create secret tls`).
func TLSSecret(m Meta, caFile, certFile, keyFile string) (*corev1.Secret, error) {
	om, err := m.ObjectMeta()
	if err != nil {
		return nil, err
	}
	ca, err := readFile("TLS CA file", caFile)
	if err != nil {
		return nil, err
	}
	crt, err := readFile("cert file", certFile)
	if err != nil {
		return nil, err
	}
	key, err := readFile("key file", keyFile)
	if err != nil {
		return nil, err
	}
	return tlsSecret(om, ca, crt, key)
}

// OCISecret returns a docker-config Secret with the credentials of the registry of repoURL.
func OCISecret(m Meta, repoURL, username, password string) (*corev1.Secret, error) {
	switch {
	case repoURL == "":
		return nil, fmt.Errorf("--url is required")
	case username == "":
		return nil, fmt.Errorf("--username is required")
	case password == "":
		return nil, fmt.Errorf("--password is required")
	}
	if _, err := name.ParseReference(strings.TrimPrefix(repoURL, "oci://")); err != nil {
		return nil, fmt.Errorf("error parsing url: '%s'", err)
	}
	om, err := m.ObjectMeta()
	if err != nil {
		return nil, err
	}
	type auth struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Auth     string `json:"auth"`
	}
	cfg := map[string]any{"auths": map[string]auth{repoURL: {Username: username, Password: password,
		Auth: base64.StdEncoding.EncodeToString([]byte(username + ":" + password))}}}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	return secret(om, corev1.SecretTypeDockerConfigJson, map[string]string{corev1.DockerConfigJsonKey: string(b)}), nil
}

// ProxySecret returns the Secret of a proxy's address and credentials.
func ProxySecret(m Meta, address, username, password string) (*corev1.Secret, error) {
	if address == "" {
		return nil, fmt.Errorf("--address is required")
	}
	if (username == "") != (password == "") {
		return nil, fmt.Errorf("--username and --password go together")
	}
	om, err := m.ObjectMeta()
	if err != nil {
		return nil, err
	}
	data := map[string]string{"address": address}
	if username != "" {
		data["username"], data["password"] = username, password
	}
	return secret(om, corev1.SecretTypeOpaque, data), nil
}

// NotationSecret returns the Secret of Notation's trust policy and CA certificates (files ending .crt
// or .pem, stored under their base names).
func NotationSecret(m Meta, trustPolicyFile string, caFiles []string) (*corev1.Secret, error) {
	if len(caFiles) == 0 {
		return nil, fmt.Errorf("--ca-cert-file is required")
	}
	if trustPolicyFile == "" {
		return nil, fmt.Errorf("--trust-policy-file is required")
	}
	om, err := m.ObjectMeta()
	if err != nil {
		return nil, err
	}
	policy, err := readFile("trust policy file", trustPolicyFile)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Version       string           `json:"version"`
		TrustPolicies []map[string]any `json:"trustPolicies"`
	}
	if err := json.Unmarshal(policy, &doc); err != nil {
		return nil, fmt.Errorf("failed to unmarshal trust policy %s: %w", trustPolicyFile, err)
	}
	if doc.Version == "" {
		return nil, fmt.Errorf("invalid trust policy: trust policy document has empty version")
	}
	if len(doc.TrustPolicies) == 0 {
		return nil, fmt.Errorf("invalid trust policy: trust policy document can not have zero trust policy statements")
	}
	data := map[string]string{"trustpolicy.json": string(policy)}
	var errs []error
	for _, f := range caFiles {
		base := filepath.Base(f)
		if !strings.HasSuffix(base, ".crt") && !strings.HasSuffix(base, ".pem") {
			errs = append(errs, fmt.Errorf("%s must end with either .crt or .pem", base))
			continue
		}
		b, err := readFile("TLS CA file", f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		data[base] = string(b)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return secret(om, "", data), nil
}

// GitHubAppOptions are the inputs of `create secret githubapp`.
type GitHubAppOptions struct {
	Meta
	AppID, InstallationID, InstallationOwner, BaseURL, PrivateKeyFile string
}

// GitHubAppSecret returns the Secret of a GitHub App's credentials.
func GitHubAppSecret(o GitHubAppOptions) (*corev1.Secret, error) {
	if o.AppID == "" {
		return nil, fmt.Errorf("--app-id is required")
	}
	if o.PrivateKeyFile == "" {
		return nil, fmt.Errorf("--app-private-key is required")
	}
	if o.InstallationID != "" && o.InstallationOwner != "" {
		return nil, fmt.Errorf("--app-installation-id and --app-installation-owner cannot be used together")
	}
	om, err := o.ObjectMeta()
	if err != nil {
		return nil, err
	}
	key, err := os.ReadFile(o.PrivateKeyFile)
	if err != nil {
		return nil, fmt.Errorf("unable to read private key file: %w", err)
	}
	data := map[string]string{"githubAppID": o.AppID, "githubAppPrivateKey": string(key)}
	if o.InstallationID != "" {
		data["githubAppInstallationID"] = o.InstallationID
	}
	if o.InstallationOwner != "" {
		data["githubAppInstallationOwner"] = o.InstallationOwner
	}
	if o.BaseURL != "" {
		data["githubAppBaseURL"] = o.BaseURL
	}
	return secret(om, corev1.SecretTypeOpaque, data), nil
}

// WebhookAnnotation holds the webhook URL on a Receiver's Secret.
const WebhookAnnotation = "notification.toolkit.fluxcd.io/webhook"

// receiverTypes are the Receiver types whose Secret `create secret receiver` writes (generic-oidc has
// none).
var receiverTypes = []string{"generic", "generic-hmac", "github", "gitlab", "bitbucket", "harbor", "dockerhub", "quay", "gcr", "nexus", "acr", "cdevents"}

// ReceiverSecretOptions are the inputs of `create secret receiver`.
type ReceiverSecretOptions struct {
	Meta
	Type, Token, Hostname, EmailClaim, AudienceClaim string
}

// ReceiverSecret returns the Secret of a Receiver's token (generated when not given), annotated with
// the webhook URL the token and name derive.
func ReceiverSecret(o ReceiverSecretOptions) (*corev1.Secret, error) {
	switch {
	case o.Type == "":
		return nil, fmt.Errorf("--type is required")
	case o.Hostname == "":
		return nil, fmt.Errorf("--hostname is required")
	case !slices.Contains(receiverTypes, o.Type):
		return nil, fmt.Errorf("receiver type '%s' is not supported, must be one of: %s", o.Type, strings.Join(receiverTypes, ", "))
	case o.Type == "gcr" && o.EmailClaim == "":
		return nil, fmt.Errorf("--email-claim is required for gcr receiver type")
	}
	om, err := o.ObjectMeta()
	if err != nil {
		return nil, err
	}
	token := o.Token
	if token == "" {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("generating the token: %w", err)
		}
		token = hex.EncodeToString(b)
	}
	webhook := fmt.Sprintf("https://%s/hook/%x", o.Hostname, sha256.Sum256([]byte(token+o.Name+o.Namespace)))
	om.Annotations = map[string]string{WebhookAnnotation: webhook}
	data := map[string]string{"token": token}
	if o.Type == "gcr" {
		data["email"], data["audience"] = o.EmailClaim, o.AudienceClaim
		if o.AudienceClaim == "" {
			data["audience"] = webhook
		}
	}
	return secret(om, "", data), nil
}
