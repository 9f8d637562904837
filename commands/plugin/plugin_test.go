package plugin

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/testenv/goldenfile"
)

const script = "#!/bin/sh\necho \"hello from operator: $*\"\nexit 3\n"

// catalogDir writes a plugin catalog as Flux's is published (static files): catalog.yaml, operator.yaml
// with a tar.gz (0.1.0) and a plain executable (0.2.0), and a manifest with a bin outside the prefix.
func catalogDir(t *testing.T, base string) string {
	t.Helper()
	dir := t.TempDir()
	var tgz bytes.Buffer
	gz := gzip.NewWriter(&tgz)
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Name: "dist/flux-operator", Mode: 0o755, Size: int64(len(script)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(script))
	tw.Close()
	gz.Close()
	files := map[string]string{
		"dl/op-1.tar.gz": tgz.String(),
		"dl/op-2":        script,
		"catalog.yaml": `apiVersion: cli.fluxcd.io/v1beta1
kind: PluginCatalog
plugins:
- {name: operator, description: Flux Operator CLI, homepage: https://example.com, source: https://example.com/src, license: Apache-2.0}
- {name: schema, description: Schema tool, homepage: https://example.com, source: https://example.com/src, license: MIT}
`,
		"operator.yaml": fmt.Sprintf(`apiVersion: cli.fluxcd.io/v1beta1
kind: Plugin
name: operator
description: Flux Operator CLI
bin: flux-operator
versions:
- version: 0.2.0
  platforms:
  - {os: linux, arch: amd64, url: "%[1]sdl/op-2", checksum: "sha256:%[2]x"}
- version: 0.1.0
  platforms:
  - {os: linux, arch: amd64, url: "%[1]sdl/op-1.tar.gz", checksum: "sha256:%[3]x"}
  - {os: darwin, arch: arm64, url: "%[1]sdl/op-1.tar.gz", checksum: "sha256:00"}
`, base, sha256.Sum256([]byte(script)), sha256.Sum256(tgz.Bytes())),
		"evil.yaml": `apiVersion: cli.fluxcd.io/v1beta1
kind: Plugin
name: evil
bin: ../flux-evil
versions: [{version: 1.0.0, platforms: []}]
`,
		"badsum.yaml": fmt.Sprintf(`apiVersion: cli.fluxcd.io/v1beta1
kind: Plugin
name: badsum
bin: flux-badsum
versions: [{version: 1.0.0, platforms: [{os: linux, arch: amd64, url: "%sdl/op-2", checksum: "sha256:00"}]}]
`, base),
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestPluginSession runs plugin commands in turn against a catalog served over loopback HTTP (a real
// static file server, as Flux's catalog is), each through a root built afresh as the binary does, so
// that installed plugins are discovered as commands.
func TestPluginSession(t *testing.T) {
	var files http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { files.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	files = http.FileServer(http.Dir(catalogDir(t, srv.URL+"/")))
	pluginDir := filepath.Join(t.TempDir(), "plugins") // created by the first install
	env := Env{GOOS: "linux", GOARCH: "amd64", HTTPClient: srv.Client(),
		Home: func() (string, error) { return "/nonexistent", nil },
		Getenv: func(k string) string {
			return map[string]string{"FLUXCD_PLUGINS": pluginDir, "FLUXCD_PLUGIN_CATALOG": srv.URL + "/"}[k]
		}}
	steps := [][]string{
		{"plugin", "search"},
		{"plugin", "search", "SCHEMA"},
		{"plugin", "search", "nothing"},
		{"plugin", "list"},
		{"plugin", "install", "operator@0.1.0"},
		{"plugin", "ls"},
		{"plugin", "search", "op"},
		{"operator", "a", "--b", "c"},
		{"!write", "converge-hello"}, // converge's own prefix, installed by hand
		{"hello", "x"},
		{"plugin", "list"},
		{"plugin", "install", "operator@9.9.9"},
		{"plugin", "install", "operator@sha256:00"},
		{"plugin", "install", "nope"},
		{"plugin", "install", "evil"},
		{"plugin", "install", "badsum"},
		{"plugin", "upgrade"},
		{"plugin", "update", "operator"},
		{"plugin", "update", "other"},
		// installed from the catalog at 0.9.0; 1.0.0's checksum is wrong: reported, exit 0 as in Flux
		{"!write", "flux-badsum"},
		{"!write", "flux-badsum.yaml", "name: badsum\nversion: 0.9.0\n"},
		{"plugin", "update", "badsum"},
		{"plugin", "uninstall", "badsum"},
		{"plugin", "uninstall", "operator"},
		{"plugin", "delete", "operator"},
		{"plugin", "list"},
	}
	var transcript strings.Builder
	for _, args := range steps {
		if args[0] == "!write" {
			content := "#!/bin/sh\necho hello $1\n"
			if len(args) == 3 {
				content = args[2]
			}
			if err := os.WriteFile(filepath.Join(pluginDir, args[1]), []byte(content), 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		io, _, out, errOut := cmdutil.Test()
		f := cmdutil.NewFactory(io, cmdutil.BuildInfo{Version: "test"})
		f.Clock = clocktesting.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
		root := &cobra.Command{Use: "converge", SilenceErrors: true, SilenceUsage: true}
		root.SetOut(out)
		root.SetErr(errOut)
		root.AddCommand(&cobra.Command{Use: "get", Run: func(*cobra.Command, []string) {}})
		root.AddCommand(NewCmdPlugin(f, env, func() []string { return []string{"get", "plugin"} }))
		AddDiscovered(f, root, env)
		root.SetArgs(args)
		code := cmdutil.ExitCode(root.Execute(), errOut)
		fmt.Fprintf(&transcript, "$ converge %s\n%s%s(exit %d)\n\n", strings.Join(args, " "), out, errOut, code)
	}
	got := strings.ReplaceAll(strings.ReplaceAll(transcript.String(), pluginDir, "$PLUGINS"), srv.URL, "$CATALOG")
	// the PATH column is as wide as the temporary directory's name
	got = regexp.MustCompile(`(?m)^(\S+ *\t\S+ *\t(?:PATH|\$PLUGINS\S*)) +`).ReplaceAllString(got, "$1 ")
	goldenfile.CheckString(t, "../../testdata/golden/commands/plugin-session.txt", got)
	receipt, err := os.ReadFile(filepath.Join(pluginDir, "flux-operator.yaml"))
	if err == nil {
		t.Errorf("receipt left after uninstall: %s", receipt)
	}
}
