package sourcetest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// GiteaBinaryEnv overrides where the tests find the Gitea binary.
const GiteaBinaryEnv = "GITEA_BIN"

// GiteaBuildCommand builds the Gitea binary the tests run (make testbin runs it too).
const GiteaBuildCommand = "hack/gitea.sh"

// GiteaBinary returns the Gitea binary: $GITEA_BIN, else the one hack/gitea.sh builds into
// ${XDG_CACHE_HOME:-~/.cache}/converge/gitea. The options, templates and public folders Gitea reads at run
// time are next to it.
func GiteaBinary() (string, error) {
	bin := os.Getenv(GiteaBinaryEnv)
	if bin == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", err
			}
			cache = filepath.Join(home, ".cache")
		}
		bin = filepath.Join(cache, "converge", "gitea", "gitea")
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("the Gitea binary %s is missing: build it with %s (or make testbin), or set $%s: %w",
			bin, GiteaBuildCommand, GiteaBinaryEnv, err)
	}
	for _, d := range []string{"options", "templates", "public"} {
		if _, err := os.Stat(filepath.Join(filepath.Dir(bin), d)); err != nil {
			return "", fmt.Errorf("Gitea's %s folder is missing next to %s: rebuild with %s: %w", d, bin, GiteaBuildCommand, err)
		}
	}
	return bin, nil
}

// Gitea is a real Gitea server (the binary hack/gitea.sh builds) on loopback: SQLite, plain HTTP and its
// built-in SSH server, an admin user with an API token of every scope, registration and mail off.
type Gitea struct {
	// URL is the web and Git HTTP root, http://127.0.0.1:PORT (no trailing slash).
	URL string
	// SSHAddr is the built-in SSH server's 127.0.0.1:PORT; HostKey its (ed25519) host key.
	SSHAddr string
	HostKey ssh.PublicKey
	// Admin is the site administrator, with Password and an API Token of scope "all".
	Admin, Password, Token string
	// Dir is the work path (app.ini, SQLite database, repositories).
	Dir string
	// StartTime is how long starting the server and creating the admin took.
	StartTime time.Duration

	bin     string
	cmd     *exec.Cmd
	done    chan struct{}
	mu      sync.Mutex
	logs    bytes.Buffer
	ownsDir bool
}

// StartGitea starts a Gitea server for the test and stops it at cleanup. A missing binary fails the test
// with the command that builds it. Packages that use Gitea in many tests share one with NewGitea.
func StartGitea(t testing.TB) *Gitea {
	t.Helper()
	g, err := NewGitea(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Stop(); err != nil {
			t.Error(err)
		}
	})
	return g
}

// NewGitea starts a Gitea server with its work path in dir ("" is a new temporary folder, removed by
// Stop) and waits until it is healthy and has its admin user. The caller stops it.
func NewGitea(ctx context.Context, dir string) (*Gitea, error) {
	start := time.Now()
	bin, err := GiteaBinary()
	if err != nil {
		return nil, err
	}
	g := &Gitea{bin: bin, Dir: dir, Admin: "converge-admin", Password: "converge-admin-password"}
	if dir == "" {
		if g.Dir, err = os.MkdirTemp("", "gitea-"); err != nil {
			return nil, err
		}
		g.ownsDir = true
	}
	// A port taken by another test's server between choosing it and Gitea binding it makes Gitea exit;
	// it then starts again on new ports.
	for attempt := 1; ; attempt++ {
		err := g.start(ctx)
		if err == nil {
			break
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			g.cleanup()
			return nil, err
		}
	}
	out, err := g.command(ctx, "admin", "user", "create", "--username", g.Admin, "--password", g.Password,
		"--email", g.Admin+"@example.com", "--admin", "--must-change-password=false",
		"--access-token", "--access-token-name", "converge-tests", "--access-token-scopes", "all").CombinedOutput()
	if err != nil {
		_ = g.Stop()
		return nil, fmt.Errorf("gitea admin user create: %w\n%s", err, out)
	}
	const marker = "Access token was successfully created... "
	i := bytes.Index(out, []byte(marker))
	if i < 0 {
		_ = g.Stop()
		return nil, fmt.Errorf("gitea admin user create printed no token:\n%s", out)
	}
	g.Token = strings.Fields(string(out[i+len(marker):]))[0]
	g.StartTime = time.Since(start)
	return g, nil
}

// start writes the config with new ports and starts the web server, waiting until it is healthy.
func (g *Gitea) start(ctx context.Context) error {
	g.done = make(chan struct{})
	g.mu.Lock()
	g.logs.Reset()
	g.mu.Unlock()
	if err := g.writeConfig(); err != nil {
		return err
	}
	g.cmd = g.command(ctx, "web")
	g.cmd.Stdout, g.cmd.Stderr = &lockedWriter{g}, &lockedWriter{g}
	g.cmd.SysProcAttr = giteaProcAttr()
	if err := g.cmd.Start(); err != nil {
		return fmt.Errorf("starting gitea: %w", err)
	}
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(g.cmd, g.done)
	if err := g.waitHealthy(ctx, 2*time.Minute); err != nil {
		g.stopProcess()
		return err
	}
	return nil
}

