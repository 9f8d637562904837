package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

var converge struct {
	once sync.Once
	path string
	err  error
}

// ConvergeBinary builds cmd/converge once per test process and returns its path, for tests that run
// converge as a process; $CONVERGE_TEST_BINARY names a binary to use instead.
func ConvergeBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("CONVERGE_TEST_BINARY"); p != "" {
		return p
	}
	converge.once.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			converge.err = err
			return
		}
		dir, err := os.MkdirTemp("", "converge-bin-")
		if err != nil {
			converge.err = err
			return
		}
		converge.path = filepath.Join(dir, "converge")
		cmd := exec.Command("go", "build", "-o", converge.path, "./cmd/converge")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			converge.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if converge.err != nil {
		t.Fatal(converge.err)
	}
	return converge.path
}

// WriteTokenKubeconfig writes a kubeconfig for cfg's server authenticated with cfg's bearer token (as
// ServiceAccountConfig returns it) into a temporary folder of t, and returns its path.
func WriteTokenKubeconfig(t testing.TB, cfg *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kc.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	kc.CurrentContext = "c"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}
