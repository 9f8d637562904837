package git

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/githubapp"
	"github.com/converge-gitops/converge/engine/source/verify"
)

// Fetcher produces GitRepository artifacts.
type Fetcher struct {
	// Store keeps artifacts and the per-URL Git caches.
	Store *source.Store
	// Secrets supplies spec.secretRef.
	Secrets source.Secrets
	// ResolveInclude returns the current artifact of the GitRepository namespace/name for spec.include;
	// (nil, nil) means it has none yet. Nil: spec.include is refused.
	ResolveInclude func(ctx context.Context, namespace, name string) (*source.Artifact, error)
	// HTTPClient talks to HTTP(S) remotes; its Transport must be an *http.Transport. Nil: a clone of
	// http.DefaultTransport.
	HTTPClient *http.Client
	// Local turns on push mode's fallback to the user's own credentials (SSH agent, ~/.ssh/known_hosts,
	// git credential helpers) when there is no secretRef or its Secret cannot be read. Nil: off.
	Local *LocalAuth
	// GitHubApp caches the installation tokens of `provider: github`; nil exchanges at every fetch.
	GitHubApp *githubapp.Tokens
}

const (
	// maxSubmoduleDepth bounds nested submodules, as Git's default recursion does.
	maxSubmoduleDepth = 10
	// maxPacks is how many pack files a cache repository may collect before it is started afresh.
	maxPacks = 50
)

// Fetch resolves obj's reference on its server, downloads what is missing from the cache and stores the
// checked-out files as obj's artifact. An unchanged revision with unchanged build settings returns the
// stored artifact without rebuilding it. Failures are *source.FetchError carrying the previous artifact.
func (f *Fetcher) Fetch(ctx context.Context, obj *sourcev1.GitRepository) (*source.Artifact, error) {
	ref := source.Ref{Kind: sourcev1.GitRepositoryKind, Namespace: obj.Namespace, Name: obj.Name}
	prev, err := f.Store.Current(ref)
	fail := func(reason string, err error) error {
		fe := &source.FetchError{Source: ref, Reason: reason, Err: err, Previous: prev}
		if r, ok := verifyFailure(err); ok {
			fe.Reason, fe.Unverified = r, true
		}
		return fe
	}
	if err != nil {
		return nil, fail(sourcev1.ReadOperationFailedReason, fmt.Errorf("reading the stored artifact: %w", err))
	}
	u, err := parseRemoteURL(obj.Spec.URL)
	if err != nil {
		return nil, fail(sourcev1.URLInvalidReason, err)
	}
	if p := obj.GetProvider(); p != sourcev1.GitProviderGeneric && p != sourcev1.GitProviderGitHub {
		return nil, fail(sourcev1.InvalidProviderConfigurationReason,
			fmt.Errorf("provider %q is not supported: use %q with spec.secretRef, or %q with a GitHub App",
				p, sourcev1.GitProviderGeneric, sourcev1.GitProviderGitHub))
	}
	var keys *verify.GitKeys
	if obj.Spec.Verification != nil {
		// Never hand out an unverified artifact for a source that asks for verification.
		if keys, err = f.gitKeys(ctx, obj); err != nil {
			return nil, fail(sourcev1.VerificationError, err)
		}
	}
	sparse, err := cleanSparse(obj.Spec.SparseCheckout)
	if err != nil {
		return nil, fail(sourcev1.InvalidPathReason, err)
	}
	timeout := obj.GetTimeout()
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	includes, err := f.resolveIncludes(ctx, obj)
	if err != nil {
		return nil, fail(reasonOf(err), err)
	}
	creds, err := f.credentials(ctx, obj, u)
	if err != nil {
		reason := sourcev1.AuthenticationFailedReason
		var re *reasonError
		if errors.As(err, &re) {
			reason = re.reason
		}
		return nil, fail(reason, err)
	}
	defer creds.close()

	op := &fetchOp{f: f, obj: obj, ref: ref, prev: prev, sparse: sparse, includes: includes, creds: creds, keys: keys,
		locks: map[string]func(){}, stores: map[string]*filesystem.Storage{}}
	art, err := op.run(ctx, u)
	if errors.Is(err, errCorruptCache) && ctx.Err() == nil {
		op.resetCaches() // start this fetch's caches afresh, once
		art, err = op.run(ctx, u)
	}
	op.release()
	if err != nil {
		reason := reasonOf(err)
		if ctx.Err() != nil && parent.Err() == nil {
			err = fmt.Errorf("timed out after %s fetching %s: %w", timeout, redactURL(u), err)
		}
		return nil, fail(reason, err)
	}
	return art, nil
}

