package bootstrap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"
	"golang.org/x/crypto/ssh"
)

// sshAuth is go-git's SSH AuthMethod with the host key algorithms limited to those known_hosts has for
// the host, so that the server presents a key that can be verified.
type sshAuth struct {
	user     string
	signers  func() ([]ssh.Signer, error)
	hostKeys *hostKeyChecker
	hostport string
	timeout  time.Duration
	source   string
}

func (a *sshAuth) Name() string   { return "ssh-public-keys" }
func (a *sshAuth) String() string { return "user: " + a.user + ", keys: " + a.source }

func (a *sshAuth) ClientConfig() (*ssh.ClientConfig, error) {
	return &ssh.ClientConfig{
		User:              a.user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeysCallback(a.signers)},
		HostKeyCallback:   a.checkHostKey,
		HostKeyAlgorithms: a.hostKeys.algorithms(a.hostport),
		Timeout:           a.timeout,
	}, nil
}

func (a *sshAuth) checkHostKey(hostname string, remote net.Addr, key ssh.PublicKey) error {
	if err := a.hostKeys.callback(hostname, remote, key); err != nil {
		return fmt.Errorf("host key verification failed for %s (%s): %w", hostname, ssh.FingerprintSHA256(key), err)
	}
	return nil
}

// workTree is the clone of the branch the bootstrap writes to.
type workTree struct {
	dir    string
	repo   *gogit.Repository
	branch plumbing.ReferenceName
	auth   transport.AuthMethod
	// fresh is set when the branch did not exist on the remote.
	fresh bool
}

// clone clones branch of url into a new folder under tmp; a missing branch (or an empty repository)
// starts a new, orphan branch.
func clone(ctx context.Context, tmp, url, branch string, auth transport.AuthMethod) (*workTree, error) {
	dir, err := os.MkdirTemp(tmp, "converge-bootstrap-")
	if err != nil {
		return nil, err
	}
	w := &workTree{dir: dir, branch: plumbing.NewBranchReferenceName(branch), auth: auth}
	remote := gogit.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{url}})
	refs, err := remote.ListContext(ctx, &gogit.ListOptions{Auth: auth})
	if err != nil && !errors.Is(err, transport.ErrEmptyRemoteRepository) {
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
		w.repo, err = gogit.PlainCloneContext(ctx, dir, false, &gogit.CloneOptions{
			URL: url, Auth: auth, ReferenceName: w.branch, SingleBranch: true, Tags: gogit.NoTags,
		})
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
func (w *workTree) writeAndCommit(p string, content []byte, msg string, author object.Signature) (*Commit, error) {
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
	wt, err := w.repo.Worktree()
	if err != nil {
		return nil, err
	}
	if _, err := wt.Add(path.Clean(p)); err != nil {
		return nil, fmt.Errorf("git add %s: %w", p, err)
	}
	h, err := wt.Commit(msg, &gogit.CommitOptions{Author: &author})
	if err != nil {
		return nil, fmt.Errorf("committing %s: %w", p, err)
	}
	return &Commit{Hash: h.String(), Message: msg, Files: []string{p}}, nil
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
	err := w.repo.PushContext(ctx, &gogit.PushOptions{RemoteName: "origin", RefSpecs: []config.RefSpec{spec}, Auth: w.auth})
	if errors.Is(err, gogit.NoErrAlreadyUpToDate) {
		return nil
	}
	if err != nil {
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
