// Package githubapp authenticates as a GitHub App installation, as Flux does for GitRepository
// `provider: github`, image automation pushes and the GitHub notification Providers: the App's key
// signs a short JWT (RS256), which is exchanged at {githubAppBaseURL}/app/installations/{id}/access_tokens
// for an installation access token. Git uses that token as the password of the user x-access-token;
// the GitHub API as a bearer token. Tokens are cached until 80% of their lifetime (at most an hour).
package githubapp

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/converge-gitops/converge/engine/cloud"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
)

// Keys of Flux's GitHub App Secret (`flux create secret githubapp`).
const (
	KeyAppID                = "githubAppID"
	KeyAppInstallationID    = "githubAppInstallationID"
	KeyAppInstallationOwner = "githubAppInstallationOwner"
	KeyAppPrivateKey        = "githubAppPrivateKey"
	KeyAppBaseURL           = "githubAppBaseURL"

	// Username is the Git username an installation access token authenticates with.
	Username = "x-access-token"
	// DefaultBaseURL is GitHub's API, used without githubAppBaseURL.
	DefaultBaseURL = "https://api.github.com"

	// maxCached bounds how long a token is reused, as Flux's token cache does.
	maxCached = time.Hour
	// maxBody bounds the answers read from the API.
	maxBody = 1 << 20
)

// requiredKeys are the keys whose presence makes a Secret a GitHub App Secret (Flux's test).
var requiredKeys = []string{KeyAppID, KeyAppInstallationID, KeyAppInstallationOwner, KeyAppPrivateKey}

// HasAppData reports whether data holds any of the keys of a GitHub App (the base URL alone does not
// count, as in Flux).
func HasAppData(data map[string][]byte) bool {
	for _, k := range requiredKeys {
		if _, ok := data[k]; ok {
			return true
		}
	}
	return false
}

// App is a GitHub App installation's credentials, read from a Secret and checked.
type App struct {
	// Secret is "namespace/name" of the Secret, for messages.
	Secret string
	// ID is githubAppID; InstallationID or InstallationOwner (exactly one is set) names the installation.
	ID                int64
	InstallationID    int64
	InstallationOwner string
	// BaseURL is the API's URL without a trailing slash (githubAppBaseURL, else DefaultBaseURL).
	BaseURL string

	key      *rsa.PrivateKey
	cacheKey string
}

// FromSecret reads the GitHub App keys of secret: githubAppID and githubAppPrivateKey (an RSA key in
// PKCS#1 or PKCS#8 PEM), exactly one of githubAppInstallationID and githubAppInstallationOwner, and the
// optional githubAppBaseURL (GitHub Enterprise Server's API). Every refusal names the Secret and key.
func FromSecret(secret *corev1.Secret) (*App, error) {
	data := make(map[string][]byte, len(secret.Data)+len(secret.StringData))
	for k, v := range secret.Data {
		data[k] = v
	}
	for k, v := range secret.StringData {
		data[k] = []byte(v)
	}
	return FromData(secret.Namespace+"/"+secret.Name, data)
}

