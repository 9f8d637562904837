package bootstrap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/source"
)

// ProviderKind names a Git hosting API.
type ProviderKind string

// Supported providers.
const (
	GitHub          ProviderKind = "github"
	GitLab          ProviderKind = "gitlab"
	Gitea           ProviderKind = "gitea"
	BitbucketServer ProviderKind = "bitbucket-server"
)

// Provider talks to a Git hosting API: it creates the repository when missing and registers deploy keys.
// Only these endpoints are used:
//
//	GitHub: GET /repos/{owner}/{repo}, POST /user/repos | /orgs/{org}/repos, GET /user (personal),
//	        GET (paged) and POST /repos/{owner}/{repo}/keys
//	Gitea:  the same under /api/v1, the keys listed with ?fingerprint=
//	GitLab: GET /api/v4/projects/{owner%2Frepo}, GET /api/v4/namespaces/{owner}, POST /api/v4/projects,
//	        GET /api/v4/user (personal), GET (paged) and POST /api/v4/projects/{id}/deploy_keys
//	Bitbucket Server: GET and POST /rest/api/1.0/projects/{key}/repos[/{slug}], GET (paged) and POST
//	        /rest/keys/1.0/projects/{key}/repos/{slug}/ssh
//
// Team access, repository settings (reconcile) and GitLab deploy tokens add the endpoints their
// methods name.
type Provider struct {
	Kind ProviderKind
	// BaseURL is the API root: https://api.github.com, https://HOST/api/v3 (GitHub Enterprise),
	// https://HOST/api/v1 (Gitea), https://HOST/api/v4 (GitLab), https://HOST (Bitbucket Server).
	BaseURL string
	Token   string
	// Username pushes over HTTPS with the token (default: git; oauth2 for GitLab).
	Username string
	// CA is a PEM CA bundle trusted beside the system's (self-signed servers); used when Client is nil.
	CA     []byte
	Client *http.Client
}

// DefaultAPIURL returns the API root for a provider on hostname: HOST[:PORT] over HTTPS, or with an
// explicit http:// or https:// scheme ("" is the public service).
func DefaultAPIURL(kind ProviderKind, hostname string) (string, error) {
	scheme := "https"
	if sc, rest, ok := strings.Cut(hostname, "://"); ok {
		if sc != "http" && sc != "https" {
			return "", fmt.Errorf("hostname %q: unsupported scheme %q, want http or https", hostname, sc)
		}
		scheme, hostname = sc, rest
	}
	hostname = strings.TrimSuffix(hostname, "/")
	if strings.Contains(hostname, "/") {
		return "", fmt.Errorf("hostname %q: want HOST[:PORT], without a path (give the API root as the API URL instead)", hostname)
	}
	switch kind {
	case GitHub:
		if hostname == "" || hostname == "github.com" {
			return "https://api.github.com", nil
		}
		return scheme + "://" + hostname + "/api/v3", nil
	case GitLab:
		if hostname == "" {
			hostname = "gitlab.com"
		}
		return scheme + "://" + hostname + "/api/v4", nil
	case Gitea:
		if hostname == "" {
			return "", errors.New("gitea has no public service: set --hostname")
		}
		return scheme + "://" + hostname + "/api/v1", nil
	case BitbucketServer:
		if hostname == "" {
			return "", errors.New("bitbucket-server has no public service: set --hostname")
		}
		return scheme + "://" + hostname, nil
	}
	return "", fmt.Errorf("unknown provider %q", kind)
}

// RepositoryOptions describe the repository to find or create.
type RepositoryOptions struct {
	Owner string
	Name  string
	// Personal means Owner is the token's user, not an organization or group (Bitbucket Server: not a
	// project).
	Personal bool
	Private  bool
	// Visibility is GitLab's public, internal or private; "" follows Private.
	Visibility string
}

// visibility is the wanted GitLab visibility.
func (o RepositoryOptions) visibility() string {
	switch {
	case o.Visibility != "":
		return o.Visibility
	case o.Private:
		return "private"
	}
	return "public"
}

// Repository is a provider's repository.
type Repository struct {
	ID       string
	SSHURL   string
	CloneURL string
	// Created is set when EnsureRepository created it.
	Created bool
	// Visibility is the repository's: public, private (or GitLab's internal).
	Visibility string
	// sharedGroups are a GitLab project's groups (full path) and their access levels.
	sharedGroups map[string]int
	// projectKey and slug address a Bitbucket Server repository.
	projectKey, slug string
}

// APIError is a provider's answer other than success.
type APIError struct {
	Method, URL string
	Status      int
	Body        string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.Status, strings.TrimSpace(e.Body))
	if e.Status == http.StatusUnauthorized {
		msg = "the API token was refused (wrong, expired or revoked): " + msg
	}
	return msg
}

