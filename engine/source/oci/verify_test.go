package oci

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// TestFetchVerify fetches artifacts signed (in cosign's format) with ECDSA, Ed25519 and RSA keys from
// Debian's docker-registry: signed ones are verified, unsigned, wrongly signed and tampered ones are
// refused with the previous artifact kept, keyless without a trusted root is refused by name.
func TestFetchVerify(t *testing.T) {
	reg := sourcetest.StartRegistry(t, "")
	repo := reg.Host + "/signed/app"
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	push := func(tag string) name.Digest {
		d := pushImage(t, repo+":"+tag, nil, nil, testLayer{ContentMediaType, tarGz(t, tarEntry{name: "tag.txt", body: tag})})
		dig, err := name.NewDigest(repo + "@" + d.String())
		if err != nil {
			t.Fatal(err)
		}
		return dig
	}
	sign := func(dig name.Digest, key crypto.Signer, edit func([]byte) []byte) {
		sourcetest.CosignSign(t, dig, key, edit)
	}
	ec, ed, rs := push("ecdsa"), push("ed25519"), push("rsa")
	sign(ec, ecKey, nil)
	sign(ed, edKey, nil)
	sign(rs, rsaKey, nil)
	push("unsigned")
	sign(push("wrong-key"), other, nil)
	sign(push("tampered"), ecKey, func(p []byte) []byte {
		return bytes.Replace(p, []byte(`"optional":null`), []byte(`"optional":{"x":"y"}`), 1)
	})
	// A valid signature of the ecdsa manifest stored as the signature of another one.
	sourcetest.CosignSignAs(t, ec, push("moved"), ecKey, nil)
	v3 := push("v3-key")
	sourcetest.CosignSignBundle(t, v3, ecKey)
	sourcetest.CosignSignBundle(t, push("v3-wrong-key"), other)
	twice := push("second-signature")
	sign(twice, other, nil)
	sign(twice, ecKey, nil)

	secret := func(name string, data map[string][]byte) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNamespace}, Data: data}
	}
	secrets := secretStore{
		"keys": secret("keys", map[string][]byte{
			"cosign.pub": sourcetest.PublicKeyPEM(t, ecKey), "ed.pub": sourcetest.PublicKeyPEM(t, edKey),
			"rsa.pub": sourcetest.PublicKeyPEM(t, rsaKey), "README": []byte("not a key"),
		}),
		"bad-pem": secret("bad-pem", map[string][]byte{"cosign.pub": []byte("nope")}),
		"no-keys": secret("no-keys", map[string][]byte{"cosign.key": []byte("private")}),
	}
	f := newFetcher(t, secrets)

	cases := []verifyCase{
		{name: "ecdsa", tag: "ecdsa", verify: cosignKeys("keys"), want: []string{"verified signature of revision " + ec.DigestStr()}},
		{name: "ed25519", tag: "ed25519", verify: cosignKeys("keys"), want: []string{"verified signature of revision " + ed.DigestStr()}},
		{name: "rsa", tag: "rsa", verify: cosignKeys("keys"), want: []string{"verified signature of revision " + rs.DigestStr()}},
		{name: "v3 bundle", tag: "v3-key", verify: cosignKeys("keys"), want: []string{"verified signature of revision " + v3.DigestStr()}},
		{name: "v3 bundle wrong key", tag: "v3-wrong-key", verify: cosignKeys("keys"), reason: sourcev1.VerificationError,
			want: []string{"among its Sigstore bundles", "the DSSE signature does not verify with any key"}},
		{name: "a second signature verifies", tag: "second-signature", verify: cosignKeys("keys"), want: []string{"verified signature"}},
		{name: "unsigned", tag: "unsigned", verify: cosignKeys("keys"), reason: sourcev1.VerificationError,
			want: []string{"failed to verify the signature using provider 'cosign'", "no cosign signature found", ".sig is missing"}},
		{name: "wrong key", tag: "wrong-key", verify: cosignKeys("keys"), reason: sourcev1.VerificationError,
			want: []string{"no matching signatures were found", "the signature does not verify with any key"}},
		{name: "tampered payload", tag: "tampered", verify: cosignKeys("keys"), reason: sourcev1.VerificationError,
			want: []string{"the signature does not verify with any key"}},
		{name: "signature of another artifact", tag: "moved", verify: cosignKeys("keys"), reason: sourcev1.VerificationError,
			want: []string{"signed digest " + ec.DigestStr() + " is not sha256:"}},
		{name: "keyless", tag: "ecdsa", reason: sourcev1.VerificationError,
			verify: sourcev1.OCIRepositoryVerification{Provider: "cosign", MatchOIDCIdentity: []sourcev1.OIDCIdentityMatch{{Issuer: ".*", Subject: ".*"}}},
			want: []string{"spec.verify.secretRef is not set", "keyless cosign verification against the public Sigstore instance",
				"is not supported offline", "spec.verify.trustedRootSecretRef (key trusted_root.json)"}},
		{name: "notation", tag: "ecdsa", verify: sourcev1.OCIRepositoryVerification{Provider: "notation", SecretRef: secretRef("keys")},
			reason: sourcev1.VerificationError, want: []string{"spec.verify.secretRef: 'trustpolicy.json' not found in Secret flux-system/keys"}},
		{name: "missing secret", tag: "ecdsa", verify: cosignKeys("missing"), reason: sourcev1.VerificationError,
			want: []string{"spec.verify.secretRef: reading Secret flux-system/missing"}},
		{name: "malformed key", tag: "ecdsa", verify: cosignKeys("bad-pem"), reason: sourcev1.VerificationError,
			want: []string{`Secret flux-system/bad-pem key "cosign.pub": not a PEM public key`}},
		{name: "no public keys", tag: "ecdsa", verify: cosignKeys("no-keys"), reason: sourcev1.VerificationError,
			want: []string{"holds no cosign public keys (data keys ending in .pub)"}},
	}
	runVerifyCases(t, f, repo, cases)
}

