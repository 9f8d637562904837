package image

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5"
	"golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"

	imagev1 "github.com/converge-gitops/converge/crds/image/v1"
)

// commitSigner reads the signing key Secret of an ImageUpdateAutomation as Flux does: type gpg (the
// default) takes the armored keypair under git.asc and an optional passphrase; type ssh takes the private
// key under identity and an optional password, and signs as git does with gpg.format=ssh.
func commitSigner(secret *corev1.Secret, typ imagev1.SigningKeyType) (git.Signer, error) {
	switch typ {
	case imagev1.SigningKeyTypeGPG, "":
		e, err := signingEntity(secret)
		if err != nil {
			return nil, err
		}
		return pgpSigner{e}, nil
	case imagev1.SigningKeyTypeSSH:
		return sshSigningKey(secret)
	default:
		return nil, fmt.Errorf("unknown signing key type %q (gpg or ssh)", typ)
	}
}

type pgpSigner struct{ entity *openpgp.Entity }

func (s pgpSigner) Sign(message io.Reader) ([]byte, error) {
	var b bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&b, s.entity, message, nil); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// sshSigner writes SSH signatures (OpenSSH PROTOCOL.sshsig, namespace "git", SHA-512), armored as
// "-----BEGIN SSH SIGNATURE-----": what `git commit -S` writes with gpg.format=ssh.
type sshSigner struct{ key ssh.Signer }

const (
	sshsigMagic     = "SSHSIG"
	sshsigNamespace = "git"
	sshsigHash      = "sha512"
)

// sshSigningKey parses the identity (and password) of an SSH signing key Secret. Keys are ed25519,
// ECDSA P-256/384/521 or RSA of at least 2048 bits.
func sshSigningKey(secret *corev1.Secret) (*sshSigner, error) {
	id := secret.Namespace + "/" + secret.Name
	pemBytes := secret.Data["identity"]
	if len(pemBytes) == 0 {
		return nil, fmt.Errorf("signing key secret %s has no identity (type ssh)", id)
	}
	var (
		key ssh.Signer
		err error
	)
	if pw := secret.Data["password"]; len(pw) > 0 {
		key, err = ssh.ParsePrivateKeyWithPassphrase(pemBytes, pw)
	} else {
		key, err = ssh.ParsePrivateKey(pemBytes)
	}
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		return nil, fmt.Errorf("signing key secret %s: the SSH key is encrypted and there is no password", id)
	}
	if err != nil {
		return nil, fmt.Errorf("signing key secret %s: identity: %w", id, err)
	}
	switch t := key.PublicKey().Type(); t {
	case ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521:
	case ssh.KeyAlgoRSA:
		ck, ok := key.PublicKey().(ssh.CryptoPublicKey)
		if !ok {
			return nil, fmt.Errorf("signing key secret %s: unreadable RSA key", id)
		}
		if pub, ok := ck.CryptoPublicKey().(*rsa.PublicKey); !ok || pub.N.BitLen() < 2048 {
			return nil, fmt.Errorf("signing key secret %s: RSA signing keys need at least 2048 bits", id)
		}
		if _, ok := key.(ssh.AlgorithmSigner); !ok {
			return nil, fmt.Errorf("signing key secret %s: the RSA key cannot sign with rsa-sha2-512", id)
		}
	default:
		return nil, fmt.Errorf("signing key secret %s: SSH key type %s cannot sign commits (ed25519, ecdsa or rsa)", id, t)
	}
	return &sshSigner{key: key}, nil
}

// Sign returns the armored SSH signature of message.
func (s *sshSigner) Sign(message io.Reader) ([]byte, error) {
	h := sha512.New()
	if _, err := io.Copy(h, message); err != nil {
		return nil, err
	}
	signed := append([]byte(sshsigMagic), ssh.Marshal(struct {
		Namespace, Reserved, HashAlgorithm string
		Hash                               []byte
	}{sshsigNamespace, "", sshsigHash, h.Sum(nil)})...)
	var (
		sig *ssh.Signature
		err error
	)
	if as, ok := s.key.(ssh.AlgorithmSigner); ok && s.key.PublicKey().Type() == ssh.KeyAlgoRSA {
		sig, err = as.SignWithAlgorithm(rand.Reader, signed, ssh.KeyAlgoRSASHA512)
	} else {
		sig, err = s.key.Sign(rand.Reader, signed)
	}
	if err != nil {
		return nil, fmt.Errorf("SSH signature: %w", err)
	}
	blob := append([]byte(sshsigMagic), ssh.Marshal(struct {
		Version                            uint32
		PublicKey                          []byte
		Namespace, Reserved, HashAlgorithm string
		Signature                          []byte
	}{1, s.key.PublicKey().Marshal(), sshsigNamespace, "", sshsigHash, ssh.Marshal(sig)})...)
	return pem.EncodeToMemory(&pem.Block{Type: "SSH SIGNATURE", Bytes: blob}), nil
}

// OpenPGPSigner signs commits with the key of an armored OpenPGP key ring: the key whose ID (16 hex
// digits) or fingerprint ends with keyID, or the first key when keyID is empty; passphrase decrypts it.
func OpenPGPSigner(armoredRing, passphrase []byte, keyID string) (git.Signer, error) {
	ring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armoredRing))
	if err != nil {
		return nil, err
	}
	want := strings.ToUpper(strings.TrimPrefix(keyID, "0x"))
	for _, e := range ring {
		if e.PrivateKey == nil {
			continue
		}
		if want != "" && !strings.HasSuffix(strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint)), want) {
			continue
		}
		if err := decryptEntity(e, passphrase); err != nil {
			return nil, err
		}
		return pgpSigner{e}, nil
	}
	if want != "" {
		return nil, fmt.Errorf("no private key with ID %s in the key ring", keyID)
	}
	return nil, errors.New("the key ring holds no private key")
}

// SSHSigner signs commits with an SSH private key (password decrypts it), as git with gpg.format=ssh.
func SSHSigner(privateKey, password []byte) (git.Signer, error) {
	return sshSigningKey(&corev1.Secret{Data: map[string][]byte{"identity": privateKey, "password": password}})
}
