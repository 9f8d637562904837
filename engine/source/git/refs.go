package git

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/storer"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
)

const (
	branchPrefix = "refs/heads/"
	tagPrefix    = "refs/tags/"
)

// target is what spec.ref resolved to against the references a server advertised.
type target struct {
	// name is the reference part of the revision: the branch or tag name, the full reference for
	// spec.ref.name, "" for a commit on its own.
	name string
	// fetch holds the remote references to download, with what they point to.
	fetch map[string]plumbing.Hash
	// commit is the commit to check out. For a tag it may be the tag object until peeled.
	commit plumbing.Hash
	// reachableFrom, when set, is the branch tip the commit must be part of (spec.ref.commit with branch).
	reachableFrom plumbing.Hash
	// shallow says a depth-1 fetch is enough.
	shallow bool
	// what describes the reference for messages, e.g. `branch "main"`.
	what string
}

// revision is the artifact revision in Flux's format: "<name>@sha1:<hex>" or "sha1:<hex>".
func (t *target) revision() string {
	if t.name == "" {
		return "sha1:" + t.commit.String()
	}
	return t.name + "@sha1:" + t.commit.String()
}

var commitPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)

// refNotFoundError is a spec.ref that matches nothing on the server.
type refNotFoundError struct{ msg string }

func (e *refNotFoundError) Error() string { return e.msg }

// resolveTarget applies spec.ref to the advertised references. Precedence, lowest to highest: branch,
// tag, semver, name, commit; with none set, branch "master".
func resolveTarget(ref sourcev1.GitRepositoryRef, ar *packp.AdvRefs) (*target, error) {
	lookup := func(name string) (plumbing.Hash, plumbing.Hash, bool) {
		h, ok := ar.References[name]
		if !ok {
			return plumbing.ZeroHash, plumbing.ZeroHash, false
		}
		if p, ok := ar.Peeled[name]; ok {
			return h, p, true
		}
		return h, h, true
	}
	switch {
	case ref.Commit != "":
		commit := strings.ToLower(ref.Commit)
		if !commitPattern.MatchString(commit) {
			return nil, fmt.Errorf("spec.ref.commit %q is not a full 40-character SHA-1", ref.Commit)
		}
		t := &target{commit: plumbing.NewHash(commit), fetch: map[string]plumbing.Hash{}, what: "commit " + commit}
		if ref.Branch != "" {
			h, _, ok := lookup(branchPrefix + ref.Branch)
			if !ok {
				return nil, &refNotFoundError{fmt.Sprintf("branch %q not found", ref.Branch)}
			}
			t.name, t.reachableFrom, t.what = ref.Branch, h, fmt.Sprintf("commit %s on branch %q", commit, ref.Branch)
			t.fetch[branchPrefix+ref.Branch] = h
			return t, nil
		}
		for name, h := range ar.References {
			if strings.HasPrefix(name, branchPrefix) || strings.HasPrefix(name, tagPrefix) {
				t.fetch[name] = h
			}
		}
		return t, nil
	case ref.Name != "":
		h, c, ok := lookup(ref.Name)
		if !ok {
			return nil, &refNotFoundError{fmt.Sprintf("reference %q not found", ref.Name)}
		}
		return &target{name: ref.Name, fetch: map[string]plumbing.Hash{ref.Name: h}, commit: c, shallow: true,
			what: fmt.Sprintf("reference %q", ref.Name)}, nil
	case ref.SemVer != "":
		tag, err := highestTag(ref.SemVer, ar)
		if err != nil {
			return nil, err
		}
		h, c, _ := lookup(tagPrefix + tag)
		return &target{name: tag, fetch: map[string]plumbing.Hash{tagPrefix + tag: h}, commit: c, shallow: true,
			what: fmt.Sprintf("tag %q (semver %q)", tag, ref.SemVer)}, nil
	case ref.Tag != "":
		h, c, ok := lookup(tagPrefix + ref.Tag)
		if !ok {
			return nil, &refNotFoundError{fmt.Sprintf("tag %q not found", ref.Tag)}
		}
		return &target{name: ref.Tag, fetch: map[string]plumbing.Hash{tagPrefix + ref.Tag: h}, commit: c, shallow: true,
			what: fmt.Sprintf("tag %q", ref.Tag)}, nil
	default:
		branch := ref.Branch
		if branch == "" {
			branch = sourcev1.DefaultGitBranch
		}
		h, _, ok := lookup(branchPrefix + branch)
		if !ok {
			return nil, &refNotFoundError{fmt.Sprintf("branch %q not found", branch)}
		}
		return &target{name: branch, fetch: map[string]plumbing.Hash{branchPrefix + branch: h}, commit: h, shallow: true,
			what: fmt.Sprintf("branch %q", branch)}, nil
	}
}

// highestTag returns the tag with the highest version within the semver range. Tags that are not
// versions are ignored; of two tags with equal versions (v1.0.0 and 1.0.0) the greater name wins.
func highestTag(rangeSpec string, ar *packp.AdvRefs) (string, error) {
	c, err := semver.NewConstraint(rangeSpec)
	if err != nil {
		return "", fmt.Errorf("spec.ref.semver %q is not a valid range: %w", rangeSpec, err)
	}
	var tags []string
	for name := range ar.References {
		if strings.HasPrefix(name, tagPrefix) {
			tags = append(tags, strings.TrimPrefix(name, tagPrefix))
		}
	}
	sort.Strings(tags)
	var best *semver.Version
	bestTag := ""
	for _, tag := range tags {
		v, err := semver.NewVersion(tag)
		if err != nil || !c.Check(v) {
			continue
		}
		if best == nil || !v.LessThan(best) {
			best, bestTag = v, tag
		}
	}
	if best == nil {
		return "", &refNotFoundError{fmt.Sprintf("no tag matches semver range %q", rangeSpec)}
	}
	return bestTag, nil
}

// peel returns the commit h points to, following annotated tags.
func peel(st storer.EncodedObjectStorer, h plumbing.Hash) (plumbing.Hash, error) {
	for i := 0; i < 16; i++ {
		obj, err := st.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		switch obj.Type() {
		case plumbing.CommitObject:
			return h, nil
		case plumbing.TagObject:
			tag, err := object.DecodeTag(st, obj)
			if err != nil {
				return plumbing.ZeroHash, err
			}
			h = tag.Target
		default:
			return plumbing.ZeroHash, fmt.Errorf("%s is a %s, not a commit", h, obj.Type())
		}
	}
	return plumbing.ZeroHash, errors.New("tag chain too long")
}

// reachable reports whether commit is tip or one of its ancestors.
func reachable(st storer.EncodedObjectStorer, tip, commit plumbing.Hash) (bool, error) {
	if tip == commit {
		return true, nil
	}
	c, err := object.GetCommit(st, tip)
	if err != nil {
		return false, err
	}
	found := false
	err = object.NewCommitPreorderIter(c, nil, nil).ForEach(func(c *object.Commit) error {
		if c.Hash == commit {
			found = true
			return storer.ErrStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, plumbing.ErrObjectNotFound) {
		return false, err
	}
	return found, nil
}
