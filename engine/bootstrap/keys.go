package bootstrap

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// KeyAlgorithm is the algorithm of a generated deploy key.
type KeyAlgorithm string

// Deploy key algorithms; ECDSA uses the P-384 curve and RSA 4096 bits.
const (
	KeyECDSA   KeyAlgorithm = "ecdsa"
	KeyED25519 KeyAlgorithm = "ed25519"
	KeyRSA     KeyAlgorithm = "rsa"
)

// KeyAlgorithms lists the accepted algorithms, the default first.
var KeyAlgorithms = []KeyAlgorithm{KeyECDSA, KeyED25519, KeyRSA}

// KeyPair is an SSH key in the forms a Flux credentials Secret holds.
type KeyPair struct {
	// PrivateKey is PEM (OpenSSH format for generated keys).
	PrivateKey []byte
	// PublicKey is the authorized_keys line.
	PublicKey []byte
	Signer    ssh.Signer
}

// GenerateKey returns a new key pair of the algorithm ("" is ECDSA P-384; RSA has 4096 bits).
func GenerateKey(alg KeyAlgorithm) (*KeyPair, error) {
	return GenerateKeyWith(alg, 4096, elliptic.P384())
}

// GenerateKeyWith returns a new key pair of the algorithm ("" is ECDSA), with rsaBits bits for RSA and
// the curve for ECDSA (nil is P-384).
func GenerateKeyWith(alg KeyAlgorithm, rsaBits int, curve elliptic.Curve) (*KeyPair, error) {
	var priv crypto.Signer
	var err error
	if curve == nil {
		curve = elliptic.P384()
	}
	switch alg {
	case KeyECDSA, "":
		priv, err = ecdsa.GenerateKey(curve, rand.Reader)
	case KeyED25519:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case KeyRSA:
		if rsaBits < 1024 || rsaBits%8 != 0 {
			return nil, fmt.Errorf("RSA key size %d: want a multiple of 8, at least 1024", rsaBits)
		}
		priv, err = rsa.GenerateKey(rand.Reader, rsaBits)
	default:
		return nil, fmt.Errorf("unknown SSH key algorithm %q, want ecdsa, ed25519 or rsa", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("generating the %s key: %w", alg, err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "converge")
	if err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromSigner(priv)
	if err != nil {
		return nil, err
	}
	return &KeyPair{PrivateKey: pem.EncodeToMemory(block), PublicKey: ssh.MarshalAuthorizedKey(signer.PublicKey()), Signer: signer}, nil
}

// ParseKey reads a PEM private key, decrypting it with passphrase when it is encrypted.
func ParseKey(pemBytes, passphrase []byte) (*KeyPair, error) {
	signer, err := ssh.ParsePrivateKey(pemBytes)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if len(passphrase) == 0 {
			return nil, errors.New("the private key is encrypted: give its passphrase as the password")
		}
		signer, err = ssh.ParsePrivateKeyWithPassphrase(pemBytes, passphrase)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing the private key: %w", err)
	}
	return &KeyPair{PrivateKey: pemBytes, PublicKey: ssh.MarshalAuthorizedKey(signer.PublicKey()), Signer: signer}, nil
}

// hostPort returns host:port of an ssh:// URL's host (port 22 by default).
func hostPort(host string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), "22")
}

// errScanned aborts the handshake once the host key is known.
var errScanned = errors.New("host key scanned")

// ScanHostKey connects to the SSH server at hostport and returns a known_hosts line for the host key it
// presents. The key is trusted on first use: compare its fingerprint out of band.
func ScanHostKey(ctx context.Context, hostport string, timeout time.Duration) ([]byte, ssh.PublicKey, error) {
	return ScanHostKeyWith(ctx, hostport, timeout, nil)
}

// ScanHostKeyWith is ScanHostKey offering only the given host key algorithms (nil: the defaults).
func ScanHostKeyWith(ctx context.Context, hostport string, timeout time.Duration, algorithms []string) ([]byte, ssh.PublicKey, error) {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", hostport)
	if err != nil {
		return nil, nil, fmt.Errorf("scanning the SSH host key of %s: %w", hostport, err)
	}
	defer conn.Close()
	if dl, ok := dctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	var key ssh.PublicKey
	cfg := &ssh.ClientConfig{
		User:              "git",
		HostKeyAlgorithms: algorithms,
		HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error {
			key = k
			return errScanned
		},
	}
	_, _, _, err = ssh.NewClientConn(conn, hostport, cfg)
	if key == nil {
		return nil, nil, fmt.Errorf("scanning the SSH host key of %s: %w", hostport, err)
	}
	return []byte(knownhosts.Line([]string{knownhosts.Normalize(hostport)}, key) + "\n"), key, nil
}

// fingerprint returns the SHA256 fingerprint of an authorized_keys line, for messages.
func fingerprint(authorized []byte) string {
	k, _, _, _, err := ssh.ParseAuthorizedKey(bytes.TrimSpace(authorized))
	if err != nil {
		return ""
	}
	return ssh.FingerprintSHA256(k)
}
