package image

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	imagev1 "github.com/converge-gitops/converge/crds/image/v1"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source"
	sourcegit "github.com/converge-gitops/converge/engine/source/git"
	"github.com/converge-gitops/converge/engine/source/githubapp"
)

// maxPushAttempts bounds the clone-update-push cycles when the push is rejected as non-fast-forward
// because the branch moved meanwhile.
const maxPushAttempts = 3

// Automation runs ImageUpdateAutomations: clone, rewrite markers, commit, push.
type Automation struct {
	// Secrets resolves the GitRepository's secretRef and the signing key Secret.
	Secrets source.Secrets
	// TempDir creates work folders (the artifact store's TempDir); os.MkdirTemp when nil.
	TempDir func(pattern string) (string, error)
	Clock   clock.PassiveClock
	// GitHubApp caches the installation tokens of a GitRepository with `provider: github`; nil
	// exchanges at every run.
	GitHubApp *githubapp.Tokens

	// beforePush runs before each push attempt (tests race a concurrent commit in here).
	beforePush func(attempt int)
}

// AutomationResult is the outcome of one automation run.
type AutomationResult struct {
	Result   Result         `json:"-"`
	Changes  []Change       `json:"changes,omitempty"`
	Problems []*MarkerError `json:"-"`
	// Commit is the pushed commit; empty when nothing changed.
	Commit string `json:"commit,omitempty"`
	// Message is the commit message.
	Message string `json:"message,omitempty"`
	// SourceRevision is the checked out revision, branch@sha1:<hash>.
	SourceRevision string `json:"sourceRevision"`
	// PushBranch is the branch pushed to.
	PushBranch string `json:"pushBranch"`
	// SwitchBranch is true when the push branch differs from the checked out branch.
	SwitchBranch bool `json:"switchBranch,omitempty"`
	// Refspecs are the refspecs pushed besides the branch.
	Refspecs []string `json:"refspecs,omitempty"`
	// Attempts is the number of clone-update-push cycles (more than one after a non-fast-forward push).
	Attempts int `json:"attempts"`
}

// Run performs one automation run for auto against repo with the elected images of policies. known
// reports policies that exist without being applicable (not selected, no latest image yet).
func (a *Automation) Run(ctx context.Context, auto *imagev1.ImageUpdateAutomation, repo *sourcev1.GitRepository, policies Policies, known func(namespace, name string) bool) (*AutomationResult, error) {
	id := auto.Namespace + "/" + auto.Name
	fail := func(err error) (*AutomationResult, error) {
		return nil, fmt.Errorf("ImageUpdateAutomation %s: %w", id, err)
	}
	if auto.Spec.GitSpec == nil {
		return fail(&Error{Reason: imagev1.InvalidSourceConfigReason, Stalled: true, Err: errors.New("source kind 'GitRepository' necessitates field .spec.git")})
	}
	gs := auto.Spec.GitSpec
	if u := auto.GetUpdateStrategy(); u.Strategy != imagev1.UpdateStrategySetters {
		return fail(&Error{Reason: imagev1.InvalidUpdateStrategyReason, Stalled: true, Err: fmt.Errorf("unsupported update strategy: %s", u.Strategy)})
	}
	if gs.Commit.Author.Email == "" {
		return fail(&Error{Reason: imagev1.InvalidSourceConfigReason, Err: errors.New("spec.git.commit.author.email is required")})
	}
	ref := sourcev1.GitRepositoryRef{}
	if repo.Spec.Reference != nil {
		ref = *repo.Spec.Reference
	}
	if gs.Checkout != nil {
		ref = gs.Checkout.Reference
	}
	if ref == (sourcev1.GitRepositoryRef{}) {
		ref.Branch = sourcev1.DefaultGitBranch
	}
	pushBranch := ref.Branch
	if gs.Push != nil && gs.Push.Branch != "" {
		pushBranch = gs.Push.Branch
	}
	if pushBranch == "" && !gs.HasRefspec() {
		return fail(&Error{Reason: imagev1.InvalidSourceConfigReason, Stalled: true, Err: errors.New("push spec not provided, and cannot be inferred from .spec.git.checkout.ref or GitRepository .spec.ref")})
	}
	var repoSecret, signSecret *corev1.Secret
	if repo.Spec.SecretRef != nil {
		s, err := a.secret(ctx, repo.Namespace, repo.Spec.SecretRef.Name)
		if err != nil {
			return fail(&Error{Reason: imagev1.InvalidSourceConfigReason, Err: fmt.Errorf("GitRepository %s/%s secretRef: %w", repo.Namespace, repo.Name, err)})
		}
		repoSecret = s
	}
	var proxySecret *corev1.Secret
	if repo.Spec.ProxySecretRef != nil {
		s, err := a.secret(ctx, repo.Namespace, repo.Spec.ProxySecretRef.Name)
		if err != nil {
			return fail(&Error{Reason: imagev1.InvalidSourceConfigReason, Err: fmt.Errorf("GitRepository %s/%s proxySecretRef: %w", repo.Namespace, repo.Name, err)})
		}
		proxySecret = s
	}
	var signer git.Signer
	if sk := gs.Commit.SigningKey; sk != nil {
		s, err := a.secret(ctx, auto.Namespace, sk.SecretRef.Name)
		if err != nil {
			return fail(&Error{Reason: imagev1.InvalidSourceConfigReason, Err: fmt.Errorf("signingKey: %w", err)})
		}
		signSecret = s
		if signer, err = commitSigner(signSecret, sk.Type); err != nil {
			return fail(&Error{Reason: imagev1.InvalidSourceConfigReason, Err: err})
		}
	}
	for attempt := 1; ; attempt++ {
		res, err := a.attempt(ctx, auto, repo, ref, pushBranch, repoSecret, proxySecret, signer, policies, known, attempt)
		if err != nil && isNonFastForward(err) && attempt < maxPushAttempts {
			continue
		}
		if err != nil {
			return fail(err)
		}
		res.Attempts = attempt
		return res, nil
	}
}

