package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	corev1 "k8s.io/api/core/v1"

	imagev1 "github.com/converge-gitops/converge/crds/image/v1"
)

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
	if err := decryptEntity(e, secret.Data["passphrase"]); err != nil {
		return nil, fmt.Errorf("signing key secret %s: %w", id, err)
	}
	return e, nil
}

// decryptEntity decrypts e's private key and subkeys with pass.
func decryptEntity(e *openpgp.Entity, pass []byte) error {
	if e.PrivateKey.Encrypted {
		if len(pass) == 0 {
			return errors.New("the key is encrypted and there is no passphrase")
		}
		if err := e.PrivateKey.Decrypt(pass); err != nil {
			return fmt.Errorf("decrypting the key: %w", err)
		}
	}
	for _, sub := range e.Subkeys {
		if sub.PrivateKey != nil && sub.PrivateKey.Encrypted {
			if err := sub.PrivateKey.Decrypt(pass); err != nil {
				return fmt.Errorf("decrypting a subkey: %w", err)
			}
		}
	}
	return nil
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
