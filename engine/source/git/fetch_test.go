package git

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// history is a repository with branches, lightweight and annotated tags and a pull request reference.
type history struct {
	repo               *testRepo
	c1, c2, c3, c4, c5 string // master: c1 c2 c3; feature/x: c4 (on c2); refs/pull/1/head: c5 (on c3)
}

func newHistory(t testing.TB, root string) *history {
	t.Helper()
	r := newTestRepo(t, root, "app")
	h := &history{repo: r}
	h.c1 = r.commit("one", map[string]string{"version.txt": "1", "deploy/app.yaml": "kind: A"})
	r.git("tag", "v1.0.0")
	h.c2 = r.commit("two", map[string]string{"version.txt": "2"})
	r.git("tag", "-a", "-m", "release 1.1.0", "v1.1.0")
	r.git("tag", "not-a-version")
	r.git("checkout", "-q", "-b", "feature/x")
	h.c4 = r.commit("feature", map[string]string{"version.txt": "feature"})
	r.git("checkout", "-q", "master")
	h.c3 = r.commit("three", map[string]string{"version.txt": "3"})
	r.git("tag", "-a", "-m", "release 2.0.0", "v2.0.0")
	r.git("tag", "v2.1.0-rc.1")
	r.git("checkout", "-q", "--detach")
	h.c5 = r.commit("pull request", map[string]string{"version.txt": "pr"})
	r.push("HEAD:refs/pull/1/head")
	r.git("checkout", "-q", "master")
	r.push("--tags")
	r.push("refs/heads/feature/x:refs/heads/feature/x")
	r.push("refs/heads/master:refs/heads/master")
	return h
}

func TestFetchRefs(t *testing.T) {
	root := t.TempDir()
	h := newHistory(t, root)
	srv := startHTTPGitServer(t, root, httpAuth{})
	f := &Fetcher{Store: newStore(t)}
	url := srv.URL + "/app.git"

	tests := []struct {
		name     string
		ref      *sourcev1.GitRepositoryRef
		revision string
		version  string
	}{
		{"no ref is branch master", nil, "master@sha1:" + h.c3, "3"},
		{"branch", &sourcev1.GitRepositoryRef{Branch: "feature/x"}, "feature/x@sha1:" + h.c4, "feature"},
		{"lightweight tag", &sourcev1.GitRepositoryRef{Tag: "v1.0.0"}, "v1.0.0@sha1:" + h.c1, "1"},
		{"annotated tag is the commit", &sourcev1.GitRepositoryRef{Tag: "v1.1.0"}, "v1.1.0@sha1:" + h.c2, "2"},
		{"semver range picks the highest match", &sourcev1.GitRepositoryRef{SemVer: "1.x"}, "v1.1.0@sha1:" + h.c2, "2"},
		{"semver skips prereleases and non-versions", &sourcev1.GitRepositoryRef{SemVer: ">=1.0.0"}, "v2.0.0@sha1:" + h.c3, "3"},
		{"name of a pull request", &sourcev1.GitRepositoryRef{Name: "refs/pull/1/head"}, "refs/pull/1/head@sha1:" + h.c5, "pr"},
		{"name of an annotated tag", &sourcev1.GitRepositoryRef{Name: "refs/tags/v1.1.0"}, "refs/tags/v1.1.0@sha1:" + h.c2, "2"},
		{"name of a branch", &sourcev1.GitRepositoryRef{Name: "refs/heads/feature/x"}, "refs/heads/feature/x@sha1:" + h.c4, "feature"},
		{"commit alone", &sourcev1.GitRepositoryRef{Commit: h.c2}, "sha1:" + h.c2, "2"},
		{"commit not at a reference tip", &sourcev1.GitRepositoryRef{Commit: h.c1}, "sha1:" + h.c1, "1"},
		{"commit on a branch", &sourcev1.GitRepositoryRef{Branch: "master", Commit: h.c1}, "master@sha1:" + h.c1, "1"},
		{"tag wins over branch", &sourcev1.GitRepositoryRef{Branch: "feature/x", Tag: "v1.0.0"}, "v1.0.0@sha1:" + h.c1, "1"},
		{"semver wins over tag", &sourcev1.GitRepositoryRef{Tag: "v1.0.0", SemVer: "2.x"}, "v2.0.0@sha1:" + h.c3, "3"},
		{"name wins over semver", &sourcev1.GitRepositoryRef{SemVer: "2.x", Name: "refs/pull/1/head"}, "refs/pull/1/head@sha1:" + h.c5, "pr"},
		{"commit wins over name", &sourcev1.GitRepositoryRef{Name: "refs/pull/1/head", Commit: h.c4}, "sha1:" + h.c4, "feature"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := gitRepository(fmt.Sprintf("refs-%d", i), url)
			obj.Spec.Reference = tt.ref
			art, err := f.Fetch(context.Background(), obj)
			if err != nil {
				t.Fatal(err)
			}
			if art.Revision != tt.revision {
				t.Errorf("revision %q, want %q", art.Revision, tt.revision)
			}
			files := artifactFiles(t, art)
			if files["version.txt"] != tt.version {
				t.Errorf("version.txt = %q, want %q", files["version.txt"], tt.version)
			}
			if art.Source != (source.Ref{Kind: "GitRepository", Namespace: "default", Name: obj.Name}) {
				t.Errorf("source %v", art.Source)
			}
			if !strings.HasPrefix(art.Digest, "sha256:") || art.Size == 0 {
				t.Errorf("digest %q size %d", art.Digest, art.Size)
			}
		})
	}
}