var errCorruptCache = errors.New("the Git cache is damaged")

// fetchOp is one fetch: the locks and cache repositories it holds.
type fetchOp struct {
	f        *Fetcher
	obj      *sourcev1.GitRepository
	ref      source.Ref
	prev     *source.Artifact
	sparse   []string
	includes []include
	creds    *credentials
	// keys verify the tag and/or commit when spec.verify is set; nil otherwise.
	keys *verify.GitKeys

	locks     map[string]func()
	stores    map[string]*filesystem.Storage
	cacheDirs []string
}

// resetCaches deletes the cache repositories this fetch opened; it still holds their locks.
func (op *fetchOp) resetCaches() {
	for k, st := range op.stores {
		_ = st.Close()
		delete(op.stores, k)
	}
	for _, dir := range op.cacheDirs {
		_ = os.RemoveAll(dir)
	}
	op.cacheDirs = nil
}

func (op *fetchOp) release() {
	for _, st := range op.stores {
		_ = st.Close()
	}
	for _, unlock := range op.locks {
		unlock()
	}
}

// cacheKey identifies a remote's cache: scheme, host and path, without credentials.
func cacheKey(u *url.URL) string {
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + u.EscapedPath()
}

// lock takes the store lock of a remote's cache unless this fetch already holds it.
func (op *fetchOp) lock(ctx context.Context, key string) error {
	if _, ok := op.locks[key]; ok {
		return nil
	}
	unlock, err := op.f.Store.Lock(ctx, "git:"+key)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("waiting for the cache lock of %s: %w", key, ctx.Err())
		}
		return withReason(sourcev1.AcquireLockFailedReason, fmt.Errorf("locking the cache of %s: %w", key, err))
	}
	op.locks[key] = unlock
	return nil
}

// openCache opens (creating it) the bare cache repository of key, shallow or with full history.
func (op *fetchOp) openCache(key string, shallow bool) (*filesystem.Storage, error) {
	kind := "full"
	if shallow {
		kind = "shallow"
	}
	if st, ok := op.stores[key+" "+kind]; ok {
		return st, nil
	}
	base, err := op.f.Store.CacheDir("git", key)
	if err != nil {
		return nil, withReason(sourcev1.CacheOperationFailedReason, err)
	}
	dir := filepath.Join(base, kind)
	op.cacheDirs = append(op.cacheDirs, dir)
	if packs, _ := filepath.Glob(filepath.Join(dir, "objects", "pack", "*.pack")); len(packs) > maxPacks {
		if err := os.RemoveAll(dir); err != nil {
			return nil, withReason(sourcev1.CacheOperationFailedReason, err)
		}
	}
	st := filesystem.NewStorageWithOptions(osfs.New(dir), cache.NewObjectLRUDefault(),
		filesystem.Options{ExclusiveAccess: true, KeepDescriptors: true})
	if _, err := os.Stat(filepath.Join(dir, "config")); os.IsNotExist(err) {
		if _, err := gogit.Init(st, nil); err != nil && !errors.Is(err, gogit.ErrRepositoryAlreadyExists) {
			return nil, withReason(sourcev1.CacheOperationFailedReason, fmt.Errorf("creating the Git cache %s: %w", dir, err))
		}
	}
	op.stores[key+" "+kind] = st
	return st, nil
}

