package fetch_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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

// secrets serves fixed Secrets.
type secrets map[string]*corev1.Secret

func (s secrets) GetSecret(_ context.Context, namespace, n string) (*corev1.Secret, error) {
	if sec, ok := s[namespace+"/"+n]; ok {
		return sec, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("secrets"), n)
}

// TestResolveChartVerifies: a HelmRelease's spec.chart.spec.verify reaches its HelmChart: the chart signed
// (cosign format) in Debian's docker-registry with the Secret's key installs; unsigned and wrongly signed
// ones are refused naming the field, so build, diff, apply and the agent never install them.
func TestResolveChartVerifies(t *testing.T) {
	reg := sourcetest.StartRegistry(t, "")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	archive := helmtest.Package(t, helmtest.ChartDir("simple"), nil)
	for repo, signer := range map[string]*ecdsa.PrivateKey{"signed": key, "unsigned": nil, "wrong": other} {
		digest := helmtest.Push(t, reg.Host+"/"+repo+"/simple:0.1.0", archive)
		if signer == nil {
			continue
		}
		d, err := name.NewDigest(reg.Host + "/" + repo + "/simple@" + digest)
		if err != nil {
			t.Fatal(err)
		}
		sourcetest.CosignSign(t, d, signer, nil)
	}
	store, err := source.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sec := secrets{"apps/cosign": {ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "cosign"},
		Data: map[string][]byte{"cosign.pub": sourcetest.PublicKeyPEM(t, key)}}}
	charts := &fetch.Charts{Sources: &fetch.Resolver{Local: map[string]string{}, Remote: fetch.NewFetchers(store, sec).Dir},
		Fetcher: helmchart.New(store, sec)}
	release := func(repo string) *helmv2.HelmRelease {
		hr := &helmv2.HelmRelease{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "web-" + repo}}
		hr.Spec.Chart = &helmv2.HelmChartTemplate{Spec: helmv2.HelmChartTemplateSpec{Chart: "simple", Version: "0.1.0",
			SourceRef: helmv2.CrossNamespaceObjectReference{Kind: "HelmRepository", Name: repo},
			Verify:    &helmv2.HelmChartTemplateVerification{Provider: "cosign", SecretRef: &meta.LocalObjectReference{Name: "cosign"}}}}
		return hr
	}
	repos := map[string]*sourcev1.HelmRepository{}
	for _, repo := range []string{"signed", "unsigned", "wrong"} {
		repos[repo] = &sourcev1.HelmRepository{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: repo},
			Spec: sourcev1.HelmRepositorySpec{URL: "oci://" + reg.Host + "/" + repo, Type: sourcev1.HelmRepositoryTypeOCI, Insecure: true}}
	}
	declared := declare(repos["signed"], repos["unsigned"], repos["wrong"])

	chrt, _, err := charts.ResolveChart(context.Background(), release("signed"), declared)
	if err != nil || chrt.Metadata.Version != "0.1.0" {
		t.Fatalf("signed chart: %v, %v", chrt, err)
	}
	for repo, want := range map[string]string{"unsigned": "no cosign signature found", "wrong": "the signature does not verify with any key"} {
		chrt, _, err := charts.ResolveChart(context.Background(), release(repo), declared)
		if err == nil || chrt != nil || !strings.HasPrefix(err.Error(), "spec.chart.spec.verify: the chart is not installed unverified: HelmChart/apps/apps-web-"+repo) ||
			!strings.Contains(err.Error(), want) {
			t.Errorf("%s chart: %v, error %v, want %q", repo, chrt, err, want)
		}
	}
}

// verifyKeys holds the Secret flux-system/keys with an SSH public key that signed nothing.
func verifyKeys(t *testing.T) secrets {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return secrets{"flux-system/keys": {ObjectMeta: metav1.ObjectMeta{Namespace: "flux-system", Name: "keys"},
		Data: map[string][]byte{"signer.sshpub": ssh.MarshalAuthorizedKey(sshPub)}}}
}
