package git

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/verify"
)

// ErrNotLocal is returned by Fetcher.LocalRef when the local repository does not have what spec.ref
// names (or it needs what only the remote has, such as submodules): the source must be fetched.
var ErrNotLocal = errors.New("not in the local repository")

// ServesRef reports whether the work tree, as it is, stands for ref: no ref at all, the checked-out
// branch (spec.ref.branch, or spec.ref.name refs/heads/<branch>), the HEAD commit, or a ref equal to one
// of also (e.g. the ref of the GitRepository the work tree is the source of). Tags and semver ranges
// pin a commit: they are never the work tree unless listed in also.
func (w *WorkTree) ServesRef(ref *sourcev1.GitRepositoryRef, also ...*sourcev1.GitRepositoryRef) bool {
	if ref.IsZero() {
		return true
	}
	for _, a := range also {
		if !a.IsZero() && sameRef(ref, a) {
			return true
		}
	}
	switch {
	case ref.Commit != "":
		return w.Head != "" && strings.EqualFold(ref.Commit, w.Head)
	case ref.Name != "":
		return w.Branch != "" && ref.Name == branchPrefix+w.Branch
	case ref.SemVer != "", ref.Tag != "":
		return false
	default:
		return w.Branch != "" && ref.Branch == w.Branch
	}
}

// sameRef compares two non-nil refs by the fields that decide what they resolve to.
func sameRef(a, b *sourcev1.GitRepositoryRef) bool {
	return strings.EqualFold(a.Commit, b.Commit) && a.Name == b.Name && a.SemVer == b.SemVer && a.Tag == b.Tag &&
		(a.Branch == b.Branch || a.Commit != "" && a.Branch == "" || b.Commit != "" && b.Branch == "")
}

// localRefs lists the references of the local repository as a server would advertise them: its own
// refs under their names, and the remote-tracking branches of remote as refs/heads/<branch> where no
// local branch of that name exists. from maps each advertised name to the local reference it is.
func (w *WorkTree) localRefs(remote string) (*packp.AdvRefs, map[string]string, error) {
	adv := packp.NewAdvRefs()
	from := map[string]string{}
	iter, err := w.repo.References()
	if err != nil {
		return nil, nil, fmt.Errorf("reading the references of %s: %w", w.Root, err)
	}
	tracking := map[string]plumbing.Hash{}
	remotePrefix := "refs/remotes/" + remote + "/"
	err = iter.ForEach(func(r *plumbing.Reference) error {
		if r.Type() != plumbing.HashReference {
			return nil
		}
		name := r.Name().String()
		if b, ok := strings.CutPrefix(name, remotePrefix); ok && b != "HEAD" {
			tracking[b] = r.Hash()
			return nil
		}
		adv.References[name] = r.Hash()
		from[name] = name
		if strings.HasPrefix(name, tagPrefix) {
			if c, err := peel(w.repo.Storer, r.Hash()); err == nil && c != r.Hash() {
				adv.Peeled[name] = c
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("reading the references of %s: %w", w.Root, err)
	}
	for b, h := range tracking {
		if _, ok := adv.References[branchPrefix+b]; !ok {
			adv.References[branchPrefix+b] = h
			from[branchPrefix+b] = remotePrefix + b
		}
	}
	return adv, from, nil
}

// LocalRef stores the files of the commit obj's spec.ref names, read from the work tree's own
// repository (no network): a local branch, else the remote-tracking branch of remote (the remote whose
// URL matched obj), a tag, a semver range over the local tags, a reference name or a commit. Sparse
// checkout, spec.include and the ignore rules apply as for a fetched artifact, and the revision is
// Flux's ("<branch>@sha1:<hash>"). It also returns the local reference used (e.g. refs/heads/dev-team,
// "" for a commit on its own). An error wrapping ErrNotLocal means the repository lacks the ref.
func (f *Fetcher) LocalRef(ctx context.Context, w *WorkTree, remote string, obj *sourcev1.GitRepository) (*source.Artifact, string, error) {
	ref := source.Ref{Kind: sourcev1.GitRepositoryKind, Namespace: obj.Namespace, Name: obj.Name}
	var keys *verify.GitKeys
	if obj.Spec.Verification != nil {
		k, err := f.gitKeys(ctx, obj)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", ref, err)
		}
		keys = k
	}
	sparse, err := cleanSparse(obj.Spec.SparseCheckout)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", ref, err)
	}
	w.mu.Lock()
	t, usedRef, err := w.localTarget(obj.GetReference(), remote)
	verified := ""
	if err == nil && keys != nil {
		name := tagRef(obj.GetReference(), t)
		verified, err = verifyTarget(w.repo.Storer, obj.Spec.Verification, keys, name, t.fetch[name], t.commit)
	}
	w.mu.Unlock()
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", ref, err)
	}
	includes, err := f.resolveIncludes(ctx, obj)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", ref, err)
	}
	dir, err := f.Store.TempDir("git-local-")
	if err != nil {
		return nil, "", err
	}
	committed := false
	defer func() {
		if !committed {
			_ = os.RemoveAll(dir)
		}
	}()
	w.mu.Lock()
	links, err := w.checkoutCommit(ctx, t.commit, dir, sparse)
	w.mu.Unlock()
	if errors.Is(err, errCorruptCache) {
		// Objects missing from the local repository (a partial clone): the remote has them.
		return nil, "", fmt.Errorf("%s: checking out %s from %s: %v: %w", ref, t.what, w.Root, err, ErrNotLocal)
	}
	if err != nil {
		return nil, "", fmt.Errorf("%s: checking out %s from %s: %w", ref, t.what, w.Root, err)
	}
	if len(links) > 0 && obj.Spec.RecurseSubmodules {
		return nil, "", fmt.Errorf("%s: %s has submodules, which are fetched: %w", ref, t.what, ErrNotLocal)
	}
	for _, inc := range includes {
		if err := copyInclude(inc, dir); err != nil {
			return nil, "", fmt.Errorf("%s: %w", ref, err)
		}
	}
	ign, err := source.LoadIgnore(dir, obj.Spec.Ignore, obj.Spec.Ignore == nil)
	if err != nil {
		return nil, "", fmt.Errorf("%s: reading ignore rules: %w", ref, err)
	}
	if err := ign.Prune(dir); err != nil {
		return nil, "", fmt.Errorf("%s: applying ignore rules: %w", ref, err)
	}
	art, err := f.Store.Commit(ref, t.revision(), dir, nil)
	if err != nil {
		return nil, "", err
	}
	committed = true
	local := *art
	local.Local = true
	local.Verified = verified
	return &local, usedRef, nil
}

