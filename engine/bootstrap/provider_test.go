package bootstrap

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/engine/install"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// fakeProviderAPI is a FAKE: a test server implementing exactly the GitHub and GitLab endpoints Provider
// uses, because no real GitHub or GitLab API server can run here (Gitea can: the Gitea provider is tested
// against a real Gitea in provider_gitea_test.go). Under it are real Git servers: repositories it creates
// are bare repositories that git http-backend (HTTPS pushes with the token) and the SSH server (deploy
// keys) serve.
type fakeProviderAPI struct {
	*httptest.Server
	kind  ProviderKind
	token string
	git   *sourcetest.AuthGitServer
	ssh   *sourcetest.SSHGitServer

	mu    sync.Mutex
	calls []string
	keys  map[string][]map[string]any
	ids   map[string]string // GitLab project id -> owner/name
}

func startFakeProviderAPI(t *testing.T, kind ProviderKind, token string) *fakeProviderAPI {
	t.Helper()
	f := &fakeProviderAPI{kind: kind, token: token, keys: map[string][]map[string]any{}, ids: map[string]string{}}
	user := "git"
	if kind == GitLab {
		user = "oauth2"
	}
	f.git = sourcetest.StartAuthGitServer(t, user, token)
	f.ssh = sourcetest.StartSSHGitServer(t, f.git.Root)
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { f.serve(t, w, r) }))
	t.Cleanup(f.Close)
	return f
}

// APIURL is the root Provider.BaseURL points at.
func (f *fakeProviderAPI) APIURL() string {
	return f.URL + map[ProviderKind]string{GitHub: "/api/v3", GitLab: "/api/v4"}[f.kind]
}

func (f *fakeProviderAPI) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeProviderAPI) exists(full string) bool {
	_, err := os.Stat(filepath.Join(f.git.Root, full+".git"))
	return err == nil
}

func (f *fakeProviderAPI) create(t *testing.T, full string) {
	bare := filepath.Join(f.git.Root, full+".git")
	sourcetest.RunGit(t, f.git.Root, "init", "-q", "--bare", bare)
	work := t.TempDir()
	sourcetest.RunGit(t, work, "init", "-q")
	writeFile(t, filepath.Join(work, "README.md"), "# "+full+"\n")
	sourcetest.RunGit(t, work, "add", "-A")
	sourcetest.RunGit(t, work, "commit", "-q", "-m", "Initial commit")
	sourcetest.RunGit(t, work, "push", "-q", bare, "HEAD:refs/heads/main")
}

func (f *fakeProviderAPI) repoJSON(full string) map[string]any {
	id := fmt.Sprint(len(full))
	f.ids[id] = full
	if f.kind == GitLab {
		return map[string]any{"id": len(full), "ssh_url_to_repo": f.ssh.URL(full), "http_url_to_repo": f.git.URL + "/" + full + ".git"}
	}
	// GitHub answers scp-like SSH addresses for port 22; a non-standard port comes as ssh://.
	return map[string]any{"id": len(full), "ssh_url": f.ssh.URL(full), "clone_url": f.git.URL + "/" + full + ".git"}
}

