package bootstrap

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/engine/install"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// fakeProviderAPI is a FAKE: a test server implementing exactly the GitHub, GitLab and Bitbucket Server
// endpoints Provider uses, because no real GitHub, GitLab or Bitbucket Server API server can run here
// (Gitea can: the Gitea provider is tested against a real Gitea in provider_gitea_test.go). Under it are
// real Git servers: repositories it creates are bare repositories that git http-backend (HTTPS pushes
// with the token) and the SSH server (deploy keys) serve.
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
	// teams are the teams' (GitLab: groups' access levels, Bitbucket: groups') permissions by repository.
	teams map[string]map[string]any
	// public lists repositories created or reconciled public.
	public map[string]bool
	// deployTokens counts GitLab deploy tokens created.
	deployTokens int
}

func startFakeProviderAPI(t *testing.T, kind ProviderKind, token string) *fakeProviderAPI {
	t.Helper()
	f := &fakeProviderAPI{kind: kind, token: token, keys: map[string][]map[string]any{}, ids: map[string]string{},
		teams: map[string]map[string]any{}, public: map[string]bool{}}
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
	return f.URL + map[ProviderKind]string{GitHub: "/api/v3", GitLab: "/api/v4", BitbucketServer: ""}[f.kind]
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
	if f.kind == BitbucketServer {
		return // Bitbucket Server creates repositories empty
	}
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
	switch f.kind {
	case GitLab:
		var shared []map[string]any
		for g, level := range f.teams[full] {
			shared = append(shared, map[string]any{"group_full_path": g, "group_access_level": level})
		}
		return map[string]any{"id": len(full), "ssh_url_to_repo": f.ssh.URL(full), "http_url_to_repo": f.git.URL + "/" + full + ".git",
			"visibility": map[bool]string{true: "public", false: "private"}[f.public[full]], "shared_with_groups": shared}
	case BitbucketServer:
		key, slug, _ := strings.Cut(full, "/")
		// Bitbucket puts the user in the HTTP clone link.
		return map[string]any{"id": len(full), "slug": slug, "public": f.public[full], "project": map[string]any{"key": key},
			"links": map[string]any{"clone": []map[string]any{
				{"name": "ssh", "href": f.ssh.URL(full)}, {"name": "http", "href": strings.Replace(f.git.URL, "://", "://admin@", 1) + "/" + full + ".git"}}}}
	}
	// GitHub answers scp-like SSH addresses for port 22; a non-standard port comes as ssh://.
	return map[string]any{"id": len(full), "ssh_url": f.ssh.URL(full), "clone_url": f.git.URL + "/" + full + ".git", "private": !f.public[full]}
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
	if r.Method == http.MethodPost || r.Method == http.MethodPatch || r.Method == http.MethodPut && r.ContentLength > 0 {
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
	if f.kind == BitbucketServer {
		f.serveBitbucket(t, r, seg, body, reply)
		return
	}
	switch {
	case f.kind == GitHub && len(seg) == 7 && seg[0] == "orgs" && seg[2] == "teams" && seg[4] == "repos":
		full := seg[5] + "/" + seg[6]
		if r.Method == http.MethodPut {
			f.grant(full, seg[3], body["permission"])
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if _, ok := f.teams[full][seg[3]]; ok {
			w.WriteHeader(http.StatusNoContent)
			return
		}
	case f.kind == GitHub && r.Method == http.MethodPatch && len(seg) == 3 && seg[0] == "repos":
		f.public[seg[1]+"/"+seg[2]] = body["private"] == false
		reply(200, f.repoJSON(seg[1]+"/"+seg[2]))
		return
	case f.kind == GitLab && r.Method == http.MethodGet && len(seg) == 2 && seg[0] == "groups":
		reply(200, map[string]any{"id": 7, "full_path": seg[1]})
		return
	case f.kind == GitLab && r.Method == http.MethodPost && len(seg) == 3 && seg[0] == "projects" && seg[2] == "share":
		f.grant(f.ids[seg[1]], "team-a", body["group_access"]) // the group of id 7
		reply(201, map[string]any{})
		return
	case f.kind == GitLab && r.Method == http.MethodDelete && len(seg) == 4 && seg[0] == "projects" && seg[2] == "share":
		delete(f.teams[f.ids[seg[1]]], "team-a")
		w.WriteHeader(http.StatusNoContent)
		return
	case f.kind == GitLab && r.Method == http.MethodPut && len(seg) == 2 && seg[0] == "projects":
		f.public[f.ids[seg[1]]] = body["visibility"] == "public"
		reply(200, f.repoJSON(f.ids[seg[1]]))
		return
	case f.kind == GitLab && r.Method == http.MethodPost && len(seg) == 3 && seg[0] == "projects" && seg[2] == "deploy_tokens":
		f.deployTokens++
		reply(201, map[string]any{"id": f.deployTokens, "name": body["name"], "scopes": body["scopes"],
			"username": fmt.Sprintf("gitlab+deploy-token-%d", f.deployTokens), "token": fmt.Sprintf("dt-secret-%d", f.deployTokens)})
		return
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

func (f *fakeProviderAPI) grant(full, team string, perm any) {
	if f.teams[full] == nil {
		f.teams[full] = map[string]any{}
	}
	f.teams[full][team] = perm
}

// serveBitbucket answers the Bitbucket Server endpoints: repositories of a project (~USER for a user's),
// their group permissions and access keys (paged by 2, to exercise paging).
func (f *fakeProviderAPI) serveBitbucket(t *testing.T, r *http.Request, seg []string, body map[string]any, reply func(int, any)) {
	q := r.URL.Query()
	switch {
	case len(seg) >= 5 && seg[0] == "rest" && seg[1] == "api" && seg[3] == "projects" && seg[5] == "repos" && len(seg) == 6 && r.Method == http.MethodPost:
		full := seg[4] + "/" + strings.ToLower(body["name"].(string))
		if !strings.HasPrefix(seg[4], "~") && seg[4] != "PRJ" {
			reply(404, map[string]any{"errors": []any{map[string]any{"message": "Project " + seg[4] + " does not exist."}}})
			return
		}
		f.create(t, full)
		f.public[full] = body["public"] == true
		reply(201, f.repoJSON(full))
		return
	case len(seg) == 7 && seg[0] == "rest" && seg[1] == "api" && seg[3] == "projects" && seg[5] == "repos":
		full := seg[4] + "/" + seg[6]
		if !f.exists(full) {
			break
		}
		if r.Method == http.MethodPut {
			f.public[full] = body["public"] == true
		}
		reply(200, f.repoJSON(full))
		return
	case len(seg) == 9 && seg[0] == "rest" && seg[1] == "api" && seg[7] == "permissions" && seg[8] == "groups":
		full := seg[4] + "/" + seg[6]
		if r.Method == http.MethodPut {
			f.grant(full, q.Get("name"), q.Get("permission"))
			reply(204, nil)
			return
		}
		var values []map[string]any
		for g, perm := range f.teams[full] {
			if strings.Contains(g, q.Get("filter")) {
				values = append(values, map[string]any{"group": map[string]any{"name": g}, "permission": perm})
			}
		}
		reply(200, map[string]any{"values": values, "isLastPage": true})
		return
	case len(seg) == 8 && seg[0] == "rest" && seg[1] == "keys" && seg[7] == "ssh":
		full := seg[4] + "/" + seg[6]
		if r.Method == http.MethodPost {
			k := body["key"].(map[string]any)
			key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k["text"].(string)))
			if err != nil {
				reply(400, map[string]any{"errors": []any{map[string]any{"message": err.Error()}}})
				return
			}
			f.ssh.Authorize(key)
			f.keys[full] = append(f.keys[full], body)
			reply(201, body)
			return
		}
		start, _ := strconv.Atoi(q.Get("start"))
		all := f.keys[full]
		end := min(start+2, len(all))
		values := all[min(start, len(all)):end]
		reply(200, map[string]any{"values": values, "isLastPage": end >= len(all), "nextPageStart": end})
		return
	}
	reply(404, map[string]any{"errors": []any{map[string]any{"message": "not found"}}})
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

// TestRunProviderBitbucketServer bootstraps through the fake Bitbucket Server API (no real one can run
// here; the Git servers under it are real): the project's repository is created empty, the commits are
// pushed over HTTPS with the token, a read-only access key (a 2048-bit RSA key, as asked) is registered,
// the groups are granted their permissions, and the Secret and GitRepository carry the asked name and
// interval. A second run finds the key on the second page of access keys and only reads; --reconcile
// then makes the repository public and changes a group's permission.
func TestRunProviderBitbucketServer(t *testing.T) {
	ctx := context.Background()
	const ns = "boot-bb"
	api := startFakeProviderAPI(t, BitbucketServer, "bb_token")
	p := &Provider{Kind: BitbucketServer, BaseURL: api.APIURL(), Token: "bb_token", Username: "git"}
	po := ProviderOptions{Repository: RepositoryOptions{Owner: "PRJ", Name: "Fleet", Private: true},
		Teams: map[string]string{"devs": "", "ops": "admin"}}
	opts := Options{Clock: clock.RealClock{}, Path: "clusters/dev", Install: install.Options{Namespace: ns, Version: "v0.1.0"},
		SecretName: "fleet-creds", Interval: 2 * time.Minute, KeyAlgorithm: KeyRSA, RSABits: 2048}

	missing := po
	missing.Repository.Owner = "NOPE"
	if _, err := RunProvider(ctx, clients(t), p, missing, opts); err == nil || !strings.Contains(err.Error(), "project NOPE not found") {
		t.Errorf("missing project: %v", err)
	}

	res, err := RunProvider(ctx, clients(t), p, po, opts)
	if err != nil {
		t.Fatal(err)
	}
	calls := api.Calls()
	for _, want := range []string{"POST /rest/api/1.0/projects/PRJ/repos", "POST /rest/keys/1.0/projects/PRJ/repos/fleet/ssh",
		"PUT /rest/api/1.0/projects/PRJ/repos/fleet/permissions/groups"} {
		if !slices.Contains(calls, want) {
			t.Errorf("API calls lack %s: %q", want, calls)
		}
	}
	api.mu.Lock()
	keys, teams, public := slices.Clone(api.keys["PRJ/fleet"]), maps.Clone(api.teams["PRJ/fleet"]), api.public["PRJ/fleet"]
	api.mu.Unlock()
	if len(keys) != 1 || keys[0]["permission"] != "REPO_READ" || keys[0]["key"].(map[string]any)["label"] != "converge-boot-bb-main-./clusters/dev" {
		t.Fatalf("access keys: %v", keys)
	}
	if !maps.Equal(teams, map[string]any{"devs": "REPO_WRITE", "ops": "REPO_ADMIN"}) || public {
		t.Errorf("groups %v, public %v", teams, public)
	}
	bare := filepath.Join(api.git.Root, "PRJ/fleet.git")
	if log := gitLog(t, bare, "main"); len(log) != 3 {
		t.Errorf("history %q", log)
	}
	s, err := cluster.Client.CoreV1().Secrets(ns).Get(ctx, "fleet-creds", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(s.Data["identity.pub"])
	if err != nil || keyMaterial(string(s.Data["identity.pub"])) != keyMaterial(keys[0]["key"].(map[string]any)["text"].(string)) || res.DeployKey == "" {
		t.Fatalf("Secret %v, registered %v", s.Data, keys[0])
	}
	if bits := pub.(ssh.CryptoPublicKey).CryptoPublicKey().(*rsa.PublicKey).N.BitLen(); bits != 2048 {
		t.Errorf("deploy key: %d-bit RSA, want 2048", bits)
	}
	if _, err := cluster.Client.CoreV1().Secrets(ns).Get(ctx, SyncName, metav1.GetOptions{}); err == nil {
		t.Errorf("a Secret %s was written beside fleet-creds", SyncName)
	}
	repo := getObj(t, gitRepositoriesGVR, ns, SyncName)
	u, _, _ := unstructured.NestedString(repo.Object, "spec", "url")
	secretRef, _, _ := unstructured.NestedString(repo.Object, "spec", "secretRef", "name")
	interval, _, _ := unstructured.NestedString(repo.Object, "spec", "interval")
	if u != api.ssh.URL("PRJ/fleet") || secretRef != "fleet-creds" || interval != "2m0s" {
		t.Errorf("GitRepository url %s, secretRef %s, interval %s", u, secretRef, interval)
	}

	// Two other keys first: the registered one is on the second page.
	api.mu.Lock()
	others := []map[string]any{{"key": map[string]any{"text": "ssh-ed25519 AAAAother1"}}, {"key": map[string]any{"text": "ssh-ed25519 AAAAother2"}}}
	api.keys["PRJ/fleet"] = append(others, api.keys["PRJ/fleet"]...)
	api.mu.Unlock()
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

	po.Reconcile, po.Repository.Private, po.Teams = true, false, map[string]string{"devs": "pull"}
	if _, err := RunProvider(ctx, clients(t), p, po, opts); err != nil {
		t.Fatal(err)
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	if !api.public["PRJ/fleet"] || api.teams["PRJ/fleet"]["devs"] != "REPO_READ" || len(api.keys["PRJ/fleet"]) != 3 {
		t.Errorf("reconciled: public %v, groups %v, %d keys", api.public["PRJ/fleet"], api.teams["PRJ/fleet"], len(api.keys["PRJ/fleet"]))
	}
}

// TestProviderTeamsAndReconcile: team access and repository reconciliation with the GitHub and GitLab
// shapes of the API (the fake above): a team is granted the default permission once, keeps it on a
// re-run unless updating, and --reconcile changes an existing repository's visibility.
func TestProviderTeamsAndReconcile(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		kind                   ProviderKind
		defaultPerm, pushPerm  any
		visibility, wantPublic string
	}{
		{GitHub, "maintain", "push", "", "public"},
		{GitLab, float64(40), float64(30), "internal", "internal"},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			api := startFakeProviderAPI(t, tc.kind, "tok")
			p := &Provider{Kind: tc.kind, BaseURL: api.APIURL(), Token: "tok"}
			ro := RepositoryOptions{Owner: "group", Name: "fleet", Private: true}
			repo, err := p.EnsureRepository(ctx, ro)
			if err != nil {
				t.Fatal(err)
			}
			granted, _, err := p.EnsureTeams(ctx, ro, repo, map[string]string{"team-a": ""}, false)
			if err != nil || !slices.Equal(granted, []string{"team-a (maintain)"}) {
				t.Fatalf("granted %q, %v", granted, err)
			}
			if repo, err = p.EnsureRepository(ctx, ro); err != nil {
				t.Fatal(err)
			}
			if granted, _, err = p.EnsureTeams(ctx, ro, repo, map[string]string{"team-a": "push"}, false); err != nil || len(granted) != 0 {
				t.Errorf("re-run without update: granted %q, %v", granted, err)
			}
			api.mu.Lock()
			got := api.teams["group/fleet"]["team-a"]
			api.mu.Unlock()
			if got != tc.defaultPerm {
				t.Errorf("team-a has %v, want %v", got, tc.defaultPerm)
			}
			if granted, _, err = p.EnsureTeams(ctx, ro, repo, map[string]string{"team-a": "push"}, true); err != nil || len(granted) != 1 {
				t.Errorf("update: granted %q, %v", granted, err)
			}
			api.mu.Lock()
			got = api.teams["group/fleet"]["team-a"]
			api.mu.Unlock()
			if got != tc.pushPerm {
				t.Errorf("updated team-a has %v, want %v", got, tc.pushPerm)
			}
			if _, _, err := p.EnsureTeams(ctx, RepositoryOptions{Owner: "me", Name: "x", Personal: true}, repo, map[string]string{"t": ""}, false); err == nil {
				t.Error("teams on a personal repository: no error")
			}

			ro.Private, ro.Visibility = false, tc.visibility
			changed, err := p.ReconcileRepository(ctx, ro, repo)
			if err != nil || !changed || repo.Visibility != tc.wantPublic {
				t.Errorf("reconcile: changed %v, visibility %s, %v", changed, repo.Visibility, err)
			}
			api.mu.Lock()
			public := api.public["group/fleet"]
			api.mu.Unlock()
			if public != (tc.wantPublic == "public") {
				t.Errorf("fake repository public %v after reconcile to %s", public, tc.wantPublic)
			}
			if changed, err := p.ReconcileRepository(ctx, ro, repo); err != nil || changed {
				t.Errorf("reconcile again: changed %v, %v", changed, err)
			}
		})
	}
	for kind, teams := range map[ProviderKind]map[string]string{
		GitHub: {"t": "owner"}, BitbucketServer: {"g": "maintain"}, GitLab: {"bad name": ""},
	} {
		if err := ValidateTeams(kind, teams); err == nil {
			t.Errorf("%s teams %v: no error", kind, teams)
		}
	}
}

// TestRunProviderGitLabDeployToken: --deploy-token-auth has the cluster fetch over HTTPS with a project
// deploy token the (fake) GitLab API creates; a re-run reuses the token stored in the Secret.
func TestRunProviderGitLabDeployToken(t *testing.T) {
	ctx := context.Background()
	const ns = "boot-gl-dt"
	api := startFakeProviderAPI(t, GitLab, "glpat")
	p := &Provider{Kind: GitLab, BaseURL: api.APIURL(), Token: "glpat"}
	po := ProviderOptions{Repository: RepositoryOptions{Owner: "group", Name: "fleet", Visibility: "internal"}, DeployTokenAuth: true}
	opts := Options{Clock: clock.RealClock{}, Path: "clusters/dev", Install: install.Options{Namespace: ns, Version: "v0.1.0"}}
	for run := 1; run <= 2; run++ {
		if _, err := RunProvider(ctx, clients(t), p, po, opts); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
	}
	s, err := cluster.Client.CoreV1().Secrets(ns).Get(ctx, SyncName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(s.Data["username"]) != "gitlab+deploy-token-1" || string(s.Data["password"]) != "dt-secret-1" || len(s.Data["identity"]) > 0 {
		t.Errorf("Secret %v", s.Data)
	}
	api.mu.Lock()
	created := api.deployTokens
	api.mu.Unlock()
	if created != 1 || !slices.Contains(api.Calls(), "POST /api/v4/projects") {
		t.Errorf("%d deploy tokens created, calls %q", created, api.Calls())
	}
	repo := getObj(t, gitRepositoriesGVR, ns, SyncName)
	if u, _, _ := unstructured.NestedString(repo.Object, "spec", "url"); u != api.git.URL+"/group/fleet.git" {
		t.Errorf("GitRepository url %s", u)
	}
}
