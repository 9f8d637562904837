package plugin

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDiscover(t *testing.T) {
	dir := t.TempDir()
	for name, mode := range map[string]os.FileMode{
		"flux-a": 0o755, "converge-a": 0o755, // flux- wins
		"converge-b": 0o755, "flux-c": 0o644, // not executable
		"flux-get": 0o755, "flux-help": 0o755, "flux-plugin": 0o755, // builtin, reserved
		"flux-a.yaml": 0o644, "other": 0o755, "flux-": 0o755,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "flux-d"), 0o755); err != nil {
		t.Fatal(err)
	}
	got := Discover(dir, []string{"get"})
	want := []Plugin{{Name: "a", Path: filepath.Join(dir, "flux-a")}, {Name: "b", Path: filepath.Join(dir, "converge-b")}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Discover = %v, want %v", got, want)
	}
	if got := Discover(filepath.Join(dir, "missing"), nil); got != nil {
		t.Errorf("missing dir: %v", got)
	}
}

func TestDir(t *testing.T) {
	home := func() (string, error) { return "/home/u", nil }
	if got := Dir(func(string) string { return "" }, home); got != "/home/u/.fluxcd/plugins" {
		t.Errorf("default dir %q", got)
	}
	if got := Dir(func(k string) string { return map[string]string{EnvDir: "/p"}[k] }, home); got != "/p" {
		t.Errorf("env dir %q", got)
	}
}

func TestExtractZip(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range map[string]string{"../flux-x": "escape", "README": "doc", "bin/flux-x": "exe"} {
		w, _ := zw.Create(name)
		w.Write([]byte(body))
	}
	zw.Close()
	got, err := extract(buf.Bytes(), "https://h/x.zip", "flux-x")
	if err != nil || string(got) != "exe" {
		t.Errorf("extract = %q, %v", got, err)
	}
	if _, err := extract(buf.Bytes(), "", "flux-y"); err == nil || !strings.Contains(err.Error(), `binary "flux-y" not found`) {
		t.Errorf("missing entry: %v", err)
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte("apiVersion: cli.fluxcd.io/v1beta1\nkind: Plugin\nname: a\nbin: flux-a\nversions: [{version: 1, platforms: [{os: linux, arch: amd64}]}]\n"))
	f.Add([]byte("apiVersion: cli.fluxcd.io/v1beta1\nkind: PluginCatalog\nplugins: [{name: a}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if m, err := ParseManifest("a", data); err == nil {
			if len(m.Versions) == 0 || !strings.HasPrefix(m.Bin, Prefix) || filepath.Base(m.Bin) != m.Bin {
				t.Fatalf("accepted %+v", m)
			}
			_, _, _ = m.Resolve("", "linux", "amd64")
		}
		if c, err := ParseCatalog(data); err == nil && c.Kind != CatalogKind {
			t.Fatalf("accepted %+v", c)
		}
	})
}
