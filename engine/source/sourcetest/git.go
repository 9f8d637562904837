package sourcetest

import (
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// GitHTTPBackend is git's own smart-HTTP server, which GitServer runs.
const GitHTTPBackend = "/usr/lib/git-core/git-http-backend"

// GitServer serves the bare repositories under Root over HTTP with git http-backend.
type GitServer struct {
	*httptest.Server
	Root string
}

// StartGitServer starts a Git HTTP server over a new temporary folder; it stops when the test ends.
func StartGitServer(t testing.TB) *GitServer {
	t.Helper()
	if _, err := os.Stat(GitHTTPBackend); err != nil {
		t.Fatalf("%s is missing: install git (make deps)", GitHTTPBackend)
	}
	s := &GitServer{Root: t.TempDir()}
	s.Server = httptest.NewServer(GitHTTPHandler(s.Root))
	t.Cleanup(func() { s.Server.Close() })
	return s
}

// Stop shuts the server down (a Git server outage): connections to its address are refused until
// Restart. The repositories stay on disk and may still be committed to.
func (s *GitServer) Stop() { s.Server.Close() }

// Restart serves the repositories again at the same address after Stop.
func (s *GitServer) Restart(t testing.TB) {
	t.Helper()
	addr := s.Listener.Addr().String()
	var ln net.Listener
	var err error
	// The port was ours a moment ago; another process may take it in between, which fails the test.
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("restarting the Git server on %s: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(GitHTTPHandler(s.Root))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	s.Server = srv
}

// GitHTTPHandler serves the bare repositories under root with git http-backend (smart HTTP, every
// repository exported; pushes only to a repository whose config sets http.receivepack).
func GitHTTPHandler(root string) http.Handler {
	return &cgi.Handler{
		Path:   GitHTTPBackend,
		Root:   "/",
		Env:    []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1"},
		Stderr: io.Discard,
	}
}

// GitRepo is a work tree whose commits are pushed to a bare repository a GitServer serves.
type GitRepo struct {
	t    testing.TB
	Work string
	// URL is the repository's HTTP URL.
	URL  string
	bare string
}

// NewRepo creates the bare repository name.git on s and a work tree to build its history in; the
// branch is main.
func (s *GitServer) NewRepo(t testing.TB, name string) *GitRepo {
	t.Helper()
	r := &GitRepo{t: t, Work: filepath.Join(t.TempDir(), name), bare: filepath.Join(s.Root, name+".git"), URL: s.URL + "/" + name + ".git"}
	RunGit(t, s.Root, "init", "-q", "--bare", r.bare)
	RunGit(t, s.Root, "init", "-q", r.Work)
	return r
}

// Commit writes files (a nil content deletes the file), commits everything and pushes the branch;
// it returns the commit hash.
func (r *GitRepo) Commit(msg string, files map[string]*string) string {
	r.t.Helper()
	for name, content := range files {
		p := filepath.Join(r.Work, filepath.FromSlash(name))
		if content == nil {
			if err := os.Remove(p); err != nil {
				r.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(*content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	RunGit(r.t, r.Work, "add", "-A")
	RunGit(r.t, r.Work, "commit", "-q", "--allow-empty", "-m", msg)
	RunGit(r.t, r.Work, "push", "-q", "--force", r.bare, "HEAD:refs/heads/main")
	return RunGit(r.t, r.Work, "rev-parse", "HEAD")
}

// RunGit runs git in dir, ignoring the machine's configuration, and returns its trimmed output.
func RunGit(t testing.TB, dir string, args ...string) string {
	t.Helper()
	args = append([]string{"-c", "init.defaultBranch=main", "-c", "commit.gpgSign=false"}, args...)
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Str returns a pointer to s, for GitRepo.Commit's file contents.
func Str(s string) *string { return &s }
