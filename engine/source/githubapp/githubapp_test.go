package githubapp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// TestTokens exchanges against sourcetest's loopback fake of GitHub's token endpoints (GitHub cannot
// run here): by installation ID, by an organization's or a user's installation, with the key in PKCS#8.
func TestTokens(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
	org := sourcetest.StartGitHubAppAPI(t, 11, 22, "acme", "ghs_org")
	org.Now = clk.Now
	user := sourcetest.StartGitHubAppAPI(t, 11, 33, "jdoe", "ghs_user")
	user.OwnerIsUser, user.Now = true, clk.Now
	pkcs8, err := x509.MarshalPKCS8PrivateKey(org.Key)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		data map[string]string
		want string
	}{
		{"installation ID", map[string]string{KeyAppInstallationID: "22", KeyAppBaseURL: org.URL}, "ghs_org"},
		{"organization", map[string]string{KeyAppInstallationOwner: "acme", KeyAppBaseURL: org.URL}, "ghs_org"},
		{"user", map[string]string{KeyAppInstallationOwner: "jdoe", KeyAppBaseURL: user.URL, KeyAppPrivateKey: string(user.KeyPEM)}, "ghs_user"},
		{"PKCS#8 key", map[string]string{KeyAppInstallationID: "22", KeyAppBaseURL: org.URL,
			KeyAppPrivateKey: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))}, "ghs_org"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := map[string][]byte{KeyAppID: []byte("11"), KeyAppPrivateKey: org.KeyPEM}
			for k, v := range tt.data {
				data[k] = []byte(v)
			}
			app, err := FromData("ns/app", data)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := (&Tokens{Clock: clk}).Token(context.Background(), nil, app)
			if err != nil {
				t.Fatal(err)
			}
			if tok.Value != tt.want || !tok.ExpiresAt.Equal(clk.Now().Add(time.Hour)) {
				t.Errorf("token %+v, want %s expiring in an hour", tok, tt.want)
			}
		})
	}
	app, err := FromData("ns/app", map[string][]byte{KeyAppID: []byte("11"), KeyAppPrivateKey: org.KeyPEM, KeyAppInstallationID: []byte("22"), KeyAppBaseURL: []byte(org.URL)})
	if err != nil {
		t.Fatal(err)
	}
	slug, err := (&Tokens{Clock: clk}).Slug(context.Background(), nil, app)
	if err != nil || slug != "converge-test" {
		t.Errorf("slug %q, %v", slug, err)
	}
}

func TestFromDataRefusals(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	good := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	for _, tt := range []struct {
		name string
		data map[string]string
		want string
	}{
		{"no app ID", map[string]string{KeyAppPrivateKey: good, KeyAppInstallationID: "1"}, `Secret ns/s has no "githubAppID" key`},
		{"app ID zero", map[string]string{KeyAppID: "0", KeyAppPrivateKey: good, KeyAppInstallationID: "1"}, `Secret ns/s: "githubAppID": "0" is not a GitHub App ID`},
		{"no key", map[string]string{KeyAppID: "1", KeyAppInstallationID: "1"}, `Secret ns/s has no "githubAppPrivateKey" key`},
		{"not PEM", map[string]string{KeyAppID: "1", KeyAppPrivateKey: "x", KeyAppInstallationID: "1"}, `Secret ns/s: "githubAppPrivateKey": not a PEM private key`},
		{"PEM not a key", map[string]string{KeyAppID: "1", KeyAppPrivateKey: "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n", KeyAppInstallationID: "1"},
			`Secret ns/s: "githubAppPrivateKey": parsing the PEM private key`},
		{"installation ID not a number", map[string]string{KeyAppID: "1", KeyAppPrivateKey: good, KeyAppInstallationID: "x"}, `"githubAppInstallationID": "x" is not an installation ID`},
		{"owner with a slash", map[string]string{KeyAppID: "1", KeyAppPrivateKey: good, KeyAppInstallationOwner: "a/b"}, `"githubAppInstallationOwner": "a/b" is not`},
		{"both", map[string]string{KeyAppID: "1", KeyAppPrivateKey: good, KeyAppInstallationOwner: "a", KeyAppInstallationID: "1"}, "has both"},
		{"neither", map[string]string{KeyAppID: "1", KeyAppPrivateKey: good}, "has neither"},
		{"base URL not http", map[string]string{KeyAppID: "1", KeyAppPrivateKey: good, KeyAppInstallationID: "1", KeyAppBaseURL: "ghe.example"}, `"githubAppBaseURL": "ghe.example" is not an http(s) URL`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := map[string][]byte{}
			for k, v := range tt.data {
				data[k] = []byte(v)
			}
			_, err := FromData("ns/s", data)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// FuzzFromData reads arbitrary Secret values: never a panic, and every refusal names the Secret.
func FuzzFromData(f *testing.F) {
	f.Add("1", "2", "", "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n", "https://ghe.example/api/v3")
	f.Add("x", "", "org", "junk", "")
	f.Fuzz(func(t *testing.T, id, inst, owner, key, base string) {
		data := map[string][]byte{KeyAppID: []byte(id), KeyAppPrivateKey: []byte(key), KeyAppBaseURL: []byte(base)}
		if inst != "" {
			data[KeyAppInstallationID] = []byte(inst)
		}
		if owner != "" {
			data[KeyAppInstallationOwner] = []byte(owner)
		}
		if _, err := FromData("ns/s", data); err != nil && !strings.Contains(err.Error(), "Secret ns/s") {
			t.Errorf("error %q does not name the Secret", err)
		}
	})
}