// TestFetchFailures checks every failure is a FetchError with Flux's reason, a message that says what
// is wrong, and the previous artifact.
func TestFetchFailures(t *testing.T) {
	root := t.TempDir()
	h := newHistory(t, root)
	srv := startHTTPGitServer(t, root, httpAuth{})
	f := &Fetcher{Store: newStore(t)}
	good := srv.URL + "/app.git"

	tests := []struct {
		name   string
		url    string
		ref    sourcev1.GitRepositoryRef
		reason string
		msg    string
		mutate func(*sourcev1.GitRepository)
	}{
		{"unknown branch", good, sourcev1.GitRepositoryRef{Branch: "nope"}, "GitOperationFailed", `branch "nope" not found at ` + good, nil},
		{"unknown tag", good, sourcev1.GitRepositoryRef{Tag: "v9"}, "GitOperationFailed", `tag "v9" not found`, nil},
		{"no tag in range", good, sourcev1.GitRepositoryRef{SemVer: "5.x"}, "GitOperationFailed", `no tag matches semver range "5.x"`, nil},
		{"invalid range", good, sourcev1.GitRepositoryRef{SemVer: "not a range"}, "GitOperationFailed", "is not a valid range", nil},
		{"unknown name", good, sourcev1.GitRepositoryRef{Name: "refs/pull/9/head"}, "GitOperationFailed", `reference "refs/pull/9/head" not found`, nil},
		{"commit off the branch", good, sourcev1.GitRepositoryRef{Branch: "master", Commit: h.c4}, "GitOperationFailed", "the commit is not on the branch", nil},
		{"unknown commit", good, sourcev1.GitRepositoryRef{Commit: strings.Repeat("ab", 20)}, "GitOperationFailed", "commit abababababababababababababababababababab not found", nil},
		{"short commit", good, sourcev1.GitRepositoryRef{Commit: h.c1[:7]}, "GitOperationFailed", "not a full 40-character SHA-1", nil},
		{"unreachable host", "http://" + closedAddr(t) + "/app.git", sourcev1.GitRepositoryRef{}, "GitOperationFailed", "cannot reach http://", nil},
		{"missing repository", srv.URL + "/missing.git", sourcev1.GitRepositoryRef{}, "GitOperationFailed", "repository not found at", nil},
		{"scp-like address", "git@github.com:org/repo.git", sourcev1.GitRepositoryRef{}, "URLInvalid", "write it as ssh://git@github.com/org/repo.git", nil},
		{"unsupported scheme", "git://example.com/repo.git", sourcev1.GitRepositoryRef{}, "URLInvalid", `scheme "git" is not supported`, nil},
		{"no repository path", "https://example.com/", sourcev1.GitRepositoryRef{}, "URLInvalid", "no repository path", nil},
		{"other provider", good, sourcev1.GitRepositoryRef{}, "InvalidProviderConfiguration", `provider "azure" is not supported`,
			func(o *sourcev1.GitRepository) { o.Spec.Provider = "azure" }},
		{"signature verification without keys", good, sourcev1.GitRepositoryRef{}, "VerificationError", "spec.verify.secretRef.name is empty",
			func(o *sourcev1.GitRepository) {
				o.Spec.Verification = &sourcev1.GitRepositoryVerification{Mode: "HEAD"}
			}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("fail-%d", i)
			prev, err := f.Fetch(context.Background(), gitRepository(name, good))
			if err != nil {
				t.Fatal(err)
			}
			ref := tt.ref
			obj := gitRepository(name, tt.url, withRef(ref))
			if tt.mutate != nil {
				tt.mutate(obj)
			}
			_, err = f.Fetch(context.Background(), obj)
			assertFetchError(t, err, tt.reason, tt.msg, prev)
			if cur, _ := f.Store.Current(source.Ref{Kind: "GitRepository", Namespace: "default", Name: name}); cur == nil || cur.Digest != prev.Digest {
				t.Errorf("the stored artifact changed after a failure: %v", cur)
			}
		})
	}
}

