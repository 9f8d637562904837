package fetch_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/build"
	"github.com/converge-gitops/converge/engine/fetch"
	"github.com/converge-gitops/converge/engine/helmrelease"
	"github.com/converge-gitops/converge/engine/helmrelease/helmtest"
	"github.com/converge-gitops/converge/engine/manifest"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/helmchart"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

const helmChartMediaType = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

// withVersionTemplate adds a template that shows .Chart.Version, the version helm-controller installs.
func withVersionTemplate(c *chart.Chart) {
	c.Templates = append(c.Templates, &common.File{Name: "templates/version.yaml", Data: []byte(`apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-version
data:
  version: {{ .Chart.Version | quote }}
`)})
}

func newCharts(t *testing.T, local map[string]string) *fetch.Charts {
	t.Helper()
	store, err := source.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := fetch.NewFetchers(store, nil)
	if local == nil {
		local = map[string]string{}
	}
	return &fetch.Charts{Sources: &fetch.Resolver{Local: local, Remote: f.Dir}, Fetcher: helmchart.New(store, nil)}
}

func ociRepository(ns, name, url, tag string, layer *sourcev1.OCILayerSelector) *sourcev1.OCIRepository {
	return &sourcev1.OCIRepository{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Generation: 1},
		Spec: sourcev1.OCIRepositorySpec{URL: url, Insecure: true, Reference: &sourcev1.OCIRepositoryRef{Tag: tag},
			LayerSelector: layer, Interval: metav1.Duration{Duration: 1e9}},
	}
}

func chartRefRelease(ns, name, kind, refName string) *helmv2.HelmRelease {
	hr := &helmv2.HelmRelease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	hr.Spec.ChartRef = &helmv2.CrossNamespaceSourceReference{Kind: kind, Name: refName}
	return hr
}

func declare(objs ...runtime.Object) map[string]runtime.Object {
	out := map[string]runtime.Object{}
	for _, o := range objs {
		m := o.(metav1.Object)
		kind := ""
		switch o.(type) {
		case *sourcev1.OCIRepository:
			kind = sourcev1.OCIRepositoryKind
		case *sourcev1.HelmChart:
			kind = sourcev1.HelmChartKind
		case *sourcev1.HelmRepository:
			kind = sourcev1.HelmRepositoryKind
		case *sourcev1.ExternalArtifact:
			kind = sourcev1.ExternalArtifactKind
		}
		out[kind+"/"+m.GetNamespace()+"/"+m.GetName()] = o
	}
	return out
}

// TestResolveChartRefOCIRepository: a chart pushed with Helm's registry client to a real registry and
// referenced through an OCIRepository, its layer kept as is (copy) or extracted (the default): the chart
// version carries the manifest digest as build metadata, as helm-controller installs it.
func TestResolveChartRefOCIRepository(t *testing.T) {
	reg := sourcetest.StartRegistry(t, "")
	archive := helmtest.Package(t, helmtest.ChartDir("simple"), withVersionTemplate)
	digest := helmtest.Push(t, reg.Host+"/charts/simple:0.1.0", archive)
	for _, tc := range []struct {
		name  string
		layer *sourcev1.OCILayerSelector
	}{
		{"copy", &sourcev1.OCILayerSelector{MediaType: helmChartMediaType, Operation: sourcev1.OCILayerCopy}},
		{"extract", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			charts := newCharts(t, nil)
			oci := ociRepository("apps", "simple", "oci://"+reg.Host+"/charts/simple", "0.1.0", tc.layer)
			chrt, got, err := charts.ResolveChart(context.Background(), chartRefRelease("apps", "web", "OCIRepository", "simple"), declare(oci))
			if err != nil {
				t.Fatal(err)
			}
			if got != digest {
				t.Errorf("digest %q, want the manifest digest %q", got, digest)
			}
			if want := "0.1.0+" + strings.TrimPrefix(digest, "sha256:")[:12]; chrt.Metadata.Version != want || chrt.Name() != "simple" {
				t.Errorf("chart %s@%s, want simple@%s", chrt.Name(), chrt.Metadata.Version, want)
			}
		})
	}
}

// TestResolveChartRefErrors: what cannot be a chart says why, naming the reference.
func TestResolveChartRefErrors(t *testing.T) {
	notChart := t.TempDir()
	if err := os.WriteFile(filepath.Join(notChart, "deploy.yaml"), []byte("kind: ConfigMap\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	charts := newCharts(t, map[string]string{"ExternalArtifact/apps/files": notChart})
	for _, tc := range []struct {
		hr   *helmv2.HelmRelease
		want string
	}{
		{chartRefRelease("apps", "a", "ExternalArtifact", "files"), "chartRef ExternalArtifact/apps/files: the artifact holds no Helm chart"},
		{chartRefRelease("apps", "b", "HelmChart", "missing"), "chartRef: HelmChart/apps/missing is not defined in the build or the cluster"},
		{chartRefRelease("apps", "c", "GitRepository", "x"), `chartRef kind "GitRepository" is not one of OCIRepository, HelmChart, ExternalArtifact`},
		{&helmv2.HelmRelease{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "d"}}, "neither spec.chart nor spec.chartRef is set"},
	} {
		_, _, err := charts.ResolveChart(context.Background(), tc.hr, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.hr.Name, err, tc.want)
		}
	}
}

