package git

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source"
)

// WorkTree is a local Git work tree, as push mode uses it in place of fetching a GitRepository.
type WorkTree struct {
	// Root is the top folder of the work tree.
	Root string
	// Remotes maps each remote's name to its URLs.
	Remotes map[string][]string
	// Head is the HEAD commit as 40 hex digits; "" before the first commit.
	Head string
	// Branch is the checked-out branch; "" when HEAD is detached.
	Branch string
	// Dirty is true when the index or the files differ from HEAD, or untracked files that Git does not
	// ignore exist.
	Dirty bool

	// mu serialises reads of repo: go-git's storage is not safe for concurrent use.
	mu   sync.Mutex
	repo *gogit.Repository
}

// DetectWorkTree finds the Git work tree containing dir and reads its remotes, HEAD and state.
func DetectWorkTree(dir string) (*WorkTree, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	repo, err := gogit.PlainOpenWithOptions(abs, &gogit.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if errors.Is(err, gogit.ErrRepositoryNotExists) {
		return nil, fmt.Errorf("%s is not inside a Git work tree", abs)
	}
	if err != nil {
		return nil, fmt.Errorf("opening the Git work tree of %s: %w", abs, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", abs, err)
	}
	w := &WorkTree{Root: wt.Filesystem.Root(), Remotes: map[string][]string{}, repo: repo}
	remotes, err := repo.Remotes()
	if err != nil {
		return nil, fmt.Errorf("reading the remotes of %s: %w", w.Root, err)
	}
	for _, r := range remotes {
		w.Remotes[r.Config().Name] = append([]string(nil), r.Config().URLs...)
	}
	head, err := repo.Storer.Reference(plumbing.HEAD)
	if err != nil {
		return nil, fmt.Errorf("reading HEAD of %s: %w", w.Root, err)
	}
	if head.Type() == plumbing.SymbolicReference && head.Target().IsBranch() {
		w.Branch = head.Target().Short()
	}
	if resolved, err := repo.Head(); err == nil {
		w.Head = resolved.Hash().String()
	} else if !errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil, fmt.Errorf("resolving HEAD of %s: %w", w.Root, err)
	}
	scan, err := w.scan(context.Background())
	if err != nil {
		return nil, err
	}
	w.Dirty = scan.dirty
	return w, nil
}

// RemoteMatching returns the name of the first remote (by name) with a URL that MatchURL pairs with url.
func (w *WorkTree) RemoteMatching(url string) (string, bool) {
	names := make([]string, 0, len(w.Remotes))
	for n := range w.Remotes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, u := range w.Remotes[n] {
			if MatchURL(u, url) {
				return n, true
			}
		}
	}
	return "", false
}

// Revision is the work tree's revision as it is now: "<branch>@sha1:<HEAD>" ("sha1:<HEAD>" when detached),
// with "-dirty" when it differs from HEAD.
func (w *WorkTree) Revision() string { return w.revision(w.Head, w.Dirty) }

