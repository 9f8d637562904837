package bootstrap

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/engine/install"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// The Gitea provider is tested against a real Gitea server (hack/gitea.sh builds it; sourcetest.Gitea
// runs it on loopback with its built-in SSH server): these are its API's own answers, not a fake's.

type giteaRepo struct {
	Private       bool   `json:"private"`
	SSHURL        string `json:"ssh_url"`
	CloneURL      string `json:"clone_url"`
	DefaultBranch string `json:"default_branch"`
	Owner         struct {
		Login string `json:"login"`
	} `json:"owner"`
}

type giteaKey struct {
	ID       int64  `json:"id"`
	Key      string `json:"key"`
	Title    string `json:"title"`
	ReadOnly bool   `json:"read_only"`
}

func giteaGet(t *testing.T, g *sourcetest.Gitea, path string, out any) {
	t.Helper()
	if err := g.API(context.Background(), g.Token, http.MethodGet, path, nil, out); err != nil {
		t.Fatal(err)
	}
}

// giteaKeys lists every deploy key of owner/name (all pages).
func giteaKeys(t *testing.T, g *sourcetest.Gitea, full string) []giteaKey {
	t.Helper()
	var all []giteaKey
	for page := 1; ; page++ {
		var keys []giteaKey
		giteaGet(t, g, fmt.Sprintf("/repos/%s/keys?limit=50&page=%d", full, page), &keys)
		all = append(all, keys...)
		if len(keys) < 50 {
			return all
		}
	}
}

// giteaCommits returns the subjects of branch's commits, newest first.
func giteaCommits(t *testing.T, g *sourcetest.Gitea, full, branch string) []string {
	t.Helper()
	var commits []struct {
		Commit struct {
			Message string `json:"message"`
		} `json:"commit"`
	}
	giteaGet(t, g, "/repos/"+full+"/commits?stat=false&verification=false&files=false&limit=50&sha="+branch, &commits)
	var out []string
	for _, c := range commits {
		subject, _, _ := strings.Cut(c.Commit.Message, "\n")
		out = append(out, subject)
	}
	return out
}

func giteaHead(t *testing.T, g *sourcetest.Gitea, full, branch string) string {
	t.Helper()
	var b struct {
		Commit struct {
			ID string `json:"id"`
		} `json:"commit"`
	}
	giteaGet(t, g, "/repos/"+full+"/branches/"+branch, &b)
	return b.Commit.ID
}