// TestResolveChartRefHelmChartAndExternalArtifact: a HelmChart object from a real chart repository (an
// HTTP server with an index and the packaged chart), one from a Git folder, and an ExternalArtifact
// whose files are a chart; none of them is digest-tracked.
func TestResolveChartRefHelmChartAndExternalArtifact(t *testing.T) {
	archive := helmtest.Package(t, helmtest.ChartDir("simple"), func(c *chart.Chart) { c.Metadata.Version = "0.3.0" })
	srv := helmtest.NewRepository(t)
	srv.Publish(t, "simple", map[string][]byte{"0.3.0": archive})
	charts := newCharts(t, map[string]string{
		"GitRepository/apps/charts":   filepath.Dir(helmtest.ChartDir("simple")),
		"ExternalArtifact/apps/files": helmtest.ChartDir("simple"),
	})
	helmRepo := &sourcev1.HelmRepository{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "repo"},
		Spec: sourcev1.HelmRepositorySpec{URL: srv.URL, Interval: metav1.Duration{Duration: 1e9}}}
	fromRepo := &sourcev1.HelmChart{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "from-repo", Generation: 1},
		Spec: sourcev1.HelmChartSpec{Chart: "simple", Version: "0.3.x",
			SourceRef: sourcev1.LocalHelmChartSourceReference{Kind: "HelmRepository", Name: "repo"}}}
	fromGit := &sourcev1.HelmChart{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "from-git", Generation: 1},
		Spec: sourcev1.HelmChartSpec{Chart: "./simple",
			SourceRef: sourcev1.LocalHelmChartSourceReference{Kind: "GitRepository", Name: "charts"}}}
	declared := declare(helmRepo, fromRepo, fromGit)
	for _, tc := range []struct {
		kind, name, version string
	}{
		{"HelmChart", "from-repo", "0.3.0"},
		{"HelmChart", "from-git", "0.1.0"},
		{"ExternalArtifact", "files", "0.1.0"},
	} {
		chrt, digest, err := charts.ResolveChart(context.Background(), chartRefRelease("apps", "web", tc.kind, tc.name), declared)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.kind, tc.name, err)
		}
		if chrt.Metadata.Version != tc.version || digest != "" {
			t.Errorf("%s %s: version %s digest %q, want %s and no digest", tc.kind, tc.name, chrt.Metadata.Version, digest, tc.version)
		}
	}
}

// TestBuildTreeChartRef: `converge build` of a tree declaring an OCIRepository and a HelmRelease with
// spec.chartRef renders the chart from the registry with the digest-tracked version, and the node carries
// the digest for the release.
func TestBuildTreeChartRef(t *testing.T) {
	reg := sourcetest.StartRegistry(t, "")
	digest := helmtest.Push(t, reg.Host+"/charts/simple:0.1.0", helmtest.Package(t, helmtest.ChartDir("simple"), withVersionTemplate))
	root := t.TempDir()
	dir := filepath.Join(root, "clusters", "test")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	release := `apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: simple
  namespace: apps
spec:
  interval: 10m
  url: oci://` + reg.Host + `/charts/simple
  insecure: true
  ref:
    tag: 0.1.0
  layerSelector:
    mediaType: ` + helmChartMediaType + `
    operation: copy
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: web
  namespace: apps
spec:
  interval: 10m
  chartRef:
    kind: OCIRepository
    name: simple
  values:
    message: from-oci
`
	if err := os.WriteFile(filepath.Join(dir, "release.yaml"), []byte(release), 0o644); err != nil {
		t.Fatal(err)
	}
	dec, err := manifest.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	charts := newCharts(t, map[string]string{build.DefaultRootSource: root})
	b := &build.Builder{Strict: true}
	b.Helm = &helmrelease.Renderer{KustomizeLock: b.KustomizeLock()}
	tree, err := b.BuildTree(context.Background(), dec, build.TreeOptions{Root: root, Path: "clusters/test", Sources: charts.Sources, Charts: charts})
	if err != nil {
		t.Fatal(err)
	}
	if err := tree.Err(); err != nil {
		t.Fatal(err)
	}
	var node *build.Node
	for _, n := range tree.Nodes {
		if n.Kind == build.KindHelmRelease {
			node = n
		}
	}
	if node == nil || node.Name != "apps/web" {
		t.Fatalf("no HelmRelease node in %d nodes", len(tree.Nodes))
	}
	if node.ChartDigest != digest {
		t.Errorf("node digest %q, want %q", node.ChartDigest, digest)
	}
	want := "0.1.0+" + strings.TrimPrefix(digest, "sha256:")[:12]
	found := map[string]string{}
	for _, o := range node.Objects {
		if o.GetKind() == "ConfigMap" {
			data, _, _ := unstructuredData(o.Object)
			found[o.GetName()] = data["version"] + data["message"]
		}
	}
	if found["web-version"] != want || found["web-config"] != "from-oci" {
		t.Errorf("rendered ConfigMaps %v, want web-version %s and web-config from-oci", found, want)
	}
}