// revision is "<branch>@sha1:<HEAD>" ("sha1:<HEAD>" when detached), with "-dirty" appended when dirty.
func (w *WorkTree) revision(head string, dirty bool) string {
	rev := "sha1:" + head
	if w.Branch != "" {
		rev = w.Branch + "@" + rev
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

// Artifact stores the work tree as it is, uncommitted changes included: tracked files and untracked files
// Git does not ignore, never .git, filtered by Flux's ignore rules (spec is the GitRepository's
// spec.ignore). The revision is "<branch>@sha1:<HEAD>", with "-dirty" when the work tree differs from HEAD.
func (w *WorkTree) Artifact(ctx context.Context, store *source.Store, ref source.Ref, spec *string) (*source.Artifact, error) {
	return w.artifact(ctx, store, ref, spec, nil)
}

// WorkTreeArtifact stores the work tree as WorkTree.Artifact does, for obj: with its spec.include
// copied in (resolved with f.ResolveInclude) before its ignore rules apply.
func (f *Fetcher) WorkTreeArtifact(ctx context.Context, w *WorkTree, obj *sourcev1.GitRepository) (*source.Artifact, error) {
	ref := source.Ref{Kind: sourcev1.GitRepositoryKind, Namespace: obj.Namespace, Name: obj.Name}
	includes, err := f.resolveIncludes(ctx, obj)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	return w.artifact(ctx, f.Store, ref, obj.Spec.Ignore, includes)
}

func (w *WorkTree) artifact(ctx context.Context, store *source.Store, ref source.Ref, spec *string, includes []include) (*source.Artifact, error) {
	if w.Head == "" {
		return nil, fmt.Errorf("work tree %s has no commit yet", w.Root)
	}
	w.mu.Lock()
	scan, err := w.scan(ctx)
	w.mu.Unlock()
	if err != nil {
		return nil, err
	}
	dir, err := store.TempDir("worktree-")
	if err != nil {
		return nil, err
	}
	committed := false
	defer func() {
		if !committed {
			_ = os.RemoveAll(dir)
		}
	}()
	for i, rel := range scan.files {
		if i%256 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		target := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return nil, err
		}
		if err := source.CopyFile(filepath.Join(w.Root, filepath.FromSlash(rel)), target); err != nil {
			return nil, fmt.Errorf("copying %s: %w", rel, err)
		}
	}
	for _, inc := range includes {
		if err := copyInclude(inc, dir); err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
	}
	ign, err := source.LoadIgnore(dir, spec, spec == nil)
	if err != nil {
		return nil, err
	}
	if err := ign.Prune(dir); err != nil {
		return nil, err
	}
	art, err := store.Commit(ref, w.revision(w.Head, scan.dirty), dir, nil)
	if err != nil {
		return nil, err
	}
	committed = true
	local := *art
	local.Local = true
	return &local, nil
}

// scanResult is the state of the work tree's files.
type scanResult struct {
	// files are the slash-separated paths of the regular files an artifact takes.
	files []string
	dirty bool
}

// scan walks the work tree: tracked files (as they are on disk) and untracked files that the .gitignore
// files and .git/info/exclude do not exclude; it compares them with the index, and the index with HEAD.
func (w *WorkTree) scan(ctx context.Context) (scanResult, error) {
	var res scanResult
	idx, err := w.repo.Storer.Index()
	if err != nil {
		return res, fmt.Errorf("reading the index of %s: %w", w.Root, err)
	}
	tracked := map[string]*index.Entry{}
	trackedDirs := map[string]bool{}
	gitlinks := map[string]bool{}
	for _, e := range idx.Entries {
		if e.Stage != 0 {
			res.dirty = true // unresolved merge
			continue
		}
		tracked[e.Name] = e
		if e.SkipWorktree {
			continue // outside the user's own sparse checkout: not on disk on purpose
		}
		if e.Mode == filemode.Submodule {
			gitlinks[e.Name] = true
		}
		for d := filepath.ToSlash(filepath.Dir(e.Name)); d != "."; d = filepath.ToSlash(filepath.Dir(d)) {
			trackedDirs[d] = true
		}
	}
	if !res.dirty {
		if res.dirty, err = w.indexDiffersFromHead(tracked); err != nil {
			return res, err
		}
	}
	// A file changed after the index was written may keep its size and time stamp: hash those.
	var indexTime time.Time
	if fi, err := os.Stat(filepath.Join(w.gitDir(), "index")); err == nil {
		indexTime = fi.ModTime()
	}

	var patterns []gitignore.Pattern
	patterns = append(patterns, readIgnoreFile(filepath.Join(w.gitDir(), "info", "exclude"), nil)...)
	matcher := gitignore.NewMatcher(patterns)
	var ignoredDirs []string // excluded folders entered only for their tracked files
	underIgnored := func(rel string) bool {
		for _, d := range ignoredDirs {
			if strings.HasPrefix(rel, d+"/") {
				return true
			}
		}
		return false
	}
	inGitlink := func(rel string) bool {
		for d := range gitlinks {
			if rel == d || strings.HasPrefix(rel, d+"/") {
				return true
			}
		}
		return false
	}
	seen := map[string]bool{}
	n := 0
	err = filepath.WalkDir(w.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if n++; n%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if d.Name() == ".git" && p != w.Root {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(w.Root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "." {
				rel = ""
			} else if gitlinks[rel] {
				seen[rel] = true
				return nil // a submodule's files are taken as they are
			} else if inGitlink(rel) {
				return nil
			} else if !trackedDirs[rel] {
				if matcher.Match(strings.Split(rel, "/"), true) || underIgnored(rel) {
					return filepath.SkipDir
				}
				if _, err := os.Lstat(filepath.Join(p, ".git")); err == nil {
					res.dirty = true // an untracked nested repository
					return filepath.SkipDir
				}
			} else if matcher.Match(strings.Split(rel, "/"), true) {
				ignoredDirs = append(ignoredDirs, rel)
			}
			var domain []string
			if rel != "" {
				domain = strings.Split(rel, "/")
			}
			if ps := readIgnoreFile(filepath.Join(p, ".gitignore"), domain); len(ps) > 0 {
				patterns = append(patterns, ps...)
				matcher = gitignore.NewMatcher(patterns)
			}
			return nil
		}
		if inGitlink(rel) {
			if d.Type().IsRegular() {
				res.files = append(res.files, rel)
			}
			return nil
		}
		e := tracked[rel]
		if e == nil {
			if underIgnored(rel) || matcher.Match(strings.Split(rel, "/"), false) {
				return nil
			}
			res.dirty = true
			if d.Type().IsRegular() {
				res.files = append(res.files, rel)
			}
			return nil
		}
		seen[rel] = true
		if d.Type().IsRegular() {
			res.files = append(res.files, rel)
		}
		if !res.dirty {
			changed, err := fileChanged(p, d, e, indexTime)
			if err != nil {
				return err
			}
			res.dirty = changed
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("reading work tree %s: %w", w.Root, err)
	}
	for name, e := range tracked {
		if !seen[name] && !e.SkipWorktree {
			res.dirty = true // deleted
			break
		}
	}
	return res, nil
}

func (w *WorkTree) gitDir() string {
	if st, ok := w.repo.Storer.(*filesystem.Storage); ok {
		return st.Filesystem().Root()
	}
	return filepath.Join(w.Root, ".git")
}

// indexDiffersFromHead reports staged changes: the index entries differ from HEAD's tree.
func (w *WorkTree) indexDiffersFromHead(tracked map[string]*index.Entry) (bool, error) {
	head, err := w.repo.Head()
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return len(tracked) > 0, nil
	}
	if err != nil {
		return false, err
	}
	commit, err := w.repo.CommitObject(head.Hash())
	if err != nil {
		return false, fmt.Errorf("reading HEAD commit of %s: %w", w.Root, err)
	}
	tree, err := commit.Tree()
	if err != nil {
		return false, fmt.Errorf("reading HEAD tree of %s: %w", w.Root, err)
	}
	count := 0
	differs := false
	walker := object.NewTreeWalker(tree, true, nil)
	defer walker.Close()
	for {
		name, entry, err := walker.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return false, fmt.Errorf("reading HEAD tree of %s: %w", w.Root, err)
		}
		if entry.Mode == filemode.Dir {
			continue
		}
		count++
		e := tracked[name]
		if e == nil || e.Hash != entry.Hash || e.Mode != entry.Mode {
			differs = true
			break
		}
	}
	return differs || count != len(tracked), nil
}

// fileChanged compares a tracked file on disk with its index entry: size and time stamp first, the
// content hash when those cannot tell.
func fileChanged(p string, d fs.DirEntry, e *index.Entry, indexTime time.Time) (bool, error) {
	fi, err := d.Info()
	if err != nil {
		return false, err
	}
	var mode filemode.FileMode
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		mode = filemode.Symlink
	case fi.Mode().IsRegular() && fi.Mode()&0o111 != 0:
		mode = filemode.Executable
	case fi.Mode().IsRegular():
		mode = filemode.Regular
	default:
		return true, nil
	}
	if mode != e.Mode && !(mode == filemode.Regular && e.Mode == filemode.Deprecated) {
		return true, nil
	}
	if uint32(fi.Size()) != e.Size {
		return true, nil
	}
	if fi.ModTime().Equal(e.ModifiedAt) && fi.ModTime().Before(indexTime) {
		return false, nil
	}
	var h plumbing.Hash
	if mode == filemode.Symlink {
		target, err := os.Readlink(p)
		if err != nil {
			return false, err
		}
		h = plumbing.ComputeHash(plumbing.BlobObject, []byte(target))
	} else {
		f, err := os.Open(p)
		if err != nil {
			return false, err
		}
		defer f.Close()
		hasher := plumbing.NewHasher(plumbing.BlobObject, fi.Size())
		if _, err := io.Copy(hasher, f); err != nil {
			return false, err
		}
		h = hasher.Sum()
	}
	return h != e.Hash, nil
}

// readIgnoreFile reads gitignore patterns from path, scoped to domain; a missing file has none.
func readIgnoreFile(path string, domain []string) []gitignore.Pattern {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var ps []gitignore.Pattern
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		ps = append(ps, gitignore.ParsePattern(line, domain))
	}
	return ps
}
