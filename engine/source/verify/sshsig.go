package verify

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// The armored SSH signature format (OpenSSH's PROTOCOL.sshsig), as `ssh-keygen -Y sign` writes it.
const (
	sshArmorStart = "-----BEGIN SSH SIGNATURE-----"
	sshArmorEnd   = "-----END SSH SIGNATURE-----"
	sshSigMagic   = "SSHSIG"
	sshSigVersion = 1
	// maxSSHSignature bounds the armored signature read, far above any real key's.
	maxSSHSignature = 64 << 10
)

// SSHSignature is a parsed SSH signature blob.
type SSHSignature struct {
	Version       uint32
	PublicKey     []byte
	Namespace     string
	Reserved      string
	HashAlgorithm string
	Signature     []byte
}

// ParseSSHSignature reads an armored SSH signature ("-----BEGIN SSH SIGNATURE-----").
func ParseSSHSignature(armored []byte) (*SSHSignature, error) {
	if len(armored) > maxSSHSignature {
		return nil, fmt.Errorf("SSH signature larger than %d bytes", maxSSHSignature)
	}
	s := strings.TrimSpace(string(armored))
	body, ok := strings.CutPrefix(s, sshArmorStart)
	if !ok {
		return nil, errors.New("SSH signature does not start with " + sshArmorStart)
	}
	body, ok = strings.CutSuffix(body, sshArmorEnd)
	if !ok {
		return nil, errors.New("SSH signature does not end with " + sshArmorEnd)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(body), ""))
	if err != nil {
		return nil, fmt.Errorf("SSH signature is not base64: %w", err)
	}
	rest, ok := bytes.CutPrefix(raw, []byte(sshSigMagic))
	if !ok {
		return nil, errors.New("SSH signature lacks the SSHSIG preamble")
	}
	sig := &SSHSignature{}
	if err := ssh.Unmarshal(rest, sig); err != nil {
		return nil, fmt.Errorf("SSH signature is malformed: %w", err)
	}
	if sig.Version != sshSigVersion {
		return nil, fmt.Errorf("SSH signature version %d is not supported (only %d)", sig.Version, sshSigVersion)
	}
	return sig, nil
}

// signedData is what an SSH signature of message in namespace signs.
func (s *SSHSignature) signedData(message []byte) ([]byte, error) {
	var digest []byte
	switch s.HashAlgorithm {
	case "sha256":
		h := sha256.Sum256(message)
		digest = h[:]
	case "sha512":
		h := sha512.Sum512(message)
		digest = h[:]
	default:
		return nil, fmt.Errorf("SSH signature hash algorithm %q is not one of sha256, sha512", s.HashAlgorithm)
	}
	return append([]byte(sshSigMagic), ssh.Marshal(struct {
		Namespace, Reserved, Hash string
		Digest                    []byte
	}{s.Namespace, s.Reserved, s.HashAlgorithm, digest})...), nil
}

// VerifySSHSignature checks an armored SSH signature of message in namespace, made by one of trusted,
// and returns that key.
func VerifySSHSignature(trusted []ssh.PublicKey, namespace string, armored, message []byte) (ssh.PublicKey, error) {
	sig, err := ParseSSHSignature(armored)
	if err != nil {
		return nil, err
	}
	if sig.Namespace != namespace {
		return nil, fmt.Errorf("SSH signature is for namespace %q, not %q", sig.Namespace, namespace)
	}
	var key ssh.PublicKey
	for _, k := range trusted {
		if bytes.Equal(k.Marshal(), sig.PublicKey) {
			key = k
			break
		}
	}
	if key == nil {
		signer := "an unparsable key"
		if pub, err := ssh.ParsePublicKey(sig.PublicKey); err == nil {
			signer = "key " + ssh.FingerprintSHA256(pub)
		}
		return nil, fmt.Errorf("SSH signature made by %s, which is not among the Secret's keys", signer)
	}
	var inner ssh.Signature
	if err := ssh.Unmarshal(sig.Signature, &inner); err != nil {
		return nil, fmt.Errorf("SSH signature is malformed: %w", err)
	}
	if inner.Format == ssh.KeyAlgoRSA {
		return nil, errors.New("SSH signature uses ssh-rsa (SHA-1), which SSH signatures do not allow")
	}
	data, err := sig.signedData(message)
	if err != nil {
		return nil, err
	}
	if err := key.Verify(data, &inner); err != nil {
		return nil, fmt.Errorf("SSH signature by key %s does not verify: %w", ssh.FingerprintSHA256(key), err)
	}
	return key, nil
}