func assertFetchError(t *testing.T, err error, reason, msg string, prev *source.Artifact) {
	t.Helper()
	var fe *source.FetchError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T), want a *source.FetchError", err, err)
	}
	if fe.Reason != reason {
		t.Errorf("reason %q, want %q (%v)", fe.Reason, reason, err)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("error %q does not contain %q", err, msg)
	}
	if !strings.Contains(err.Error(), "GitRepository/default/") {
		t.Errorf("error %q does not name the object", err)
	}
	switch {
	case prev == nil && fe.Previous != nil:
		t.Errorf("previous artifact %v, want none", fe.Previous)
	case prev != nil && (fe.Previous == nil || fe.Previous.Digest != prev.Digest || fe.Previous.Revision != prev.Revision):
		t.Errorf("previous artifact %v, want %v", fe.Previous, prev)
	}
}

func TestFetchTimeout(t *testing.T) {
	root := t.TempDir()
	newHistory(t, root)
	good := startHTTPGitServer(t, root, httpAuth{})
	client, clientKey := newSigner(t)
	sshSrv := sourcetest.StartSSHGitServer(t, root, client.PublicKey())
	hanging := startHangingServer(t)
	secrets := secretStore{}.add("ssh", map[string][]byte{
		"identity":    privateKeyPEM(t, clientKey, ""),
		"known_hosts": []byte(sshSrv.KnownHosts()),
	})
	f := &Fetcher{Store: newStore(t), Secrets: secrets}

	tests := []struct {
		name string
		url  string
	}{
		{"http server that never answers", "http://" + hanging + "/app.git"},
		{"ssh server that never answers", "ssh://git@" + hanging + "/app.git"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("timeout-%d", i)
			prev, err := f.Fetch(context.Background(), gitRepository(name, good.URL+"/app.git"))
			if err != nil {
				t.Fatal(err)
			}
			obj := gitRepository(name, tt.url, withTimeout(300*time.Millisecond), withSecret("ssh"))
			_, err = f.Fetch(context.Background(), obj)
			assertFetchError(t, err, "GitOperationFailed", "timed out after 300ms fetching "+tt.url, prev)
		})
	}
}