func (op *fetchOp) run(ctx context.Context, u *url.URL) (*source.Artifact, error) {
	key := cacheKey(u)
	if err := op.lock(ctx, key); err != nil {
		return nil, err
	}
	// Another process may have stored an artifact while this one waited for the lock.
	if cur, err := op.f.Store.Current(op.ref); err == nil && cur != nil {
		op.prev = cur
	}
	r, err := op.f.openRemote(ctx, u, op.creds)
	if err != nil {
		return nil, remoteError(u, err)
	}
	defer r.close()
	t, err := resolveTarget(op.obj.GetReference(), r.refs)
	if err != nil {
		return nil, fmt.Errorf("%w at %s", err, redactURL(u))
	}
	st, err := op.openCache(key, t.shallow)
	if err != nil {
		return nil, err
	}
	if c, err := peel(st, t.commit); err == nil {
		t.commit = c
	}
	cfg := op.buildConfig(u)
	if art := op.reuse(t, cfg); art != nil && op.canVerify(st, t) {
		return op.verified(st, t, art)
	}

	depth := 0
	if t.shallow {
		depth = 1
	}
	wants := make([]plumbing.Hash, 0, len(t.fetch))
	for _, h := range t.fetch {
		wants = append(wants, h)
	}
	if err := fetchPack(ctx, r, st, wants, depth); err != nil {
		return nil, remoteError(u, err)
	}
	r.close()
	if err := setRefs(st, t.fetch); err != nil {
		return nil, withReason(sourcev1.CacheOperationFailedReason, err)
	}
	commit, err := peel(st, t.commit)
	switch {
	case errors.Is(err, plumbing.ErrObjectNotFound) && !t.reachableFrom.IsZero():
		return nil, fmt.Errorf("%s: the commit is not on the branch at %s", t.what, redactURL(u))
	case errors.Is(err, plumbing.ErrObjectNotFound) && op.obj.GetReference().Commit != "":
		return nil, fmt.Errorf("%s not found at %s", t.what, redactURL(u))
	case err != nil:
		return nil, fmt.Errorf("%w: resolving %s from %s: %v", errCorruptCache, t.what, redactURL(u), err)
	}
	t.commit = commit
	if !t.reachableFrom.IsZero() {
		ok, err := reachable(st, t.reachableFrom, commit)
		if err != nil {
			return nil, fmt.Errorf("%w: walking the history of branch %q: %v", errCorruptCache, t.name, err)
		}
		if !ok {
			return nil, fmt.Errorf("%s: the commit is not on the branch at %s", t.what, redactURL(u))
		}
	}
	msg, err := op.verify(st, t)
	if err != nil {
		return nil, err
	}
	if art := op.reuse(t, cfg); art != nil {
		return withVerified(art, msg), nil
	}
	art, err := op.build(ctx, st, t, u, cfg)
	if err != nil {
		return nil, err
	}
	return withVerified(art, msg), nil
}

