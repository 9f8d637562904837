package fetch_test

import (
	"context"
	"crypto/x509/pkix"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/fetch"
	"github.com/converge-gitops/converge/engine/helmrelease/helmtest"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/helmchart"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// TestResolveChartVerifiesNotation: a HelmRelease's spec.chart.spec.verify with provider notation: the
// chart signed by the test notation signer (JWS referrer in Debian's docker-registry) under the
// Secret's CA installs; one signed under another CA and an unsigned one are refused naming the field.
func TestResolveChartVerifiesNotation(t *testing.T) {
	reg := sourcetest.StartRegistry(t, "")
	now := time.Now()
	subject := pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"converge"}}
	notary := sourcetest.NewTestNotary(t, subject, now)
	stranger := sourcetest.NewTestNotary(t, subject, now)
	archive := helmtest.Package(t, helmtest.ChartDir("simple"), nil)
	for repo, signer := range map[string]*sourcetest.TestNotary{"signed": notary, "unsigned": nil, "stranger": stranger} {
		digest := helmtest.Push(t, reg.Host+"/"+repo+"/simple:0.1.0", archive)
		if signer == nil {
			continue
		}
		d, err := name.NewDigest(reg.Host + "/" + repo + "/simple@" + digest)
		if err != nil {
			t.Fatal(err)
		}
		signer.Sign(t, d, sourcetest.NotarySignature{})
	}
	store, err := source.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sec := secrets{"apps/notation": {ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "notation"},
		Data: map[string][]byte{"ca.crt": notary.CAPEM(), "trustpolicy.json": []byte(`{"version":"1.0","trustPolicies":[{"name":"all",
			"registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:all"],"trustedIdentities":["*"]}]}`)}}}
	charts := &fetch.Charts{Sources: &fetch.Resolver{Local: map[string]string{}, Remote: fetch.NewFetchers(store, sec).Dir},
		Fetcher: helmchart.New(store, sec)}
	release := func(repo string) *helmv2.HelmRelease {
		hr := &helmv2.HelmRelease{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "web-" + repo}}
		hr.Spec.Chart = &helmv2.HelmChartTemplate{Spec: helmv2.HelmChartTemplateSpec{Chart: "simple", Version: "0.1.0",
			SourceRef: helmv2.CrossNamespaceObjectReference{Kind: "HelmRepository", Name: repo},
			Verify:    &helmv2.HelmChartTemplateVerification{Provider: "notation", SecretRef: &meta.LocalObjectReference{Name: "notation"}}}}
		return hr
	}
	repos := map[string]*sourcev1.HelmRepository{}
	for _, repo := range []string{"signed", "unsigned", "stranger"} {
		repos[repo] = &sourcev1.HelmRepository{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: repo},
			Spec: sourcev1.HelmRepositorySpec{URL: "oci://" + reg.Host + "/" + repo, Type: sourcev1.HelmRepositoryTypeOCI, Insecure: true}}
	}
	declared := declare(repos["signed"], repos["unsigned"], repos["stranger"])

	chrt, _, err := charts.ResolveChart(context.Background(), release("signed"), declared)
	if err != nil || chrt.Metadata.Version != "0.1.0" {
		t.Fatalf("signed chart: %v, %v", chrt, err)
	}
	for repo, want := range map[string]string{"unsigned": "no signature is associated with", "stranger": "holds no certificate of the trust store"} {
		chrt, _, err := charts.ResolveChart(context.Background(), release(repo), declared)
		if err == nil || chrt != nil || !strings.HasPrefix(err.Error(), "spec.chart.spec.verify: the chart is not installed unverified: HelmChart/apps/apps-web-"+repo) ||
			!strings.Contains(err.Error(), want) {
			t.Errorf("%s chart: %v, error %v, want %q", repo, chrt, err, want)
		}
	}
}
