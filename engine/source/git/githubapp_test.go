package git

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source/githubapp"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// TestGitHubApp fetches with `provider: github`: the GitHub API cannot run here, so the installation
// token comes from sourcetest's loopback fake of the token endpoints (it verifies the JWT with the App's
// public key); the Git server is a real git http-backend that accepts only x-access-token and that token.
func TestGitHubApp(t *testing.T) {
	root := t.TempDir()
	h := newHistory(t, root)
	clk := testingclock.NewFakeClock(time.Now())
	api := sourcetest.StartGitHubAppAPI(t, 1234, 5678, "fleet-org", "ghs_installation_token")
	api.Now = clk.Now
	denied := sourcetest.StartGitHubAppAPI(t, 1234, 5678, "fleet-org", "ghs_other")
	denied.SetDeny("This installation has been suspended")
	srv := startHTTPGitServer(t, root, httpAuth{user: githubapp.Username, password: "ghs_installation_token"})
	url := srv.URL + "/app.git"
	secrets := secretStore{}
	tokens := &githubapp.Tokens{Clock: clk}
	f := &Fetcher{Store: newStore(t), Secrets: secrets, GitHubApp: tokens}

	app := func(a *sourcetest.GitHubAppAPI, drop string, set map[string]string) map[string][]byte {
		d := map[string][]byte{"githubAppID": []byte(strconv.FormatInt(a.AppID, 10)), "githubAppInstallationID": []byte("5678"),
			"githubAppPrivateKey": a.KeyPEM, "githubAppBaseURL": []byte(a.URL)}
		delete(d, drop)
		for k, v := range set {
			d[k] = []byte(v)
		}
		return d
	}
	wrong := sourcetest.StartGitHubAppAPI(t, 1234, 5678, "fleet-org", "ghs_not_for_this_repository")
	otherKey := sourcetest.StartGitHubAppAPI(t, 1234, 5678, "fleet-org", "x").KeyPEM
	tests := []struct {
		name     string
		provider string
		secret   map[string][]byte // nil: no secretRef
		url      string
		reason   string // "" for success
		msg      string // revision prefix on success, error text on failure
	}{
		{name: "installation id", provider: "github", secret: app(api, "", nil), msg: "master@sha1:" + h.c3},
		{name: "installation owner (organization)", provider: "github",
			secret: app(api, "githubAppInstallationID", map[string]string{"githubAppInstallationOwner": "fleet-org"}), msg: "master@sha1:" + h.c3},
		{name: "unknown installation owner", provider: "github",
			secret: app(api, "githubAppInstallationID", map[string]string{"githubAppInstallationOwner": "stranger"}),
			reason: "AuthenticationFailed", msg: `finding the installation of "stranger" (githubAppInstallationOwner): as an organization:`},
		{name: "no secretRef", provider: "github", reason: "InvalidProviderConfiguration",
			msg: "secretRef with GitHub App data must be specified when provider is set to github"},
		{name: "Secret without App data", provider: "github", secret: map[string][]byte{"username": []byte("u"), "password": []byte("p")},
			reason: "InvalidProviderConfiguration", msg: `has no GitHub App data: spec.provider github needs "githubAppID"`},
		{name: "App data without provider", secret: app(api, "", nil), reason: "InvalidProviderConfiguration",
			msg: `has GitHub App data ("githubApp`},
		{name: "missing app ID", provider: "github", secret: app(api, "githubAppID", nil), reason: "InvalidProviderConfiguration",
			msg: `has no "githubAppID" key`},
		{name: "missing private key", provider: "github", secret: app(api, "githubAppPrivateKey", nil), reason: "InvalidProviderConfiguration",
			msg: `has no "githubAppPrivateKey" key`},
		{name: "missing installation", provider: "github", secret: app(api, "githubAppInstallationID", nil), reason: "InvalidProviderConfiguration",
			msg: `has neither "githubAppInstallationID" nor "githubAppInstallationOwner"`},
		{name: "both installation id and owner", provider: "github", secret: app(api, "", map[string]string{"githubAppInstallationOwner": "fleet-org"}),
			reason: "InvalidProviderConfiguration", msg: `has both "githubAppInstallationID" and "githubAppInstallationOwner"`},
		{name: "app ID not a number", provider: "github", secret: app(api, "", map[string]string{"githubAppID": "my-app"}),
			reason: "InvalidProviderConfiguration", msg: `"githubAppID": "my-app" is not a GitHub App ID`},
		{name: "bad PEM", provider: "github", secret: app(api, "", map[string]string{"githubAppPrivateKey": "not a key"}),
			reason: "InvalidProviderConfiguration", msg: `"githubAppPrivateKey": not a PEM private key`},
		{name: "bad base URL", provider: "github", secret: app(api, "", map[string]string{"githubAppBaseURL": "ftp://ghe"}),
			reason: "InvalidProviderConfiguration", msg: `"githubAppBaseURL": "ftp://ghe" is not an http(s) URL`},
		{name: "key of another App", provider: "github", secret: app(api, "", map[string]string{"githubAppPrivateKey": string(otherKey)}),
			reason: "AuthenticationFailed", msg: "401 Unauthorized: A JSON web token could not be decoded (bad signature)"},
		{name: "exchange denied", provider: "github", secret: app(denied, "", nil), reason: "AuthenticationFailed",
			msg: "/app/installations/5678/access_tokens: 403 Forbidden: This installation has been suspended"},
		{name: "token the Git server refuses", provider: "github", secret: app(wrong, "", nil),
			reason: "AuthenticationFailed", msg: "authentication failed for " + url},
		{name: "ssh URL", provider: "github", secret: app(api, "", nil), url: "ssh://git@github.com/org/app.git",
			reason: "InvalidProviderConfiguration", msg: "provider github authenticates over HTTPS: ssh://git@github.com/org/app.git is not an https:// URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := url
			if tt.url != "" {
				u = tt.url
			}
			obj := gitRepository(objectName(t), u)
			obj.Spec.Provider = tt.provider
			if tt.secret != nil {
				secrets.add(obj.Name, tt.secret)
				obj.Spec.SecretRef = withSecretRef(obj.Name)
			}
			art, err := f.Fetch(context.Background(), obj)
			if tt.reason != "" {
				assertFetchError(t, err, tt.reason, tt.msg, nil)
				if tt.secret != nil && tt.reason != "InvalidProviderConfiguration" &&
					!strings.HasPrefix(tt.msg, "authentication failed") && !strings.Contains(err.Error(), "Secret default/"+obj.Name) {
					t.Errorf("error %q does not name the Secret", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(art.Revision, tt.msg) {
				t.Errorf("revision %q, want prefix %q", art.Revision, tt.msg)
			}
		})
	}
}

// TestGitHubAppTokenCache: a token is reused until 80% of its lifetime has passed, then exchanged anew;
// an exchange whose JWT the API finds expired (the clock is behind) fails naming the Secret.
func TestGitHubAppTokenCache(t *testing.T) {
	root := t.TempDir()
	newHistory(t, root)
	clk := testingclock.NewFakeClock(time.Now())
	api := sourcetest.StartGitHubAppAPI(t, 42, 7, "fleet-org", "ghs_token")
	api.Now = clk.Now
	srv := startHTTPGitServer(t, root, httpAuth{user: githubapp.Username, password: "ghs_token"})
	secrets := secretStore{}.add("app", map[string][]byte{"githubAppID": []byte("42"), "githubAppInstallationID": []byte("7"),
		"githubAppPrivateKey": api.KeyPEM, "githubAppBaseURL": []byte(api.URL + "/")})
	f := &Fetcher{Store: newStore(t), Secrets: secrets, GitHubApp: &githubapp.Tokens{Clock: clk}}
	obj := gitRepository("cached", srv.URL+"/app.git", withSecret("app"))
	obj.Spec.Provider = sourcev1.GitProviderGitHub

	steps := []struct {
		advance   time.Duration
		exchanges int64
	}{
		{0, 1},
		{10 * time.Minute, 1},
		{37 * time.Minute, 1}, // 47 minutes: below 80% of the hour
		{2 * time.Minute, 2},  // 49 minutes: a new token
		{time.Minute, 2},
	}
	for i, s := range steps {
		clk.Step(s.advance)
		if _, err := f.Fetch(context.Background(), obj); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := api.Exchanges.Load(); got != s.exchanges {
			t.Errorf("step %d: %d token exchanges, want %d", i, got, s.exchanges)
		}
	}

	// The fetcher's clock runs an hour behind the API's: the JWT has expired when it arrives.
	behind := &Fetcher{Store: newStore(t), Secrets: secrets, GitHubApp: &githubapp.Tokens{Clock: testingclock.NewFakeClock(clk.Now().Add(-time.Hour))}}
	_, err := behind.Fetch(context.Background(), obj)
	assertFetchError(t, err, "AuthenticationFailed", "Secret default/app: GitHub App 42: POST "+api.URL+"/app/installations/7/access_tokens: 401 Unauthorized: 'Expiration time' claim", nil)
}