// FromData is FromSecret over the data of the Secret named name ("namespace/name").
func FromData(name string, data map[string][]byte) (*App, error) {
	a := &App{Secret: name, BaseURL: DefaultBaseURL}
	where := "Secret " + name
	need := fmt.Sprintf("GitHub App authentication needs %q, %q and one of %q or %q",
		KeyAppID, KeyAppPrivateKey, KeyAppInstallationID, KeyAppInstallationOwner)
	id, ok := data[KeyAppID]
	if !ok {
		return nil, fmt.Errorf("%s has no %q key: %s", where, KeyAppID, need)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(id)), 10, 64)
	if err != nil || n <= 0 {
		return nil, fmt.Errorf("%s: %q: %q is not a GitHub App ID (a positive number)", where, KeyAppID, id)
	}
	a.ID = n
	pemKey, ok := data[KeyAppPrivateKey]
	if !ok {
		return nil, fmt.Errorf("%s has no %q key: %s", where, KeyAppPrivateKey, need)
	}
	if a.key, err = parseKey(pemKey); err != nil {
		return nil, fmt.Errorf("%s: %q: %w", where, KeyAppPrivateKey, err)
	}
	inst, hasID := data[KeyAppInstallationID]
	owner, hasOwner := data[KeyAppInstallationOwner]
	switch {
	case hasID && hasOwner:
		return nil, fmt.Errorf("%s has both %q and %q: give exactly one", where, KeyAppInstallationID, KeyAppInstallationOwner)
	case hasID:
		n, err := strconv.ParseInt(strings.TrimSpace(string(inst)), 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%s: %q: %q is not an installation ID (a positive number)", where, KeyAppInstallationID, inst)
		}
		a.InstallationID = n
	case hasOwner:
		a.InstallationOwner = strings.TrimSpace(string(owner))
		if a.InstallationOwner == "" || strings.ContainsAny(a.InstallationOwner, "/?#% ") {
			return nil, fmt.Errorf("%s: %q: %q is not a GitHub organization or user name", where, KeyAppInstallationOwner, owner)
		}
	default:
		return nil, fmt.Errorf("%s has neither %q nor %q: %s", where, KeyAppInstallationID, KeyAppInstallationOwner, need)
	}
	if b, ok := data[KeyAppBaseURL]; ok {
		raw := strings.TrimSpace(string(b))
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("%s: %q: %q is not an http(s) URL", where, KeyAppBaseURL, raw)
		}
		a.BaseURL = strings.TrimSuffix(raw, "/")
	}
	h := sha256.New()
	for _, k := range []string{KeyAppID, KeyAppInstallationID, KeyAppInstallationOwner, KeyAppBaseURL, KeyAppPrivateKey} {
		fmt.Fprintf(h, "%s=%d:%s\n", k, len(data[k]), data[k])
	}
	a.cacheKey = string(h.Sum(nil))
	return a, nil
}

func parseKey(b []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("not a PEM private key (download the App's key from its GitHub settings)")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing the PEM private key: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("the private key is %T: GitHub Apps sign with RSA", k)
	}
	return rk, nil
}

// JWT returns the App's JSON web token at now: RS256, issued 30 seconds back (clock drift) and valid
// for two minutes from then, as Flux signs it.
func (a *App) JWT(now time.Time) (string, error) {
	iat := now.Truncate(time.Second).Add(-30 * time.Second)
	jwt, err := cloud.SignRS256(a.key, map[string]string{"alg": "RS256", "typ": "JWT"},
		map[string]any{"iat": iat.Unix(), "exp": iat.Add(2 * time.Minute).Unix(), "iss": strconv.FormatInt(a.ID, 10)})
	if err != nil {
		return "", fmt.Errorf("Secret %s: %q: signing the JWT: %w", a.Secret, KeyAppPrivateKey, err)
	}
	return jwt, nil
}

// Token is an installation access token.
type Token struct {
	Value     string
	ExpiresAt time.Time
}

// Tokens exchanges Apps' JWTs for installation access tokens and keeps each token until 80% of its
// lifetime has passed (at most an hour), as Flux's token cache does. The zero value works (real clock);
// a nil *Tokens exchanges every time.
type Tokens struct {
	// Clock gives the time of JWTs and of the cache; nil is the real clock.
	Clock clock.PassiveClock

	mu     sync.Mutex
	tokens map[string]cached
	slugs  map[string]string
}

type cached struct {
	tok   *Token
	until time.Time
}

func (t *Tokens) now() time.Time {
	if t == nil || t.Clock == nil {
		return time.Now()
	}
	return t.Clock.Now()
}

// Token returns an installation access token of app, a cached one while fresh. client reaches the API
// (with the Secret's CA and the source's proxy: see HTTPClient).
func (t *Tokens) Token(ctx context.Context, client *http.Client, app *App) (*Token, error) {
	now := t.now()
	if t != nil {
		t.mu.Lock()
		c, ok := t.tokens[app.cacheKey]
		t.mu.Unlock()
		if ok && now.Before(c.until) {
			return c.tok, nil
		}
	}
	tok, err := app.exchange(ctx, client, now)
	if err != nil {
		return nil, err
	}
	if t != nil {
		life := tok.ExpiresAt.Sub(now) * 8 / 10
		if life > maxCached {
			life = maxCached
		}
		t.mu.Lock()
		if t.tokens == nil {
			t.tokens = map[string]cached{}
		}
		for k, c := range t.tokens {
			if !now.Before(c.until) {
				delete(t.tokens, k)
			}
		}
		if life > 0 {
			t.tokens[app.cacheKey] = cached{tok: tok, until: now.Add(life)}
		}
		t.mu.Unlock()
	}
	return tok, nil
}