func TestCacheReuse(t *testing.T) {
	root := t.TempDir()
	h := newHistory(t, root)
	srv := startHTTPGitServer(t, root, httpAuth{})
	f := &Fetcher{Store: newStore(t)}
	obj := gitRepository("reuse", srv.URL+"/app.git")
	ctx := context.Background()

	first, err := f.Fetch(ctx, obj)
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.uploadPacks.Load(); got != 1 {
		t.Fatalf("first fetch made %d pack requests, want 1", got)
	}
	adverts := srv.refAdverts.Load()

	second, err := f.Fetch(ctx, obj)
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.uploadPacks.Load(); got != 1 {
		t.Errorf("unchanged fetch downloaded a pack (%d pack requests)", got)
	}
	if got := srv.refAdverts.Load(); got != adverts+1 {
		t.Errorf("unchanged fetch made %d reference requests, want 1", got-adverts)
	}
	if second.Digest != first.Digest || second.Revision != first.Revision || !second.LastUpdateTime.Equal(first.LastUpdateTime) {
		t.Errorf("unchanged fetch returned %+v, want the stored %+v", second, first)
	}

	// A new setting rebuilds from the cache without downloading.
	ignore := "deploy/\n"
	obj.Spec.Ignore = &ignore
	third, err := f.Fetch(ctx, obj)
	if err != nil {
		t.Fatal(err)
	}
	if third.Digest == first.Digest {
		t.Error("changing spec.ignore did not rebuild the artifact")
	}
	if got := srv.uploadPacks.Load(); got != 1 {
		t.Errorf("rebuild downloaded a pack (%d pack requests)", got)
	}

	// A new commit downloads once.
	c6 := h.repo.commit("six", map[string]string{"version.txt": "6"})
	fourth, err := f.Fetch(ctx, obj)
	if err != nil {
		t.Fatal(err)
	}
	if fourth.Revision != "master@sha1:"+c6 {
		t.Errorf("revision %s, want master@sha1:%s", fourth.Revision, c6)
	}
	if got := srv.uploadPacks.Load(); got != 2 {
		t.Errorf("new commit made %d pack requests in all, want 2", got)
	}
	if files := artifactFiles(t, fourth); files["version.txt"] != "6" {
		t.Errorf("version.txt = %q", files["version.txt"])
	}

	// A second source on the same URL and commit shares the cache: no download.
	other, err := f.Fetch(ctx, gitRepository("reuse-other", srv.URL+"/app.git"))
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.uploadPacks.Load(); got != 2 || other.Revision != fourth.Revision {
		t.Errorf("second source: %d pack requests, revision %s", got, other.Revision)
	}
}

func TestConcurrentFetches(t *testing.T) {
	root := t.TempDir()
	newHistory(t, root)
	srv := startHTTPGitServer(t, root, httpAuth{})
	store := newStore(t)
	const workers = 6
	var wg sync.WaitGroup
	digests := make([]string, workers)
	errs := make([]error, workers)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// separate Stores and Fetchers on one root, as separate processes would have
			st, err := source.OpenStore(store.Root)
			if err != nil {
				errs[i] = err
				return
			}
			f := &Fetcher{Store: st}
			art, err := f.Fetch(context.Background(), gitRepository("shared", srv.URL+"/app.git", withRef(sourcev1.GitRepositoryRef{Branch: "feature/x"})))
			if err != nil {
				errs[i] = err
				return
			}
			digests[i] = art.Digest
		}()
	}
	wg.Wait()
	for i := range workers {
		if errs[i] != nil {
			t.Fatalf("worker %d: %v", i, errs[i])
		}
		if digests[i] != digests[0] {
			t.Errorf("worker %d got %s, worker 0 %s", i, digests[i], digests[0])
		}
	}
	if got := srv.uploadPacks.Load(); got != 1 {
		t.Errorf("%d pack downloads for one source, want 1", got)
	}
}