// verifyCase is one OCIRepository spec.verify case: the artifact at tag fetched with verify.
type verifyCase struct {
	name   string
	tag    string
	verify sourcev1.OCIRepositoryVerification
	want   []string // in the message, or the error when reason is set
	reason string
	// unverified: the artifact is used but not marked verified (notation's skip, audit).
	unverified bool
}

// runVerifyCases fetches each case's artifact after an unsigned one was stored: a verified fetch
// carries SourceVerified's message (twice: the second reuses the artifact and verifies again), a
// refused one keeps the previous artifact.
func runVerifyCases(t *testing.T, f *Fetcher, repo string, cases []verifyCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objName := "verify-" + strings.ReplaceAll(tc.name, " ", "-")
			// An artifact stored before: a refused fetch keeps it.
			prev, err := f.Fetch(context.Background(), ociRepository(objName, "oci://"+repo, func(s *sourcev1.OCIRepositorySpec) {
				s.Reference = &sourcev1.OCIRepositoryRef{Tag: "unsigned"}
			}))
			if err != nil {
				t.Fatal(err)
			}
			obj := ociRepository(objName, "oci://"+repo, func(s *sourcev1.OCIRepositorySpec) {
				s.Reference = &sourcev1.OCIRepositoryRef{Tag: tc.tag}
				v := tc.verify
				s.Verify = &v
			})
			for round := 0; round < 2; round++ { // the second fetch reuses the artifact and verifies again
				a, err := f.Fetch(context.Background(), obj)
				if tc.reason == "" {
					if err != nil {
						t.Fatal(err)
					}
					if tc.unverified && a.Verified != "" {
						t.Errorf("round %d: marked verified: %q", round, a.Verified)
					}
					if !tc.unverified && a.Verified == "" {
						t.Errorf("round %d: not marked verified", round)
					}
					for _, w := range tc.want {
						if !strings.Contains(a.Verified, w) {
							t.Errorf("round %d: message %q does not contain %q", round, a.Verified, w)
						}
					}
					if round == 0 && readTree(t, a.Dir)["tag.txt"] != tc.tag {
						t.Errorf("artifact %v is not the %s one", readTree(t, a.Dir), tc.tag)
					}
					continue
				}
				fe := fetchErr(t, err)
				if fe.Reason != tc.reason || !fe.Unverified {
					t.Errorf("reason %q unverified %v, want %q and true", fe.Reason, fe.Unverified, tc.reason)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				if fe.Previous == nil || fe.Previous.Digest != prev.Digest {
					t.Errorf("previous artifact %v, want %v", fe.Previous, prev)
				}
				cur, _ := f.Store.Current(source.Ref{Kind: sourcev1.OCIRepositoryKind, Namespace: testNamespace, Name: objName})
				if cur == nil || cur.Digest != prev.Digest {
					t.Errorf("the stored artifact changed after a refused fetch: %v", cur)
				}
			}
		})
	}
}

func cosignKeys(secret string) sourcev1.OCIRepositoryVerification {
	return sourcev1.OCIRepositoryVerification{Provider: "cosign", SecretRef: secretRef(secret)}
}

// BenchmarkFetchVerifiedUnchanged is BenchmarkFetchUnchanged with spec.verify: what verifying on every
// fetch costs (the signature manifest and payload are read again).
func BenchmarkFetchVerifiedUnchanged(b *testing.B) {
	reg := sourcetest.StartRegistry(b, "")
	d := pushImage(b, reg.Host+"/bench/app:latest", nil, nil, testLayer{ContentMediaType, tarGz(b, tarEntry{name: "a.yaml", body: "a"})})
	dig, err := name.NewDigest(reg.Host + "/bench/app@" + d.String())
	if err != nil {
		b.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sourcetest.CosignSign(b, dig, key, nil)
	f := newFetcher(b, secretStore{"keys": {ObjectMeta: metav1.ObjectMeta{Name: "keys", Namespace: testNamespace},
		Data: map[string][]byte{"cosign.pub": sourcetest.PublicKeyPEM(b, key)}}})
	obj := ociRepository("bench", "oci://"+reg.Host+"/bench/app", func(s *sourcev1.OCIRepositorySpec) { v := cosignKeys("keys"); s.Verify = &v })
	if _, err := f.Fetch(context.Background(), obj); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := f.Fetch(context.Background(), obj); err != nil {
			b.Fatal(err)
		}
	}
}