// localTarget resolves spec.ref against the local references. The caller holds w.mu.
func (w *WorkTree) localTarget(r sourcev1.GitRepositoryRef, remote string) (*target, string, error) {
	adv, from, err := w.localRefs(remote)
	if err != nil {
		return nil, "", err
	}
	t, err := resolveTarget(r, adv)
	var nf *refNotFoundError
	if errors.As(err, &nf) {
		return nil, "", fmt.Errorf("%s: %w", nf.msg, ErrNotLocal)
	}
	if err != nil {
		return nil, "", err
	}
	commit, err := peel(w.repo.Storer, t.commit)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return nil, "", fmt.Errorf("%s: %w", t.what, ErrNotLocal)
	}
	if err != nil {
		return nil, "", fmt.Errorf("resolving %s in %s: %w", t.what, w.Root, err)
	}
	t.commit = commit
	if !t.reachableFrom.IsZero() {
		ok, err := reachable(w.repo.Storer, t.reachableFrom, commit)
		if err != nil {
			return nil, "", fmt.Errorf("walking the history of branch %q in %s: %w", t.name, w.Root, err)
		}
		if !ok {
			return nil, "", fmt.Errorf("%s: the commit is not on the local branch: %w", t.what, ErrNotLocal)
		}
	}
	used := ""
	for name := range t.fetch {
		if len(t.fetch) == 1 {
			used = from[name]
		}
	}
	return t, used, nil
}

// checkoutCommit writes the files of commit into dir and returns its submodule entries. The caller
// holds w.mu: go-git's storage is not safe for concurrent use.
func (w *WorkTree) checkoutCommit(ctx context.Context, commit plumbing.Hash, dir string, sparse []string) ([]gitlink, error) {
	c, err := object.GetCommit(w.repo.Storer, commit)
	if err != nil {
		return nil, err
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, err
	}
	tw := &treeWriter{st: w.repo.Storer, sparse: sparse}
	if err := tw.checkout(ctx, tree, dir, false); err != nil {
		return nil, err
	}
	return tw.links, nil
}