func TestIgnore(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"deploy/app.yaml":          "kind: A",
		"deploy/notes.md":          "notes",
		"logo.png":                 "png",
		".github/workflows/ci.yml": "on: push",
		".gitattributes":           "* text=auto",
		"README.md":                "readme",
		"secret/key.txt":           "key",
	}
	newTestRepo(t, root, "plain").commit("files", files)
	scoped := newTestRepo(t, root, "scoped")
	scoped.write(files)
	scoped.commit("files", map[string]string{"deploy/.sourceignore": "*.md\n"})
	srv := startHTTPGitServer(t, root, httpAuth{})
	f := &Fetcher{Store: newStore(t)}
	ignoreSecret := "/secret/\n"

	tests := []struct {
		name   string
		repo   string
		ignore *string
		want   []string
	}{
		{"Flux's defaults without other rules", "plain", nil,
			[]string{"README.md", "deploy/app.yaml", "deploy/notes.md", "secret/key.txt"}},
		{".sourceignore replaces the defaults", "scoped", nil,
			[]string{".github/workflows/ci.yml", "README.md", "deploy/.sourceignore", "deploy/app.yaml", "logo.png", "secret/key.txt"}},
		{"spec.ignore replaces the defaults", "plain", &ignoreSecret,
			[]string{".github/workflows/ci.yml", "README.md", "deploy/app.yaml", "deploy/notes.md", "logo.png"}},
		{"spec.ignore adds to .sourceignore", "scoped", &ignoreSecret,
			[]string{".github/workflows/ci.yml", "README.md", "deploy/.sourceignore", "deploy/app.yaml", "logo.png"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := gitRepository(fmt.Sprintf("ignore-%d", i), srv.URL+"/"+tt.repo+".git")
			obj.Spec.Ignore = tt.ignore
			art, err := f.Fetch(context.Background(), obj)
			if err != nil {
				t.Fatal(err)
			}
			assertFileNames(t, artifactFiles(t, art), tt.want)
		})
	}
}