func (a *Automation) secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	if a.Secrets == nil {
		return nil, fmt.Errorf("secret %s/%s: no access to Secrets", namespace, name)
	}
	return a.Secrets.GetSecret(ctx, namespace, name)
}

func (a *Automation) tempDir() (string, error) {
	if a.TempDir != nil {
		return a.TempDir("image-automation-*")
	}
	return os.MkdirTemp("", "image-automation-*")
}

func (a *Automation) now() time.Time {
	return a.Clock.Now()
}

// attempt clones a fresh copy, updates, commits and pushes once.
func (a *Automation) attempt(ctx context.Context, auto *imagev1.ImageUpdateAutomation, repo *sourcev1.GitRepository,
	ref sourcev1.GitRepositoryRef, pushBranch string, repoSecret, proxySecret *corev1.Secret, signer git.Signer,
	policies Policies, known func(namespace, name string) bool, attempt int) (*AutomationResult, error) {
	gs := auto.Spec.GitSpec
	tmp, err := a.tempDir()
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	remote, err := sourcegit.NewRemote(ctx, sourcegit.RemoteOptions{URL: repo.Spec.URL, Provider: repo.GetProvider(),
		Secret: repoSecret, ProxySecret: proxySecret, TempDir: tmp, GitHubApp: a.GitHubApp})
	if err != nil {
		return nil, &Error{Reason: imagev1.InvalidSourceConfigReason, Err: err}
	}
	dir := filepath.Join(tmp, "work")
	var cloneRef plumbing.ReferenceName
	switch {
	case ref.Branch != "":
		cloneRef = plumbing.NewBranchReferenceName(ref.Branch)
	case ref.Name != "":
		cloneRef = plumbing.ReferenceName(ref.Name)
	case ref.Tag != "":
		cloneRef = plumbing.NewTagReferenceName(ref.Tag)
	}
	r, err := remote.Clone(ctx, dir, cloneRef)
	if err != nil {
		return nil, gitErr("cloning %s: %w", repo.Spec.URL, ctxErr(ctx, err))
	}
	wt, err := r.Worktree()
	if err != nil {
		return nil, gitErr("%w", err)
	}
	if ref.Commit != "" {
		if err := wt.Checkout(&git.CheckoutOptions{Hash: plumbing.NewHash(ref.Commit)}); err != nil {
			return nil, gitErr("checking out commit %s: %w", ref.Commit, err)
		}
	}
	head, err := r.Head()
	if err != nil {
		return nil, gitErr("%w", err)
	}
	res := &AutomationResult{PushBranch: pushBranch, SourceRevision: revisionOf(ref, head.Hash())}
	localBranch := ref.Branch
	if pushBranch != "" && pushBranch != ref.Branch {
		// Flux (GitAllBranchReferences and GitForcePushBranch, both on by default): the push branch
		// continues from its remote head when it exists, else starts from the checked out commit; it is
		// force-pushed.
		res.SwitchBranch = true
		if err := switchBranch(ctx, remote, r, wt, pushBranch); err != nil {
			return nil, err
		}
		localBranch = pushBranch
	} else if ref.Commit != "" && pushBranch != "" {
		// A commit checkout leaves HEAD detached: commit on the push branch from that commit (the push is
		// refused as non-fast-forward if the branch has moved past it).
		branchRef := plumbing.NewBranchReferenceName(pushBranch)
		if err := r.Storer.SetReference(plumbing.NewHashReference(branchRef, head.Hash())); err != nil {
			return nil, gitErr("creating branch %s at %s: %w", pushBranch, ref.Commit, err)
		}
		if err := wt.Checkout(&git.CheckoutOptions{Branch: branchRef, Force: true}); err != nil {
			return nil, gitErr("checking out branch %s: %w", pushBranch, err)
		}
		localBranch = pushBranch
	}

	updateDir, err := updatePath(dir, auto.GetUpdateStrategy().Path)
	if err != nil {
		return nil, err
	}
	// As Flux, file names in the result (and the commit message) are relative to the update path.
	result, problems, err := UpdateFiles(updateDir, updateDir, policies, UpdateOptions{Known: known})
	if err != nil {
		return nil, &Error{Reason: imagev1.UpdateFailedReason, Err: fmt.Errorf("failed to apply policies: %w", err)}
	}
	// Problems name their files from the repository root, for the event that reports them.
	if prefix, err := filepath.Rel(dir, updateDir); err == nil && prefix != "." {
		for _, p := range problems {
			p.File = path.Join(filepath.ToSlash(prefix), p.File)
		}
	}
	res.Result, res.Problems, res.Changes = result, problems, result.All()
	if len(res.Changes) == 0 {
		return res, nil
	}
	msg, err := RenderMessage(gs.Commit.MessageTemplate, TemplateData{
		AutomationObject: types.NamespacedName{Namespace: auto.Namespace, Name: auto.Name},
		Changed:          result, Values: gs.Commit.MessageTemplateValues,
	})
	if err != nil {
		return nil, err
	}
	res.Message = msg
	var files []string
	for _, f := range result.Files() {
		rel, err := filepath.Rel(dir, filepath.Join(updateDir, filepath.FromSlash(f)))
		if err != nil {
			return nil, err
		}
		files = append(files, filepath.ToSlash(rel))
	}
	sig := object.Signature{Name: gs.Commit.Author.Name, Email: gs.Commit.Author.Email, When: a.now()}
	hash, err := sourcegit.CommitFiles(r, files, msg, sig, signer)
	if err != nil {
		return nil, gitErr("%w", err)
	}
	if a.beforePush != nil {
		a.beforePush(attempt)
	}
	var specs []config.RefSpec
	if pushBranch != "" {
		spec := fmt.Sprintf("refs/heads/%s:refs/heads/%s", localBranch, pushBranch)
		if pushBranch != ref.Branch {
			spec = "+" + spec
		}
		specs = append(specs, config.RefSpec(spec))
	}
	if gs.HasRefspec() {
		rs := gs.Push.Refspec
		if strings.HasPrefix(rs, "+") || strings.HasPrefix(rs, ":") {
			return nil, &Error{Reason: imagev1.InvalidSourceConfigReason, Stalled: true, Err: fmt.Errorf("push refspec %q: force and deletion refspecs are not supported", rs)}
		}
		res.Refspecs = append(res.Refspecs, gs.Push.Refspec)
		if !strings.Contains(rs, ":") {
			rs = rs + ":" + rs
		}
		specs = append(specs, config.RefSpec(rs))
	}
	for _, s := range specs {
		if err := s.Validate(); err != nil {
			return nil, &Error{Reason: imagev1.InvalidSourceConfigReason, Stalled: true, Err: fmt.Errorf("push refspec %q: %w", s, err)}
		}
	}
	var pushOptions map[string]string
	if gs.Push != nil {
		pushOptions = gs.Push.Options
	}
	if err := remote.Push(ctx, r, specs, pushOptions); err != nil {
		return nil, gitErr("pushing to %s: %w", repo.Spec.URL, ctxErr(ctx, err))
	}
	res.Commit = hash
	return res, nil
}

