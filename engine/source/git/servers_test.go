package git

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source"
)

const gitHTTPBackend = "/usr/lib/git-core/git-http-backend"

// gitEnv makes the git CLI ignore the machine's configuration and write reproducible commits.
func gitEnv() []string {
	return append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
		"GIT_AUTHOR_DATE=2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2024-01-01T00:00:00Z",
	)
}

func runGit(t testing.TB, dir string, args ...string) string {
	t.Helper()
	args = append([]string{"-c", "init.defaultBranch=master", "-c", "commit.gpgSign=false", "-c", "tag.gpgSign=false",
		"-c", "protocol.file.allow=always"}, args...)
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gitEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// testRepo is a work tree whose commits are pushed to a bare repository under a server root.
type testRepo struct {
	t    testing.TB
	work string
	bare string
}

// newTestRepo creates root/<name>.git (bare) and a work tree to build its history in.
func newTestRepo(t testing.TB, root, name string) *testRepo {
	t.Helper()
	r := &testRepo{t: t, work: filepath.Join(t.TempDir(), name), bare: filepath.Join(root, name+".git")}
	runGit(t, root, "init", "-q", "--bare", r.bare)
	runGit(t, root, "init", "-q", r.work)
	return r
}

func (r *testRepo) write(files map[string]string) {
	r.t.Helper()
	for name, content := range files {
		p := filepath.Join(r.work, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
}

// commit commits everything in the work tree and pushes the current branch, if any; it returns the commit.
func (r *testRepo) commit(msg string, files map[string]string) string {
	r.t.Helper()
	r.write(files)
	runGit(r.t, r.work, "add", "-A")
	runGit(r.t, r.work, "commit", "-q", "--allow-empty", "-m", msg)
	if branch := runGit(r.t, r.work, "rev-parse", "--abbrev-ref", "HEAD"); branch != "HEAD" {
		runGit(r.t, r.work, "push", "-q", "--force", r.bare, "HEAD:refs/heads/"+branch)
	}
	return runGit(r.t, r.work, "rev-parse", "HEAD")
}

func (r *testRepo) git(args ...string) string {
	r.t.Helper()
	return runGit(r.t, r.work, args...)
}

// push pushes refspecs (e.g. "--tags", "HEAD:refs/pull/1/head") to the bare repository.
func (r *testRepo) push(refspecs ...string) {
	r.t.Helper()
	runGit(r.t, r.work, append([]string{"push", "-q", "--force", r.bare}, refspecs...)...)
}

// httpGitServer serves the bare repositories under root with git http-backend.
type httpGitServer struct {
	*httptest.Server
	root        string
	uploadPacks atomic.Int64 // POST .../git-upload-pack: pack downloads
	refAdverts  atomic.Int64 // GET .../info/refs
}

type httpAuth struct {
	user, password, token string
}

func newGitHandler(t testing.TB, s *httpGitServer, auth httpAuth) http.Handler {
	if _, err := os.Stat(gitHTTPBackend); err != nil {
		t.Fatalf("%s is missing: install git (make deps)", gitHTTPBackend)
	}
	backend := &cgi.Handler{
		Path:   gitHTTPBackend,
		Root:   "/",
		Env:    []string{"GIT_PROJECT_ROOT=" + s.root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1"},
		Stderr: io.Discard,
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case auth.token != "":
			if r.Header.Get("Authorization") != "Bearer "+auth.token {
				w.Header().Set("WWW-Authenticate", `Bearer realm="git"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		case auth.user != "":
			if u, p, ok := r.BasicAuth(); !ok || u != auth.user || p != auth.password {
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-upload-pack") {
			s.uploadPacks.Add(1)
		}
		if strings.HasSuffix(r.URL.Path, "/info/refs") {
			s.refAdverts.Add(1)
		}
		backend.ServeHTTP(w, r)
	})
}

// startHTTPGitServer starts a plain HTTP git server over root.
func startHTTPGitServer(t testing.TB, root string, auth httpAuth) *httpGitServer {
	t.Helper()
	s := &httpGitServer{root: root}
	s.Server = httptest.NewServer(newGitHandler(t, s, auth))
	t.Cleanup(s.Close)
	return s
}

// startHTTPSGitServer starts an HTTPS git server with httptest's certificate; with clientCA set, clients
// must present a certificate it signed.
func startHTTPSGitServer(t testing.TB, root string, clientCA *x509.Certificate) *httpGitServer {
	t.Helper()
	s := &httpGitServer{root: root}
	s.Server = httptest.NewUnstartedServer(newGitHandler(t, s, httpAuth{}))
	s.Server.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	if clientCA != nil {
		pool := x509.NewCertPool()
		pool.AddCert(clientCA)
		s.Server.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	}
	s.Server.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// serverCAPEM returns the PEM of the HTTPS test server's certificate, to trust as ca.crt.
func (s *httpGitServer) serverCAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
}

// newClientCA returns a CA and a client certificate and key (PEM) it signed.
func newClientCA(t testing.TB) (*x509.Certificate, []byte, []byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test client CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	return ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

func newSigner(t testing.TB) (ssh.Signer, ed25519.PrivateKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s, priv
}

// privateKeyPEM encodes key in OpenSSH format, encrypted when passphrase is set.
func privateKeyPEM(t testing.TB, key ed25519.PrivateKey, passphrase string) []byte {
	t.Helper()
	var block *pem.Block
	var err error
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(key, "")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(key, "", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(block)
}

// startHangingServer accepts connections and never answers.
func startHangingServer(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// secretStore is a source.Secrets over a fixed set of Secrets.
type secretStore map[string]*corev1.Secret

func (s secretStore) GetSecret(_ context.Context, namespace, name string) (*corev1.Secret, error) {
	if sec, ok := s[namespace+"/"+name]; ok {
		return sec, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("secrets"), name)
}

func (s secretStore) add(name string, data map[string][]byte) secretStore {
	s["default/"+name] = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}, Data: data}
	return s
}

func newStore(t testing.TB) *source.Store {
	t.Helper()
	st, err := source.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func gitRepository(name, url string, mutate ...func(*sourcev1.GitRepository)) *sourcev1.GitRepository {
	obj := &sourcev1.GitRepository{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec:       sourcev1.GitRepositorySpec{URL: url, Interval: metav1.Duration{Duration: time.Minute}},
	}
	for _, m := range mutate {
		m(obj)
	}
	return obj
}

func withRef(ref sourcev1.GitRepositoryRef) func(*sourcev1.GitRepository) {
	return func(o *sourcev1.GitRepository) { o.Spec.Reference = &ref }
}

func withSecret(name string) func(*sourcev1.GitRepository) {
	return func(o *sourcev1.GitRepository) { o.Spec.SecretRef = withSecretRef(name) }
}

func withSecretRef(name string) *meta.LocalObjectReference {
	return &meta.LocalObjectReference{Name: name}
}

func withTimeout(d time.Duration) func(*sourcev1.GitRepository) {
	return func(o *sourcev1.GitRepository) { o.Spec.Timeout = &metav1.Duration{Duration: d} }
}

// artifactFiles lists an artifact's files (slash paths) with their content.
func artifactFiles(t testing.TB, a *source.Artifact) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(a.Dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(a.Dir, p)
		files[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// objectName derives a distinct object name from the test's name.
func objectName(t testing.TB) string {
	var b strings.Builder
	for _, r := range strings.ToLower(t.Name()) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	s := b.String()
	if len(s) > 63 {
		s = s[len(s)-63:]
	}
	return strings.Trim(s, "-")
}