func unstructuredData(obj map[string]any) (map[string]string, bool, error) {
	out := map[string]string{}
	m, ok := obj["data"].(map[string]any)
	for k, v := range m {
		s, _ := v.(string)
		out[k] = s
	}
	return out, ok, nil
}

// TestResolveChartRefExternalArtifactDownload: an ExternalArtifact's artifact is downloaded from its
// status.artifact.url (a real HTTP server), checked against its digest and loaded as a chart; its
// digest revision is tracked in the chart version as helm-controller does. A wrong digest is refused.
func TestResolveChartRefExternalArtifactDownload(t *testing.T) {
	archive := helmtest.Package(t, helmtest.ChartDir("simple"), nil)
	sum := sha256.Sum256(archive)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	mux := http.NewServeMux()
	downloads := 0
	mux.HandleFunc("/externalartifact/apps/chart/latest.tar.gz", func(w http.ResponseWriter, _ *http.Request) {
		downloads++
		_, _ = w.Write(archive)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	revision := "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	ea := func(name, digest string) *sourcev1.ExternalArtifact {
		return &sourcev1.ExternalArtifact{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name},
			Status: sourcev1.ExternalArtifactStatus{Artifact: &meta.Artifact{URL: srv.URL + "/externalartifact/apps/chart/latest.tar.gz",
				Digest: digest, Revision: revision}}}
	}
	charts := newCharts(t, nil)
	declared := declare(ea("chart", digest), ea("tampered", "sha256:"+strings.Repeat("0", 64)))
	for i := 0; i < 2; i++ {
		chrt, got, err := charts.ResolveChart(context.Background(), chartRefRelease("apps", "web", "ExternalArtifact", "chart"), declared)
		if err != nil {
			t.Fatal(err)
		}
		if got != revision || chrt.Metadata.Version != "0.1.0+0123456789ab" {
			t.Fatalf("digest %q version %s", got, chrt.Metadata.Version)
		}
	}
	if downloads != 1 {
		t.Errorf("%d downloads, want 1 (the stored artifact reused)", downloads)
	}
	_, _, err := charts.ResolveChart(context.Background(), chartRefRelease("apps", "web", "ExternalArtifact", "tampered"), declared)
	if err == nil || !strings.Contains(err.Error(), "does not match sha256:0000") {
		t.Fatalf("tampered artifact: %v", err)
	}
}

// TestResolveChartRefusesVerify: a HelmRelease whose chart from an HTTP repository must be verified is
// refused, with the reason, before the chart is downloaded (only OCI charts carry cosign signatures), and the same chart without spec.chart.spec.verify installs: build,
// diff, apply and the agent all load charts here, so none of them installs it unverified.
func TestResolveChartRefusesVerify(t *testing.T) {
	archive := helmtest.Package(t, helmtest.ChartDir("simple"), func(c *chart.Chart) { c.Metadata.Version = "0.3.0" })
	srv := helmtest.NewRepository(t)
	srv.Publish(t, "simple", map[string][]byte{"0.3.0": archive})
	charts := newCharts(t, nil)
	helmRepo := &sourcev1.HelmRepository{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "repo"},
		Spec: sourcev1.HelmRepositorySpec{URL: srv.URL, Interval: metav1.Duration{Duration: 1e9}}}
	release := func(verify *helmv2.HelmChartTemplateVerification) *helmv2.HelmRelease {
		hr := &helmv2.HelmRelease{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "web"}}
		hr.Spec.Chart = &helmv2.HelmChartTemplate{Spec: helmv2.HelmChartTemplateSpec{Chart: "simple", Version: "0.3.0",
			SourceRef: helmv2.CrossNamespaceObjectReference{Kind: "HelmRepository", Name: "repo"}, Verify: verify}}
		return hr
	}
	for _, provider := range []string{"cosign", "notation"} {
		chrt, _, err := charts.ResolveChart(context.Background(), release(&helmv2.HelmChartTemplateVerification{Provider: provider}), declare(helmRepo))
		want := "spec.chart.spec.verify: the chart is not installed unverified: HelmChart/apps/apps-web: spec.verify: signatures are verified only for charts from an OCI HelmRepository (type oci)"
		if err == nil || !strings.HasPrefix(err.Error(), want) || chrt != nil {
			t.Errorf("%s: chart %v, error %v\nwant the error %s", provider, chrt, err, want)
		}
	}
	if n := srv.Downloads(); n != 0 {
		t.Errorf("a chart to verify was downloaded %d times", n)
	}
	chrt, _, err := charts.ResolveChart(context.Background(), release(nil), declare(helmRepo))
	if err != nil || chrt.Metadata.Version != "0.3.0" {
		t.Fatalf("without verify: chart %v, error %v", chrt, err)
	}
}