func revisionOf(ref sourcev1.GitRepositoryRef, h plumbing.Hash) string {
	name := ref.Branch
	switch {
	case name != "":
	case ref.Tag != "":
		name = ref.Tag
	case ref.Name != "":
		name = ref.Name
	default:
		return "sha1:" + h.String()
	}
	return name + "@sha1:" + h.String()
}

// updatePath returns dir/path, refusing paths that leave dir.
func updatePath(dir, path string) (string, error) {
	clean := filepath.Clean("/" + filepath.FromSlash(path))
	p := filepath.Join(dir, clean)
	if _, err := os.Stat(p); err != nil {
		return "", &Error{Reason: imagev1.UpdateFailedReason, Err: fmt.Errorf("failed to apply policies: update path %q: %w", path, err)}
	}
	// The clone may hold symbolic links: the resolved path must stay inside it.
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", &Error{Reason: imagev1.UpdateFailedReason, Err: fmt.Errorf("failed to apply policies: %w", err)}
	}
	resolved, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", &Error{Reason: imagev1.UpdateFailedReason, Err: fmt.Errorf("failed to apply policies: update path %q: %w", path, err)}
	}
	rel, err := filepath.Rel(root, resolved)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", &Error{Reason: imagev1.UpdateFailedReason, Err: fmt.Errorf("failed to apply policies: update path %q leaves the repository through a symbolic link", path)}
	}
	return filepath.Join(dir, rel), nil
}