type lockedWriter struct{ g *Gitea }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.g.mu.Lock()
	defer w.g.mu.Unlock()
	return w.g.logs.Write(p)
}

// Logs returns what the server wrote so far (warnings and errors).
func (g *Gitea) Logs() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.logs.String()
}

func (g *Gitea) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, g.bin, append(args, "--config", filepath.Join(g.Dir, "app.ini"), "--work-path", g.Dir)...)
	cmd.Dir = g.Dir
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "GITEA_") && !strings.HasPrefix(e, "GIT_") {
			env = append(env, e)
		}
	}
	// Gitea refuses to run as root unless told; the tests run as whoever runs them.
	cmd.Env = append(env, "GITEA_I_AM_BEING_UNSAFE_RUNNING_AS_ROOT=true", "HOME="+filepath.Join(g.Dir, "home"))
	return cmd
}

func (g *Gitea) writeConfig() error {
	httpPort, err := freePort()
	if err != nil {
		return err
	}
	sshPort, err := freePort()
	if err != nil {
		return err
	}
	g.URL = "http://127.0.0.1:" + strconv.Itoa(httpPort)
	g.SSHAddr = "127.0.0.1:" + strconv.Itoa(sshPort)
	for _, d := range []string{"home", "data", "log", "ssh"} {
		if err := os.MkdirAll(filepath.Join(g.Dir, d), 0o700); err != nil {
			return err
		}
	}
	// Without the bindata tag Gitea reads these from its work path.
	for _, d := range []string{"options", "templates", "public"} {
		if err := os.Symlink(filepath.Join(filepath.Dir(g.bin), d), filepath.Join(g.Dir, d)); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	// A host key written here rather than generated by Gitea (RSA 3072, slow) and known to the tests.
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return err
	}
	hostKeyFile := filepath.Join(g.Dir, "ssh", "gitea.ed25519")
	if err := os.WriteFile(hostKeyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		return err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return err
	}
	g.HostKey = signer.PublicKey()
	runUser := "root"
	if u, err := user.Current(); err == nil {
		runUser = u.Username
	}
	secret := func() string {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b)
	}
	ini := fmt.Sprintf(`APP_NAME = converge tests
RUN_MODE = prod
RUN_USER = %[1]s
WORK_PATH = %[2]s

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = %[3]d
DOMAIN = 127.0.0.1
ROOT_URL = %[4]s/
APP_DATA_PATH = %[2]s/data
OFFLINE_MODE = true
LFS_START_SERVER = false
DISABLE_SSH = false
START_SSH_SERVER = true
SSH_DOMAIN = 127.0.0.1
SSH_LISTEN_HOST = 127.0.0.1
SSH_PORT = %[5]d
SSH_LISTEN_PORT = %[5]d
SSH_SERVER_HOST_KEYS = %[6]s
BUILTIN_SSH_SERVER_USER = git
SSH_USER = git

[database]
DB_TYPE = sqlite3
PATH = %[2]s/data/gitea.db
SQLITE_JOURNAL_MODE = WAL

[repository]
ROOT = %[2]s/repositories
DEFAULT_BRANCH = main

[security]
INSTALL_LOCK = true
SECRET_KEY = %[7]s
INTERNAL_TOKEN = %[8]s
PASSWORD_HASH_ALGO = pbkdf2$1000$32
MIN_PASSWORD_LENGTH = 8
PASSWORD_COMPLEXITY = off

[oauth2]
ENABLED = false

[service]
DISABLE_REGISTRATION = true
REQUIRE_SIGNIN_VIEW = false
DEFAULT_ALLOW_CREATE_ORGANIZATION = true
ENABLE_NOTIFY_MAIL = false

[mailer]
ENABLED = false

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[queue]
TYPE = channel

[indexer]
ISSUE_INDEXER_TYPE = db
REPO_INDEXER_ENABLED = false

[cron]
ENABLED = false

[cron.update_checker]
ENABLED = false

[actions]
ENABLED = false

[packages]
ENABLED = false

[picture]
DISABLE_GRAVATAR = true
ENABLE_FEDERATED_AVATAR = false

[log]
MODE = console
LEVEL = Warn
ROOT_PATH = %[2]s/log
`, runUser, g.Dir, httpPort, g.URL, sshPort, hostKeyFile, secret(), secret())
	return os.WriteFile(filepath.Join(g.Dir, "app.ini"), []byte(ini), 0o600)
}

