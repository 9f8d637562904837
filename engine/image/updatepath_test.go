package image

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUpdatePathStaysInTheClone(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	for _, d := range []string{"apps/prod", "real"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(dir, "inside")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, want, err string
	}{
		{path: "./apps/prod", want: "apps/prod"},
		{path: "../../apps", want: "apps"},
		{path: "", want: "."},
		{path: "./inside", want: "real"},
		{path: "./escape", err: "leaves the repository through a symbolic link"},
		{path: "./missing", err: "no such file"},
	}
	for _, tt := range tests {
		got, err := updatePath(dir, tt.path)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want %q", tt.path, err, tt.err)
			}
			continue
		}
		if err != nil || got != filepath.Join(dir, tt.want) {
			t.Errorf("%q: %q, %v; want %q", tt.path, got, err, filepath.Join(dir, tt.want))
		}
	}
}
