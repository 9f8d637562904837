package sourcetest

import (
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
)

// AuthGitServer is a GitServer that requires HTTP basic authentication and accepts pushes.
type AuthGitServer struct {
	*GitServer
	// Pushes counts git-receive-pack POSTs (pushes that sent a pack or updated refs).
	Pushes atomic.Int64
}

// StartAuthGitServer starts a Git HTTP server (git http-backend) over a new temporary folder that
// requires the given basic-auth credentials for every request, fetches and pushes alike.
func StartAuthGitServer(t testing.TB, username, password string) *AuthGitServer {
	t.Helper()
	if _, err := os.Stat(GitHTTPBackend); err != nil {
		t.Fatalf("%s is missing: install git (make deps)", GitHTTPBackend)
	}
	s := &AuthGitServer{GitServer: &GitServer{Root: t.TempDir()}}
	backend := &cgi.Handler{
		Path: GitHTTPBackend,
		Root: "/",
		Env: []string{"GIT_PROJECT_ROOT=" + s.Root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=/dev/null", "REMOTE_USER=" + username},
		Stderr: io.Discard,
	}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != username || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
			s.Pushes.Add(1)
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}
