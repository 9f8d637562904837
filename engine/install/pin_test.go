package install

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"

	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// keychain answers every registry with one username and password, as a Docker config with that registry's
// auth entry would.
type keychain struct{ user, password string }

func (k keychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	if k.user == "" {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{Username: k.user, Password: k.password}), nil
}

// TestPinDigest asks Debian's docker-registry (one open, one with basic auth) for the agent image's digest.
func TestPinDigest(t *testing.T) {
	ctx := context.Background()
	open := sourcetest.StartRegistry(t, "")
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	private := sourcetest.StartRegistry(t, fmt.Sprintf("ci:%s\n", hash))
	push := func(reg *sourcetest.Registry, ref string, kc authn.Keychain) string {
		t.Helper()
		img, err := random.Image(256, 1)
		if err != nil {
			t.Fatal(err)
		}
		r, err := name.ParseReference(reg.Host + "/" + ref)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(r, img, remote.WithAuthFromKeychain(kc)); err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d.String()
	}
	creds := keychain{"ci", "s3cret"}
	v1 := push(open, "converge:v1", authn.DefaultKeychain)
	dev := push(open, "team/converge:dev", authn.DefaultKeychain)
	priv := push(private, "converge:v1", creds)
	// A registry that is not there: a port nothing listens on.
	gone := fmt.Sprintf("127.0.0.1:%d", sourcetest.FreePort(t))

	tests := []struct {
		name, image, version string
		kc                   authn.Keychain
		want, warning        string
	}{
		{name: "tag from version", image: open.Host + "/converge", version: "v1", want: open.Host + "/converge:v1@" + v1},
		{name: "tag in the image", image: open.Host + "/team/converge:dev", version: "v9", want: open.Host + "/team/converge:dev@" + dev},
		{name: "credentials from the keychain", image: private.Host + "/converge", version: "v1", kc: creds, want: private.Host + "/converge:v1@" + priv},
		{name: "digest given: not asked, kept", image: gone + "/converge@" + d2, version: "v1", want: gone + "/converge@" + d2},
		{name: "no such tag", image: open.Host + "/converge", version: "v2",
			want: open.Host + "/converge", warning: "could not look up the digest of " + open.Host + "/converge:v2 (the registry has no such tag: 404 Not Found)"},
		{name: "no credentials", image: private.Host + "/converge", version: "v1",
			want: private.Host + "/converge", warning: "could not look up the digest of " + private.Host + "/converge:v1 (the registry refused the credentials of the Docker config, or there are none: 401 Unauthorized)"},
		{name: "wrong credentials", image: private.Host + "/converge", version: "v1", kc: keychain{"ci", "wrong"},
			want: private.Host + "/converge", warning: "could not look up the digest of " + private.Host + "/converge:v1 (the registry refused the credentials of the Docker config, or there are none: 401 Unauthorized)"},
		{name: "registry unreachable", image: gone + "/converge:dev", version: "v1",
			want: gone + "/converge:dev", warning: "could not look up the digest of " + gone + "/converge:dev (Get \"https://" + gone + "/v2/\": dial tcp " + gone + ": connect: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kc := tt.kc
			if kc == nil {
				kc = keychain{}
			}
			o := Options{Image: tt.image, Version: tt.version}
			got, warning := o.PinDigest(ctx, kc)
			if got.Image != tt.want {
				t.Errorf("Image = %q, want %q", got.Image, tt.want)
			}
			if got.Version != tt.version {
				t.Errorf("Version = %q, want %q", got.Version, tt.version)
			}
			switch {
			case tt.warning == "" && warning != "":
				t.Errorf("warning %q, want none", warning)
			case tt.warning != "" && !strings.HasPrefix(warning, tt.warning):
				t.Errorf("warning %q, want it to start with %q", warning, tt.warning)
			case tt.warning != "" && (strings.Contains(warning, "\n") || !strings.HasSuffix(warning, "the agent Deployment keeps the tag, not a digest")):
				t.Errorf("warning %q: want one line ending in what happens instead", warning)
			}
			if warning == "" {
				if err := got.Validate(); err != nil {
					t.Errorf("the pinned options do not validate: %v", err)
				}
			}
		})
	}
}