func assertFileNames(t *testing.T, files map[string]string, want []string) {
	t.Helper()
	var got []string
	for name := range files {
		got = append(got, name)
	}
	if strings.Join(sorted(got), ",") != strings.Join(sorted(want), ",") {
		t.Errorf("files %v, want %v", sorted(got), sorted(want))
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestSparseCheckout(t *testing.T) {
	root := t.TempDir()
	r := newTestRepo(t, root, "sparse")
	r.commit("files", map[string]string{
		"README.md":             "readme",
		"charts/app/Chart.yaml": "name: app",
		"kustomize/base/k.yaml": "kind: K",
		"kustomize/other.yaml":  "kind: O",
		"src/main.go":           "package main",
	})
	srv := startHTTPGitServer(t, root, httpAuth{})
	f := &Fetcher{Store: newStore(t)}
	tests := []struct {
		name   string
		sparse []string
		want   []string
	}{
		{"folders", []string{"charts", "kustomize/base/"}, []string{"charts/app/Chart.yaml", "kustomize/base/k.yaml"}},
		{"root means everything", []string{"charts", "/"}, []string{"README.md", "charts/app/Chart.yaml", "kustomize/base/k.yaml", "kustomize/other.yaml", "src/main.go"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := gitRepository(fmt.Sprintf("sparse-%d", i), srv.URL+"/sparse.git")
			obj.Spec.SparseCheckout = tt.sparse
			art, err := f.Fetch(context.Background(), obj)
			if err != nil {
				t.Fatal(err)
			}
			assertFileNames(t, artifactFiles(t, art), tt.want)
		})
	}
	_, err := f.Fetch(context.Background(), gitRepository("sparse-bad", srv.URL+"/sparse.git", func(o *sourcev1.GitRepository) {
		o.Spec.SparseCheckout = []string{"../outside"}
	}))
	assertFetchError(t, err, "InvalidPath", "not a folder inside the repository", nil)
}

func TestInclude(t *testing.T) {
	root := t.TempDir()
	app := newTestRepo(t, root, "app")
	app.commit("app", map[string]string{"app.yaml": "kind: App", "base/old.yaml": "replaced"})
	lib := newTestRepo(t, root, "lib")
	lib.commit("lib", map[string]string{"deploy/kubernetes/lib.yaml": "kind: Lib", "other.txt": "x"})
	srv := startHTTPGitServer(t, root, httpAuth{})
	store := newStore(t)
	included := map[string]*source.Artifact{}
	f := &Fetcher{Store: store, ResolveInclude: func(_ context.Context, namespace, name string) (*source.Artifact, error) {
		if name == "broken" {
			return nil, errors.New("gitrepositories.source.toolkit.fluxcd.io \"broken\" not found")
		}
		return included[namespace+"/"+name], nil
	}}
	ctx := context.Background()
	libArt, err := f.Fetch(ctx, gitRepository("lib", srv.URL+"/lib.git"))
	if err != nil {
		t.Fatal(err)
	}
	included["default/lib"] = libArt

	withInclude := func(incs ...sourcev1.GitRepositoryInclude) func(*sourcev1.GitRepository) {
		return func(o *sourcev1.GitRepository) { o.Spec.Include = incs }
	}
	inc := func(name, from, to string) sourcev1.GitRepositoryInclude {
		i := sourcev1.GitRepositoryInclude{FromPath: from, ToPath: to}
		i.GitRepositoryRef.Name = name
		return i
	}

	art, err := f.Fetch(ctx, gitRepository("app", srv.URL+"/app.git", withInclude(inc("lib", "deploy/kubernetes", "base"), inc("lib", "", ""))))
	if err != nil {
		t.Fatal(err)
	}
	assertFileNames(t, artifactFiles(t, art), []string{"app.yaml", "base/lib.yaml", "lib/deploy/kubernetes/lib.yaml", "lib/other.txt"})

	// A new artifact of the included repository rebuilds the including one at the same revision.
	lib.commit("lib 2", map[string]string{"deploy/kubernetes/lib.yaml": "kind: Lib2"})
	if included["default/lib"], err = f.Fetch(ctx, gitRepository("lib", srv.URL+"/lib.git")); err != nil {
		t.Fatal(err)
	}
	again, err := f.Fetch(ctx, gitRepository("app", srv.URL+"/app.git", withInclude(inc("lib", "deploy/kubernetes", "base"), inc("lib", "", ""))))
	if err != nil {
		t.Fatal(err)
	}
	if again.Revision != art.Revision || again.Digest == art.Digest {
		t.Errorf("include change: revision %s digest %s, before %s %s", again.Revision, again.Digest, art.Revision, art.Digest)
	}
	if got := artifactFiles(t, again)["base/lib.yaml"]; got != "kind: Lib2" {
		t.Errorf("base/lib.yaml = %q", got)
	}

	failures := []struct {
		name   string
		inc    sourcev1.GitRepositoryInclude
		reason string
		msg    string
	}{
		{"no artifact yet", inc("pending", "", ""), "NoArtifact", `no artifact available for include "pending"`},
		{"missing repository", inc("broken", "", ""), "NotFound", `could not get include "broken"`},
		{"missing fromPath", inc("lib", "nope", "x"), "CopyFailure", "no such file or directory"},
		{"fromPath outside", inc("lib", "../../etc", "x"), "CopyFailure", "is not a path inside the artifact"},
		{"toPath outside", inc("lib", "", "../x"), "CopyFailure", "is not a path inside the artifact"},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.Fetch(ctx, gitRepository("app", srv.URL+"/app.git", withInclude(tt.inc)))
			assertFetchError(t, err, tt.reason, tt.msg, again)
		})
	}
}

func TestSubmodules(t *testing.T) {
	root := t.TempDir()
	sub := newTestRepo(t, root, "sub")
	subCommit := sub.commit("sub", map[string]string{"lib.yaml": "kind: Lib"})
	sub.commit("sub newer", map[string]string{"lib.yaml": "kind: Newer"}) // the submodule pins the older commit
	main := newTestRepo(t, root, "main")
	main.write(map[string]string{
		"app.yaml":    "kind: App",
		".gitmodules": "[submodule \"libs/sub\"]\n\tpath = libs/sub\n\turl = ../sub.git\n",
	})
	main.git("add", "-A")
	main.git("update-index", "--add", "--cacheinfo", "160000,"+subCommit+",libs/sub")
	main.git("commit", "-q", "-m", "with submodule")
	main.push("HEAD:refs/heads/master")
	srv := startHTTPGitServer(t, root, httpAuth{})
	f := &Fetcher{Store: newStore(t)}

	art, err := f.Fetch(context.Background(), gitRepository("sub-on", srv.URL+"/main.git", func(o *sourcev1.GitRepository) {
		o.Spec.RecurseSubmodules = true
	}))
	if err != nil {
		t.Fatal(err)
	}
	files := artifactFiles(t, art)
	assertFileNames(t, files, []string{"app.yaml", "libs/sub/lib.yaml"})
	if files["libs/sub/lib.yaml"] != "kind: Lib" {
		t.Errorf("submodule checked out at the wrong commit: %q", files["libs/sub/lib.yaml"])
	}

	art, err = f.Fetch(context.Background(), gitRepository("sub-off", srv.URL+"/main.git"))
	if err != nil {
		t.Fatal(err)
	}
	assertFileNames(t, artifactFiles(t, art), []string{"app.yaml"})
}

