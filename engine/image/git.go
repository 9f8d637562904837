package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
	corev1 "k8s.io/api/core/v1"

	imagev1 "github.com/converge-gitops/converge/crds/image/v1"
)

// gitAuth is how a remote is reached: go-git's auth method plus a CA bundle for HTTPS.
type gitAuth struct {
	method   transport.AuthMethod
	caBundle []byte
}

// authFromSecret reads a GitRepository credentials Secret as Flux does: username/password or bearerToken
// (with an optional ca.crt) for HTTP(S); identity (+ password) and known_hosts for SSH.
func authFromSecret(rawURL string, secret *corev1.Secret, tmp string) (*gitAuth, error) {
	a := &gitAuth{}
	if secret == nil {
		return a, nil
	}
	data := secret.Data
	id := secret.Namespace + "/" + secret.Name
	if ca := data["ca.crt"]; len(ca) > 0 {
		a.caBundle = ca
	} else if ca := data["caFile"]; len(ca) > 0 {
		a.caBundle = ca
	}
	u, err := url.Parse(rawURL)
	isSSH := err == nil && u.Scheme == "ssh" || err != nil && strings.Contains(rawURL, "@") && !strings.Contains(rawURL, "://")
	if !isSSH {
		switch {
		case len(data["bearerToken"]) > 0:
			a.method = &githttp.TokenAuth{Token: string(data["bearerToken"])}
		case len(data["username"]) > 0 || len(data["password"]) > 0:
			a.method = &githttp.BasicAuth{Username: string(data["username"]), Password: string(data["password"])}
		}
		return a, nil
	}
	identity := data["identity"]
	if len(identity) == 0 {
		return nil, fmt.Errorf("secret %s: no identity for the SSH URL %s", id, rawURL)
	}
	var signer ssh.Signer
	if pw := data["password"]; len(pw) > 0 {
		signer, err = ssh.ParsePrivateKeyWithPassphrase(identity, pw)
	} else {
		signer, err = ssh.ParsePrivateKey(identity)
	}
	if err != nil {
		return nil, fmt.Errorf("secret %s: identity: %w", id, err)
	}
	user := "git"
	if u != nil && u.User != nil && u.User.Username() != "" {
		user = u.User.Username()
	}
	keys := &gitssh.PublicKeys{User: user, Signer: signer}
	kh := data["known_hosts"]
	if len(kh) == 0 {
		return nil, fmt.Errorf("secret %s: no known_hosts for the SSH URL %s", id, rawURL)
	}
	khFile := filepath.Join(tmp, "known_hosts")
	if err := os.WriteFile(khFile, kh, 0o600); err != nil {
		return nil, err
	}
	cb, err := knownhosts.New(khFile)
	if err != nil {
		return nil, fmt.Errorf("secret %s: known_hosts: %w", id, err)
	}
	keys.HostKeyCallback = cb
	a.method = keys
	return a, nil
}

// signingEntity reads the OpenPGP key of a signing key Secret (git.asc, optional passphrase).
func signingEntity(secret *corev1.Secret) (*openpgp.Entity, error) {
	id := secret.Namespace + "/" + secret.Name
	armored := secret.Data["git.asc"]
	if len(armored) == 0 {
		return nil, fmt.Errorf("signing key secret %s has no git.asc", id)
	}
	ring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armored))
	if err != nil {
		return nil, fmt.Errorf("signing key secret %s: git.asc: %w", id, err)
	}
	if len(ring) == 0 {
		return nil, fmt.Errorf("signing key secret %s: git.asc holds no key", id)
	}
	e := ring[0]
	if e.PrivateKey == nil {
		return nil, fmt.Errorf("signing key secret %s: git.asc holds no private key", id)
	}
	pass := secret.Data["passphrase"]
	if e.PrivateKey.Encrypted {
		if len(pass) == 0 {
			return nil, fmt.Errorf("signing key secret %s: the key is encrypted and there is no passphrase", id)
		}
		if err := e.PrivateKey.Decrypt(pass); err != nil {
			return nil, fmt.Errorf("signing key secret %s: decrypting the key: %w", id, err)
		}
	}
	for _, sub := range e.Subkeys {
		if sub.PrivateKey != nil && sub.PrivateKey.Encrypted {
			if err := sub.PrivateKey.Decrypt(pass); err != nil {
				return nil, fmt.Errorf("signing key secret %s: decrypting a subkey: %w", id, err)
			}
		}
	}
	return e, nil
}

func gitErr(format string, args ...any) error {
	return &Error{Reason: imagev1.GitOperationFailedReason, Err: fmt.Errorf(format, args...)}
}

func isNonFastForward(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "non-fast-forward") || strings.Contains(err.Error(), "fetch first"))
}

// ctxErr prefers the context's error when it ended.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}