// Slug returns the App's slug (GET {base}/app): its comments are written by "<slug>[bot]".
func (t *Tokens) Slug(ctx context.Context, client *http.Client, app *App) (string, error) {
	if t != nil {
		t.mu.Lock()
		s, ok := t.slugs[app.cacheKey]
		t.mu.Unlock()
		if ok {
			return s, nil
		}
	}
	jwt, err := app.JWT(t.now())
	if err != nil {
		return "", err
	}
	var out struct {
		Slug string `json:"slug"`
	}
	if err := app.call(ctx, client, jwt, http.MethodGet, "/app", http.StatusOK, &out); err != nil {
		return "", err
	}
	if out.Slug == "" {
		return "", fmt.Errorf("Secret %s: GitHub App %d: %s/app answered no slug", app.Secret, app.ID, app.BaseURL)
	}
	if t != nil {
		t.mu.Lock()
		if t.slugs == nil {
			t.slugs = map[string]string{}
		}
		t.slugs[app.cacheKey] = out.Slug
		t.mu.Unlock()
	}
	return out.Slug, nil
}

// exchange signs a JWT, finds the installation (by owner: as an organization, then as a user) and
// creates an installation access token.
func (a *App) exchange(ctx context.Context, client *http.Client, now time.Time) (*Token, error) {
	jwt, err := a.JWT(now)
	if err != nil {
		return nil, err
	}
	id := a.InstallationID
	if id == 0 {
		var inst struct {
			ID int64 `json:"id"`
		}
		orgErr := a.call(ctx, client, jwt, http.MethodGet, "/orgs/"+url.PathEscape(a.InstallationOwner)+"/installation", http.StatusOK, &inst)
		if orgErr != nil {
			if userErr := a.call(ctx, client, jwt, http.MethodGet, "/users/"+url.PathEscape(a.InstallationOwner)+"/installation", http.StatusOK, &inst); userErr != nil {
				return nil, fmt.Errorf("finding the installation of %q (%s): as an organization: %w; as a user: %w",
					a.InstallationOwner, KeyAppInstallationOwner, orgErr, userErr)
			}
		}
		if inst.ID <= 0 {
			return nil, fmt.Errorf("Secret %s: GitHub App %d: the installation of %q has no ID", a.Secret, a.ID, a.InstallationOwner)
		}
		id = inst.ID
	}
	var out struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := a.call(ctx, client, jwt, http.MethodPost, fmt.Sprintf("/app/installations/%d/access_tokens", id), http.StatusCreated, &out); err != nil {
		return nil, err
	}
	if out.Token == "" {
		return nil, fmt.Errorf("Secret %s: GitHub App %d: installation %d: the answer holds no token", a.Secret, a.ID, id)
	}
	return &Token{Value: out.Token, ExpiresAt: out.ExpiresAt}, nil
}

// call sends one API request authenticated with jwt and decodes the answer into out.
func (a *App) call(ctx context.Context, client *http.Client, jwt, method, path string, want int, out any) error {
	u := a.BaseURL + path
	fail := func(format string, args ...any) error {
		return fmt.Errorf("Secret %s: GitHub App %d: %s %s: %s", a.Secret, a.ID, method, u, fmt.Sprintf(format, args...))
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return fail("%v", err)
	}
	req.Header.Set("Authorization", "Bearer "+jwt)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	req.Header.Set("User-Agent", "converge")
	if client == nil {
		client = HTTPClient(nil, nil)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fail("%v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fail("reading the answer: %v", err)
	}
	if resp.StatusCode != want {
		var e struct {
			Message string `json:"message"`
		}
		msg := strings.TrimSpace(string(body))
		if json.Unmarshal(body, &e) == nil && e.Message != "" {
			msg = e.Message
		}
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		return fail("%s: %s", resp.Status, msg)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fail("decoding the answer: %v", err)
	}
	return nil
}

// HTTPClient returns a client for the GitHub API with tlsConfig (nil: the system's) and through proxy
// (nil: the environment's HTTPS_PROXY, as Flux's client).
func HTTPClient(tlsConfig *tls.Config, proxy *url.URL) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConfig
	if proxy != nil {
		tr.Proxy = http.ProxyURL(proxy)
	}
	return &http.Client{Transport: tr, Timeout: time.Minute}
}
