package verify

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
)

// Secret data key suffixes of a GitRepository's spec.verify.secretRef, as Flux reads them. Keys with
// neither suffix are read as OpenPGP key rings, as Flux does for compatibility.
const (
	PGPKeySuffix = ".asc"
	SSHKeySuffix = ".sshpub"
)

// Signature types of Git objects.
const (
	SignatureOpenPGP = "openpgp"
	SignatureSSH     = "ssh"
	SignatureX509    = "x509"
)

// sshNamespace is the namespace git signs with (ssh-keygen -Y sign -n git).
const sshNamespace = "git"

// GitKeys are the trusted keys of a GitRepository's spec.verify Secret.
type GitKeys struct {
	// PGP is every OpenPGP public key of the Secret.
	PGP openpgp.EntityList
	// SSH is every SSH public key of the Secret (authorized_keys lines).
	SSH []ssh.PublicKey
}

// GitKeysFromSecret reads the trusted keys of s: OpenPGP armored key rings under "*.asc" keys (and keys
// without a known suffix), SSH public keys in authorized_keys format under "*.sshpub" keys. A key that
// does not parse is an error naming the Secret and its data key; a Secret without keys is an error too.
func GitKeysFromSecret(s *corev1.Secret) (*GitKeys, error) {
	keys := &GitKeys{}
	names := make([]string, 0, len(s.Data))
	for k := range s.Data {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := s.Data[k]
		if strings.HasSuffix(k, SSHKeySuffix) {
			pubs, err := parseAuthorizedKeys(v)
			if err != nil {
				return nil, fmt.Errorf("Secret %s/%s key %q: %w", s.Namespace, s.Name, k, err)
			}
			keys.SSH = append(keys.SSH, pubs...)
			continue
		}
		ring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(v))
		if err != nil {
			return nil, fmt.Errorf("Secret %s/%s key %q: not an armored OpenPGP public key (keys ending in %s are read as SSH keys): %w",
				s.Namespace, s.Name, k, SSHKeySuffix, err)
		}
		keys.PGP = append(keys.PGP, ring...)
	}
	if len(keys.PGP) == 0 && len(keys.SSH) == 0 {
		return nil, fmt.Errorf("Secret %s/%s holds no public keys (OpenPGP under *%s, SSH under *%s)", s.Namespace, s.Name, PGPKeySuffix, SSHKeySuffix)
	}
	return keys, nil
}

// parseAuthorizedKeys reads SSH public keys, one a line, skipping blank lines and comments.
func parseAuthorizedKeys(data []byte) ([]ssh.PublicKey, error) {
	var keys []ssh.PublicKey
	for i, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		pub, _, _, _, err := ssh.ParseAuthorizedKey(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: not an SSH public key: %w", i+1, err)
		}
		keys = append(keys, pub)
	}
	if len(keys) == 0 {
		return nil, errors.New("no SSH public key")
	}
	return keys, nil
}

// SignatureType returns the type of an armored Git signature, "" when there is none.
func SignatureType(signature string) string {
	s := strings.TrimSpace(signature)
	switch {
	case s == "":
		return ""
	case strings.HasPrefix(s, "-----BEGIN PGP SIGNATURE-----"):
		return SignatureOpenPGP
	case strings.HasPrefix(s, sshArmorStart):
		return SignatureSSH
	case strings.HasPrefix(s, "-----BEGIN SIGNED MESSAGE-----"):
		return SignatureX509
	}
	return "unknown"
}

// ErrUnsigned is returned for a Git object without a signature.
var ErrUnsigned = errors.New("the object is not signed")

// VerifyGit checks signature (a commit's gpgsig or a tag's signature block) over payload (the object
// encoded without its signature) against keys. It returns who signed: the OpenPGP key ID, or the SSH
// key's SHA256 fingerprint.
func (k *GitKeys) VerifyGit(signature string, payload []byte) (string, error) {
	switch typ := SignatureType(signature); typ {
	case "":
		return "", ErrUnsigned
	case SignatureOpenPGP:
		if len(k.PGP) == 0 {
			return "", fmt.Errorf("OpenPGP signature but no OpenPGP public keys in the Secret (keys ending in %s)", PGPKeySuffix)
		}
		signer, err := openpgp.CheckArmoredDetachedSignature(k.PGP, bytes.NewReader(payload), strings.NewReader(signature), nil)
		if err != nil {
			return "", fmt.Errorf("OpenPGP signature does not verify with any key of the Secret: %w", err)
		}
		return strings.ToUpper(signer.PrimaryKey.KeyIdString()), nil
	case SignatureSSH:
		if len(k.SSH) == 0 {
			return "", fmt.Errorf("SSH signature but no SSH public keys in the Secret (keys ending in %s)", SSHKeySuffix)
		}
		pub, err := VerifySSHSignature(k.SSH, sshNamespace, []byte(signature), payload)
		if err != nil {
			return "", err
		}
		return ssh.FingerprintSHA256(pub), nil
	default:
		return "", fmt.Errorf("%s signatures are not supported: only OpenPGP and SSH signatures are verified", typ)
	}
}