// build checks the commit out into a work folder, adds submodules and includes, applies the ignore rules
// and commits the folder to the store.
func (op *fetchOp) build(ctx context.Context, st *filesystem.Storage, t *target, u *url.URL, cfg string) (*source.Artifact, error) {
	dir, err := op.f.Store.TempDir("git-checkout-")
	if err != nil {
		return nil, withReason(sourcev1.DirCreationFailedReason, err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = os.RemoveAll(dir)
		}
	}()
	commit, err := object.GetCommit(st, t.commit)
	if err != nil {
		return nil, fmt.Errorf("%w: reading commit %s: %v", errCorruptCache, t.commit, err)
	}
	tree, err := commit.Tree()
	if err != nil {
		return nil, fmt.Errorf("%w: reading the tree of %s: %v", errCorruptCache, t.commit, err)
	}
	w := &treeWriter{st: st, sparse: op.sparse}
	if err := w.checkout(ctx, tree, dir, false); err != nil {
		return nil, checkoutError(ctx, t.commit, err)
	}
	if op.obj.Spec.RecurseSubmodules {
		if err := op.submodules(ctx, tree, u, dir, w.links, 1); err != nil {
			return nil, err
		}
	}
	for _, inc := range op.includes {
		if err := copyInclude(inc, dir); err != nil {
			return nil, err
		}
	}
	ign, err := source.LoadIgnore(dir, op.obj.Spec.Ignore, op.obj.Spec.Ignore == nil)
	if err != nil {
		return nil, withReason(sourcev1.ReadOperationFailedReason, fmt.Errorf("reading ignore rules: %w", err))
	}
	if err := ign.Prune(dir); err != nil {
		return nil, withReason(sourcev1.ArchiveOperationFailedReason, fmt.Errorf("applying ignore rules: %w", err))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	art, err := op.f.Store.Commit(op.ref, t.revision(), dir, nil)
	if err != nil {
		return nil, withReason(sourcev1.ArchiveOperationFailedReason, err)
	}
	committed = true
	op.writeState(buildState{Revision: art.Revision, Config: cfg, Digest: art.Digest})
	return art, nil
}

func checkoutError(ctx context.Context, commit plumbing.Hash, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, errCorruptCache) {
		return fmt.Errorf("checking out %s: %w", commit, err)
	}
	return withReason(sourcev1.StorageOperationFailedCondition, fmt.Errorf("checking out %s: %w", commit, err))
}

// submodules checks out the submodules recorded in links (found in tree, a checkout of parent) into dir.
func (op *fetchOp) submodules(ctx context.Context, tree *object.Tree, parent *url.URL, dir string, links []gitlink, depth int) error {
	if len(links) == 0 {
		return nil
	}
	if depth > maxSubmoduleDepth {
		return fmt.Errorf("submodules nested deeper than %d levels", maxSubmoduleDepth)
	}
	file, err := tree.File(".gitmodules")
	if err != nil {
		return fmt.Errorf("submodule %s has no .gitmodules entry: %w", links[0].path, err)
	}
	content, err := file.Contents()
	if err != nil {
		return fmt.Errorf("%w: reading .gitmodules: %v", errCorruptCache, err)
	}
	modules := config.NewModules()
	if err := modules.Unmarshal([]byte(content)); err != nil {
		return fmt.Errorf("parsing .gitmodules of %s: %w", redactURL(parent), err)
	}
	byPath := map[string]*config.Submodule{}
	for _, m := range modules.Submodules {
		byPath[path.Clean(m.Path)] = m
	}
	for _, l := range links {
		m := byPath[l.path]
		if m == nil {
			return fmt.Errorf("submodule %s has no entry in .gitmodules", l.path)
		}
		su, err := resolveSubmoduleURL(parent, m.URL)
		if err != nil {
			return fmt.Errorf("submodule %s: %w", l.path, err)
		}
		st, err := op.ensureCommit(ctx, su, l.commit)
		if err != nil {
			return fmt.Errorf("submodule %s: %w", l.path, err)
		}
		c, err := object.GetCommit(st, l.commit)
		if err != nil {
			return fmt.Errorf("submodule %s: %w: %v", l.path, errCorruptCache, err)
		}
		subTree, err := c.Tree()
		if err != nil {
			return fmt.Errorf("submodule %s: %w: %v", l.path, errCorruptCache, err)
		}
		subDir := filepath.Join(dir, filepath.FromSlash(l.path))
		w := &treeWriter{st: st}
		if err := w.checkout(ctx, subTree, subDir, true); err != nil {
			return fmt.Errorf("submodule %s: %w", l.path, checkoutError(ctx, l.commit, err))
		}
		if err := op.submodules(ctx, subTree, su, subDir, w.links, depth+1); err != nil {
			return fmt.Errorf("submodule %s: %w", l.path, err)
		}
	}
	return nil
}

