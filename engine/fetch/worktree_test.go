package fetch_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/fetch"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/git"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// fleet is a repository served by a real Git HTTP server and cloned into a work tree on main; the
// server and the clone have other branches and tags whose files differ from the work tree's.
type fleet struct {
	srv     *sourcetest.GitServer
	origin  *sourcetest.GitRepo
	work    string // the clone
	first   string // first commit of main
	head    string // HEAD of the clone
	dev     string // tip of dev-team (only origin/dev-team in the clone)
	v100    string // commit of the annotated tag v1.0.0
	v110    string // commit of tag v1.1.0
	local   string // tip of local-only, a branch only the clone has
	late    string // tip of late, pushed to the server after the clone
	shared  *sourcetest.GitRepo
	sharedH string
}

func newFleet(t *testing.T) *fleet {
	t.Helper()
	f := &fleet{srv: sourcetest.StartGitServer(t)}
	r := f.srv.NewRepo(t, "fleet")
	f.origin = r
	bare := filepath.Join(f.srv.Root, "fleet.git")
	s := sourcetest.Str
	f.first = r.Commit("first", map[string]*string{"app/config.yaml": s("team: main-v0\n")})
	sourcetest.RunGit(t, r.Work, "tag", "-a", "-m", "one", "v1.0.0")
	f.v100 = f.first
	f.v110 = r.Commit("second", map[string]*string{"app/config.yaml": s("team: main-v1\n")})
	sourcetest.RunGit(t, r.Work, "tag", "v1.1.0")
	r.Commit("third", map[string]*string{"app/config.yaml": s("team: main\n")})
	sourcetest.RunGit(t, r.Work, "push", "-q", bare, "--tags")
	sourcetest.RunGit(t, r.Work, "checkout", "-q", "-b", "dev-team")
	writeFiles(t, r.Work, map[string]string{"app/config.yaml": "team: dev\n", "app/secret.txt": "ignored by .sourceignore\n",
		".sourceignore": "*.txt\n", "app/extra.yaml": "only: dev\n"})
	sourcetest.RunGit(t, r.Work, "add", "-A")
	sourcetest.RunGit(t, r.Work, "commit", "-q", "-m", "dev")
	sourcetest.RunGit(t, r.Work, "push", "-q", bare, "dev-team")
	f.dev = sourcetest.RunGit(t, r.Work, "rev-parse", "HEAD")
	sourcetest.RunGit(t, r.Work, "checkout", "-q", "main")

	f.work = filepath.Join(t.TempDir(), "clone")
	sourcetest.RunGit(t, filepath.Dir(f.work), "clone", "-q", r.URL, f.work)
	f.head = sourcetest.RunGit(t, f.work, "rev-parse", "HEAD")
	sourcetest.RunGit(t, f.work, "checkout", "-q", "-b", "local-only")
	writeFiles(t, f.work, map[string]string{"app/config.yaml": "team: local\n"})
	sourcetest.RunGit(t, f.work, "commit", "-q", "-am", "local")
	f.local = sourcetest.RunGit(t, f.work, "rev-parse", "HEAD")
	sourcetest.RunGit(t, f.work, "checkout", "-q", "main")
	// Uncommitted: the work tree is served as it is.
	writeFiles(t, f.work, map[string]string{"app/config.yaml": "team: uncommitted\n"})

	sourcetest.RunGit(t, r.Work, "checkout", "-q", "-b", "late")
	writeFiles(t, r.Work, map[string]string{"app/config.yaml": "team: late\n"})
	sourcetest.RunGit(t, r.Work, "commit", "-q", "-am", "late")
	sourcetest.RunGit(t, r.Work, "push", "-q", bare, "late")
	f.late = sourcetest.RunGit(t, r.Work, "rev-parse", "HEAD")
	sourcetest.RunGit(t, r.Work, "checkout", "-q", "main")

	f.shared = f.srv.NewRepo(t, "shared")
	f.sharedH = f.shared.Commit("shared", map[string]*string{"deploy/cm.yaml": s("shared: yes\n"), "README.md": s("x\n")})
	return f
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func gitRepo(name, url string, ref *sourcev1.GitRepositoryRef) *sourcev1.GitRepository {
	o := &sourcev1.GitRepository{ObjectMeta: metav1.ObjectMeta{Namespace: "flux-system", Name: name},
		Spec: sourcev1.GitRepositorySpec{URL: url, Reference: ref, Interval: metav1.Duration{Duration: 60e9}}}
	o.Kind = sourcev1.GitRepositoryKind
	return o
}

// pushMode wires fetchers and a resolver as `converge build` does in the clone.
func (f *fleet) pushMode(t *testing.T) (*fetch.Fetchers, *fetch.Resolver) {
	t.Helper()
	store, err := source.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	wt, err := git.DetectWorkTree(f.work)
	if err != nil {
		t.Fatal(err)
	}
	fs := fetch.NewFetchers(store, verifyKeys(t))
	fs.WorkTree, fs.RootSource = wt, "GitRepository/flux-system/flux-system"
	r := &fetch.Resolver{Local: map[string]string{}, Source: fs.Source}
	fs.Sources = r
	return fs, r
}

func readFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestWorkTreeAtAnotherRef: a GitRepository of the work tree's own repository is served from the work
// tree only at the checked-out ref; at another ref from the local repository's commit of that ref; at a
// ref the clone lacks, fetched; and never silently from the wrong ref.
func TestWorkTreeAtAnotherRef(t *testing.T) {
	f := newFleet(t)
	url := f.origin.URL
	tests := []struct {
		name     string
		ref      *sourcev1.GitRepositoryRef
		root     *sourcev1.GitRepositoryRef // ref of the declared flux-system GitRepository
		ignore   *string
		from     string // want Use.From
		config   string // want app/config.yaml
		absent   []string
		present  []string
		wantErr  []string
		workTree bool
		verify   bool // spec.verify with the SSH key of verifyKeys, which signed nothing
	}{
		{name: "no ref", from: "work tree", config: "team: uncommitted\n", workTree: true},
		{name: "checked-out branch", ref: &sourcev1.GitRepositoryRef{Branch: "main"}, from: "work tree", config: "team: uncommitted\n", workTree: true},
		{name: "refs/heads of the checked-out branch", ref: &sourcev1.GitRepositoryRef{Name: "refs/heads/main"}, from: "work tree", config: "team: uncommitted\n", workTree: true},
		{name: "HEAD commit", ref: &sourcev1.GitRepositoryRef{Commit: f.head}, from: "work tree", config: "team: uncommitted\n", workTree: true},
		{name: "the root source's ref", ref: &sourcev1.GitRepositoryRef{Branch: "dev-team"}, root: &sourcev1.GitRepositoryRef{Branch: "dev-team"},
			from: "work tree", config: "team: uncommitted\n", workTree: true},
		{name: "remote-tracking branch", ref: &sourcev1.GitRepositoryRef{Branch: "dev-team"}, root: &sourcev1.GitRepositoryRef{Branch: "main"},
			from: "local ref dev-team@sha1:" + f.dev + " (refs/remotes/origin/dev-team), not the work tree", config: "team: dev\n",
			absent: []string{"app/secret.txt"}, present: []string{"app/extra.yaml"}},
		{name: "spec.ignore", ref: &sourcev1.GitRepositoryRef{Branch: "dev-team"}, ignore: sourcetest.Str("extra.yaml\n"),
			from: "local ref dev-team@sha1:" + f.dev + " (refs/remotes/origin/dev-team), not the work tree", config: "team: dev\n",
			absent: []string{"app/extra.yaml", "app/secret.txt"}, present: []string{".sourceignore"}},
		{name: "local branch", ref: &sourcev1.GitRepositoryRef{Branch: "local-only"},
			from: "local ref local-only@sha1:" + f.local + " (refs/heads/local-only), not the work tree", config: "team: local\n"},
		{name: "annotated tag", ref: &sourcev1.GitRepositoryRef{Tag: "v1.0.0"},
			from: "local ref v1.0.0@sha1:" + f.v100 + " (refs/tags/v1.0.0), not the work tree", config: "team: main-v0\n"},
		{name: "semver over local tags", ref: &sourcev1.GitRepositoryRef{SemVer: ">=1.0.0"},
			from: "local ref v1.1.0@sha1:" + f.v110 + " (refs/tags/v1.1.0), not the work tree", config: "team: main-v1\n"},
		{name: "commit", ref: &sourcev1.GitRepositoryRef{Commit: f.first},
			from: "local ref sha1:" + f.first + ", not the work tree", config: "team: main-v0\n"},
		{name: "commit on a branch", ref: &sourcev1.GitRepositoryRef{Branch: "main", Commit: f.v110},
			from: "local ref main@sha1:" + f.v110 + " (refs/heads/main), not the work tree", config: "team: main-v1\n"},
		{name: "branch only the server has", ref: &sourcev1.GitRepositoryRef{Branch: "late"},
			from: "fetched late@sha1:" + f.late + ` (ref branch "late" is not in the local repository)`, config: "team: late\n"},
		{name: "work tree with spec.verify", verify: true,
			from: "work tree (not signature-verified: spec.verify applies to commits, as the agent fetches them)", config: "team: uncommitted\n", workTree: true},
		{name: "unsigned local ref with spec.verify", ref: &sourcev1.GitRepositoryRef{Branch: "local-only"}, verify: true,
			wantErr: []string{"GitRepository/flux-system/tenant", "signature verification of commit '" + f.local + "' failed: the object is not signed"}},
		{name: "branch nobody has", ref: &sourcev1.GitRepositoryRef{Branch: "missing"},
			wantErr: []string{"GitRepository/flux-system/tenant", `branch "missing" is not in the local repository ` + f.work, "git fetch origin", "--local-source GitRepository/flux-system/tenant=DIR"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, r := f.pushMode(t)
			obj := gitRepo("tenant", url, tt.ref)
			obj.Spec.Ignore = tt.ignore
			if tt.verify {
				obj.Spec.Verification = &sourcev1.GitRepositoryVerification{Mode: sourcev1.ModeGitHEAD, SecretRef: meta.LocalObjectReference{Name: "keys"}}
			}
			declared := map[string]runtime.Object{"GitRepository/flux-system/tenant": obj}
			if tt.root != nil {
				declared["GitRepository/flux-system/flux-system"] = gitRepo("flux-system", url, tt.root)
			}
			u, err := r.Use(context.Background(), sourcev1.GitRepositoryKind, "flux-system", "tenant", declared)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("no error; served %s from %s", u.From, u.Dir)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.From != tt.from {
				t.Errorf("from %q, want %q", u.From, tt.from)
			}
			if (u.Dir == fs.WorkTree.Root) != tt.workTree {
				t.Errorf("dir %s; work tree %s", u.Dir, fs.WorkTree.Root)
			}
			files := readFiles(t, u.Dir)
			if files["app/config.yaml"] != tt.config {
				t.Errorf("app/config.yaml = %q, want %q", files["app/config.yaml"], tt.config)
			}
			for _, p := range tt.absent {
				if _, ok := files[p]; ok {
					t.Errorf("%s is in the artifact", p)
				}
			}
			for _, p := range tt.present {
				if _, ok := files[p]; !ok {
					t.Errorf("%s is not in the artifact", p)
				}
			}
			var reported []string
			r.Uses(func(id, from, dir string) { reported = append(reported, id+": "+from) })
			if want := "GitRepository/flux-system/tenant: " + tt.from; len(reported) != 1 || reported[0] != want {
				t.Errorf("uses %q, want [%q]", reported, want)
			}
		})
	}
}

// TestIncludeInPushMode: spec.include resolves the included GitRepository as any source of the build
// (declared, work tree, local ref, fetched), copies fromPath to toPath, and names both repositories when
// the included one cannot be resolved.
func TestIncludeInPushMode(t *testing.T) {
	f := newFleet(t)
	include := func(name, from, to string) sourcev1.GitRepositoryInclude {
		return sourcev1.GitRepositoryInclude{GitRepositoryRef: meta.LocalObjectReference{Name: name}, FromPath: from, ToPath: to}
	}
	tests := []struct {
		name     string
		obj      *sourcev1.GitRepository
		declared []*sourcev1.GitRepository
		want     map[string]string // files that must be there
		absent   []string
		revision string
		wantErr  []string
	}{
		{name: "fetched repository includes a fetched one",
			obj: func() *sourcev1.GitRepository {
				o := gitRepo("tenant", f.shared.URL, &sourcev1.GitRepositoryRef{Branch: "main"}) // another repository: fetched
				o.Spec.Include = []sourcev1.GitRepositoryInclude{include("fleet-dev", "app", "vendor/fleet")}
				return o
			}(),
			declared: []*sourcev1.GitRepository{gitRepo("fleet-dev", f.origin.URL, &sourcev1.GitRepositoryRef{Branch: "dev-team"})},
			want:     map[string]string{"deploy/cm.yaml": "shared: yes\n", "vendor/fleet/config.yaml": "team: dev\n", "vendor/fleet/extra.yaml": "only: dev\n"},
			absent:   []string{"vendor/fleet/secret.txt"},
			revision: "main@sha1:" + f.sharedH},
		{name: "local ref includes a fetched repository and the work tree",
			obj: func() *sourcev1.GitRepository {
				o := gitRepo("tenant", f.origin.URL, &sourcev1.GitRepositoryRef{Tag: "v1.0.0"})
				o.Spec.Include = []sourcev1.GitRepositoryInclude{include("shared", "deploy", "shared"), include("self", "app", "")}
				return o
			}(),
			declared: []*sourcev1.GitRepository{gitRepo("shared", f.shared.URL, &sourcev1.GitRepositoryRef{Branch: "main"}),
				gitRepo("self", f.origin.URL, &sourcev1.GitRepositoryRef{Branch: "main"})},
			want:     map[string]string{"app/config.yaml": "team: main-v0\n", "shared/cm.yaml": "shared: yes\n", "self/config.yaml": "team: uncommitted\n"},
			absent:   []string{"shared/README.md"},
			revision: "v1.0.0@sha1:" + f.v100},
		{name: "work tree with an include",
			obj: func() *sourcev1.GitRepository {
				o := gitRepo("tenant", f.origin.URL, nil)
				o.Spec.Include = []sourcev1.GitRepositoryInclude{include("shared", "", "")}
				return o
			}(),
			declared: []*sourcev1.GitRepository{gitRepo("shared", f.shared.URL, &sourcev1.GitRepositoryRef{Branch: "main"})},
			want:     map[string]string{"app/config.yaml": "team: uncommitted\n", "shared/deploy/cm.yaml": "shared: yes\n"},
			revision: "main@sha1:" + f.head + "-dirty"},
		{name: "missing included repository",
			obj: func() *sourcev1.GitRepository {
				o := gitRepo("tenant", f.origin.URL, &sourcev1.GitRepositoryRef{Branch: "dev-team"})
				o.Spec.Include = []sourcev1.GitRepositoryInclude{include("nope", "", "")}
				return o
			}(),
			wantErr: []string{"GitRepository/flux-system/tenant", `include "nope"`, "GitRepository/flux-system/nope is not defined"}},
		{name: "include cycle",
			obj: func() *sourcev1.GitRepository {
				o := gitRepo("tenant", f.origin.URL, &sourcev1.GitRepositoryRef{Branch: "dev-team"})
				o.Spec.Include = []sourcev1.GitRepositoryInclude{include("other", "", "")}
				return o
			}(),
			declared: func() []*sourcev1.GitRepository {
				o := gitRepo("other", f.origin.URL, &sourcev1.GitRepositoryRef{Tag: "v1.1.0"})
				o.Spec.Include = []sourcev1.GitRepositoryInclude{include("tenant", "", "")}
				return []*sourcev1.GitRepository{o}
			}(),
			wantErr: []string{"spec.include cycle: GitRepository/flux-system/tenant -> GitRepository/flux-system/other -> GitRepository/flux-system/tenant"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, r := f.pushMode(t)
			declared := map[string]runtime.Object{"GitRepository/flux-system/tenant": tt.obj}
			for _, d := range tt.declared {
				declared["GitRepository/flux-system/"+d.Name] = d
			}
			u, err := r.Use(context.Background(), sourcev1.GitRepositoryKind, "flux-system", "tenant", declared)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("no error; served %s", u.From)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.Artifact == nil || u.Artifact.Revision != tt.revision {
				t.Errorf("artifact %+v, want revision %s", u.Artifact, tt.revision)
			}
			files := readFiles(t, u.Dir)
			for p, content := range tt.want {
				if files[p] != content {
					t.Errorf("%s = %q, want %q", p, files[p], content)
				}
			}
			for _, p := range tt.absent {
				if _, ok := files[p]; ok {
					t.Errorf("%s is in the artifact", p)
				}
			}
		})
	}
}
