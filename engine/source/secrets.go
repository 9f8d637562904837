package source

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Keys of a TLS Secret (certSecretRef, or the TLS part of a secretRef), as Flux reads them. The legacy
// keys are read only when the standard key is absent.
const (
	KeyCACert       = "ca.crt"
	KeyTLSCert      = corev1.TLSCertKey
	KeyTLSKey       = corev1.TLSPrivateKeyKey
	LegacyKeyCACert = "caFile"
	LegacyKeyCert   = "certFile"
	LegacyKeyKey    = "keyFile"
)

var (
	// ErrNoTLSData is a Secret with neither a CA certificate nor a client certificate pair.
	ErrNoTLSData = errors.New("has none of ca.crt, tls.crt and tls.key (nor the legacy caFile, certFile and keyFile)")
	// ErrIncompleteKeyPair is a Secret with a client certificate and no key, or a key and no certificate.
	ErrIncompleteKeyPair = errors.New("a client certificate and its key must be given together")
)

// TLSData is the TLS material of a Secret, checked: the PEM of an additional CA bundle and of a client
// certificate pair, and the keys they were read from (for messages).
type TLSData struct {
	// Secret is "namespace/name" of the Secret.
	Secret string
	// CA is the PEM of the CA certificates trusted in addition to the system's; nil when none.
	CA []byte
	// Cert and Key are the PEM of the client certificate and its private key; nil when none.
	Cert, Key []byte
	// CAKey, CertKey and KeyKey are the Secret keys CA, Cert and Key were read from.
	CAKey, CertKey, KeyKey string

	pair tls.Certificate
}

// secretValue returns the value of key, else of legacy, and the key it was found under. A standard key
// that is present wins even when empty, as in Flux. StringData (a Secret not yet stored) wins over Data.
func secretValue(s *corev1.Secret, key, legacy string) ([]byte, string) {
	for _, k := range []string{key, legacy} {
		if v, ok := s.StringData[k]; ok {
			return []byte(v), k
		}
		if v, ok := s.Data[k]; ok {
			return v, k
		}
	}
	return nil, key
}

// TLSDataFromSecret reads the TLS keys of secret as Flux does: ca.crt (legacy caFile), tls.crt and
// tls.key (legacy certFile and keyFile; the standard names win). It refuses half a key pair, a pair that
// does not parse and a CA that holds no PEM certificate, naming the Secret and the key. A Secret with
// none of the keys is an error wrapping ErrNoTLSData.
func TLSDataFromSecret(secret *corev1.Secret) (*TLSData, error) {
	d := &TLSData{Secret: secret.Namespace + "/" + secret.Name}
	d.CA, d.CAKey = secretValue(secret, KeyCACert, LegacyKeyCACert)
	d.Cert, d.CertKey = secretValue(secret, KeyTLSCert, LegacyKeyCert)
	d.Key, d.KeyKey = secretValue(secret, KeyTLSKey, LegacyKeyKey)
	if len(d.CA) == 0 {
		d.CA = nil
	}
	switch {
	case len(d.Cert) > 0 && len(d.Key) > 0:
		pair, err := tls.X509KeyPair(d.Cert, d.Key)
		if err != nil {
			return nil, fmt.Errorf("secret %s: %q and %q: %w", d.Secret, d.CertKey, d.KeyKey, err)
		}
		d.pair = pair
	case len(d.Cert) > 0:
		return nil, fmt.Errorf("secret %s has %q without %q: %w", d.Secret, d.CertKey, KeyTLSKey, ErrIncompleteKeyPair)
	case len(d.Key) > 0:
		return nil, fmt.Errorf("secret %s has %q without %q: %w", d.Secret, d.KeyKey, KeyTLSCert, ErrIncompleteKeyPair)
	default:
		d.Cert, d.Key = nil, nil
	}
	if d.CA != nil && !x509.NewCertPool().AppendCertsFromPEM(d.CA) {
		return nil, fmt.Errorf("secret %s: %q holds no PEM certificate", d.Secret, d.CAKey)
	}
	if d.CA == nil && d.Cert == nil {
		return nil, fmt.Errorf("secret %s %w", d.Secret, ErrNoTLSData)
	}
	return d, nil
}

// Config returns the client TLS configuration: the system's CA pool with CA added (not replaced), and
// the client certificate pair.
func (d *TLSData) Config() *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if d.Cert != nil {
		cfg.Certificates = []tls.Certificate{d.pair}
	}
	if d.CA != nil {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		pool.AppendCertsFromPEM(d.CA)
		cfg.RootCAs = pool
	}
	return cfg
}

// TLSConfigFromSecret builds a client TLS configuration from secret as TLSDataFromSecret reads it: ca.crt
// added to the system pool, the tls.crt and tls.key pair, the legacy keys when the standard ones are
// absent. This is the one reader of TLS Secrets: every client (Git, Helm, OCI, Bucket, image scans,
// notification providers) goes through it.
func TLSConfigFromSecret(secret *corev1.Secret) (*tls.Config, error) {
	d, err := TLSDataFromSecret(secret)
	if err != nil {
		return nil, err
	}
	return d.Config(), nil
}

// ProxyURLFromSecret reads Flux's proxy Secret (proxySecretRef): address (required), username and password.
// This is the one reader of proxy Secrets (Git, OCI, Bucket, image scans, notification providers).
func ProxyURLFromSecret(secret *corev1.Secret) (*url.URL, error) {
	addr := strings.TrimSpace(string(secret.Data["address"]))
	if addr == "" {
		return nil, fmt.Errorf("secret %s/%s has no address", secret.Namespace, secret.Name)
	}
	u, err := url.Parse(addr)
	if err != nil || u.Scheme == "" || u.Host == "" {
		// The address is not repeated: it may hold credentials.
		return nil, fmt.Errorf("secret %s/%s: address is not a URL such as http://proxy:3128", secret.Namespace, secret.Name)
	}
	if user := string(secret.Data["username"]); user != "" {
		u.User = url.UserPassword(user, string(secret.Data["password"]))
	}
	return u, nil
}