// ensureCommit makes commit available in a cache repository of u and returns that repository: a shallow
// fetch when a reference of u points at the commit, else the full history of u's branches and tags.
func (op *fetchOp) ensureCommit(ctx context.Context, u *url.URL, commit plumbing.Hash) (*filesystem.Storage, error) {
	key := cacheKey(u)
	if err := op.lock(ctx, key); err != nil {
		return nil, err
	}
	for _, shallow := range []bool{true, false} {
		st, err := op.openCache(key, shallow)
		if err != nil {
			return nil, err
		}
		if hasObject(st, commit) {
			return st, nil
		}
	}
	r, err := op.f.openRemote(ctx, u, op.creds.forURL(u))
	if err != nil {
		return nil, remoteError(u, err)
	}
	defer r.close()
	want := map[string]plumbing.Hash{}
	for name, h := range r.refs.References {
		if h == commit || r.refs.Peeled[name] == commit {
			want[name] = h
			break
		}
	}
	shallow := len(want) > 0
	if !shallow {
		for name, h := range r.refs.References {
			if strings.HasPrefix(name, branchPrefix) || strings.HasPrefix(name, tagPrefix) {
				want[name] = h
			}
		}
	}
	st, err := op.openCache(key, shallow)
	if err != nil {
		return nil, err
	}
	wants := make([]plumbing.Hash, 0, len(want))
	for _, h := range want {
		wants = append(wants, h)
	}
	depth := 0
	if shallow {
		depth = 1
	}
	if err := fetchPack(ctx, r, st, wants, depth); err != nil {
		return nil, remoteError(u, err)
	}
	if err := setRefs(st, want); err != nil {
		return nil, withReason(sourcev1.CacheOperationFailedReason, err)
	}
	if !hasObject(st, commit) {
		return nil, fmt.Errorf("commit %s not found at %s", commit, redactURL(u))
	}
	return st, nil
}

// buildState records how the current artifact of a source was built, so an unchanged fetch can reuse it.
type buildState struct {
	Revision string `json:"revision"`
	Config   string `json:"config"`
	Digest   string `json:"digest"`
}

// buildConfig digests every setting besides the revision that shapes the artifact's content.
func (op *fetchOp) buildConfig(u *url.URL) string {
	type inc struct{ Name, From, To, Digest string }
	c := struct {
		URL        string
		Ignore     *string
		Sparse     []string
		Submodules bool
		Includes   []inc
	}{URL: cacheKey(u), Ignore: op.obj.Spec.Ignore, Sparse: op.sparse, Submodules: op.obj.Spec.RecurseSubmodules}
	for _, i := range op.includes {
		c.Includes = append(c.Includes, inc{i.spec.GitRepositoryRef.Name, i.spec.GetFromPath(), i.spec.GetToPath(), i.artifact.Digest})
	}
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (op *fetchOp) statePath() (string, error) {
	dir, err := op.f.Store.CacheDir("git-builds", op.ref.String())
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "state.json"), nil
}

// reuse returns the stored artifact when it was built from t's revision with the same settings.
func (op *fetchOp) reuse(t *target, cfg string) *source.Artifact {
	if op.prev == nil || op.prev.Revision != t.revision() {
		return nil
	}
	p, err := op.statePath()
	if err != nil {
		return nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	var s buildState
	if json.Unmarshal(b, &s) != nil || s.Config != cfg || s.Digest != op.prev.Digest || s.Revision != op.prev.Revision {
		return nil
	}
	return op.prev
}

func (op *fetchOp) writeState(s buildState) {
	p, err := op.statePath()
	if err != nil {
		return
	}
	b, _ := json.Marshal(s)
	f, err := os.CreateTemp(filepath.Dir(p), ".state-*")
	if err != nil {
		return
	}
	_, werr := f.Write(b)
	if cerr := f.Close(); werr == nil && cerr == nil {
		_ = os.Rename(f.Name(), p)
	}
	_ = os.Remove(f.Name())
}