// Summary is the event message of a pushed commit, as Flux writes it: the short commit, the branch, the
// refspecs, then the commit message.
func (r *AutomationResult) Summary() string {
	short := r.Commit
	if len(short) > 7 {
		short = short[:7]
	}
	s := fmt.Sprintf("pushed commit '%s' to branch '%s'", short, r.PushBranch)
	if len(r.Refspecs) > 0 {
		s += fmt.Sprintf(" and refspecs '%s'", strings.Join(r.Refspecs, "', '"))
	}
	if r.Message != "" {
		s += "\n" + r.Message
	}
	return s
}

// switchBranch checks out branch: from its remote head when the remote has it, else created at HEAD.
func switchBranch(ctx context.Context, remote *sourcegit.Remote, r *git.Repository, wt *git.Worktree, branch string) error {
	remoteRef := plumbing.NewRemoteReferenceName("origin", branch)
	spec := config.RefSpec(fmt.Sprintf("+refs/heads/%s:%s", branch, remoteRef))
	err := remote.Fetch(ctx, r, spec)
	opts := &git.CheckoutOptions{Branch: plumbing.NewBranchReferenceName(branch), Create: true, Force: true}
	switch {
	case err == nil:
		ref, rerr := r.Reference(remoteRef, true)
		if rerr != nil {
			return gitErr("switching to branch %s: %w", branch, rerr)
		}
		opts.Hash = ref.Hash()
	case isMissingRef(err):
		// A new push branch, created at the checked out commit.
	default:
		return gitErr("fetching branch %s: %w", branch, ctxErr(ctx, err))
	}
	if err := wt.Checkout(opts); err != nil {
		return gitErr("switching to branch %s: %w", branch, err)
	}
	return nil
}

func isMissingRef(err error) bool {
	var noMatch git.NoMatchingRefSpecError
	return errors.As(err, &noMatch) || errors.Is(err, git.ErrBranchNotFound) || strings.Contains(err.Error(), "couldn't find remote ref")
}
