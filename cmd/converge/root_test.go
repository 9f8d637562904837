package main

import (
	"context"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/testenv"
	"github.com/converge-gitops/converge/engine/testenv/goldenfile"
)

var (
	cluster *testenv.Cluster
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(testenv.Main(m, &cluster))
}

type result struct {
	stdout, stderr string
	code           int
}

func run(t *testing.T, f *cmdutil.Factory, args ...string) result {
	t.Helper()
	ios, _, out, errOut := cmdutil.Test()
	f.IO = ios
	if f.RenderCacheDir == "" {
		f.RenderCacheDir = t.TempDir() // never the user's cache folder
	}
	cmd := newRoot(f)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	code := cmdutil.ExitCode(err, errOut)
	return result{stdout: out.String(), stderr: errOut.String(), code: code}
}

func newFactory() *cmdutil.Factory {
	return cmdutil.NewFactory(nil, cmdutil.BuildInfo{Version: "v1.2.3", Commit: "abc1234", Date: "2026-11-23T00:00:00Z"})
}

func kubeconfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cluster.WriteKubeconfig(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	goldenfile.CheckString(t, filepath.Join("..", "..", "testdata", "golden", "commands", name), got)
}

func TestCommands(t *testing.T) {
	kc := kubeconfig(t)
	// Stands in for an API server older than converge supports: no such Kubernetes builds here.
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"major":"1","minor":"28","gitVersion":"v1.28.4"}`))
	}))
	defer old.Close()

	tests := []struct {
		name   string
		args   []string
		code   int
		golden string
		stderr string
	}{
		{name: "version", args: []string{"version"}, golden: "version.txt"},
		{name: "version json", args: []string{"version", "-o", "json"}, golden: "version.json"},
		{name: "version client", args: []string{"version", "--client"}, golden: "version.txt"},
		{name: "version bad output", args: []string{"version", "-o", "xml"}, code: 2, stderr: `unknown output format "xml"`},
		{name: "check pre", args: []string{"check", "--pre", "--kubeconfig", kc}, golden: "check-pre.txt"},
		{name: "check pre json", args: []string{"check", "--pre", "--kubeconfig", kc, "-o", "json"}, golden: "check-pre.json"},
		{name: "check unreachable", args: []string{"check", "--pre", "--server", "https://127.0.0.1:1", "--timeout", "5s"}, code: 2,
			stderr: "cannot reach the Kubernetes API server"},
		{name: "check too old", args: []string{"check", "--pre", "--server", old.URL}, code: 2,
			stderr: "Kubernetes 1.28.4 is older than converge supports (>=1.32.0-0)"},
		{name: "unknown flag", args: []string{"check", "--prre"}, code: 2, stderr: "unknown flag: --prre"},
		{name: "unknown command", args: []string{"chekc"}, code: 2, stderr: `unknown command "chekc"`},
		{name: "completion bash", args: []string{"completion", "bash"}, stderr: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, newFactory(), tt.args...)
			if res.code != tt.code {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", res.code, tt.code, res.stdout, res.stderr)
			}
			if tt.golden != "" {
				golden(t, tt.golden, res.stdout+res.stderr)
			}
			if tt.stderr != "" && !strings.Contains(res.stderr, tt.stderr) {
				t.Errorf("stderr %q does not contain %q", res.stderr, tt.stderr)
			}
		})
	}
}

func TestCompletionScripts(t *testing.T) {
	for shell, marker := range map[string]string{"bash": "__start_converge", "zsh": "#compdef converge", "fish": "complete -c converge", "powershell": "Register-ArgumentCompleter"} {
		res := run(t, newFactory(), "completion", shell)
		if res.code != 0 || !strings.Contains(res.stdout, marker) {
			t.Errorf("%s completion: exit %d, missing %q", shell, res.code, marker)
		}
	}
}

// TestSettingsPrecedence checks flags > CONVERGE_* environment > config file > defaults.
func TestSettingsPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgFile, []byte("timeout: 7m\nnamespace: from-file\nverbose: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctxKubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(ctxKubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: from-context}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		env       map[string]string
		args      []string
		timeout   time.Duration
		namespace string
		verbose   bool
	}{
		{name: "defaults", timeout: 5 * time.Minute, namespace: "flux-system"},
		{name: "config file", args: []string{"--config", cfgFile}, timeout: 7 * time.Minute, namespace: "from-file", verbose: true},
		{name: "env beats file", env: map[string]string{"CONVERGE_TIMEOUT": "9m", "CONVERGE_NAMESPACE": "from-env"},
			args: []string{"--config", cfgFile}, timeout: 9 * time.Minute, namespace: "from-env", verbose: true},
		{name: "flag beats env", env: map[string]string{"CONVERGE_TIMEOUT": "9m"},
			args: []string{"--config", cfgFile, "--timeout", "1m", "-n", "from-flag", "--verbose=false"}, timeout: time.Minute, namespace: "from-flag"},
		// Flux's environment and flags for the default namespace.
		{name: "FLUX_SYSTEM_NAMESPACE", env: map[string]string{"FLUX_SYSTEM_NAMESPACE": "flux-env"}, timeout: 5 * time.Minute, namespace: "flux-env"},
		{name: "invalid FLUX_SYSTEM_NAMESPACE ignored", env: map[string]string{"FLUX_SYSTEM_NAMESPACE": "Not_A_Name"}, timeout: 5 * time.Minute, namespace: "flux-system"},
		{name: "CONVERGE_NAMESPACE beats FLUX_SYSTEM_NAMESPACE", env: map[string]string{"FLUX_SYSTEM_NAMESPACE": "flux-env", "CONVERGE_NAMESPACE": "from-env"},
			timeout: 5 * time.Minute, namespace: "from-env"},
		{name: "ns follows kube context", args: []string{"--kubeconfig", ctxKubeconfig, "--ns-follows-kube-context"}, timeout: 5 * time.Minute, namespace: "from-context"},
		{name: "ns follows kube context, from env", env: map[string]string{"FLUX_NS_FOLLOWS_KUBE_CONTEXT": "1"},
			args: []string{"--kubeconfig", ctxKubeconfig}, timeout: 5 * time.Minute, namespace: "from-context"},
		{name: "-n beats the kube context", args: []string{"--kubeconfig", ctxKubeconfig, "--ns-follows-kube-context", "-n", "from-flag"}, timeout: 5 * time.Minute, namespace: "from-flag"},
		{name: "kube context not followed by default", args: []string{"--kubeconfig", ctxKubeconfig}, timeout: 5 * time.Minute, namespace: "flux-system"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("XDG_CONFIG_HOME", t.TempDir())
			t.Setenv("FLUX_SYSTEM_NAMESPACE", "")
			t.Setenv("FLUX_NS_FOLLOWS_KUBE_CONTEXT", "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			f := newFactory()
			ios, _, _, _ := cmdutil.Test()
			f.IO = ios
			cmd := newRoot(f)
			cmd.AddCommand(&cobra.Command{Use: "probe", RunE: func(*cobra.Command, []string) error { return nil }})
			cmd.SetArgs(append([]string{"probe"}, tt.args...))
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			if f.Timeout != tt.timeout || f.Namespace() != tt.namespace || f.Verbose != tt.verbose {
				t.Errorf("got timeout=%v namespace=%s verbose=%v, want %v %s %v", f.Timeout, f.Namespace(), f.Verbose, tt.timeout, tt.namespace, tt.verbose)
			}
		})
	}
}

func TestBadConfigFileIsAnError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte("timeout: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := run(t, newFactory(), "version", "--config", p)
	if res.code != 2 || !strings.Contains(res.stderr, p) {
		t.Fatalf("want exit 2 naming %s, got %d: %s", p, res.code, res.stderr)
	}
	res = run(t, newFactory(), "version", "--config", filepath.Join(t.TempDir(), "missing.yaml"))
	if res.code != 2 {
		t.Fatalf("an explicit missing config file must be an error, got exit %d", res.code)
	}
}

// TestConfigFileKeys: keys are flag names in any case; a key that is a flag of another command is
// accepted; a key that names no flag, or a config file that is not YAML or JSON, is refused naming the
// file; an empty CONVERGE_* variable does not override the file.
func TestConfigFileKeys(t *testing.T) {
	tests := []struct {
		name, file, content string
		env                 map[string]string
		timeout             time.Duration
		wantErr             string
	}{
		{name: "upper-case key", file: "config.yaml", content: "Timeout: 3m\n", timeout: 3 * time.Minute},
		{name: "flag of another command", file: "config.yaml", content: "show-secrets: true\ntimeout: 2m\n", timeout: 2 * time.Minute},
		{name: "JSON", file: "config.json", content: `{"timeout": "4m"}`, timeout: 4 * time.Minute},
		{name: "empty env variable", file: "config.yaml", content: "timeout: 6m\n", env: map[string]string{"CONVERGE_TIMEOUT": ""}, timeout: 6 * time.Minute},
		{name: "unknown key", file: "config.yaml", content: "timout: 1m\n", wantErr: `"timout" is not a flag of any converge command`},
		{name: "key set twice", file: "config.yaml", content: "timeout: 1m\nTIMEOUT: 2m\n", wantErr: "set twice"},
		{name: "not YAML", file: "config.toml", content: "timeout = \"1m\"\n", wantErr: "only YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("XDG_CONFIG_HOME", t.TempDir())
			t.Setenv("FLUX_SYSTEM_NAMESPACE", "")
			t.Setenv("FLUX_NS_FOLLOWS_KUBE_CONTEXT", "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			p := filepath.Join(t.TempDir(), tt.file)
			if err := os.WriteFile(p, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			f := newFactory()
			ios, _, _, _ := cmdutil.Test()
			f.IO = ios
			cmd := newRoot(f)
			cmd.AddCommand(&cobra.Command{Use: "probe", RunE: func(*cobra.Command, []string) error { return nil }})
			cmd.SetArgs([]string{"probe", "--config", p})
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), p) {
					t.Fatalf("error %v, want %q naming %s", err, tt.wantErr, p)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Timeout != tt.timeout {
				t.Errorf("timeout %v, want %v", f.Timeout, tt.timeout)
			}
		})
	}
}
