package oci

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestDockerConfigResolve(t *testing.T) {
	cfg, err := ParseDockerConfig([]byte(`{"auths": {
		"registry.example.com:5000": {"auth": "` + b64("port:pw") + `"},
		"https://ghcr.io/v2/": {"username": "scheme", "password": "pw"},
		"ghcr.io/team": {"auth": "` + b64("team:pw") + `"},
		"ghcr.io/team/special": {"auth": "` + b64("special:pw") + `"},
		"https://index.docker.io/v1/": {"username": "hub", "password": "pw"},
		"tokens.example.com": {"identitytoken": "idt"}
	}}`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		repo, wantUser, wantToken string
	}{
		{repo: "registry.example.com:5000/app", wantUser: "port"},
		{repo: "registry.example.com/app"}, // another port: anonymous
		{repo: "ghcr.io/other/app", wantUser: "scheme"},
		{repo: "ghcr.io/team/app", wantUser: "team"},
		{repo: "ghcr.io/team/special/app", wantUser: "special"},
		{repo: "ghcr.io/teammate/app", wantUser: "scheme"}, // a path prefix matches whole elements only
		{repo: "docker.io/library/nginx", wantUser: "hub"},
		{repo: "nginx", wantUser: "hub"},
		{repo: "tokens.example.com/app", wantToken: "idt"},
		{repo: "unknown.example.com/app"},
	}
	for _, tc := range cases {
		t.Run(tc.repo, func(t *testing.T) {
			repo, err := name.NewRepository(tc.repo)
			if err != nil {
				t.Fatal(err)
			}
			auth, err := cfg.Resolve(repo)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantUser == "" && tc.wantToken == "" {
				if auth != authn.Anonymous {
					t.Errorf("want anonymous, got %v", auth)
				}
				return
			}
			ac, err := auth.Authorization()
			if err != nil {
				t.Fatal(err)
			}
			if ac.Username != tc.wantUser || ac.IdentityToken != tc.wantToken {
				t.Errorf("got user %q token %q, want %q %q", ac.Username, ac.IdentityToken, tc.wantUser, tc.wantToken)
			}
		})
	}
}

func TestParseDockerConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"not JSON", `{`, "parsing docker config"},
		{"auth not base64", `{"auths": {"h": {"auth": "%%%"}}}`, "not base64"},
		{"auth without colon", `{"auths": {"h": {"auth": "` + b64("nocolon") + `"}}}`, `"username:password"`},
		{"legacy layout of the wrong shape", `{"h": "x"}`, "legacy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseDockerConfig([]byte(tc.data)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	legacy, err := ParseDockerConfig([]byte(`{"h.example.com": {"auth": "` + b64("u:p:with:colons") + `"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if a := legacy.auths["h.example.com"]; a.Username != "u" || a.Password != "p:with:colons" {
		t.Errorf("legacy entry = %+v", a)
	}
}

// FuzzParseDockerConfig checks that any input either fails to parse or resolves every registry without
// error.
func FuzzParseDockerConfig(f *testing.F) {
	f.Add([]byte(`{"auths": {"ghcr.io": {"auth": "` + b64("u:p") + `"}}}`))
	f.Add([]byte(`{"https://index.docker.io/v1/": {"username": "u", "password": "p"}}`))
	f.Add([]byte(`{"auths": {"ghcr.io/a/b/": {"identitytoken": "t"}, "": {}}}`))
	f.Add([]byte(`{"auths": null}`))
	repo, _ := name.NewRepository("ghcr.io/a/b/c")
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseDockerConfig(data)
		if err != nil {
			return
		}
		auth, err := cfg.Resolve(repo)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := auth.Authorization(); err != nil {
			t.Fatal(err)
		}
	})
}
