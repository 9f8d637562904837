package build

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/git"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// TestRemoteBases fetches remote bases from a real Git server (git http-backend on loopback), as
// kustomize-controller does without --no-remote-bases, and refuses them with it.
func TestRemoteBases(t *testing.T) {
	srv := sourcetest.StartGitServer(t)
	repo := srv.NewRepo(t, "base")
	repo.Commit("base", map[string]*string{
		"deploy/kustomization.yaml": sourcetest.Str("resources:\n  - cm.yaml\n"),
		"deploy/cm.yaml":            sourcetest.Str("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-remote\n  namespace: apps\ndata:\n  k: v\n"),
		"escape/kustomization.yaml": sourcetest.Str("resources:\n  - ../../../../../../../../etc/hostname\n"),
	})
	sourcetest.RunGit(t, repo.Work, "tag", "v1")
	sourcetest.RunGit(t, repo.Work, "push", "-q", filepath.Join(srv.Root, "base.git"), "refs/tags/v1")

	store, err := source.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fetcher := &git.Fetcher{Store: store}
	remote := func(maxBytes int64) *RemoteBases {
		return &RemoteBases{MaxBytes: maxBytes, Fetch: func(ctx context.Context, gr *sourcev1.GitRepository) (string, error) {
			art, err := fetcher.Fetch(ctx, gr)
			if err != nil {
				return "", err
			}
			return art.Dir, nil
		}}
	}
	tests := []struct {
		name, resource string
		remote         *RemoteBases
		want           string // the error; empty: the remote ConfigMap is built
	}{
		{"branch", repo.URL + "//deploy?ref=main", remote(0), ""},
		{"tag with git:: prefix", "git::" + repo.URL + "//deploy?ref=v1", remote(0), ""},
		{"no remote bases", repo.URL + "//deploy?ref=main", nil, "remote bases are disabled (--no-remote-bases)"},
		{"larger than allowed", repo.URL + "//deploy?ref=main", remote(10), "the repository's files exceed 10 bytes"},
		{"folder missing", repo.URL + "//nowhere?ref=main", remote(0), `folder "nowhere" not found`},
		{"unknown ref", repo.URL + "//deploy?ref=nope", remote(0), "not found"},
		{"ssh", "ssh://git@127.0.0.1/base.git//deploy", remote(0), "over SSH are not supported"},
		{"leaves the fetched repository", repo.URL + "//escape?ref=main", remote(0), "outside the source root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			if err := os.WriteFile(filepath.Join(root, "kustomization.yaml"), []byte("resources:\n  - "+tt.resource+" # remote\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			b := &Builder{Strict: true, Remote: tt.remote}
			res, err := b.Build(context.Background(), decodeKustomization(t, ksDoc("remote", "  path: ./\n")), root)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "kustomization.yaml: remote resource") && tt.name != "leaves the fetched repository" {
					t.Fatalf("error %v, want one naming the file and the resource and containing %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Objects) != 1 || res.Objects[0].GetName() != "from-remote" {
				t.Fatalf("objects %v", res.Objects)
			}
			if data, _ := os.ReadFile(filepath.Join(root, "kustomization.yaml")); !strings.Contains(string(data), tt.resource) {
				t.Errorf("the source's kustomization.yaml was modified: %s", data)
			}
		})
	}
}

func TestParseRemoteBase(t *testing.T) {
	tests := []struct {
		in, repo, dir, ref, err string
	}{
		{in: "https://github.com/org/repo//deploy/base?ref=v1", repo: "https://github.com/org/repo", dir: "deploy/base", ref: "v1"},
		{in: "github.com/org/repo/deploy?ref=main", repo: "https://github.com/org/repo", dir: "deploy", ref: "main"},
		{in: "git::https://example.com/x/repo.git/sub?version=abc", repo: "https://example.com/x/repo.git", dir: "sub", ref: "abc"},
		{in: "https://example.com/x/repo.git", repo: "https://example.com/x/repo.git"},
		{in: "https://example.com/x/repo//../..?ref=v1", repo: "https://example.com/x/repo", dir: ""},
		{in: "https://example.com/x/repo/deploy", err: "separate them with //"},
		{in: "git@github.com:org/repo.git", err: "SSH"},
		{in: "https://user:pw@example.com/x/repo.git", err: "no credentials"},
		{in: "https://example.com/x/repo.git?depth=1", err: `query parameter "depth"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			rb, err := parseRemoteBase(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rb.repo != tt.repo || rb.dir != tt.dir || (tt.ref != "" && rb.ref != tt.ref) {
				t.Errorf("got %+v", rb)
			}
		})
	}
}

func FuzzParseRemoteBase(f *testing.F) {
	for _, s := range []string{"https://github.com/org/repo//deploy?ref=v1", "git::https://h/r.git/a/../../b", "github.com/a/b/c", "ssh://x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rb, err := parseRemoteBase(s)
		if err != nil {
			return
		}
		if strings.HasPrefix(rb.dir, "..") || strings.HasPrefix(rb.dir, "/") {
			t.Fatalf("%q: folder %q leaves the repository", s, rb.dir)
		}
		if !strings.HasPrefix(rb.repo, "https://") && !strings.HasPrefix(rb.repo, "http://") {
			t.Fatalf("%q: repository %q is not HTTP(S)", s, rb.repo)
		}
	})
}
