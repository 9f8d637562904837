package image

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	testingclock "k8s.io/utils/clock/testing"

	imagev1 "github.com/converge-gitops/converge/crds/image/v1"
	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

const deployYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: apps
spec:
  template:
    spec:
      containers:
        - name: app
          image: registry.example/org/app:1.0.0 # {"$imagepolicy": "flux-system:app"}
`

const messageTemplate = `Automated image update

Automation name: {{ .AutomationObject }}

{{ range .Changed.Changes -}}
- {{ .OldValue }} -> {{ .NewValue }} ({{ .Setter }})
{{ end -}}
`

// pushableRepo creates a repository on a Git HTTP server that accepts pushes, with deployYAML at
// apps/deploy.yaml.
func pushableRepo(t *testing.T) *sourcetest.GitRepo {
	t.Helper()
	srv := sourcetest.StartGitServer(t)
	repo := srv.NewRepo(t, "fleet")
	sourcetest.RunGit(t, srv.Root, "-C", "fleet.git", "config", "http.receivepack", "true")
	repo.Commit("initial", map[string]*string{"apps/deploy.yaml": sourcetest.Str(deployYAML), "README.md": sourcetest.Str("fleet\n")})
	return repo
}

func automation(mutate ...func(*imagev1.ImageUpdateAutomation)) *imagev1.ImageUpdateAutomation {
	a := &imagev1.ImageUpdateAutomation{
		ObjectMeta: metav1.ObjectMeta{Name: "auto", Namespace: "flux-system"},
		Spec: imagev1.ImageUpdateAutomationSpec{
			SourceRef: imagev1.CrossNamespaceSourceReference{Kind: "GitRepository", Name: "fleet"},
			Interval:  metav1.Duration{Duration: time.Minute},
			GitSpec: &imagev1.GitSpec{
				Checkout: &imagev1.GitCheckoutSpec{Reference: sourcev1.GitRepositoryRef{Branch: "main"}},
				Commit: imagev1.CommitSpec{Author: imagev1.CommitUser{Name: "Image Bot", Email: "bot@example.com"},
					MessageTemplate: messageTemplate},
			},
			Update: &imagev1.UpdateStrategy{Strategy: imagev1.UpdateStrategySetters, Path: "./apps"},
		},
	}
	for _, m := range mutate {
		m(a)
	}
	return a
}

func gitRepository(url string) *sourcev1.GitRepository {
	return &sourcev1.GitRepository{
		ObjectMeta: metav1.ObjectMeta{Name: "fleet", Namespace: "flux-system"},
		Spec:       sourcev1.GitRepositorySpec{URL: url, Reference: &sourcev1.GitRepositoryRef{Branch: "main"}},
	}
}

// remoteFile reads path at branch of the repository behind repo.
func remoteFile(t *testing.T, repo *sourcetest.GitRepo, branch, path string) (string, *git.Repository, plumbing.Hash) {
	t.Helper()
	dir := t.TempDir()
	r, err := git.PlainClone(dir, false, &git.CloneOptions{URL: repo.URL, ReferenceName: plumbing.NewBranchReferenceName(branch), SingleBranch: true})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, path))
	if err != nil {
		t.Fatal(err)
	}
	head, _ := r.Head()
	return string(data), r, head.Hash()
}

func TestAutomationCycle(t *testing.T) {
	repo := pushableRepo(t)
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := &Automation{Clock: testingclock.NewFakePassiveClock(now)}
	policies := Policies{"flux-system/app": {Name: "registry.example/org/app", Tag: "1.2.3"}}

	res, err := a.Run(ctx, automation(), gitRepository(repo.URL), policies, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Commit == "" || res.Attempts != 1 || len(res.Changes) != 1 || !strings.HasPrefix(res.SourceRevision, "main@sha1:") {
		t.Fatalf("result %+v", res)
	}
	// As in Flux's template data, file names are relative to update.path (./apps).
	if files := res.Result.Files(); len(files) != 1 || files[0] != "deploy.yaml" {
		t.Fatalf("files %v, want [deploy.yaml]", files)
	}
	content, r, head := remoteFile(t, repo, "main", "apps/deploy.yaml")
	if content != strings.Replace(deployYAML, "app:1.0.0", "app:1.2.3", 1) {
		t.Fatalf("pushed file:\n%s", content)
	}
	if head.String() != res.Commit {
		t.Fatalf("remote head %s, pushed %s", head, res.Commit)
	}
	c, err := r.CommitObject(head)
	if err != nil {
		t.Fatal(err)
	}
	wantMsg := "Automated image update\n\nAutomation name: flux-system/auto\n\n- registry.example/org/app:1.0.0 -> registry.example/org/app:1.2.3 (flux-system:app)\n"
	if c.Message != wantMsg || c.Author.Name != "Image Bot" || c.Author.Email != "bot@example.com" || !c.Author.When.Equal(now) {
		t.Fatalf("commit %q by %v", c.Message, c.Author)
	}
	if c.NumParents() != 1 {
		t.Errorf("parents %d", c.NumParents())
	}

	// Nothing changed: nothing committed.
	again, err := a.Run(ctx, automation(), gitRepository(repo.URL), policies, nil)
	if err != nil || again.Commit != "" || len(again.Changes) != 0 {
		t.Fatalf("second run: %+v %v", again, err)
	}
	if _, _, h := remoteFile(t, repo, "main", "apps/deploy.yaml"); h != head {
		t.Fatalf("second run moved main to %s", h)
	}
}

// TestAutomationNonFastForwardRetried pushes a concurrent commit between the automation's clone and its
// push: the rejected push is retried on a fresh clone, which keeps the concurrent commit.
func TestAutomationNonFastForwardRetried(t *testing.T) {
	repo := pushableRepo(t)
	var concurrent string
	a := &Automation{Clock: clock.RealClock{}, beforePush: func(attempt int) {
		if attempt == 1 {
			concurrent = repo.Commit("concurrent change", map[string]*string{"README.md": sourcetest.Str("moved on\n")})
		}
	}}
	res, err := a.Run(context.Background(), automation(), gitRepository(repo.URL),
		Policies{"flux-system/app": {Name: "registry.example/org/app", Tag: "2.0.0"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 {
		t.Fatalf("attempts %d, want 2", res.Attempts)
	}
	content, r, head := remoteFile(t, repo, "main", "apps/deploy.yaml")
	if !strings.Contains(content, "app:2.0.0") || head.String() != res.Commit {
		t.Fatalf("head %s commit %s content %s", head, res.Commit, content)
	}
	c, _ := r.CommitObject(head)
	if len(c.ParentHashes) != 1 || c.ParentHashes[0].String() != concurrent {
		t.Fatalf("parent %v, want the concurrent commit %s", c.ParentHashes, concurrent)
	}

	// A push that keeps being rejected gives up after the last attempt.
	always := &Automation{Clock: clock.RealClock{}, beforePush: func(attempt int) {
		repo.Commit("race "+string(rune('a'+attempt)), map[string]*string{"README.md": sourcetest.Str(strings.Repeat("x", attempt) + "\n")})
	}}
	_, err = always.Run(context.Background(), automation(), gitRepository(repo.URL),
		Policies{"flux-system/app": {Name: "registry.example/org/app", Tag: "3.0.0"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "non-fast-forward") || ReasonOf(err) != imagev1.GitOperationFailedReason {
		t.Fatalf("err %v (reason %s)", err, ReasonOf(err))
	}
}

// TestAutomationCheckoutCommit checks out spec.git.checkout.ref.commit: the update is committed on top of
// that commit and pushed to the branch; once the branch has moved past the commit the push is refused.
func TestAutomationCheckoutCommit(t *testing.T) {
	repo := pushableRepo(t)
	_, _, initial := remoteFile(t, repo, "main", "apps/deploy.yaml")
	atCommit := func(a *imagev1.ImageUpdateAutomation) {
		a.Spec.GitSpec.Checkout.Reference = sourcev1.GitRepositoryRef{Branch: "main", Commit: initial.String()}
	}
	policies := Policies{"flux-system/app": {Name: "registry.example/org/app", Tag: "1.2.3"}}
	res, err := (&Automation{Clock: clock.RealClock{}}).Run(context.Background(), automation(atCommit), gitRepository(repo.URL), policies, nil)
	if err != nil {
		t.Fatal(err)
	}
	content, r, head := remoteFile(t, repo, "main", "apps/deploy.yaml")
	c, _ := r.CommitObject(head)
	if res.Commit == "" || head.String() != res.Commit || len(c.ParentHashes) != 1 || c.ParentHashes[0] != initial || !strings.Contains(content, "app:1.2.3") {
		t.Fatalf("main %s (pushed %q), parents %v, want the update on %s:\n%s", head, res.Commit, c.ParentHashes, initial, content)
	}
	_, err = (&Automation{Clock: clock.RealClock{}}).Run(context.Background(), automation(atCommit), gitRepository(repo.URL),
		Policies{"flux-system/app": {Name: "registry.example/org/app", Tag: "1.3.0"}}, nil)
	if err == nil || !isNonFastForward(err) || ReasonOf(err) != imagev1.GitOperationFailedReason {
		t.Fatalf("err %v (reason %s), want a refused non-fast-forward push", err, ReasonOf(err))
	}
}

// TestAutomationPushRefspec pushes to the branch and to spec.git.push.refspec; the summary names both.
func TestAutomationPushRefspec(t *testing.T) {
	repo := pushableRepo(t)
	auto := automation(func(a *imagev1.ImageUpdateAutomation) {
		a.Spec.GitSpec.Push = &imagev1.PushSpec{Refspec: "refs/heads/main:refs/heads/release"}
	})
	res, err := (&Automation{Clock: clock.RealClock{}}).Run(context.Background(), auto, gitRepository(repo.URL), Policies{"flux-system/app": {Name: "registry.example/org/app", Tag: "1.2.3"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, branch := range []string{"main", "release"} {
		if _, _, head := remoteFile(t, repo, branch, "apps/deploy.yaml"); head.String() != res.Commit {
			t.Errorf("%s at %s, pushed %s", branch, head, res.Commit)
		}
	}
	if want := fmt.Sprintf("pushed commit '%s' to branch 'main' and refspecs 'refs/heads/main:refs/heads/release'\n", res.Commit[:7]); !strings.HasPrefix(res.Summary(), want) {
		t.Errorf("summary %q, want %q...", res.Summary(), want)
	}
	auto.Spec.GitSpec.Push.Refspec = "+refs/heads/main:refs/heads/release"
	if _, err := (&Automation{Clock: clock.RealClock{}}).Run(context.Background(), auto, gitRepository(repo.URL), Policies{"flux-system/app": {Name: "registry.example/org/app", Tag: "1.3.0"}}, nil); ReasonOf(err) != imagev1.InvalidSourceConfigReason {
		t.Errorf("force refspec: err %v", err)
	}
}

func TestAutomationPushBranchAndSigning(t *testing.T) {
	repo := pushableRepo(t)
	entity, err := openpgp.NewEntity("Image Bot", "", "bot@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	var armored bytes.Buffer
	w, _ := armor.Encode(&armored, openpgp.PrivateKeyType, nil)
	if err := entity.SerializePrivate(w, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	sec := secrets{}.add(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "signing", Namespace: "flux-system"},
		Data: map[string][]byte{"git.asc": armored.Bytes()}})
	a := &Automation{Clock: clock.RealClock{}, Secrets: sec}
	auto := automation(func(a *imagev1.ImageUpdateAutomation) {
		a.Spec.GitSpec.Push = &imagev1.PushSpec{Branch: "image-updates"}
		a.Spec.GitSpec.Commit.SigningKey = &imagev1.SigningKey{SecretRef: meta.LocalObjectReference{Name: "signing"}}
		a.Spec.GitSpec.Commit.MessageTemplate = ""
	})
	res, err := a.Run(context.Background(), auto, gitRepository(repo.URL), Policies{"flux-system/app": {Name: "registry.example/org/app", Tag: "1.5.0"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, r, head := remoteFile(t, repo, "image-updates", "apps/deploy.yaml")
	if head.String() != res.Commit || res.PushBranch != "image-updates" {
		t.Fatalf("head %s, commit %s", head, res.Commit)
	}
	c, _ := r.CommitObject(head)
	if c.Message != DefaultMessageTemplate || c.PGPSignature == "" {
		t.Fatalf("message %q signature %q", c.Message, c.PGPSignature)
	}
	if _, err := c.Verify(armored.String()); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	if main, _, _ := remoteFile(t, repo, "main", "apps/deploy.yaml"); main != deployYAML {
		t.Error("main changed though the push branch is image-updates")
	}
	if !res.SwitchBranch || res.Summary() != fmt.Sprintf("pushed commit '%s' to branch 'image-updates'\n%s", res.Commit[:7], DefaultMessageTemplate) {
		t.Errorf("switch %v summary %q", res.SwitchBranch, res.Summary())
	}

	// As Flux by default: the next run continues the existing push branch (its commit is the parent),
	// even though main moved meanwhile, and force-pushes it.
	repo.Commit("main moves on", map[string]*string{"README.md": sourcetest.Str("moved\n")})
	next, err := a.Run(context.Background(), auto, gitRepository(repo.URL), Policies{"flux-system/app": {Name: "registry.example/org/app", Tag: "1.6.0"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	content, r2, head2 := remoteFile(t, repo, "image-updates", "apps/deploy.yaml")
	c2, _ := r2.CommitObject(head2)
	if head2.String() != next.Commit || len(c2.ParentHashes) != 1 || c2.ParentHashes[0].String() != res.Commit || !strings.Contains(content, "app:1.6.0") {
		t.Fatalf("push branch head %s parents %v (first push %s):\n%s", head2, c2.ParentHashes, res.Commit, content)
	}
}

func TestAutomationBadInput(t *testing.T) {
	repo := pushableRepo(t)
	policies := Policies{"flux-system/app": {Name: "registry.example/org/app", Tag: "1.2.3"}}
	tests := []struct {
		name   string
		auto   *imagev1.ImageUpdateAutomation
		url    string
		reason string
		msg    string
	}{
		{"no git spec", automation(func(a *imagev1.ImageUpdateAutomation) { a.Spec.GitSpec = nil }), repo.URL, imagev1.InvalidSourceConfigReason, "necessitates field .spec.git"},
		{"no author email", automation(func(a *imagev1.ImageUpdateAutomation) { a.Spec.GitSpec.Commit.Author.Email = "" }), repo.URL, imagev1.InvalidSourceConfigReason, "email"},
		{"missing branch", automation(func(a *imagev1.ImageUpdateAutomation) {
			a.Spec.GitSpec.Checkout.Reference.Branch = "nope"
		}), repo.URL, imagev1.GitOperationFailedReason, "cloning"},
		{"unreachable server", automation(), "http://127.0.0.1:1/fleet.git", imagev1.GitOperationFailedReason, "cloning"},
		{"missing update path", automation(func(a *imagev1.ImageUpdateAutomation) { a.Spec.Update.Path = "nowhere" }), repo.URL, imagev1.UpdateFailedReason, "nowhere"},
		{"unsupported strategy", automation(func(a *imagev1.ImageUpdateAutomation) { a.Spec.Update.Strategy = "Kustomize" }), repo.URL, imagev1.InvalidUpdateStrategyReason, "unsupported update strategy: Kustomize"},
		{"removed template field", automation(func(a *imagev1.ImageUpdateAutomation) { a.Spec.GitSpec.Commit.MessageTemplate = "{{ .Updated }}" }), repo.URL, imagev1.RemovedTemplateFieldReason, ".Updated"},
		{"missing signing secret", automation(func(a *imagev1.ImageUpdateAutomation) {
			a.Spec.GitSpec.Commit.SigningKey = &imagev1.SigningKey{SecretRef: meta.LocalObjectReference{Name: "absent"}}
		}), repo.URL, imagev1.InvalidSourceConfigReason, "signingKey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := (&Automation{Clock: clock.RealClock{}, Secrets: secrets{}}).Run(context.Background(), tt.auto, gitRepository(tt.url), policies, nil)
			if err == nil || ReasonOf(err) != tt.reason || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err %v (reason %s), want %s with %q", err, ReasonOf(err), tt.reason, tt.msg)
			}
		})
	}

	// A marker naming a missing policy is reported with its file and line; the others still apply.
	repo.Commit("add a broken marker", map[string]*string{"apps/broken.yaml": sourcetest.Str("image: x:1 # {\"$imagepolicy\": \"flux-system:gone\"}\n")})
	res, err := (&Automation{Clock: clock.RealClock{}}).Run(context.Background(), automation(), gitRepository(repo.URL), policies, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Commit == "" || len(res.Problems) != 1 || !strings.HasPrefix(res.Problems[0].Error(), "apps/broken.yaml:1: ") {
		t.Fatalf("commit %q problems %v", res.Commit, res.Problems)
	}
}
