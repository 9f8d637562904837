package bootstrap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	sourcegit "github.com/converge-gitops/converge/engine/source/git"
)

// workTree is the clone of the branch the bootstrap writes to.
type workTree struct {
	dir    string
	repo   *gogit.Repository
	branch plumbing.ReferenceName
	remote *sourcegit.Remote
	// fresh is set when the branch did not exist on the remote.
	fresh bool
}

// clone clones branch of url into a new folder under tmp; a missing branch (or an empty repository)
// starts a new, orphan branch.
func clone(ctx context.Context, tmp string, remote *sourcegit.Remote, branch string) (*workTree, error) {
	dir, err := os.MkdirTemp(tmp, "converge-bootstrap-")
	if err != nil {
		return nil, err
	}
	url := remote.URL
	w := &workTree{dir: dir, branch: plumbing.NewBranchReferenceName(branch), remote: remote}
	refs, err := remote.List(ctx)
	if err != nil {
		os.RemoveAll(dir)
		if errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed) {
			return nil, fmt.Errorf("listing the branches of %s: %w (check the username and password or token)", url, err)
		}
		return nil, fmt.Errorf("listing the branches of %s: %w", url, err)
	}
	exists := false
	for _, r := range refs {
		if r.Name() == w.branch {
			exists = true
		}
	}
	if exists {
		w.repo, err = remote.Clone(ctx, dir, w.branch)
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("cloning branch %s of %s: %w", branch, url, err)
		}
		return w, nil
	}
	w.fresh = true
	w.repo, err = gogit.PlainInit(dir, false)
	if err == nil {
		_, err = w.repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{url}})
	}
	if err == nil {
		err = w.repo.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, w.branch))
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting branch %s: %w", branch, err)
	}
	return w, nil
}

func (w *workTree) close() { os.RemoveAll(w.dir) }

// read returns the content of the slash path p, nil when it does not exist.
func (w *workTree) read(p string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(w.dir, filepath.FromSlash(p)))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// Commit is a commit the bootstrap made.
type Commit struct {
	Hash    string `json:"hash"`
	Message string `json:"message"`
	// Files are the slash paths it wrote.
	Files []string `json:"files"`
}

// writeAndCommit writes content to the slash path p and commits it with msg, unless the file already
// holds content (nil Commit then).
func (w *workTree) writeAndCommit(p string, content []byte, msg string, author object.Signature, signer gogit.Signer) (*Commit, error) {
	old, err := w.read(p)
	if err != nil {
		return nil, err
	}
	if old != nil && bytes.Equal(old, content) {
		return nil, nil
	}
	full := filepath.Join(w.dir, filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(full, content, 0o644); err != nil {
		return nil, err
	}
	h, err := sourcegit.CommitFiles(w.repo, []string{path.Clean(p)}, msg, author, signer)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &Commit{Hash: h, Message: msg, Files: []string{p}}, nil
}

// head returns the commit the branch points at ("" for a new branch without commits).
func (w *workTree) head() (string, error) {
	ref, err := w.repo.Reference(w.branch, true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return ref.Hash().String(), nil
}

// push pushes the branch to origin; the remote must not have moved since the clone.
func (w *workTree) push(ctx context.Context) error {
	spec := config.RefSpec(w.branch.String() + ":" + w.branch.String())
	if err := w.remote.Push(ctx, w.repo, []config.RefSpec{spec}, nil); err != nil {
		return fmt.Errorf("pushing branch %s: %w", w.branch.Short(), err)
	}
	return nil
}

// httpAuth returns basic auth for username/password, nil for anonymous access.
func httpAuth(username, password string) transport.AuthMethod {
	if username == "" && password == "" {
		return nil
	}
	if username == "" {
		username = "git"
	}
	return &githttp.BasicAuth{Username: username, Password: password}
}