func (p *Provider) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	u := strings.TrimSuffix(p.BaseURL, "/") + path
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch p.Kind {
	case GitHub:
		req.Header.Set("Authorization", "Bearer "+p.Token)
		req.Header.Set("Accept", "application/vnd.github+json")
	case BitbucketServer:
		req.Header.Set("Authorization", "Bearer "+p.Token)
	case Gitea:
		req.Header.Set("Authorization", "token "+p.Token)
	case GitLab:
		req.Header.Set("PRIVATE-TOKEN", p.Token)
	}
	c := p.Client
	if c == nil {
		c = http.DefaultClient
		if len(p.CA) > 0 {
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.TLSClientConfig = (&source.TLSData{CA: p.CA}).Config()
			c = &http.Client{Transport: tr}
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u, err)
	}
	if resp.StatusCode/100 != 2 {
		return &APIError{Method: method, URL: u, Status: resp.StatusCode, Body: string(b)}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decoding the answer: %w", method, u, err)
		}
	}
	return nil
}

func isNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// EnsureRepository returns owner/name, creating it (with an initial commit, private unless asked) when
// it does not exist.
func (p *Provider) EnsureRepository(ctx context.Context, o RepositoryOptions) (*Repository, error) {
	if o.Owner == "" || o.Name == "" {
		return nil, errors.New("the repository owner and name are required")
	}
	full := o.Owner + "/" + o.Name
	switch p.Kind {
	case GitLab:
		return p.ensureGitLabProject(ctx, o)
	case BitbucketServer:
		return p.ensureBitbucketRepository(ctx, o)
	}
	var r struct {
		SSHURL   string `json:"ssh_url"`
		CloneURL string `json:"clone_url"`
		ID       int64  `json:"id"`
		Private  bool   `json:"private"`
	}
	err := p.do(ctx, http.MethodGet, "/repos/"+full, nil, &r)
	created := false
	if isNotFound(err) {
		path := "/orgs/" + url.PathEscape(o.Owner) + "/repos"
		if o.Personal {
			if err := p.checkTokenUser(ctx, o.Owner); err != nil {
				return nil, fmt.Errorf("repository %s: %w", full, err)
			}
			path = "/user/repos"
		}
		err = p.do(ctx, http.MethodPost, path, map[string]any{"name": o.Name, "private": o.Private, "auto_init": true}, &r)
		if !o.Personal && isNotFound(err) {
			err = fmt.Errorf("organization %s not found, or the token cannot see it (for a user's repository, bootstrap it as personal): %w", o.Owner, err)
		}
		created = true
	}
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", full, err)
	}
	return &Repository{ID: fmt.Sprint(r.ID), SSHURL: r.SSHURL, CloneURL: r.CloneURL, Created: created, Visibility: visibilityOf(r.Private)}, nil
}

func visibilityOf(private bool) string {
	if private {
		return "private"
	}
	return "public"
}

func (p *Provider) ensureGitLabProject(ctx context.Context, o RepositoryOptions) (*Repository, error) {
	full := o.Owner + "/" + o.Name
	var r struct {
		ID           int64  `json:"id"`
		SSHURL       string `json:"ssh_url_to_repo"`
		CloneURL     string `json:"http_url_to_repo"`
		Visibility   string `json:"visibility"`
		SharedGroups []struct {
			Path  string `json:"group_full_path"`
			Level int    `json:"group_access_level"`
		} `json:"shared_with_groups"`
	}
	err := p.do(ctx, http.MethodGet, "/projects/"+url.PathEscape(full), nil, &r)
	created := false
	if isNotFound(err) {
		body := map[string]any{"name": o.Name, "path": o.Name, "visibility": o.visibility(), "initialize_with_readme": true}
		if o.Personal {
			if err := p.checkTokenUser(ctx, o.Owner); err != nil {
				return nil, fmt.Errorf("project %s: %w", full, err)
			}
		} else {
			var ns struct {
				ID int64 `json:"id"`
			}
			if err := p.do(ctx, http.MethodGet, "/namespaces/"+url.PathEscape(o.Owner), nil, &ns); err != nil {
				return nil, fmt.Errorf("group %s: %w", o.Owner, err)
			}
			body["namespace_id"] = ns.ID
		}
		err = p.do(ctx, http.MethodPost, "/projects", body, &r)
		created = true
	}
	if err != nil {
		return nil, fmt.Errorf("project %s: %w", full, err)
	}
	repo := &Repository{ID: fmt.Sprint(r.ID), SSHURL: r.SSHURL, CloneURL: r.CloneURL, Created: created, Visibility: r.Visibility, sharedGroups: map[string]int{}}
	for _, g := range r.SharedGroups {
		repo.sharedGroups[g.Path] = g.Level
	}
	return repo, nil
}

