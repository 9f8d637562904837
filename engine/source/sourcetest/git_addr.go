package sourcetest

import (
	"net"
	"net/http/httptest"
	"os"
	"testing"
)

// StartGitServerOn is StartGitServer listening on host (an address of this machine, such as a node
// environment's bridge gateway, which Pods reach) instead of loopback.
func StartGitServerOn(t testing.TB, host string) *GitServer {
	t.Helper()
	if _, err := os.Stat(GitHTTPBackend); err != nil {
		t.Fatalf("%s is missing: install git (make deps)", GitHTTPBackend)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("listening on %s: %v", host, err)
	}
	s := &GitServer{Root: t.TempDir()}
	s.Server = httptest.NewUnstartedServer(GitHTTPHandler(s.Root))
	s.Server.Listener.Close()
	s.Server.Listener = l
	s.Server.Start()
	t.Cleanup(s.Close)
	return s
}
