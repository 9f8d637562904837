package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
)

// RemoteBases fetches kustomize remote bases and resources, as kustomize-controller does without
// --no-remote-bases: Git repositories over HTTP(S) only (no SSH keys, no local paths), each fetched as a
// GitRepository would be, within Timeout, and refused when its files exceed MaxBytes. The fetched files
// are read in place, confined to the fetched repository.
type RemoteBases struct {
	// Fetch fetches the GitRepository (never stored in the cluster) and returns the folder of its files.
	Fetch func(ctx context.Context, repo *sourcev1.GitRepository) (string, error)
	// Timeout bounds one fetch (default 60s, a GitRepository's default timeout).
	Timeout time.Duration
	// MaxBytes bounds the files of one fetched repository (default 64 MiB).
	MaxBytes int64
}

const defaultRemoteMaxBytes = 64 << 20

// remoteBase is a kustomize remote reference: the repository, the folder in it, and the Git reference.
type remoteBase struct {
	repo, dir, ref string
}

var hexCommit = regexp.MustCompile(`^[0-9a-f]{40}$`)

// knownHosts are the hosts where kustomize takes the first two path segments as the repository.
var knownHosts = map[string]bool{"github.com": true, "gitlab.com": true, "bitbucket.org": true}

// parseRemoteBase parses a kustomize remote base (https://host/org/repo//dir?ref=v1, git::https://...,
// github.com/org/repo/dir?ref=main) into what is fetched. SSH and local paths are refused.
func parseRemoteBase(s string) (*remoteBase, error) {
	raw := strings.TrimPrefix(s, "git::")
	switch {
	case strings.HasPrefix(raw, "ssh://"), strings.HasPrefix(raw, "git@"):
		return nil, errors.New("remote bases over SSH are not supported (the agent has no key for them): use an HTTPS URL")
	case strings.HasPrefix(raw, "file:"):
		return nil, errors.New("local paths are not remote bases")
	case !strings.HasPrefix(raw, "https://") && !strings.HasPrefix(raw, "http://"):
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Host == "" || u.User != nil {
		return nil, errors.New("a remote base needs a host and no credentials in its URL")
	}
	q := u.Query()
	ref := q.Get("ref")
	if ref == "" {
		ref = q.Get("version")
	}
	for k := range q {
		if k != "ref" && k != "version" && k != "timeout" && k != "submodules" {
			return nil, fmt.Errorf("query parameter %q is not a kustomize remote base parameter", k)
		}
	}
	p := u.Path
	var repoPath, dir string
	switch {
	case strings.Contains(p, "//"):
		repoPath, dir, _ = strings.Cut(p, "//")
	case strings.Contains(p, ".git/") || strings.HasSuffix(p, ".git"):
		i := strings.Index(p, ".git")
		repoPath, dir = p[:i+len(".git")], strings.TrimPrefix(p[i+len(".git"):], "/")
	case knownHosts[u.Host]:
		parts := strings.SplitN(strings.Trim(p, "/"), "/", 3)
		if len(parts) < 2 {
			return nil, errors.New("the URL names no repository")
		}
		repoPath = "/" + parts[0] + "/" + parts[1]
		if len(parts) == 3 {
			dir = parts[2]
		}
	default:
		return nil, errors.New("cannot tell the repository from the folder: separate them with // (https://host/org/repo//folder?ref=v1)")
	}
	dir = path.Clean("/" + dir)[1:]
	if strings.HasPrefix(path.Clean(dir), "..") {
		return nil, errors.New("the folder leaves the repository")
	}
	repo := url.URL{Scheme: u.Scheme, Host: u.Host, Path: repoPath}
	return &remoteBase{repo: repo.String(), dir: dir, ref: ref}, nil
}

// fetch fetches rb for the Kustomization in namespace and returns the base's folder and the
// repository's (the confinement of what the base may read).
func (r *RemoteBases) fetch(ctx context.Context, namespace string, rb *remoteBase) (dir, repoDir string, err error) {
	timeout := r.Timeout
	if timeout == 0 {
		timeout = time.Minute
	}
	sum := sha256.Sum256([]byte(rb.repo + "\x00" + rb.ref))
	gr := &sourcev1.GitRepository{
		TypeMeta:   metav1.TypeMeta{APIVersion: sourcev1.GroupVersion.String(), Kind: sourcev1.GitRepositoryKind},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "kustomize-remote-" + hex.EncodeToString(sum[:8])},
		Spec:       sourcev1.GitRepositorySpec{URL: rb.repo, Timeout: &metav1.Duration{Duration: timeout}},
	}
	refs := []*sourcev1.GitRepositoryRef{nil}
	switch {
	case hexCommit.MatchString(rb.ref):
		refs = []*sourcev1.GitRepositoryRef{{Commit: rb.ref}}
	case strings.HasPrefix(rb.ref, "refs/"):
		refs = []*sourcev1.GitRepositoryRef{{Name: rb.ref}}
	case rb.ref != "":
		// kustomize's ref is a tag or a branch.
		refs = []*sourcev1.GitRepositoryRef{{Name: "refs/tags/" + rb.ref}, {Name: "refs/heads/" + rb.ref}}
	}
	for i, ref := range refs {
		gr.Spec.Reference = ref
		if repoDir, err = r.Fetch(ctx, gr); err == nil || i == len(refs)-1 || !strings.Contains(err.Error(), "not found") {
			break
		}
	}
	if err != nil {
		return "", "", err
	}
	limit := r.MaxBytes
	if limit == 0 {
		limit = defaultRemoteMaxBytes
	}
	var total int64
	if err := filepath.WalkDir(repoDir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if total += info.Size(); total > limit {
			return fmt.Errorf("the repository's files exceed %d bytes", limit)
		}
		return nil
	}); err != nil {
		return "", "", err
	}
	return filepath.Join(repoDir, filepath.FromSlash(rb.dir)), repoDir, nil
}
