package source

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// systemCA is the CA the test process's system pool holds: TestMain points SSL_CERT_FILE at it before
// anything reads the system pool (Go reads it once per process).
var systemCA *testCA

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "system-ca-")
	if err != nil {
		panic(err)
	}
	systemCA = newTestCA("system CA")
	file := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(file, systemCA.certPEM, 0o600); err != nil {
		panic(err)
	}
	os.Setenv("SSL_CERT_FILE", file)
	os.Setenv("SSL_CERT_DIR", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
}

func newTestCA(name string) *testCA {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<33, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// leaf issues a certificate for name, for a server (verified with RootCAs) and a client pair.
func (ca *testCA) leaf(t *testing.T, name string) (cert *x509.Certificate, certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<33, 0),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func TestTLSConfigFromSecret(t *testing.T) {
	private := newTestCA("private CA")
	other := newTestCA("other CA")
	privateLeaf, _, _ := private.leaf(t, "private.example")
	otherLeaf, _, _ := other.leaf(t, "other.example")
	systemLeaf, _, _ := systemCA.leaf(t, "system.example")
	_, clientPEM, clientKey := private.leaf(t, "client")
	_, otherClientPEM, otherClientKey := other.leaf(t, "other-client")

	for _, tt := range []struct {
		name string
		data map[string]string
		// stringData is set as the Secret's StringData (a Secret read from a file, not yet stored).
		stringData map[string]string
		// trusted and untrusted are the server certificates RootCAs must and must not verify; with both
		// nil, RootCAs must be nil (the system pool, untouched).
		trusted, untrusted []*x509.Certificate
		// client is the client certificate's common name; "" means none.
		client  string
		wantErr string
		errIs   error
	}{
		{name: "ca.crt added to the system pool", data: map[string]string{"ca.crt": string(private.certPEM)},
			trusted: []*x509.Certificate{privateLeaf, systemLeaf}, untrusted: []*x509.Certificate{otherLeaf}},
		{name: "legacy caFile", data: map[string]string{"caFile": string(private.certPEM)},
			trusted: []*x509.Certificate{privateLeaf, systemLeaf}, untrusted: []*x509.Certificate{otherLeaf}},
		{name: "ca.crt wins over caFile", data: map[string]string{"ca.crt": string(private.certPEM), "caFile": string(other.certPEM)},
			trusted: []*x509.Certificate{privateLeaf}, untrusted: []*x509.Certificate{otherLeaf}},
		{name: "stringData", stringData: map[string]string{"ca.crt": string(private.certPEM)},
			trusted: []*x509.Certificate{privateLeaf, systemLeaf}},
		{name: "client pair only", data: map[string]string{"tls.crt": string(clientPEM), "tls.key": string(clientKey)}, client: "client"},
		{name: "legacy certFile and keyFile", data: map[string]string{"certFile": string(clientPEM), "keyFile": string(clientKey)}, client: "client"},
		{name: "tls.crt and tls.key win over the legacy pair",
			data:   map[string]string{"tls.crt": string(clientPEM), "tls.key": string(clientKey), "certFile": string(otherClientPEM), "keyFile": string(otherClientKey)},
			client: "client"},
		{name: "pair and CA", data: map[string]string{"ca.crt": string(private.certPEM), "tls.crt": string(clientPEM), "tls.key": string(clientKey)},
			trusted: []*x509.Certificate{privateLeaf, systemLeaf}, client: "client"},
		{name: "tls.crt without tls.key", data: map[string]string{"tls.crt": string(clientPEM)},
			wantErr: `secret ns/s has "tls.crt" without "tls.key"`, errIs: ErrIncompleteKeyPair},
		{name: "tls.key without tls.crt", data: map[string]string{"ca.crt": string(private.certPEM), "tls.key": string(clientKey)},
			wantErr: `secret ns/s has "tls.key" without "tls.crt"`, errIs: ErrIncompleteKeyPair},
		{name: "legacy certFile without a key", data: map[string]string{"certFile": string(clientPEM)},
			wantErr: `secret ns/s has "certFile" without "tls.key"`, errIs: ErrIncompleteKeyPair},
		{name: "mismatched pair", data: map[string]string{"tls.crt": string(clientPEM), "tls.key": string(otherClientKey)},
			wantErr: `secret ns/s: "tls.crt" and "tls.key": tls: private key does not match public key`},
		{name: "bad CA PEM", data: map[string]string{"ca.crt": "junk"}, wantErr: `secret ns/s: "ca.crt" holds no PEM certificate`},
		{name: "bad legacy CA PEM", data: map[string]string{"caFile": "junk"}, wantErr: `secret ns/s: "caFile" holds no PEM certificate`},
		{name: "no TLS keys", data: map[string]string{"username": "u"}, wantErr: "secret ns/s has none of ca.crt, tls.crt and tls.key", errIs: ErrNoTLSData},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s"}, Data: map[string][]byte{}, StringData: tt.stringData}
			for k, v := range tt.data {
				s.Data[k] = []byte(v)
			}
			cfg, err := TLSConfigFromSecret(s)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				if tt.errIs != nil && !errors.Is(err, tt.errIs) {
					t.Errorf("error %v is not %v", err, tt.errIs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.MinVersion != tls.VersionTLS12 || cfg.InsecureSkipVerify {
				t.Errorf("MinVersion %x, InsecureSkipVerify %v", cfg.MinVersion, cfg.InsecureSkipVerify)
			}
			if tt.trusted == nil && tt.untrusted == nil && cfg.RootCAs != nil {
				t.Errorf("RootCAs set without a CA in the Secret")
			}
			for _, c := range tt.trusted {
				if _, err := c.Verify(x509.VerifyOptions{Roots: cfg.RootCAs, DNSName: c.Subject.CommonName}); err != nil {
					t.Errorf("%s not trusted: %v", c.Subject.CommonName, err)
				}
			}
			for _, c := range tt.untrusted {
				if _, err := c.Verify(x509.VerifyOptions{Roots: cfg.RootCAs, DNSName: c.Subject.CommonName}); err == nil {
					t.Errorf("%s trusted", c.Subject.CommonName)
				}
			}
			var got string
			if len(cfg.Certificates) == 1 {
				leaf, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
				if err != nil {
					t.Fatal(err)
				}
				got = leaf.Subject.CommonName
			} else if len(cfg.Certificates) > 1 {
				t.Fatalf("%d client certificates", len(cfg.Certificates))
			}
			if got != tt.client {
				t.Errorf("client certificate %q, want %q", got, tt.client)
			}
		})
	}
}

func FuzzTLSDataFromSecret(f *testing.F) {
	ca := newTestCA("fuzz CA")
	f.Add(ca.certPEM, []byte(nil), []byte(nil))
	f.Add([]byte("junk"), []byte("-----BEGIN CERTIFICATE-----\n"), []byte("x"))
	f.Fuzz(func(t *testing.T, caPEM, cert, key []byte) {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s"},
			Data: map[string][]byte{"ca.crt": caPEM, "tls.crt": cert, "tls.key": key}}
		d, err := TLSDataFromSecret(s)
		if err != nil {
			if !strings.Contains(err.Error(), "ns/s") {
				t.Errorf("error does not name the Secret: %v", err)
			}
			return
		}
		cfg := d.Config()
		if (d.CA != nil) != (cfg.RootCAs != nil) || (d.Cert != nil) != (len(cfg.Certificates) == 1) {
			t.Errorf("config does not match the data: CA %v, cert %v", d.CA != nil, d.Cert != nil)
		}
	})
}