// checkTokenUser makes sure a personal repository is created for owner: the API creates it for the
// token's user, whoever owner is (GET /user).
func (p *Provider) checkTokenUser(ctx context.Context, owner string) error {
	var u struct {
		Login    string `json:"login"`    // GitHub, Gitea
		Username string `json:"username"` // GitLab
	}
	if err := p.do(ctx, http.MethodGet, "/user", nil, &u); err != nil {
		return fmt.Errorf("finding the token's user: %w", err)
	}
	name := u.Login
	if p.Kind == GitLab {
		name = u.Username
	}
	if !strings.EqualFold(name, owner) {
		return fmt.Errorf("a personal repository is created for the token's user, and the token is %s's, not %s's", name, owner)
	}
	return nil
}

// deployKeys lists the repository's deploy keys that may match publicKey: Gitea filters by fingerprint,
// GitHub and GitLab are read page by page (100 a page; a repository used by many clusters has many keys).
func (p *Provider) deployKeys(ctx context.Context, path, publicKey string) ([]string, error) {
	var out []string
	if p.Kind == Gitea {
		pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(publicKey))
		if err != nil {
			return nil, fmt.Errorf("deploy key: %w", err)
		}
		var keys []struct {
			Key string `json:"key"`
		}
		if err := p.do(ctx, http.MethodGet, path+"?fingerprint="+url.QueryEscape(ssh.FingerprintSHA256(pk)), nil, &keys); err != nil {
			return nil, err
		}
		for _, k := range keys {
			out = append(out, k.Key)
		}
		return out, nil
	}
	// A server that ignores the page parameter must not loop forever: at most maxPages pages (10,000 keys).
	const perPage, maxPages = 100, 100
	for page := 1; page <= maxPages; page++ {
		var keys []struct {
			Key string `json:"key"`
		}
		if err := p.do(ctx, http.MethodGet, fmt.Sprintf("%s?per_page=%d&page=%d", path, perPage, page), nil, &keys); err != nil {
			return nil, err
		}
		for _, k := range keys {
			out = append(out, k.Key)
		}
		if len(keys) < perPage {
			return out, nil
		}
	}
	return nil, fmt.Errorf("%s: more than %d pages of deploy keys", path, maxPages)
}

// EnsureDeployKey registers publicKey (authorized_keys form) on the repository under title, read-only
// unless readWrite, when no deploy key with the same key exists. It reports whether it added one.
func (p *Provider) EnsureDeployKey(ctx context.Context, o RepositoryOptions, repo *Repository, title, publicKey string, readWrite bool) (bool, error) {
	if p.Kind == BitbucketServer {
		return p.ensureBitbucketAccessKey(ctx, repo, title, publicKey, readWrite)
	}
	path := "/repos/" + o.Owner + "/" + o.Name + "/keys"
	if p.Kind == GitLab {
		path = "/projects/" + repo.ID + "/deploy_keys"
	}
	keys, err := p.deployKeys(ctx, path, publicKey)
	if err != nil {
		return false, fmt.Errorf("listing deploy keys: %w", err)
	}
	want := keyMaterial(publicKey)
	for _, k := range keys {
		if keyMaterial(k) == want {
			return false, nil
		}
	}
	body := map[string]any{"title": title, "key": strings.TrimSpace(publicKey), "read_only": !readWrite}
	if p.Kind == GitLab {
		body = map[string]any{"title": title, "key": strings.TrimSpace(publicKey), "can_push": readWrite}
	}
	if err := p.do(ctx, http.MethodPost, path, body, nil); err != nil {
		return false, fmt.Errorf("adding deploy key %q: %w", title, err)
	}
	return true, nil
}

// keyMaterial is the type and base64 of an authorized_keys line, without its comment.
func keyMaterial(k string) string {
	f := strings.Fields(k)
	if len(f) < 2 {
		return strings.TrimSpace(k)
	}
	return f[0] + " " + f[1]
}

// ProviderOptions are the inputs of RunProvider beside Options.
type ProviderOptions struct {
	Repository RepositoryOptions
	// TokenAuth makes the cluster fetch over HTTPS with the token instead of an SSH deploy key.
	TokenAuth bool
	// ReadWriteKey registers the deploy key with write access (for image automation).
	ReadWriteKey bool
	// Teams grants teams (Bitbucket Server: groups) access to an organization's repository: name to
	// permission (pull, triage, push, maintain or admin; see EnsureTeams).
	Teams map[string]string
	// Reconcile also updates an existing repository's settings (visibility) and teams' permissions to
	// the asked ones; without it only what is missing is added.
	Reconcile bool
	// DeployTokenAuth (GitLab) makes the cluster fetch over HTTPS with a project deploy token
	// (read_repository) the API creates, instead of an SSH deploy key.
	DeployTokenAuth bool
}

