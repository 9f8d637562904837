package git

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/converge-gitops/converge/engine/source"
)

func TestWorkTree(t *testing.T) {
	type want struct {
		branch   string // "" when detached
		dirty    bool
		files    []string
		contents map[string]string
	}
	tracked := []string{"build/keep.txt", "deploy/app.yaml", "run.sh"}
	tests := []struct {
		name   string
		change func(t *testing.T, r *testRepo)
		ignore *string
		want   want
	}{
		{"clean", nil, nil, want{branch: "master", files: tracked}},
		{"ignored files do not count", func(t *testing.T, r *testRepo) {
			r.write(map[string]string{"debug.log": "x", "build/out.bin": "x", "deploy/tmp/cache.log": "x"})
		}, nil, want{branch: "master", files: tracked}},
		{"touched but unchanged", func(t *testing.T, r *testRepo) {
			later := time.Now().Add(time.Hour)
			if err := os.Chtimes(filepath.Join(r.work, "deploy/app.yaml"), later, later); err != nil {
				t.Fatal(err)
			}
		}, nil, want{branch: "master", files: tracked}},
		{"modified file of the same size", func(t *testing.T, r *testRepo) {
			r.write(map[string]string{"deploy/app.yaml": "kind: B"})
		}, nil, want{branch: "master", dirty: true, files: tracked, contents: map[string]string{"deploy/app.yaml": "kind: B"}}},
		{"untracked file", func(t *testing.T, r *testRepo) {
			r.write(map[string]string{"deploy/new.yaml": "kind: New"})
		}, nil, want{branch: "master", dirty: true, files: append([]string{"deploy/new.yaml"}, tracked...)}},
		{"deleted file", func(t *testing.T, r *testRepo) {
			if err := os.Remove(filepath.Join(r.work, "run.sh")); err != nil {
				t.Fatal(err)
			}
		}, nil, want{branch: "master", dirty: true, files: []string{"build/keep.txt", "deploy/app.yaml"}}},
		{"staged change", func(t *testing.T, r *testRepo) {
			r.write(map[string]string{"deploy/app.yaml": "kind: Staged"})
			r.git("add", "deploy/app.yaml")
		}, nil, want{branch: "master", dirty: true, files: tracked}},
		{"executable bit", func(t *testing.T, r *testRepo) {
			if err := os.Chmod(filepath.Join(r.work, "deploy/app.yaml"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, nil, want{branch: "master", dirty: true, files: tracked}},
		{"detached HEAD", func(t *testing.T, r *testRepo) {
			r.git("checkout", "-q", "--detach")
		}, nil, want{files: tracked}},
		{"other branch", func(t *testing.T, r *testRepo) {
			r.git("checkout", "-q", "-b", "feature/y")
		}, nil, want{branch: "feature/y", files: tracked}},
		{"spec.ignore", nil, ptr("/deploy/\n"), want{branch: "master", files: []string{"build/keep.txt", "run.sh"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRepo(t, t.TempDir(), "wt")
			r.git("remote", "add", "origin", "git@github.com:org/wt.git")
			r.git("remote", "add", "mirror", "https://example.com/org/wt")
			r.write(map[string]string{".gitignore": "*.log\nbuild/\n", "deploy/app.yaml": "kind: A", "build/keep.txt": "keep", "run.sh": "#!/bin/sh\n"})
			if err := os.Chmod(filepath.Join(r.work, "run.sh"), 0o755); err != nil {
				t.Fatal(err)
			}
			r.git("add", "-A")
			r.git("add", "-f", "build/keep.txt")
			r.git("commit", "-q", "-m", "init")
			head := r.git("rev-parse", "HEAD")
			if tt.change != nil {
				tt.change(t, r)
			}

			wt, err := DetectWorkTree(filepath.Join(r.work, "deploy"))
			if err != nil {
				t.Fatal(err)
			}
			if wt.Root != r.work || wt.Head != head || wt.Branch != tt.want.branch || wt.Dirty != tt.want.dirty {
				t.Errorf("root %s head %s branch %q dirty %v; want %s %s %q %v", wt.Root, wt.Head, wt.Branch, wt.Dirty, r.work, head, tt.want.branch, tt.want.dirty)
			}
			if got := wt.Remotes["origin"]; len(got) != 1 || got[0] != "git@github.com:org/wt.git" {
				t.Errorf("origin %v", got)
			}
			if name, ok := wt.RemoteMatching("https://github.com/org/wt"); !ok || name != "origin" {
				t.Errorf("RemoteMatching = %q %v, want origin", name, ok)
			}

			store := newStore(t)
			ref := source.Ref{Kind: "GitRepository", Namespace: "flux-system", Name: "wt"}
			art, err := wt.Artifact(context.Background(), store, ref, tt.ignore)
			if err != nil {
				t.Fatal(err)
			}
			rev := "sha1:" + head
			if tt.want.branch != "" {
				rev = tt.want.branch + "@" + rev
			}
			if tt.want.dirty {
				rev += "-dirty"
			}
			if art.Revision != rev || !art.Local || art.Source != ref {
				t.Errorf("artifact revision %q local %v source %v, want %q true %v", art.Revision, art.Local, art.Source, rev, ref)
			}
			files := artifactFiles(t, art)
			assertFileNames(t, files, tt.want.files)
			for name, content := range tt.want.contents {
				if files[name] != content {
					t.Errorf("%s = %q, want %q", name, files[name], content)
				}
			}
			if fi, err := os.Stat(filepath.Join(art.Dir, "run.sh")); err == nil && fi.Mode()&0o100 == 0 {
				t.Error("run.sh lost its executable bit")
			}
			if cur, _ := store.Current(ref); cur == nil || cur.Digest != art.Digest {
				t.Errorf("store current %v, want the work tree artifact", cur)
			}
		})
	}
}

func TestDetectWorkTreeOutsideGit(t *testing.T) {
	dir := t.TempDir()
	if _, err := DetectWorkTree(dir); err == nil || !strings.Contains(err.Error(), "is not inside a Git work tree") {
		t.Fatalf("error %v", err)
	}
}

func TestWorkTreeWithoutCommit(t *testing.T) {
	r := newTestRepo(t, t.TempDir(), "empty")
	r.write(map[string]string{"a.yaml": "a"})
	wt, err := DetectWorkTree(r.work)
	if err != nil {
		t.Fatal(err)
	}
	if wt.Head != "" || wt.Branch != "master" || !wt.Dirty {
		t.Errorf("head %q branch %q dirty %v", wt.Head, wt.Branch, wt.Dirty)
	}
	if _, err := wt.Artifact(context.Background(), newStore(t), source.Ref{Kind: "GitRepository", Namespace: "a", Name: "b"}, nil); err == nil ||
		!strings.Contains(err.Error(), "has no commit yet") {
		t.Errorf("error %v", err)
	}
}

func ptr(s string) *string { return &s }
