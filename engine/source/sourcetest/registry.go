// Package sourcetest starts real servers on loopback for source tests: Debian's docker-registry as the
// OCI registry.
package sourcetest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// RegistryBinary is Debian's docker-registry (apt-get install docker-registry).
const RegistryBinary = "/usr/bin/docker-registry"

// Registry is a running OCI registry.
type Registry struct {
	// Host is "127.0.0.1:<port>", to use in references such as Host + "/org/repo:tag".
	Host string
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
  addr: 127.0.0.1:%d
%s`, filepath.Join(dir, "data"), port, auth)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(RegistryBinary, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	host := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(15 * time.Second); ; {
		resp, err := http.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry did not start on %s: %v", host, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &Registry{Host: host}
}