// freePort returns a loopback port that is free now, taken at random below the kernel's ephemeral range
// (32768 and up here): a port the kernel hands out for port 0 is soon handed to the next test package's
// server or outgoing connection, and a server started from a config file cannot take its port earlier.
func freePort() (int, error) {
	var last error
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(20000+mrand.IntN(12000)))
		if err != nil {
			last = err
			continue
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port, nil
	}
	return 0, fmt.Errorf("no free loopback port between 20000 and 32000: %w", last)
}

func (g *Gitea) waitHealthy(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-g.done:
			return fmt.Errorf("gitea exited before it was healthy:\n%s", g.Logs())
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := http.Get(g.URL + "/api/healthz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				c, err := net.DialTimeout("tcp", g.SSHAddr, time.Second)
				if err == nil {
					c.Close()
					return nil
				}
				last = fmt.Errorf("SSH server: %w", err)
				time.Sleep(50 * time.Millisecond)
				continue
			}
			err = fmt.Errorf("GET /api/healthz: %s", resp.Status)
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("gitea not healthy after %s: %v\n%s", timeout, last, g.Logs())
}

// Stop terminates the server and removes a work path NewGitea created.
func (g *Gitea) Stop() error {
	g.stopProcess()
	g.cleanup()
	return nil
}

func (g *Gitea) stopProcess() {
	if g.cmd != nil && g.cmd.Process != nil {
		_ = g.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-g.done:
		case <-time.After(10 * time.Second):
			_ = g.cmd.Process.Kill()
			<-g.done
		}
	}
}

func (g *Gitea) cleanup() {
	if g.ownsDir {
		_ = os.RemoveAll(g.Dir)
	}
}

// APIURL is the REST API root, URL/api/v1.
func (g *Gitea) APIURL() string { return g.URL + "/api/v1" }

// KnownHosts returns a known_hosts line for the SSH server's host key.
func (g *Gitea) KnownHosts() string {
	return knownhosts.Line([]string{knownhosts.Normalize(g.SSHAddr)}, g.HostKey) + "\n"
}

// SSHURL is the ssh:// URL Gitea gives for owner/name.
func (g *Gitea) SSHURL(owner, name string) string {
	return "ssh://git@" + g.SSHAddr + "/" + owner + "/" + name + ".git"
}

// GiteaAPIError is an answer of the Gitea API other than 2xx.
type GiteaAPIError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *GiteaAPIError) Error() string {
	return fmt.Sprintf("gitea %s %s: %d %s", e.Method, e.Path, e.Status, strings.TrimSpace(e.Body))
}

// API calls the REST API (path under /api/v1) with token ("" is anonymous), sending body as JSON and
// decoding the answer into out (both may be nil).
func (g *Gitea) API(ctx context.Context, token, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.APIURL()+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "token "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return &GiteaAPIError{Method: method, Path: path, Status: resp.StatusCode, Body: string(b)}
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// IsGiteaNotFound reports whether err is the API's 404.
func IsGiteaNotFound(err error) bool {
	var ae *GiteaAPIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// CreateOrg creates the organization name, owned by the admin.
func (g *Gitea) CreateOrg(t testing.TB, name string) {
	t.Helper()
	if err := g.API(context.Background(), g.Token, http.MethodPost, "/orgs", map[string]any{"username": name}, nil); err != nil {
		t.Fatal(err)
	}
}

// CreateUser creates a user (not an admin) and returns an API token of scope "all" for it.
func (g *Gitea) CreateUser(t testing.TB, name string) string {
	t.Helper()
	ctx := context.Background()
	const password = "user-password-1"
	if err := g.API(ctx, g.Token, http.MethodPost, "/admin/users", map[string]any{"username": name, "email": name + "@example.com",
		"password": password, "must_change_password": false}, nil); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.APIURL()+"/users/"+name+"/tokens",
		strings.NewReader(`{"name":"converge-tests","scopes":["all"]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(name, password)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		SHA1 string `json:"sha1"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusCreated || tok.SHA1 == "" {
		t.Fatalf("creating a token for %s: %s %v", name, resp.Status, err)
	}
	return tok.SHA1
}

// SharedGitea is one Gitea server for a test package, started by the first test that asks for it: declare
// it next to TestMain and stop it there after the tests ran.
type SharedGitea struct {
	once sync.Once
	g    *Gitea
	err  error
}

// Get returns the server, starting it on first use; a start failure fails every test that asks.
func (s *SharedGitea) Get(t testing.TB) *Gitea {
	t.Helper()
	s.once.Do(func() {
		s.g, s.err = NewGitea(context.Background(), "")
		if s.err == nil {
			t.Logf("gitea started in %s at %s (ssh %s)", s.g.StartTime.Round(time.Millisecond), s.g.URL, s.g.SSHAddr)
		}
	})
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.g
}

// Stop stops the server if it was started.
func (s *SharedGitea) Stop() {
	if s.g != nil {
		_ = s.g.Stop()
	}
}
