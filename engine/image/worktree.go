package image

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/utils/clock"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/converge-gitops/converge/engine/source"
	sourcegit "github.com/converge-gitops/converge/engine/source/git"
)

// WorkTreeUpdate is a one-shot image update of the YAML files under a folder, without an agent
// (`converge images update`).
type WorkTreeUpdate struct {
	// Root is the folder whose marked values are rewritten.
	Root string
	// Namespace is the namespace of objects read from Root without one, or the cluster namespace
	// listed with FromCluster.
	Namespace string
	// FromCluster lists the ImageRepositories and ImagePolicies with Cluster instead of reading Root's.
	FromCluster bool
	Cluster     func(ctx context.Context, namespace string) (*Objects, error)
	// CacheDir is the artifact store of the scanned tags ("" is source.DefaultRoot()).
	CacheDir string
	// Secrets resolves the ImageRepositories' Secrets; asked only when one references a Secret. Nil
	// when there is no cluster.
	Secrets func() (source.Secrets, error)
	// DryRun computes the changes without writing files.
	DryRun bool
	// Commit, when set, commits the changed files in the Git work tree holding Root.
	Commit *WorkTreeCommit
	Clock  clock.PassiveClock
}

// WorkTreeCommit is how WorkTreeUpdate commits.
type WorkTreeCommit struct {
	AuthorName, AuthorEmail string
	// MessageTemplate is a Go template over Flux's commit template data (.Changed).
	MessageTemplate string
}

// WorkTreeResult is the outcome of a WorkTreeUpdate.
type WorkTreeResult struct {
	Policies []Election     `json:"policies"`
	Changes  []Change       `json:"changes"`
	Errors   []*MarkerError `json:"markerErrors,omitempty"`
	// Commit is the commit made; empty without Commit or changes.
	Commit string `json:"commit,omitempty"`
}

// Failed reports an election or a marker that failed.
func (r *WorkTreeResult) Failed() bool {
	failed := len(r.Errors) > 0
	for _, e := range r.Policies {
		failed = failed || e.Error != ""
	}
	return failed
}

// UpdateWorkTree scans the ImageRepositories, elects each ImagePolicy's latest image and rewrites the
// marked values under u.Root, then commits the changed files when u.Commit is set. A commit is refused
// before any file is written when the index already has staged changes (they would be swept into it).
func UpdateWorkTree(ctx context.Context, u WorkTreeUpdate) (*WorkTreeResult, error) {
	root, err := filepath.Abs(u.Root)
	if err != nil {
		return nil, err
	}
	var commitTo *workTreeRepo
	if u.Commit != nil {
		if commitTo, err = openForCommit(root); err != nil {
			return nil, err
		}
	}
	var objs *Objects
	if u.FromCluster {
		objs, err = u.Cluster(ctx, u.Namespace)
	} else {
		objs, err = LoadObjects(root, u.Namespace)
	}
	if err != nil {
		return nil, err
	}
	if len(objs.Policies) == 0 {
		where := root
		if u.FromCluster {
			where = "namespace " + u.Namespace
		}
		return nil, fmt.Errorf("no ImagePolicy found in %s", where)
	}
	store, err := source.OpenStore(u.CacheDir)
	if err != nil {
		return nil, err
	}
	scanner := &Scanner{Store: store, Clock: u.Clock}
	if needsSecrets(objs) && u.Secrets != nil {
		if scanner.Secrets, err = u.Secrets(); err != nil {
			return nil, fmt.Errorf("ImageRepositories reference Secrets, which are read from the cluster: %w", err)
		}
	}
	policies, elections := scanner.Elect(ctx, objs)
	known := map[string]bool{}
	for _, p := range objs.Policies {
		known[p.Namespace+"/"+p.Name] = true
	}
	res, problems, err := UpdateFiles(root, root, policies, UpdateOptions{DryRun: u.DryRun,
		Known: func(ns, name string) bool { return known[ns+"/"+name] }})
	if err != nil {
		return nil, err
	}
	out := &WorkTreeResult{Policies: elections, Changes: res.All(), Errors: problems}
	if out.Changes == nil {
		out.Changes = []Change{}
	}
	if commitTo != nil && len(out.Changes) > 0 {
		if out.Commit, err = commitTo.commit(root, res, u.Commit, u.Clock.Now()); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func needsSecrets(objs *Objects) bool {
	for _, r := range objs.Repositories {
		if r.Spec.SecretRef != nil || r.Spec.CertSecretRef != nil || r.Spec.ProxySecretRef != nil {
			return true
		}
	}
	return false
}

// workTreeRepo is the Git work tree an update commits to.
type workTreeRepo struct {
	repo *git.Repository
	top  string
}

// openForCommit opens the work tree holding root and refuses one whose index differs from HEAD.
func openForCommit(root string) (*workTreeRepo, error) {
	repo, top, err := sourcegit.OpenRepository(root)
	if err != nil {
		return nil, fmt.Errorf("cannot commit: %w", err)
	}
	staged, err := sourcegit.StagedChanges(repo)
	if err != nil {
		return nil, fmt.Errorf("cannot commit: %w", err)
	}
	if len(staged) > 0 {
		return nil, fmt.Errorf("cannot commit: the index already has staged changes (%s): commit or unstage them first, the image update commit would include them", strings.Join(staged, ", "))
	}
	return &workTreeRepo{repo: repo, top: top}, nil
}

// commit commits the changed files of res (named relative to root).
func (w *workTreeRepo) commit(root string, res Result, c *WorkTreeCommit, now time.Time) (string, error) {
	var files []string
	for _, f := range res.Files() {
		rel, err := filepath.Rel(w.top, filepath.Join(root, filepath.FromSlash(f)))
		if err != nil {
			return "", err
		}
		files = append(files, filepath.ToSlash(rel))
	}
	msg, err := RenderMessage(c.MessageTemplate, TemplateData{Changed: res})
	if err != nil {
		return "", err
	}
	sig := object.Signature{Name: c.AuthorName, Email: c.AuthorEmail, When: now}
	return sourcegit.CommitFiles(w.repo, files, msg, sig, nil)
}
