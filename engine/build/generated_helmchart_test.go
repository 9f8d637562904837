package build

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/converge-gitops/converge/engine/fetch"
	"github.com/converge-gitops/converge/engine/helmrelease"
	"github.com/converge-gitops/converge/engine/helmrelease/helmtest"
	"github.com/converge-gitops/converge/engine/manifest"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/helmchart"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

var _ GeneratorChartResolver = (*fetch.Charts)(nil)

const helmChartGenerator = `apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {name: charts, namespace: flux-system}
spec: {interval: 1h, url: "REPO_URL"}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmChart
metadata: {name: simple, namespace: flux-system}
spec:
  interval: 1h
  chart: simple
  version: "0.3.x"
  sourceRef: {kind: HelmRepository, name: charts}
---
apiVersion: source.extensions.fluxcd.io/v1beta1
kind: ArtifactGenerator
metadata: {name: charts, namespace: flux-system}
spec:
  sources:
    - {alias: chart, kind: HelmChart, name: simple}
    - {alias: repo, kind: GitRepository, name: flux-system}
  artifacts:
    - name: simple-chart
      copy:
        - {from: "@chart/simple/**", to: "@artifact/"}
        - {from: "@repo/values/staging.yaml", to: "@artifact/values.yaml", strategy: Merge}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: simple, namespace: mono}
spec:
  interval: 1h
  chartRef: {kind: ExternalArtifact, name: simple-chart, namespace: flux-system}
`

// TestBuildTreeGeneratorHelmChartSource: an ArtifactGenerator whose source is a HelmChart (of a
// HelmRepository served by a real chart server) builds offline as the agent does it: the chart archive is
// fetched through the HelmChart's spec, merged with the tree's values and rendered by the HelmRelease
// consuming the generated artifact; --local-source HelmChart/ns/name=DIR replaces the fetch; without a
// way to fetch charts, or with the chart unreachable, the error names the generator, the source and the
// --local-source escape.
func TestBuildTreeGeneratorHelmChartSource(t *testing.T) {
	archive := helmtest.Package(t, helmtest.ChartDir("simple"), func(c *chart.Chart) { c.Metadata.Version = "0.3.0" })
	srv := helmtest.NewRepository(t)
	srv.Publish(t, "simple", map[string][]byte{"0.3.0": archive})
	tree := func(t *testing.T, url string) string {
		root := t.TempDir()
		if err := os.CopyFS(root, os.DirFS(monorepo)); err != nil {
			t.Fatal(err)
		}
		for name, data := range map[string]string{
			"values/staging.yaml":          "message: hi from staging\n",
			"clusters/staging/charts.yaml": strings.Replace(helmChartGenerator, "REPO_URL", url, 1),
		} {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(root, name)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return root
	}
	charts := func(t *testing.T, local map[string]string) *fetch.Charts {
		store, err := source.OpenStore(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		f := fetch.NewFetchers(store, nil)
		return &fetch.Charts{Sources: &fetch.Resolver{Local: local, Remote: f.Dir}, Fetcher: helmchart.New(store, nil)}
	}
	dec, err := manifest.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	// release builds root and returns the HelmRelease node's error or its chart version and message.
	release := func(t *testing.T, root string, opts TreeOptions) (version, message string, err error) {
		t.Helper()
		b := &Builder{Strict: true}
		b.Helm = &helmrelease.Renderer{KustomizeLock: b.KustomizeLock()}
		opts.Root, opts.Path = root, "clusters/staging"
		tr, err := b.BuildTree(context.Background(), dec, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range tr.Nodes {
			if n.Kind != KindHelmRelease || n.Name != "mono/simple" {
				continue
			}
			if n.Err != nil {
				return "", "", n.Err
			}
			for _, o := range n.Objects {
				if o.GetKind() == "ConfigMap" && o.GetName() == "simple-config" {
					message, _, _ = unstructured.NestedString(o.Object, "data", "message")
				}
			}
			return n.Chart.Metadata.Version, message, nil
		}
		t.Fatal("no HelmRelease node mono/simple")
		return "", "", nil
	}

	t.Run("fetched from the chart repository", func(t *testing.T) {
		root := tree(t, srv.URL)
		before := srv.Downloads()
		version, message, err := release(t, root, TreeOptions{Sources: dirSources{}, Charts: charts(t, map[string]string{})})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(version, "0.3.0+") || message != "hi from staging" || srv.Downloads() != before+1 {
			t.Fatalf("version %s message %q downloads %d", version, message, srv.Downloads()-before)
		}
	})

	t.Run("local source", func(t *testing.T) {
		// The folder holds the chart's folder, as the chart archive unpacks; nothing is downloaded (the
		// repository URL does not even answer).
		local := t.TempDir()
		if err := os.CopyFS(filepath.Join(local, "simple"), os.DirFS(helmtest.ChartDir("simple"))); err != nil {
			t.Fatal(err)
		}
		dead := "http://127.0.0.1:" + strconv.Itoa(sourcetest.FreePort(t))
		version, message, err := release(t, tree(t, dead), TreeOptions{Sources: dirSources{},
			Charts: charts(t, map[string]string{"HelmChart/flux-system/simple": local})})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(version, "0.1.0+") || message != "hi from staging" {
			t.Fatalf("version %s message %q", version, message)
		}
	})

	dead := "http://127.0.0.1:" + strconv.Itoa(sourcetest.FreePort(t))
	undeclared := func(t *testing.T) string {
		root := tree(t, srv.URL)
		p := filepath.Join(root, "clusters/staging/charts.yaml")
		data, _ := os.ReadFile(p)
		docs := strings.Split(string(data), "---\n")
		if err := os.WriteFile(p, []byte(strings.Join(append(docs[:1:1], docs[2:]...), "---\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		return root
	}
	const prefix = "HelmRelease mono/simple: chart: chartRef ExternalArtifact/flux-system/simple-chart: ArtifactGenerator flux-system/charts: sources[0] (chart): HelmChart/flux-system/simple"
	for _, tt := range []struct {
		name string
		root func(t *testing.T) string
		opts func(t *testing.T) TreeOptions
		want string
	}{
		{"no chart fetcher", func(t *testing.T) string { return tree(t, srv.URL) },
			func(*testing.T) TreeOptions { return TreeOptions{Sources: dirSources{}, Charts: noCharts{}} },
			prefix + ": this build does not fetch charts; map the chart's files with --local-source HelmChart/flux-system/simple=DIR"},
		{"chart repository down", func(t *testing.T) string { return tree(t, dead) },
			func(t *testing.T) TreeOptions {
				return TreeOptions{Sources: dirSources{}, Charts: charts(t, map[string]string{})}
			},
			prefix + ": fetching its chart: "},
		{"HelmChart not declared", undeclared,
			func(t *testing.T) TreeOptions {
				return TreeOptions{Sources: dirSources{}, Charts: charts(t, map[string]string{})}
			},
			prefix + " is not defined in the build or the cluster; map the chart's files with --local-source HelmChart/flux-system/simple=DIR"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := release(t, tt.root(t), tt.opts(t))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("err %v\nwant prefix %s", err, tt.want)
			}
			if !strings.Contains(err.Error(), "--local-source HelmChart/flux-system/simple=DIR") {
				t.Errorf("error lacks the --local-source escape: %v", err)
			}
		})
	}
}