// runWithAgent runs a waiting bootstrap while the agent runs as a process with the bootstrapped
// ServiceAccount's token (started once the ServiceAccount exists, as its pod would be) and the test
// stands in for the kubelet.
func runWithAgent(t *testing.T, ns string, run func(ctx context.Context) (*Result, error)) (*Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	type out struct {
		res *Result
		err error
	}
	ch := make(chan out, 1)
	go func() { r, err := run(ctx); ch <- out{r, err} }()
	for {
		if _, err := cluster.Client.CoreV1().ServiceAccounts(ns).Get(ctx, install.AgentName, metav1.GetOptions{}); err == nil {
			break
		}
		select {
		case o := <-ch:
			return o.res, fmt.Errorf("bootstrap ended before the agent's ServiceAccount existed: %v", o.err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	startAgent(t, ns)
	fakeKubelet(t, ns)
	o := <-ch
	return o.res, o.err
}

// TestBootstrapGitea is `converge bootstrap gitea` end to end against a real Gitea: a wrong token is
// refused before anything is created; the first run creates the private repository in an organization
// (initialised by Gitea), pushes the manifests over HTTP with the API token, registers a generated deploy
// key read-only, stores Gitea's SSH host key, and the agent (a process authenticated as the bootstrapped
// ServiceAccount) syncs the cluster from Gitea's SSH server with that deploy key, which bootstrap waits
// for. The deploy key can clone but not push. A re-run creates nothing: no commit, no second key; after
// the key is removed in Gitea, a re-run registers it again.
func TestBootstrapGitea(t *testing.T) {
	g := gitea.Get(t)
	ctx := context.Background()
	const ns, org, name = "boot-gitea", "platform-team", "fleet"
	full := org + "/" + name
	g.CreateOrg(t, org)
	p := &Provider{Kind: Gitea, BaseURL: g.APIURL(), Token: g.Token}
	po := ProviderOptions{Repository: RepositoryOptions{Owner: org, Name: name, Private: true}}
	opts := Options{
		Clock: clock.RealClock{},
		// A long path makes a long deploy key title.
		Path:    "clusters/production/eu-west-1/cluster-blue",
		Install: install.Options{Namespace: ns, Version: "v0.1.0"},
		Wait:    true,
		Events:  func(e Event) { t.Logf("%s %s", time.Now().Format("15:04:05.000"), e.Message) },
	}

	bad := &Provider{Kind: Gitea, BaseURL: g.APIURL(), Token: strings.Repeat("0", 40)}
	_, err := RunProvider(ctx, clients(t), bad, po, opts)
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "the API token was refused") {
		t.Errorf("wrong token: %v", err)
	}
	if err := g.API(ctx, g.Token, http.MethodGet, "/repos/"+full, nil, nil); !sourcetest.IsGiteaNotFound(err) {
		t.Fatalf("after the wrong token the repository exists or the API failed: %v", err)
	}

	res, err := runWithAgent(t, ns, func(ctx context.Context) (*Result, error) { return RunProvider(ctx, clients(t), p, po, opts) })
	if err != nil {
		t.Fatal(err)
	}
	var repo giteaRepo
	giteaGet(t, g, "/repos/"+full, &repo)
	if !repo.Private || repo.Owner.Login != org || repo.SSHURL != g.SSHURL(org, name) || repo.DefaultBranch != "main" {
		t.Errorf("repository %+v", repo)
	}
	if got := giteaCommits(t, g, full, "main"); strings.Join(got, "|") !=
		"Add converge kustomization.yaml|Add converge sync manifests|Add converge v0.1.0 component manifests|Initial commit" {
		t.Errorf("history %q", got)
	}
	head := giteaHead(t, g, full, "main")
	if res.Revision != "main@sha1:"+head {
		t.Errorf("revision %s, Gitea's head %s", res.Revision, head)
	}
	secret, err := cluster.Client.CoreV1().Secrets(ns).Get(ctx, SyncName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	keys := giteaKeys(t, g, full)
	if len(keys) != 1 || !keys[0].ReadOnly || keyMaterial(keys[0].Key) != keyMaterial(string(secret.Data[SecretIdentityPub])) ||
		!strings.HasPrefix(keys[0].Title, "converge-") || res.DeployKey == "" {
		t.Errorf("deploy keys %+v, Secret identity.pub %q", keys, secret.Data[SecretIdentityPub])
	}
	if string(secret.Data[SecretKnownHosts]) != g.KnownHosts() {
		t.Errorf("known_hosts %q, want Gitea's host key %q", secret.Data[SecretKnownHosts], g.KnownHosts())
	}
	gr := getObj(t, gitRepositoriesGVR, ns, SyncName)
	if u, _, _ := unstructured.NestedString(gr.Object, "spec", "url"); u != g.SSHURL(org, name) {
		t.Errorf("GitRepository url %s, want %s", u, g.SSHURL(org, name))
	}
	ks := getObj(t, kustomizationsGVR, ns, SyncName)
	if rev, _, _ := unstructured.NestedString(ks.Object, "status", "lastAppliedRevision"); rev != res.Revision {
		t.Errorf("lastAppliedRevision %s, want %s (fetched from Gitea over SSH with the deploy key)", rev, res.Revision)
	}

	// The deploy key reads and cannot write.
	dir := t.TempDir()
	keyFile, khFile := filepath.Join(dir, "id"), filepath.Join(dir, "known_hosts")
	writeFile(t, keyFile, string(secret.Data[SecretIdentity]))
	if err := os.Chmod(keyFile, 0o600); err != nil {
		t.Fatal(err)
	}
	writeFile(t, khFile, string(secret.Data[SecretKnownHosts]))
	t.Setenv("GIT_SSH_COMMAND", "ssh -i "+keyFile+" -o IdentitiesOnly=yes -o IdentityAgent=none -o StrictHostKeyChecking=yes -o UserKnownHostsFile="+khFile)
	work := filepath.Join(dir, "work")
	sourcetest.RunGit(t, dir, "clone", "-q", g.SSHURL(org, name), work)
	writeFile(t, filepath.Join(work, "x.txt"), "x\n")
	sourcetest.RunGit(t, work, "add", "-A")
	sourcetest.RunGit(t, work, "commit", "-q", "-m", "not allowed")
	push := exec.Command("git", "push", "origin", "HEAD:main")
	push.Dir = work
	if out, err := push.CombinedOutput(); err == nil {
		t.Errorf("the read-only deploy key pushed:\n%s", out)
	}

	// Again: the API is only read, nothing is committed or registered.
	res, err = RunProvider(ctx, clients(t), p, po, opts)
	if err != nil {
		t.Fatal(err)
	}
	assertUnchanged(t, "second run", res)
	if res.Secret != SecretKept || giteaHead(t, g, full, "main") != head || len(giteaKeys(t, g, full)) != 1 {
		t.Errorf("second run: secret %s, head %s (was %s), keys %+v", res.Secret, giteaHead(t, g, full, "main"), head, giteaKeys(t, g, full))
	}

	// The deploy key removed in Gitea: a re-run registers the cluster's key again, and changes nothing else.
	if err := g.API(ctx, g.Token, http.MethodDelete, fmt.Sprintf("/repos/%s/keys/%d", full, keys[0].ID), nil, nil); err != nil {
		t.Fatal(err)
	}
	res, err = RunProvider(ctx, clients(t), p, po, opts)
	if err != nil {
		t.Fatal(err)
	}
	assertUnchanged(t, "run after the key was removed", res)
	if again := giteaKeys(t, g, full); len(again) != 1 || !again[0].ReadOnly || keyMaterial(again[0].Key) != keyMaterial(keys[0].Key) {
		t.Errorf("after removal: keys %+v, want the cluster's key %q again", again, keys[0].Key)
	}
}

// TestGiteaProvider: the Gitea API calls on their own, against a real Gitea: a personal public repository
// of a (non-admin) user, found again once it exists; a read-write deploy key added once, also when the
// repository already has more deploy keys than one page of the list; a repository of an organization that
// does not exist, and a --personal owner that is not the token's user, refused with a clear error; and
// --token-auth, where the cluster fetches over HTTP with the token.
func TestGiteaProvider(t *testing.T) {
	g := gitea.Get(t)
	ctx := context.Background()
	token := g.CreateUser(t, "alice")
	p := &Provider{Kind: Gitea, BaseURL: g.APIURL(), Token: token}
	ro := RepositoryOptions{Owner: "alice", Name: "personal-fleet", Personal: true}
	repo, err := p.EnsureRepository(ctx, ro)
	if err != nil || !repo.Created || repo.SSHURL != g.SSHURL("alice", "personal-fleet") || repo.CloneURL != g.URL+"/alice/personal-fleet.git" {
		t.Fatalf("create: %+v %v", repo, err)
	}
	var got giteaRepo
	giteaGet(t, g, "/repos/alice/personal-fleet", &got)
	if got.Private || got.Owner.Login != "alice" {
		t.Errorf("repository %+v, want public and alice's", got)
	}
	again, err := p.EnsureRepository(ctx, ro)
	if err != nil || again.Created || again.SSHURL != repo.SSHURL || again.ID != repo.ID {
		t.Errorf("existing: %+v %v", again, err)
	}

	// Other clusters' keys fill more than a page of the list.
	for i := range 31 {
		kp, err := GenerateKey(KeyED25519)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.API(ctx, token, http.MethodPost, "/repos/alice/personal-fleet/keys",
			map[string]any{"title": fmt.Sprintf("other-%d", i), "key": string(kp.PublicKey), "read_only": true}, nil); err != nil {
			t.Fatal(err)
		}
	}
	kp, err := GenerateKey(KeyED25519)
	if err != nil {
		t.Fatal(err)
	}
	for i, wantAdded := range []bool{true, false} {
		added, err := p.EnsureDeployKey(ctx, ro, repo, "converge", strings.TrimSpace(string(kp.PublicKey))+" comment", true)
		if err != nil || added != wantAdded {
			t.Errorf("deploy key #%d: added %v, %v", i, added, err)
		}
	}
	var mine []giteaKey
	for _, k := range giteaKeys(t, g, "alice/personal-fleet") {
		if keyMaterial(k.Key) == keyMaterial(string(kp.PublicKey)) {
			mine = append(mine, k)
		}
	}
	if len(mine) != 1 || mine[0].ReadOnly || mine[0].Title != "converge" {
		t.Errorf("registered %+v, want one read-write key titled converge", mine)
	}

	for _, tc := range []struct {
		ro   RepositoryOptions
		want []string
	}{
		{RepositoryOptions{Owner: "no-such-org", Name: "fleet"}, []string{"organization no-such-org", "404"}},
		{RepositoryOptions{Owner: "bob", Name: "fleet", Personal: true}, []string{`the token is alice's`, "bob"}},
	} {
		if _, err := p.EnsureRepository(ctx, tc.ro); err == nil || !containsAll(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error with %q", tc.ro, err, tc.want)
		}
	}
	var repos []giteaRepo
	giteaGet(t, g, "/users/alice/repos", &repos)
	if len(repos) != 1 {
		t.Errorf("alice has %d repositories, want 1: %+v", len(repos), repos)
	}

	// --token-auth: the cluster fetches over HTTP with the token, which also pushes.
	const ns = "boot-gitea-token"
	po := ProviderOptions{Repository: RepositoryOptions{Owner: "alice", Name: "token-fleet", Personal: true, Private: true}, TokenAuth: true}
	res, err := RunProvider(ctx, clients(t), p, po, Options{Clock: clock.RealClock{}, Path: "clusters/dev", Install: install.Options{Namespace: ns, Version: "v0.1.0"}})
	if err != nil {
		t.Fatal(err)
	}
	if head := giteaHead(t, g, "alice/token-fleet", "main"); res.Revision != "main@sha1:"+head || len(res.Commits) != 3 {
		t.Errorf("revision %s, Gitea's head %s, commits %v", res.Revision, head, res.Commits)
	}
	s, err := cluster.Client.CoreV1().Secrets(ns).Get(ctx, SyncName, metav1.GetOptions{})
	if err != nil || string(s.Data[SecretUsername]) != "git" || string(s.Data[SecretPassword]) != token {
		t.Errorf("Secret %v: %v", err, s.Data)
	}
	gr := getObj(t, gitRepositoriesGVR, ns, SyncName)
	if u, _, _ := unstructured.NestedString(gr.Object, "spec", "url"); u != g.URL+"/alice/token-fleet.git" {
		t.Errorf("GitRepository url %s", u)
	}
	if keys := giteaKeys(t, g, "alice/token-fleet"); len(keys) != 0 {
		t.Errorf("--token-auth registered deploy keys: %+v", keys)
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// TestGiteaTeamsAndReconcile grants an organization's team access to a repository on a real Gitea (once;
// an explicit permission is warned about, Gitea gives the team its own) and reconciles the repository's
// visibility.
func TestGiteaTeamsAndReconcile(t *testing.T) {
	g := gitea.Get(t)
	ctx := context.Background()
	if err := g.API(ctx, g.Token, http.MethodPost, "/orgs", map[string]any{"username": "team-org"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := g.API(ctx, g.Token, http.MethodPost, "/orgs/team-org/teams", map[string]any{"name": "devs", "permission": "write",
		"units": []string{"repo.code"}, "includes_all_repositories": false}, nil); err != nil {
		t.Fatal(err)
	}
	p := &Provider{Kind: Gitea, BaseURL: g.APIURL(), Token: g.Token}
	ro := RepositoryOptions{Owner: "team-org", Name: "fleet", Private: true}
	repo, err := p.EnsureRepository(ctx, ro)
	if err != nil || repo.Visibility != "private" {
		t.Fatalf("create: %+v %v", repo, err)
	}
	granted, warnings, err := p.EnsureTeams(ctx, ro, repo, map[string]string{"devs": ""}, false)
	if err != nil || !slices.Equal(granted, []string{"devs (maintain)"}) || len(warnings) != 0 {
		t.Fatalf("granted %q, warnings %q, %v", granted, warnings, err)
	}
	var teams []struct {
		Name string `json:"name"`
	}
	giteaGet(t, g, "/repos/team-org/fleet/teams", &teams)
	if len(teams) == 0 || !slices.ContainsFunc(teams, func(tm struct {
		Name string `json:"name"`
	}) bool {
		return tm.Name == "devs"
	}) {
		t.Errorf("repository teams %+v", teams)
	}
	granted, warnings, err = p.EnsureTeams(ctx, ro, repo, map[string]string{"devs": "push"}, true)
	if err != nil || len(granted) != 0 || len(warnings) != 1 || !strings.Contains(warnings[0], "the permission set on the team") {
		t.Errorf("again: granted %q, warnings %q, %v", granted, warnings, err)
	}

	ro.Private = false
	if changed, err := p.ReconcileRepository(ctx, ro, repo); err != nil || !changed {
		t.Fatalf("reconcile: changed %v, %v", changed, err)
	}
	var got giteaRepo
	giteaGet(t, g, "/repos/team-org/fleet", &got)
	if got.Private {
		t.Error("repository still private after reconcile")
	}
}
