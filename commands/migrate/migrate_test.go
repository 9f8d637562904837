package migrate

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/testenv/goldenfile"
)

// copyTree copies testdata/migrate/in into a temporary directory and returns it.
func copyTree(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	src := "../../testdata/migrate/in"
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// The goldens hold what Flux 2.9's `flux migrate -f` printed and wrote for the same files (the log with the
// temporary directory shown as IN).
func TestMigrateFiles(t *testing.T) {
	tests := []struct {
		name, path, version, stdin, err string
		dryRun, yes                     bool
		files                           []string // goldens of the files after the run
	}{
		{name: "default", yes: true, files: []string{"flux.yaml", "sub/image.yml", "sub/ignored.txt"}},
		{name: "flux-2.6", version: "2.6", yes: true, files: []string{"sub/image.yml"}},
		{name: "dry-run", dryRun: true, files: []string{"flux.yaml"}},
		{name: "confirmed", stdin: "y\n", files: []string{"flux.yaml"}},
		{name: "single-file", path: "sub/image.yml", yes: true, files: []string{"sub/image.yml", "flux.yaml"}},
		{name: "declined", stdin: "n\n", err: "migration aborted: not confirmed (pass --yes to skip the prompt)", files: []string{"flux.yaml"}},
		{name: "extension", path: "sub/ignored.txt", yes: true, err: "file IN/sub/ignored.txt does not match the specified extensions: .yaml, .yml"},
		{name: "missing", path: "nope", yes: true, err: "failed to stat path IN/nope: stat IN/nope: no such file or directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyTree(t)
			ios, in, _, errOut := cmdutil.Test()
			in.WriteString(tc.stdin)
			opts := &Options{IO: ios, Path: filepath.Join(dir, tc.path), Version: tc.version, Yes: tc.yes, DryRun: tc.dryRun,
				Extensions: []string{".yaml", ".yml"}}
			if err := opts.Validate(); err != nil {
				t.Fatal(err)
			}
			err := opts.Run(context.Background())
			if tc.err != "" {
				if err == nil || strings.ReplaceAll(err.Error(), dir, "IN") != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			golden := func(name, got string) {
				goldenfile.CheckString(t, filepath.Join("../../testdata/migrate/golden", tc.name, name), got)
			}
			if tc.err == "" || tc.stdin != "" {
				golden("log.txt", strings.ReplaceAll(errOut.String(), dir, "IN"))
			}
			for _, f := range tc.files {
				b, err := os.ReadFile(filepath.Join(dir, f))
				if err != nil {
					t.Fatal(err)
				}
				golden(f, string(b))
			}
		})
	}
}

func TestMigrateValidate(t *testing.T) {
	for _, tc := range []struct{ name, path, version, err string }{
		{name: "cluster mode", err: "migrate: the cluster mode (no --path) is not implemented yet: pass --path to migrate the manifests in files"},
		{name: "unknown version", path: ".", version: "2.5", err: "--version: version 2.5 is not supported, supported versions are: 2.9, 2.8, 2.7, 2.6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ios, _, _, _ := cmdutil.Test()
			opts := &Options{IO: ios, Path: tc.path, Version: tc.version, Extensions: []string{".yaml"}}
			if err := opts.Validate(); err == nil || err.Error() != tc.err {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
		})
	}
}