// TestDamagedCache checks that a cache whose pack files were damaged is started afresh.
func TestDamagedCache(t *testing.T) {
	root := t.TempDir()
	newHistory(t, root)
	srv := startHTTPGitServer(t, root, httpAuth{})
	f := &Fetcher{Store: newStore(t)}
	obj := gitRepository("damaged", srv.URL+"/app.git")
	if _, err := f.Fetch(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
	packs, _ := filepath.Glob(filepath.Join(f.Store.Root, "cache", "git", "*", "shallow", "objects", "pack", "*.pack"))
	if len(packs) == 0 {
		t.Fatal("no pack in the cache")
	}
	for _, p := range packs {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, fi.Size()/2); err != nil {
			t.Fatal(err)
		}
	}
	ignore := "/deploy/\n" // a new setting, so the artifact is rebuilt from the cache
	obj.Spec.Ignore = &ignore
	art, err := f.Fetch(context.Background(), obj)
	if err != nil {
		t.Fatal(err)
	}
	if got := artifactFiles(t, art)["version.txt"]; got != "3" {
		t.Errorf("version.txt = %q", got)
	}
	if got := srv.uploadPacks.Load(); got < 2 {
		t.Errorf("%d pack downloads, want the cache downloaded again", got)
	}
}

// TestShallow checks that branches and tags are fetched at depth 1 and commits with their history.
func TestShallow(t *testing.T) {
	root := t.TempDir()
	h := newHistory(t, root)
	srv := startHTTPGitServer(t, root, httpAuth{})
	f := &Fetcher{Store: newStore(t)}
	url := srv.URL + "/app.git"
	open := func(kind string) *filesystem.Storage {
		dirs, _ := filepath.Glob(filepath.Join(f.Store.Root, "cache", "git", "*", kind))
		if len(dirs) != 1 {
			t.Fatalf("cache folders %v", dirs)
		}
		st := filesystem.NewStorage(osfs.New(dirs[0]), cache.NewObjectLRUDefault())
		t.Cleanup(func() { st.Close() })
		return st
	}
	if _, err := f.Fetch(context.Background(), gitRepository("shallow-branch", url)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Fetch(context.Background(), gitRepository("shallow-tag", url, withRef(sourcev1.GitRepositoryRef{Tag: "v1.1.0"}))); err != nil {
		t.Fatal(err)
	}
	st := open("shallow")
	for c, want := range map[string]bool{h.c3: true, h.c2: true, h.c1: false, h.c4: false} {
		if got := hasObject(st, plumbing.NewHash(c)); got != want {
			t.Errorf("shallow cache has %s: %v, want %v", c, got, want)
		}
	}
	if shallows, _ := st.Shallow(); len(shallows) != 2 {
		t.Errorf("shallow boundary %v, want the two fetched commits", shallows)
	}
	if _, err := f.Fetch(context.Background(), gitRepository("full", url, withRef(sourcev1.GitRepositoryRef{Commit: h.c3}))); err != nil {
		t.Fatal(err)
	}
	full := open("full")
	for _, c := range []string{h.c1, h.c2, h.c3, h.c4} { // branches and tags, not refs/pull
		if !hasObject(full, plumbing.NewHash(c)) {
			t.Errorf("full cache lacks %s", c)
		}
	}
}
