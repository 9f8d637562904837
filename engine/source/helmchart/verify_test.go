package helmchart

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509/pkix"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// TestFetchChartVerify verifies cosign and notation (test notation signer) signatures of charts in
// Debian's docker-registry: a signed version is fetched with SourceVerified's message, unsigned and
// wrongly signed versions, keyless verification (no trusted root in HelmChart's API) and charts from
// other sources are refused with the previous artifact kept.
func TestFetchChartVerify(t *testing.T) {
	reg := sourcetest.StartRegistry(t, "")
	pushCharts(t, reg.Host, "", "", "1.0.0", "2.0.0", "3.0.0")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	digestOf := func(version string) name.Digest {
		ref, err := name.ParseReference(reg.Host + "/charts/podinfo:" + version)
		if err != nil {
			t.Fatal(err)
		}
		desc, err := remote.Head(ref)
		if err != nil {
			t.Fatal(err)
		}
		return ref.Context().Digest(desc.Digest.String())
	}
	sourcetest.CosignSign(t, digestOf("1.0.0"), key, nil)
	sourcetest.CosignSign(t, digestOf("3.0.0"), other, nil)
	subject := pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"converge"}}
	notary := sourcetest.NewTestNotary(t, subject, time.Now())
	notary.Sign(t, digestOf("1.0.0"), sourcetest.NotarySignature{})
	sourcetest.NewTestNotary(t, subject, time.Now()).Sign(t, digestOf("3.0.0"), sourcetest.NotarySignature{})

	secrets := secretMap{}
	secrets.add("cosign", "", map[string]string{"cosign.pub": string(sourcetest.PublicKeyPEM(t, key))})
	secrets.add("notation", "", map[string]string{"ca.pem": string(notary.CAPEM()), "trustpolicy.json": `{"version":"1.0","trustPolicies":[{"name":"charts",
		"registryScopes":["` + reg.Host + `/charts/podinfo"],"signatureVerification":{"level":"strict"},"trustStores":["ca:charts"],
		"trustedIdentities":["x509.subject: C=US, ST=WA, O=converge"]}]}`})
	repoObj := ociRepo("oci", "oci://"+reg.Host+"/charts", true, "")
	f := newFetcher(t, secrets, repoObj)

	withKeys := &sourcev1.HelmChartVerification{Provider: "cosign", SecretRef: &meta.LocalObjectReference{Name: "cosign"}}
	withNotation := &sourcev1.HelmChartVerification{Provider: "notation", SecretRef: &meta.LocalObjectReference{Name: "notation"}}
	tests := []struct {
		name, version, kind string
		verify              *sourcev1.HelmChartVerification
		want                []string // in the message, or in the error when failing
		fail                bool
	}{
		{name: "signed", version: "1.0.0", verify: withKeys, want: []string{"verified signature of version 1.0.0"}},
		{name: "unsigned", version: "2.0.0", verify: withKeys, fail: true,
			want: []string{"chart verification error: failed to verify the signature using provider 'cosign'", "no cosign signature found"}},
		{name: "wrong key", version: "3.0.0", verify: withKeys, fail: true, want: []string{"the signature does not verify with any key"}},
		{name: "keyless", version: "1.0.0", verify: &sourcev1.HelmChartVerification{Provider: "cosign"}, fail: true,
			want: []string{"spec.verify.secretRef is not set", "keyless cosign verification against the public Sigstore instance",
				"is not supported offline: this kind has no trustedRootSecretRef in Flux's API"}},
		{name: "notation", version: "1.0.0", verify: withNotation, want: []string{"verified signature of version 1.0.0"}},
		{name: "notation unsigned", version: "2.0.0", verify: withNotation, fail: true,
			want: []string{"failed to verify the signature using provider 'notation'", "no signature is associated with"}},
		{name: "notation wrong root", version: "3.0.0", verify: withNotation, fail: true,
			want: []string{"authenticity check failed", "holds no certificate of the trust store"}},
		{name: "notation without a trust policy", version: "1.0.0", verify: &sourcev1.HelmChartVerification{Provider: "notation", SecretRef: withKeys.SecretRef}, fail: true,
			want: []string{"spec.verify.secretRef: 'trustpolicy.json' not found in Secret flux-system/cosign"}},
		{name: "chart from Git", version: "1.0.0", kind: sourcev1.GitRepositoryKind, verify: withKeys, fail: true,
			want: []string{"spec.verify: signatures are verified only for charts from an OCI HelmRepository, not from a GitRepository"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objName := "verify-" + strings.ReplaceAll(tt.name, " ", "-")
			ref := source.Ref{Kind: sourcev1.HelmChartKind, Namespace: testNS, Name: objName}
			prev, err := f.FetchChart(context.Background(), helmChart(objName, "podinfo", "2.0.0", sourcev1.HelmRepositoryKind, "oci"))
			if err != nil {
				t.Fatal(err)
			}
			kind := tt.kind
			if kind == "" {
				kind = sourcev1.HelmRepositoryKind
			}
			obj := helmChart(objName, "podinfo", tt.version, kind, "oci")
			obj.Spec.Verify = tt.verify
			for round := 0; round < 2; round++ { // the second fetch reuses the artifact and verifies again
				a, err := f.FetchChart(context.Background(), obj)
				if !tt.fail {
					if err != nil {
						t.Fatal(err)
					}
					if a.Revision != tt.version {
						t.Errorf("revision %q, want %q", a.Revision, tt.version)
					}
					for _, w := range tt.want {
						if !strings.Contains(a.Verified, w) {
							t.Errorf("round %d: message %q does not contain %q", round, a.Verified, w)
						}
					}
					continue
				}
				fe := fetchErr(t, err, ref, sourcev1.VerificationError, tt.want...)
				if !fe.Unverified {
					t.Error("the failure is not marked Unverified")
				}
				if fe.Previous == nil || fe.Previous.Digest != prev.Digest {
					t.Errorf("previous artifact %v, want %v", fe.Previous, prev.Artifact)
				}
			}
		})
	}
}
