package helmchart

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// TestFetchChartVerify verifies cosign signatures of charts in Debian's docker-registry: a signed
// version is fetched with SourceVerified's message, unsigned and wrongly signed versions, keyless
// verification and charts from other sources are refused with the previous artifact kept.
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

	secrets := secretMap{}
	secrets.add("cosign", "", map[string]string{"cosign.pub": string(sourcetest.PublicKeyPEM(t, key))})
	repoObj := ociRepo("oci", "oci://"+reg.Host+"/charts", true, "")
	f := newFetcher(t, secrets, repoObj)

	withKeys := &sourcev1.HelmChartVerification{Provider: "cosign", SecretRef: &meta.LocalObjectReference{Name: "cosign"}}
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
			want: []string{"spec.verify.secretRef is not set", "not supported yet"}},
		{name: "notation", version: "1.0.0", verify: &sourcev1.HelmChartVerification{Provider: "notation", SecretRef: withKeys.SecretRef}, fail: true,
			want: []string{"spec.verify.provider: notation signatures are not supported yet"}},
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