// tokenUser is the HTTPS username that goes with an API token.
func (p *Provider) tokenUser() string {
	switch {
	case p.Username != "":
		return p.Username
	case p.Kind == GitLab:
		return "oauth2"
	}
	return "git"
}

// RunProvider bootstraps through a provider: it creates the repository when missing, pushes over HTTPS
// with the API token, and has the cluster fetch over SSH with a deploy key the API registers (read-only
// unless ReadWriteKey; opts.Credentials.PrivateKey when given, else generated), over HTTPS with the
// token (TokenAuth), or over HTTPS with a GitLab deploy token (DeployTokenAuth). Teams are granted access
// and, with Reconcile, an existing repository's visibility is set. opts.URL, Credentials, Push and
// RegisterDeployKey are set here.
func RunProvider(ctx context.Context, clients *kube.Clients, p *Provider, po ProviderOptions, opts Options) (*Result, error) {
	opts.defaults()
	repo, err := p.EnsureRepository(ctx, po.Repository)
	if err != nil {
		return nil, err
	}
	full := po.Repository.Owner + "/" + po.Repository.Name
	if repo.Created {
		opts.event(EventSuccess, "repository %s created", full)
	} else {
		opts.event(EventSuccess, "repository %s exists", full)
		if po.Reconcile {
			changed, err := p.ReconcileRepository(ctx, po.Repository, repo)
			if err != nil {
				return nil, err
			}
			if changed {
				opts.event(EventSuccess, "repository %s reconciled: %s", full, repo.Visibility)
			}
		}
	}
	if len(po.Teams) > 0 {
		granted, warnings, err := p.EnsureTeams(ctx, po.Repository, repo, po.Teams, po.Reconcile || repo.Created)
		if err != nil {
			return nil, err
		}
		for _, w := range warnings {
			opts.event(EventWarning, "%s", w)
		}
		for _, g := range granted {
			opts.event(EventSuccess, "granted %s access to %s", g, full)
		}
	}
	if po.TokenAuth {
		opts.URL = repo.CloneURL
		opts.Credentials = Credentials{Username: p.tokenUser(), Password: p.Token}
		return Run(ctx, clients, opts)
	}
	if po.DeployTokenAuth {
		creds, err := p.deployTokenCredentials(ctx, clients, repo, opts)
		if err != nil {
			return nil, err
		}
		opts.URL, opts.Credentials = repo.CloneURL, creds
		opts.Push = &PushTarget{URL: repo.CloneURL, Username: p.tokenUser(), Password: p.Token}
		return Run(ctx, clients, opts)
	}
	opts.URL = SSHURL(repo.SSHURL)
	// A given private key is the deploy key; the token pushes.
	opts.Credentials = Credentials{PrivateKey: opts.Credentials.PrivateKey, Password: opts.Credentials.Password}
	opts.Push = &PushTarget{URL: repo.CloneURL, Username: p.tokenUser(), Password: p.Token}
	title := fmt.Sprintf("converge-%s-%s-%s", opts.Install.Namespace, opts.Branch, kustomizationPath(mustClean(opts.Path)))
	opts.RegisterDeployKey = func(ctx context.Context, pub string) error {
		added, err := p.EnsureDeployKey(ctx, po.Repository, repo, title, pub, po.ReadWriteKey)
		if err != nil {
			return err
		}
		if added {
			mode := "read-only"
			if po.ReadWriteKey {
				mode = "read-write"
			}
			opts.event(EventSuccess, "deploy key %q registered (%s)", title, mode)
		}
		return nil
	}
	return Run(ctx, clients, opts)
}

func mustClean(p string) string {
	c, err := cleanPath(p)
	if err != nil {
		return p
	}
	return c
}

// SSHURL turns an scp-like address (git@github.com:owner/repo.git), as providers return it, into the
// ssh:// URL Flux's GitRepository needs; other URLs are returned unchanged.
func SSHURL(s string) string {
	if strings.Contains(s, "://") {
		return s
	}
	at := strings.Index(s, "@")
	colon := strings.Index(s, ":")
	if colon < 0 || (at >= 0 && colon < at) {
		return s
	}
	return "ssh://" + s[:colon] + "/" + strings.TrimPrefix(s[colon+1:], "/")
}
