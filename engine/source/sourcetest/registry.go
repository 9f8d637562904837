package sourcetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// RegistryBinary is Debian's docker-registry (apt-get install docker-registry).
const RegistryBinary = "/usr/bin/docker-registry"

// Registry is a running OCI registry.
type Registry struct {
	// Host is "127.0.0.1:<port>", to use in references such as Host + "/org/repo:tag".
	Host string
	// CA is the PEM certificate of the test authority that signed the server certificate of a registry
	// started by StartTLSRegistry (the ca.crt of a certSecretRef); nil for a plain-HTTP registry.
	CA []byte

	mu      sync.Mutex
	cmd     *exec.Cmd
	cfgPath string
}

// Client returns an HTTP client for the registry, trusting CA when the registry serves TLS.
func (r *Registry) Client() *http.Client {
	if r.CA == nil {
		return &http.Client{}
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(r.CA)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

// URL returns the registry's base URL, https:// for a TLS registry.
func (r *Registry) URL() string {
	if r.CA != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

// FreePort returns a free loopback TCP port.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StartRegistry starts an empty plain-HTTP registry for the test and stops it at cleanup. With htpasswd
// (a bcrypt htpasswd file's content) the registry requires basic auth.
func StartRegistry(t testing.TB, htpasswd string) *Registry {
	t.Helper()
	return startRegistry(t, htpasswd, false)
}

// StartTLSRegistry is StartRegistry serving HTTPS with a server certificate for 127.0.0.1 and localhost,
// signed by a test authority generated for this registry (Registry.CA).
func StartTLSRegistry(t testing.TB, htpasswd string) *Registry {
	t.Helper()
	return startRegistry(t, htpasswd, true)
}

func startRegistry(t testing.TB, htpasswd string, withTLS bool) *Registry {
	t.Helper()
	if _, err := os.Stat(RegistryBinary); err != nil {
		t.Fatalf("%s is missing: apt-get install docker-registry (.ci/run installs it)", RegistryBinary)
	}
	dir := t.TempDir()
	port := FreePort(t)
	auth := ""
	if htpasswd != "" {
		p := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(p, []byte(htpasswd), 0o600); err != nil {
			t.Fatal(err)
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: test\n    path: %s\n", p)
	}
	reg := &Registry{Host: fmt.Sprintf("127.0.0.1:%d", port)}
	tlsCfg := ""
	if withTLS {
		ca, cert, key := testCertificates(t)
		certPath, keyPath := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
		if err := os.WriteFile(certPath, cert, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyPath, key, 0o600); err != nil {
			t.Fatal(err)
		}
		reg.CA = ca
		tlsCfg = fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", certPath, keyPath)
	}
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
%s%s`, filepath.Join(dir, "data"), reg.Host, tlsCfg, auth)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	reg.cfgPath = cfgPath
	t.Cleanup(reg.Stop)
	reg.start(t)
	return reg
}

// Stop kills the registry process (a registry outage); its content stays on disk for Restart.
func (r *Registry) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

// Restart starts the registry again at the same address, with the same content, after Stop.
func (r *Registry) Restart(t testing.TB) {
	t.Helper()
	r.start(t)
}

func (r *Registry) start(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	cmd := exec.Command(RegistryBinary, "serve", r.cfgPath)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.cmd = cmd
	reg := r
	client := reg.Client()
	for deadline := time.Now().Add(15 * time.Second); ; {
		resp, err := client.Get(reg.URL() + "/v2/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry did not start on %s: %v", reg.Host, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	client.CloseIdleConnections()
}

// testCertificates returns a new test CA certificate and a server certificate and key it signed for
// 127.0.0.1 and localhost, PEM-encoded.
func testCertificates(t testing.TB) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "converge test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caTmpl, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// Htpasswd returns an htpasswd file's content with one bcrypt entry, for StartRegistry.
func Htpasswd(t testing.TB, user, password string) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return user + ":" + string(hash) + "\n"
}
