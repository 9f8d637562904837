package helmchart

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDockerConfigLogin(t *testing.T) {
	auth := base64.StdEncoding.EncodeToString([]byte("robot:tok:en"))
	cfg := `{"auths":{
		"ghcr.io":{"username":"exact","password":"p1"},
		"https://ghcr.io/v1/":{"username":"url","password":"p2"},
		"https://registry.example:5000/v2/":{"auth":"` + auth + `"},
		"bad.example":{"auth":"!!!"}
	}}`
	tests := []struct {
		host, user, pass, err string
	}{
		{host: "ghcr.io", user: "exact", pass: "p1"},
		{host: "registry.example:5000", user: "robot", pass: "tok:en"},
		{host: "bad.example", err: "invalid auth"},
		{host: "missing.example", err: "no auth config for 'missing.example'"},
	}
	for _, tt := range tests {
		u, p, err := dockerConfigLogin([]byte(cfg), tt.host)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err = %v, want %q", tt.host, err, tt.err)
			}
			continue
		}
		if err != nil || u != tt.user || p != tt.pass {
			t.Errorf("%s: %q %q %v; want %q %q", tt.host, u, p, err, tt.user, tt.pass)
		}
	}
	if _, _, err := dockerConfigLogin([]byte("{"), "x"); err == nil {
		t.Error("malformed config accepted")
	}
}

func FuzzDockerConfigLogin(f *testing.F) {
	f.Add([]byte(`{"auths":{"h":{"username":"u","password":"p"}}}`), "h")
	f.Add([]byte(`{"auths":{"https://h/v1/":{"auth":"dTpw"}}}`), "h")
	f.Add([]byte(`{"auths":null}`), "")
	f.Fuzz(func(t *testing.T, data []byte, host string) {
		u, p, err := dockerConfigLogin(data, host)
		if err != nil && (u != "" || p != "") {
			t.Fatalf("credentials returned with an error: %q %q %v", u, p, err)
		}
	})
}

func TestSecureJoin(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	writeFile(t, filepath.Join(root, "a", "b.yaml"), "x: 1\n")
	writeFile(t, filepath.Join(outside, "secret"), "s\n")
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(root, "a", "leak")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("b.yaml", filepath.Join(root, "a", "ok")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		rel, want string
		err       bool
	}{
		{rel: "a/b.yaml", want: filepath.Join(root, "a", "b.yaml")},
		{rel: "./a/../a/b.yaml", want: filepath.Join(root, "a", "b.yaml")},
		{rel: "../../a/b.yaml", want: filepath.Join(root, "a", "b.yaml")},
		{rel: "a/ok", want: filepath.Join(root, "a", "b.yaml")},
		{rel: "a/missing", want: filepath.Join(root, "a", "missing")},
		{rel: "a/leak", err: true},
		{rel: filepath.Join(root, "a", "b.yaml"), want: filepath.Join(root, "a", "b.yaml")},
	}
	for _, tt := range tests {
		got, err := secureJoin(root, tt.rel)
		if tt.err {
			if err == nil {
				t.Errorf("secureJoin(%q) = %s, want an error", tt.rel, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("secureJoin(%q) = %s, %v; want %s", tt.rel, got, err, tt.want)
		}
	}
}

func FuzzSecureJoin(f *testing.F) {
	for _, s := range []string{"a", "../x", "/etc/passwd", "a/../../..", "a/leak", "a/leak/../b", ".", ""} {
		f.Add(s)
	}
	root := f.TempDir()
	outside := f.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "a"), 0o755); err != nil {
		f.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "a", "leak")); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, rel string) {
		if strings.ContainsRune(rel, 0) {
			return
		}
		got, err := secureJoin(root, rel)
		if err != nil {
			return
		}
		if got != root && !strings.HasPrefix(got, root+string(filepath.Separator)) {
			t.Fatalf("secureJoin(%q) = %s, outside %s", rel, got, root)
		}
		if real, err := filepath.EvalSymlinks(got); err == nil {
			if werr := within(root, real); werr != nil {
				t.Fatalf("secureJoin(%q) = %s resolves outside the root (%s)", rel, got, real)
			}
		}
	})
}