func (f *fakeProviderAPI) serve(t *testing.T, w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	path := r.URL.EscapedPath()
	f.calls = append(f.calls, r.Method+" "+path)
	auth := "Bearer " + f.token
	if (f.kind == GitLab && r.Header.Get("PRIVATE-TOKEN") != f.token) || (f.kind != GitLab && r.Header.Get("Authorization") != auth) {
		http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
		return
	}
	var body map[string]any
	if r.Method == http.MethodPost {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	prefix := strings.TrimPrefix(f.APIURL(), f.URL)
	p := strings.TrimPrefix(path, prefix)
	seg := strings.Split(strings.Trim(p, "/"), "/")
	switch {
	case r.Method == http.MethodGet && p == "/user":
		reply(200, map[string]any{"login": "me", "username": "me"})
		return
	case f.kind != GitLab && r.Method == http.MethodGet && len(seg) == 3 && seg[0] == "repos":
		if full := seg[1] + "/" + seg[2]; f.exists(full) {
			reply(200, f.repoJSON(full))
			return
		}
	case f.kind != GitLab && r.Method == http.MethodPost && (p == "/user/repos" || len(seg) == 3 && seg[0] == "orgs" && seg[2] == "repos"):
		owner := "me"
		if seg[0] == "orgs" {
			owner = seg[1]
		}
		full := owner + "/" + body["name"].(string)
		f.create(t, full)
		reply(201, f.repoJSON(full))
		return
	case f.kind != GitLab && len(seg) == 4 && seg[0] == "repos" && seg[3] == "keys":
		f.keysEndpoint(w, r, seg[1]+"/"+seg[2], body, reply)
		return
	case f.kind == GitLab && r.Method == http.MethodGet && len(seg) == 2 && seg[0] == "projects":
		full := strings.ReplaceAll(seg[1], "%2F", "/")
		if f.exists(full) {
			reply(200, f.repoJSON(full))
			return
		}
	case f.kind == GitLab && r.Method == http.MethodGet && len(seg) == 2 && seg[0] == "namespaces":
		reply(200, map[string]any{"id": 42, "full_path": seg[1]})
		return
	case f.kind == GitLab && r.Method == http.MethodPost && p == "/projects":
		owner := "me"
		if body["namespace_id"] != nil {
			owner = "group"
		}
		full := owner + "/" + body["path"].(string)
		f.create(t, full)
		reply(201, f.repoJSON(full))
		return
	case f.kind == GitLab && len(seg) == 3 && seg[0] == "projects" && seg[2] == "deploy_keys":
		f.keysEndpoint(w, r, f.ids[seg[1]], body, reply)
		return
	}
	reply(404, map[string]any{"message": "Not Found"})
}

func (f *fakeProviderAPI) keysEndpoint(w http.ResponseWriter, r *http.Request, full string, body map[string]any, reply func(int, any)) {
	if r.Method == http.MethodGet {
		reply(200, append([]map[string]any{}, f.keys[full]...))
		return
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(body["key"].(string)))
	if err != nil {
		reply(422, map[string]any{"message": err.Error()})
		return
	}
	f.ssh.Authorize(key)
	f.keys[full] = append(f.keys[full], body)
	reply(201, body)
}

// TestRunProviderGitHub bootstraps through the fake GitHub API: the repository is created (personal,
// private, initialised), the commits are pushed over HTTPS with the token, a read-only deploy key is
// registered and stored with the scanned known_hosts; a second run only reads the API.
func TestRunProviderGitHub(t *testing.T) {
	ctx := context.Background()
	const ns = "boot-gh"
	api := startFakeProviderAPI(t, GitHub, "ghp_token")
	p := &Provider{Kind: GitHub, BaseURL: api.APIURL(), Token: "ghp_token"}
	po := ProviderOptions{Repository: RepositoryOptions{Owner: "me", Name: "fleet", Personal: true, Private: true}}
	opts := Options{Clock: clock.RealClock{}, Path: "clusters/dev", Install: install.Options{Namespace: ns, Version: "v0.1.0"}}

	bad := &Provider{Kind: GitHub, BaseURL: api.APIURL(), Token: "wrong"}
	if _, err := RunProvider(ctx, clients(t), bad, po, opts); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong token: %v", err)
	}

	res, err := RunProvider(ctx, clients(t), p, po, opts)
	if err != nil {
		t.Fatal(err)
	}
	calls := api.Calls()
	if !slices.Contains(calls, "POST /api/v3/user/repos") || !slices.Contains(calls, "POST /api/v3/repos/me/fleet/keys") {
		t.Errorf("API calls: %q", calls)
	}
	api.mu.Lock()
	keys := api.keys["me/fleet"]
	api.mu.Unlock()
	if len(keys) != 1 || keys[0]["read_only"] != true || keys[0]["title"] != "converge-boot-gh-main-./clusters/dev" {
		t.Fatalf("deploy keys: %v", keys)
	}
	bare := filepath.Join(api.git.Root, "me/fleet.git")
	if log := gitLog(t, bare, "main"); len(log) != 4 || log[3] != "Initial commit" {
		t.Errorf("history %q", log)
	}
	if api.git.Pushes.Load() != 1 || api.ssh.Pushes.Load() != 0 {
		t.Errorf("pushes: %d over HTTPS, %d over SSH", api.git.Pushes.Load(), api.ssh.Pushes.Load())
	}
	s, err := cluster.Client.CoreV1().Secrets(ns).Get(ctx, SyncName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if keyMaterial(string(s.Data["identity.pub"])) != keyMaterial(keys[0]["key"].(string)) || string(s.Data["known_hosts"]) != api.ssh.KnownHosts() ||
		res.DeployKey == "" {
		t.Errorf("Secret %v, registered %v", s.Data, keys[0])
	}
	repo := getObj(t, gitRepositoriesGVR, ns, SyncName)
	if u, _, _ := unstructured.NestedString(repo.Object, "spec", "url"); u != api.ssh.URL("me/fleet") {
		t.Errorf("GitRepository url %s", u)
	}

	n := len(api.Calls())
	res, err = RunProvider(ctx, clients(t), p, po, opts)
	if err != nil {
		t.Fatal(err)
	}
	assertUnchanged(t, "second run", res)
	for _, c := range api.Calls()[n:] {
		if !strings.HasPrefix(c, "GET ") {
			t.Errorf("second run called %s", c)
		}
	}
}

// TestProviderAPIs: repository creation in an organization or group, deploy keys added once, with the
// GitLab and GitHub shapes of the API (the fake above: no real server of theirs runs here), and the URL
// forms providers return.
func TestProviderAPIs(t *testing.T) {
	ctx := context.Background()
	kp, err := GenerateKey(KeyED25519)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []ProviderKind{GitLab, GitHub} {
		t.Run(string(kind), func(t *testing.T) {
			api := startFakeProviderAPI(t, kind, "tok")
			p := &Provider{Kind: kind, BaseURL: api.APIURL(), Token: "tok"}
			ro := RepositoryOptions{Owner: "group", Name: "fleet", Private: true}
			repo, err := p.EnsureRepository(ctx, ro)
			if err != nil || !repo.Created || repo.SSHURL != api.ssh.URL("group/fleet") {
				t.Fatalf("create: %+v %v (calls %q)", repo, err, api.Calls())
			}
			again, err := p.EnsureRepository(ctx, ro)
			if err != nil || again.Created || again.CloneURL != repo.CloneURL {
				t.Errorf("existing: %+v %v", again, err)
			}
			for i, wantAdded := range []bool{true, false} {
				added, err := p.EnsureDeployKey(ctx, ro, repo, "converge", string(kp.PublicKey)+" comment", true)
				if err != nil || added != wantAdded {
					t.Errorf("deploy key #%d: added %v, %v", i, added, err)
				}
			}
			api.mu.Lock()
			key := api.keys["group/fleet"][0]
			api.mu.Unlock()
			if kind == GitLab && key["can_push"] != true || kind != GitLab && key["read_only"] != false {
				t.Errorf("read-write key registered as %v", key)
			}
		})
	}
	for in, want := range map[string]string{
		"git@github.com:me/fleet.git":          "ssh://git@github.com/me/fleet.git",
		"ssh://git@example.com:2222/fleet.git": "ssh://git@example.com:2222/fleet.git",
		"gitea@git.example.com:/org/x.git":     "ssh://gitea@git.example.com/org/x.git",
	} {
		if got := SSHURL(in); got != want {
			t.Errorf("SSHURL(%q) = %q, want %q", in, got, want)
		}
	}
	for _, tc := range []struct {
		kind       ProviderKind
		host, want string
	}{
		{GitHub, "", "https://api.github.com"}, {GitHub, "ghe.example.com", "https://ghe.example.com/api/v3"},
		{GitLab, "", "https://gitlab.com/api/v4"}, {Gitea, "git.example.com", "https://git.example.com/api/v1"},
		{Gitea, "http://127.0.0.1:3000", "http://127.0.0.1:3000/api/v1"}, {GitLab, "https://gitlab.example.com/", "https://gitlab.example.com/api/v4"},
		{GitHub, "http://ghe.internal:8080", "http://ghe.internal:8080/api/v3"},
	} {
		if got, err := DefaultAPIURL(tc.kind, tc.host); err != nil || got != tc.want {
			t.Errorf("DefaultAPIURL(%s, %q) = %q, %v", tc.kind, tc.host, got, err)
		}
	}
	for _, host := range []string{"", "ftp://git.example.com", "git.example.com/gitea"} {
		if _, err := DefaultAPIURL(Gitea, host); err == nil {
			t.Errorf("gitea with hostname %q: no error", host)
		}
	}
}
