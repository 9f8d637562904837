package oci

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509/pkix"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// pushTagged pushes a one-file artifact at repo:tag and returns its digest reference.
func pushTagged(t *testing.T, repo, tag string) name.Digest {
	t.Helper()
	d := pushImage(t, repo+":"+tag, nil, nil, testLayer{ContentMediaType, tarGz(t, tarEntry{name: "tag.txt", body: tag})})
	dig, err := name.NewDigest(repo + "@" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	return dig
}

func opaqueSecret(name string, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNamespace}, Data: data}
}

// TestFetchVerifyKeyless fetches artifacts signed keyless (cosign v2 layout) by a test Sigstore
// signer (a Fulcio-like CA, a Rekor-like log key and a CT-log-like key; Sigstore cannot run here)
// from Debian's docker-registry, verified offline against the trusted root in a Secret.
func TestFetchVerifyKeyless(t *testing.T) {
	reg := sourcetest.StartRegistry(t, "")
	repo := reg.Host + "/keyless/app"
	now := time.Now()
	sig := sourcetest.NewTestSigstore(t, now)
	other := sourcetest.NewTestSigstore(t, now)
	otherLog, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	const issuer, subject = "https://token.actions.githubusercontent.test", "https://github.test/org/app/.github/workflows/release.yaml@refs/heads/main"
	id := sourcetest.KeylessSignature{Issuer: issuer, Subject: subject}
	with := func(edit func(*sourcetest.KeylessSignature)) sourcetest.KeylessSignature {
		o := id
		edit(&o)
		return o
	}

	pushTagged(t, repo, "unsigned")
	signed := pushTagged(t, repo, "signed")
	sig.Sign(t, signed, id)
	sig.Sign(t, pushTagged(t, repo, "email"), with(func(o *sourcetest.KeylessSignature) { o.Subject = "release@example.test" }))
	sig.Sign(t, pushTagged(t, repo, "tampered"), with(func(o *sourcetest.KeylessSignature) {
		o.Edit = func(p []byte) []byte {
			return bytes.Replace(p, []byte(`"optional":null`), []byte(`"optional":{"x":"y"}`), 1)
		}
	}))
	other.Sign(t, pushTagged(t, repo, "other-root"), id)
	sig.Sign(t, pushTagged(t, repo, "no-bundle"), with(func(o *sourcetest.KeylessSignature) { o.NoBundle = true }))
	sig.Sign(t, pushTagged(t, repo, "no-sct"), with(func(o *sourcetest.KeylessSignature) { o.NoSCT = true }))
	sig.Sign(t, pushTagged(t, repo, "late-entry"), with(func(o *sourcetest.KeylessSignature) { o.IntegratedTime = now.Add(time.Hour) }))
	// cosign v3: Sigstore bundles as OCI referrers.
	v3 := pushTagged(t, repo, "v3")
	sig.SignBundle(t, v3, id)
	sig.SignBundle(t, pushTagged(t, repo, "v3-tampered"), with(func(o *sourcetest.KeylessSignature) {
		o.Edit = func(p []byte) []byte {
			return bytes.Replace(p, []byte(`"predicate":{}`), []byte(`"predicate":{"x":1}`), 1)
		}
	}))
	sig.SignBundle(t, pushTagged(t, repo, "v3-rekor-v2"), with(func(o *sourcetest.KeylessSignature) { o.NoBundle = true }))
	other.SignBundle(t, pushTagged(t, repo, "v3-other-root"), id)
	// A key-signed artifact has no certificate: not a keyless signature.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sourcetest.CosignSign(t, pushTagged(t, repo, "key-signed"), key, nil)

	f := newFetcher(t, secretStore{
		"root":           opaqueSecret("root", map[string][]byte{"trusted_root.json": sig.TrustedRootJSON(t, nil)}),
		"root-other-ca":  opaqueSecret("root-other-ca", map[string][]byte{"trusted_root.json": other.TrustedRootJSON(t, sig.RekorKey)}),
		"root-other-log": opaqueSecret("root-other-log", map[string][]byte{"trusted_root.json": sig.TrustedRootJSON(t, otherLog)}),
		"no-root":        opaqueSecret("no-root", map[string][]byte{"root.json": []byte("{}")}),
		"bad-root":       opaqueSecret("bad-root", map[string][]byte{"trusted_root.json": []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`)}),
	})
	keyless := func(root string, ids ...sourcev1.OIDCIdentityMatch) sourcev1.OCIRepositoryVerification {
		if ids == nil {
			ids = []sourcev1.OIDCIdentityMatch{{Issuer: "^https://token.actions.githubusercontent.test$", Subject: "^https://github.test/org/app/"}}
		}
		return sourcev1.OCIRepositoryVerification{Provider: "cosign", MatchOIDCIdentity: ids, TrustedRootSecretRef: secretRef(root)}
	}
	failed := "failed to verify the signature using provider 'cosign keyless': no matching signatures were found"
	cases := []verifyCase{
		{name: "verified", tag: "signed", verify: keyless("root"), want: []string{"verified signature of revision " + signed.DigestStr()}},
		{name: "one of several identities", tag: "email", verify: keyless("root",
			sourcev1.OIDCIdentityMatch{Issuer: "nope", Subject: ".*"}, sourcev1.OIDCIdentityMatch{Issuer: "githubusercontent", Subject: "^release@example[.]test$"}),
			want: []string{"verified signature"}},
		{name: "tampered", tag: "tampered", verify: keyless("root"), reason: sourcev1.VerificationError,
			want: []string{failed, "the Rekor entry records another payload digest"}},
		{name: "wrong identity", tag: "signed", reason: sourcev1.VerificationError,
			verify: keyless("root", sourcev1.OIDCIdentityMatch{Issuer: issuer, Subject: "^https://github.test/org/other/"}),
			want:   []string{failed, "matches no matchOIDCIdentity", `subject "` + subject + `"`}},
		{name: "wrong issuer", tag: "signed", reason: sourcev1.VerificationError,
			verify: keyless("root", sourcev1.OIDCIdentityMatch{Issuer: "^https://accounts.google.test$", Subject: ".*"}),
			want:   []string{"matches no matchOIDCIdentity"}},
		{name: "unsigned", tag: "unsigned", verify: keyless("root"), reason: sourcev1.VerificationError,
			want: []string{"provider 'cosign keyless'", "no cosign signature found", ".sig is missing"}},
		{name: "wrong root", tag: "other-root", verify: keyless("root"), reason: sourcev1.VerificationError,
			want: []string{failed, "is not among the trusted root's tlogs"}},
		{name: "wrong Fulcio root", tag: "signed", verify: keyless("root-other-ca"), reason: sourcev1.VerificationError,
			want: []string{failed, "the certificate does not chain to the trusted root"}},
		{name: "log not trusted", tag: "signed", verify: keyless("root-other-log"), reason: sourcev1.VerificationError,
			want: []string{"is not among the trusted root's tlogs"}},
		{name: "no bundle", tag: "no-bundle", verify: keyless("root"), reason: sourcev1.VerificationError,
			want: []string{"no dev.sigstore.cosign/bundle annotation", "online Rekor lookup, which converge does not do"}},
		{name: "no SCT", tag: "no-sct", verify: keyless("root"), reason: sourcev1.VerificationError,
			want: []string{"the certificate has no embedded SCT"}},
		{name: "entry after the certificate expired", tag: "late-entry", verify: keyless("root"), reason: sourcev1.VerificationError,
			want: []string{"the certificate was not valid at the entry's integrated time"}},
		{name: "key-signed", tag: "key-signed", verify: keyless("root"), reason: sourcev1.VerificationError,
			want: []string{"no dev.sigstore.cosign/certificate annotation: not a keyless signature"}},
		{name: "v3 bundle verified", tag: "v3", verify: keyless("root"), want: []string{"verified signature of revision " + v3.DigestStr()}},
		{name: "v3 bundle wrong identity", tag: "v3", reason: sourcev1.VerificationError,
			verify: keyless("root", sourcev1.OIDCIdentityMatch{Issuer: issuer, Subject: "^someone@example[.]test$"}),
			want:   []string{"among its Sigstore bundles", "matches no matchOIDCIdentity"}},
		{name: "v3 bundle tampered", tag: "v3-tampered", verify: keyless("root"), reason: sourcev1.VerificationError,
			want: []string{"among its Sigstore bundles", "the Rekor entry records another payload digest"}},
		{name: "v3 bundle wrong root", tag: "v3-other-root", verify: keyless("root"), reason: sourcev1.VerificationError,
			want: []string{"among its Sigstore bundles", "is not among the trusted root's tlogs"}},
		{name: "v3 bundle without inclusion promise", tag: "v3-rekor-v2", verify: keyless("root"), reason: sourcev1.VerificationError,
			want: []string{"no transparency log entry with an inclusion promise (entries: dsse 0.0.2)", "not supported yet"}},
		{name: "bad expression", tag: "signed", verify: keyless("root", sourcev1.OIDCIdentityMatch{Issuer: "(", Subject: ".*"}),
			reason: sourcev1.VerificationError, want: []string{"spec.verify.matchOIDCIdentity[0].issuer: error parsing regexp"}},
		{name: "no trusted_root.json", tag: "signed", verify: keyless("no-root"), reason: sourcev1.VerificationError,
			want: []string{"spec.verify.trustedRootSecretRef: 'trusted_root.json' not found in Secret flux-system/no-root"}},
		{name: "trusted root without CA", tag: "signed", verify: keyless("bad-root"), reason: sourcev1.VerificationError,
			want: []string{"Secret flux-system/bad-root key trusted_root.json: no certificateAuthorities"}},
		{name: "missing trusted root Secret", tag: "signed", verify: keyless("missing"), reason: sourcev1.VerificationError,
			want: []string{"spec.verify.trustedRootSecretRef: reading Secret flux-system/missing"}},
	}
	runVerifyCases(t, f, repo, cases)
}

// TestFetchVerifyNotation fetches artifacts signed by a test notation signer (a CA and a code
// signing leaf; JWS envelopes pushed as OCI referrers, through the referrers tag since Debian's
// docker-registry has no referrers API), verified with trust policies and the CA from a Secret.
func TestFetchVerifyNotation(t *testing.T) {
	reg := sourcetest.StartRegistry(t, "")
	repo := reg.Host + "/notation/app"
	now := time.Now()
	subject := pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"converge"}, CommonName: "release"}
	notary := sourcetest.NewTestNotary(t, subject, now)
	stranger := sourcetest.NewTestNotary(t, subject, now)

	pushTagged(t, repo, "unsigned")
	signed := pushTagged(t, repo, "signed")
	notary.Sign(t, signed, sourcetest.NotarySignature{})
	notary.Sign(t, pushTagged(t, repo, "tampered"), sourcetest.NotarySignature{Edit: func(p []byte) []byte {
		return bytes.Replace(p, []byte(`"size":`), []byte(`"size":1`), 1)
	}})
	stranger.Sign(t, pushTagged(t, repo, "other-ca"), sourcetest.NotarySignature{})
	notary.Sign(t, pushTagged(t, repo, "expired"), sourcetest.NotarySignature{Expiry: now.Add(-time.Minute)})
	cose := pushTagged(t, repo, "cose")
	notary.Sign(t, cose, sourcetest.NotarySignature{MediaType: "application/cose"})
	notary.Sign(t, pushTagged(t, repo, "cose-tampered"), sourcetest.NotarySignature{MediaType: "application/cose", Edit: func(p []byte) []byte {
		return bytes.Replace(p, []byte(`"size":`), []byte(`"size":1`), 1)
	}})
	notary.Sign(t, pushTagged(t, repo, "cose-expired"), sourcetest.NotarySignature{MediaType: "application/cose", Expiry: now.Add(-time.Minute)})

	policy := func(level, identity string, override string) []byte {
		if override != "" {
			override = `,"override":` + override
		}
		return []byte(`{"version":"1.0","trustPolicies":[{"name":"apps","registryScopes":["` + repo + `"],
			"signatureVerification":{"level":"` + level + `"` + override + `},"trustStores":["ca:apps"],"trustedIdentities":["` + identity + `"]}]}`)
	}
	const ident = "x509.subject: C=US, ST=WA, O=converge, CN=release"
	secret := func(name string, tp []byte) *corev1.Secret {
		return opaqueSecret(name, map[string][]byte{"trustpolicy.json": tp, "ca.crt": notary.CAPEM()})
	}
	f := newFetcher(t, secretStore{
		"strict":        secret("strict", policy("strict", ident, "")),
		"any":           secret("any", policy("strict", "*", "")),
		"other-subject": secret("other-subject", policy("strict", "x509.subject: C=US, ST=WA, O=someone else", "")),
		"audit-other":   secret("audit-other", policy("audit", "x509.subject: C=US, ST=WA, O=someone else", "")),
		"permissive":    secret("permissive", policy("permissive", ident, "")),
		"skip":          secret("skip", policy("skip", "*", "")),
		"expiry-logged": secret("expiry-logged", policy("strict", ident, `{"expiry":"log"}`)),
		"other-scope": secret("other-scope", []byte(`{"version":"1.0","trustPolicies":[{"name":"x","registryScopes":["registry.test/x"],
			"signatureVerification":{"level":"strict"},"trustStores":["ca:x"],"trustedIdentities":["*"]}]}`)),
		"bad-policy": secret("bad-policy", policy("lenient", "*", "")),
		"no-certs":   opaqueSecret("no-certs", map[string][]byte{"trustpolicy.json": policy("strict", "*", "")}),
	})
	f.Store.Clock = clocktesting.NewFakePassiveClock(now)
	notation := func(secret string) sourcev1.OCIRepositoryVerification {
		return sourcev1.OCIRepositoryVerification{Provider: "notation", SecretRef: secretRef(secret)}
	}
	failed := "failed to verify the signature using provider 'notation': signature verification failed for all the signatures associated with"
	cases := []verifyCase{
		{name: "verified", tag: "signed", verify: notation("strict"), want: []string{"verified signature of revision " + signed.DigestStr()}},
		{name: "any identity", tag: "signed", verify: notation("any"), want: []string{"verified signature"}},
		{name: "permissive", tag: "signed", verify: notation("permissive"), want: []string{"verified signature"}},
		{name: "expired but expiry only logged", tag: "expired", verify: notation("expiry-logged"), want: []string{"verified signature"}},
		{name: "tampered", tag: "tampered", verify: notation("strict"), reason: sourcev1.VerificationError,
			want: []string{failed, "integrity check failed: the envelope signature does not verify"}},
		{name: "wrong identity", tag: "signed", verify: notation("other-subject"), reason: sourcev1.VerificationError,
			want: []string{failed, `authenticity check failed: the signing certificate's subject "CN=release,O=converge,ST=WA,C=US" is not among the trusted identities`}},
		{name: "wrong identity audited", tag: "signed", verify: notation("audit-other"), unverified: true},
		{name: "skip", tag: "unsigned", verify: notation("skip"), unverified: true},
		{name: "unsigned", tag: "unsigned", verify: notation("strict"), reason: sourcev1.VerificationError,
			want: []string{"no signature is associated with", "make sure the artifact was signed successfully"}},
		{name: "wrong root", tag: "other-ca", verify: notation("strict"), reason: sourcev1.VerificationError,
			want: []string{"authenticity check failed: the signature's certificate chain (root \"CN=test notary CA,O=test notary,ST=WA,C=US\") holds no certificate of the trust store"}},
		{name: "expired", tag: "expired", verify: notation("strict"), reason: sourcev1.VerificationError,
			want: []string{"expiry check failed: the signature expired at"}},
		{name: "COSE", tag: "cose", verify: notation("strict"), want: []string{"verified signature of revision " + cose.DigestStr()}},
		{name: "COSE tampered", tag: "cose-tampered", verify: notation("strict"), reason: sourcev1.VerificationError,
			want: []string{"integrity check failed: the envelope signature does not verify"}},
		{name: "COSE expired", tag: "cose-expired", verify: notation("strict"), reason: sourcev1.VerificationError,
			want: []string{"expiry check failed: the signature expired at"}},
		{name: "no applicable policy", tag: "signed", verify: notation("other-scope"), reason: sourcev1.VerificationError,
			want: []string{`artifact "` + repo + `" has no applicable trust policy statement in trustpolicy.json`}},
		{name: "bad policy", tag: "signed", verify: notation("bad-policy"), reason: sourcev1.VerificationError,
			want: []string{`spec.verify.secretRef: Secret flux-system/bad-policy: trustpolicy.json: trust policy "apps": signatureVerification.level "lenient"`}},
		{name: "no certificates", tag: "signed", verify: notation("no-certs"), reason: sourcev1.VerificationError,
			want: []string{"no certificates found in Secret flux-system/no-certs"}},
		{name: "no secret", tag: "signed", verify: sourcev1.OCIRepositoryVerification{Provider: "notation"}, reason: sourcev1.VerificationError,
			want: []string{"spec.verify.secretRef: notation needs a Secret with trustpolicy.json"}},
	}
	runVerifyCases(t, f, repo, cases)
}
