package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	"github.com/converge-gitops/converge/engine/helmrelease"
	"github.com/converge-gitops/converge/engine/manifest"
	"github.com/converge-gitops/converge/engine/testenv/goldenfile"
)

const monorepo = "../../testdata/generator/monorepo"

// TestBuildTreeArtifactGenerator: a cluster folder declaring an ArtifactGenerator that slices the
// repository (its own source) into two ExternalArtifacts, each consumed by a Kustomization; the tree
// builds each from the generated files (spec.path relative to the artifact), offline.
func TestBuildTreeArtifactGenerator(t *testing.T) {
	dec, err := manifest.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"staging", "production"} {
		t.Run(env, func(t *testing.T) {
			b := &Builder{Strict: true}
			tree, err := b.BuildTree(context.Background(), dec, TreeOptions{Root: monorepo, Path: "clusters/" + env, Sources: dirSources{}})
			if err != nil {
				t.Fatal(err)
			}
			if err := tree.Err(); err != nil {
				t.Fatal(err)
			}
			var out, names strings.Builder
			for _, n := range tree.Nodes {
				fmt.Fprintf(&names, "%s<%s,", n.Name, n.Parent)
				fmt.Fprintf(&out, "# Kustomization %s (parent %q): %d objects\n", n.Name, n.Parent, len(n.Objects))
				for _, o := range n.Objects {
					y, _ := yaml.Marshal(o.Object)
					out.WriteString("---\n")
					out.Write(y)
				}
			}
			if want := "flux-system/flux-system<,flux-system/apps<flux-system/flux-system,flux-system/infrastructure<flux-system/flux-system,"; names.String() != want {
				t.Errorf("nodes %s\nwant  %s", names.String(), want)
			}
			for _, want := range []string{"env: " + env, "cluster: " + env, "tier: platform", "kind: ArtifactGenerator"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q", want)
				}
			}
			golden := filepath.Join(monorepo, "..", "golden", "tree-"+env+".yaml")
			goldenfile.CheckString(t, golden, out.String())
		})
	}
}

// TestBuildTreeArtifactGeneratorErrors: a generator that fails is the consuming Kustomization's error,
// naming the generator and the entry; the other Kustomizations still build.
func TestBuildTreeArtifactGeneratorErrors(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(monorepo)); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, "clusters", "staging", "artifacts.yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(data), `"@repo/apps/staging/**"`, `"@repo/apps/nowhere/**"`, 1)
	if err := os.WriteFile(file, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	dec, err := manifest.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	tree, err := (&Builder{Strict: true}).BuildTree(context.Background(), dec, TreeOptions{Root: root, Path: "clusters/staging", Sources: dirSources{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range tree.Nodes {
		switch n.Name {
		case "flux-system/apps":
			want := `Kustomization flux-system/apps: source ExternalArtifact/flux-system/apps-staging: ArtifactGenerator flux-system/monorepo: artifacts[1] (apps-staging): copy[1] (from "@repo/apps/nowhere/**" to "@artifact/staging/"): nothing matches`
			if n.Err == nil || !strings.HasPrefix(n.Err.Error(), want) {
				t.Errorf("apps: error = %v\nwant prefix %s", n.Err, want)
			}
		case "flux-system/infrastructure":
			// One failing artifact fails the generator, as in Flux: its other artifacts are not produced.
			if n.Err == nil {
				t.Errorf("infrastructure built from a generator that failed")
			}
		}
	}
}

type noCharts struct{}

func (noCharts) ResolveChart(_ context.Context, hr *helmv2.HelmRelease, _ map[string]runtime.Object) (*chart.Chart, string, error) {
	return nil, "", fmt.Errorf("HelmRelease %s/%s: the chart should have come from the generator", hr.Namespace, hr.Name)
}

// TestBuildTreeGeneratedChart: a HelmRelease whose chartRef names a generated ExternalArtifact renders
// the chart generated from the tree's own files, its version tracking the artifact digest.
func TestBuildTreeGeneratedChart(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(monorepo)); err != nil {
		t.Fatal(err)
	}
	write := func(name, data string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("charts/hello/Chart.yaml", "apiVersion: v2\nname: hello\nversion: 1.0.0\n")
	write("charts/hello/values.yaml", "greeting: hello\n")
	write("charts/hello/templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  greeting: {{ .Values.greeting }}\n  chart: {{ .Chart.Version }}\n")
	write("values/staging.yaml", "greeting: hi from staging\n")
	write("clusters/staging/hello.yaml", `apiVersion: source.extensions.fluxcd.io/v1beta1
kind: ArtifactGenerator
metadata: {name: charts, namespace: flux-system}
spec:
  sources:
    - {alias: repo, kind: GitRepository, name: flux-system}
  artifacts:
    - name: hello-chart
      copy:
        - {from: "@repo/charts/hello/**", to: "@artifact/"}
        - {from: "@repo/values/staging.yaml", to: "@artifact/values.yaml", strategy: Merge}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: hello, namespace: mono}
spec:
  interval: 1h
  chartRef: {kind: ExternalArtifact, name: hello-chart, namespace: flux-system}
`)
	dec, err := manifest.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	b := &Builder{Strict: true}
	b.Helm = &helmrelease.Renderer{KustomizeLock: b.KustomizeLock()}
	tree, err := b.BuildTree(context.Background(), dec, TreeOptions{Root: root, Path: "clusters/staging", Sources: dirSources{}, Charts: noCharts{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tree.Err(); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, n := range tree.Nodes {
		if n.Kind != KindHelmRelease {
			continue
		}
		found = true
		if n.ChartDigest == "" || !strings.HasPrefix(n.Chart.Metadata.Version, "1.0.0+") {
			t.Errorf("chart version %s, digest %q: want the artifact digest tracked", n.Chart.Metadata.Version, n.ChartDigest)
		}
		if len(n.Objects) != 1 {
			t.Fatalf("%d objects", len(n.Objects))
		}
		data, _, _ := unstructured.NestedStringMap(n.Objects[0].Object, "data")
		if data["greeting"] != "hi from staging" {
			t.Errorf("rendered %v", data)
		}
	}
	if !found {
		t.Error("no HelmRelease node")
	}
}

// TestBuildTreePathPattern: a generator with spec.pathPattern yields one ExternalArtifact per matching
// folder; the tree builds each Kustomization consuming one from its folder's files, and a Kustomization
// naming an artifact no folder renders fails saying so.
func TestBuildTreePathPattern(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"clusters/dev/apps.yaml": `apiVersion: source.extensions.fluxcd.io/v1beta1
kind: ArtifactGenerator
metadata: {name: apps, namespace: flux-system}
spec:
  sources:
    - {alias: repo, kind: GitRepository, name: flux-system}
  pathPattern: "@repo/apps/{app}"
  artifacts:
    - name: "app-{app}"
      copy:
        - {from: "@repo/apps/{app}/**", to: "@artifact/"}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: web, namespace: flux-system}
spec:
  interval: 1h
  path: ./
  prune: true
  sourceRef: {kind: ExternalArtifact, name: app-web}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: api, namespace: flux-system}
spec:
  interval: 1h
  path: ./
  prune: true
  sourceRef: {kind: ExternalArtifact, name: app-api}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: ghost, namespace: flux-system}
spec:
  interval: 1h
  path: ./
  prune: true
  sourceRef: {kind: ExternalArtifact, name: app-ghost}
`,
		"apps/web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web, namespace: default}\ndata: {app: web}\n",
		"apps/Api/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: api, namespace: default}\ndata: {app: api}\n",
	}
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dec, err := manifest.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	tree, err := (&Builder{Strict: true}).BuildTree(context.Background(), dec, TreeOptions{Root: root, Path: "clusters/dev", Sources: dirSources{}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, n := range tree.Nodes {
		if n.Err != nil {
			got[n.Name] = "error: " + n.Err.Error()
			continue
		}
		var names []string
		for _, o := range n.Objects {
			names = append(names, o.GetKind()+"/"+o.GetName())
		}
		got[n.Name] = strings.Join(names, ",")
	}
	for ks, want := range map[string]string{
		"flux-system/web":   "ConfigMap/web",
		"flux-system/api":   "ConfigMap/api",
		"flux-system/ghost": `error: Kustomization flux-system/ghost: source ExternalArtifact/flux-system/app-ghost: ArtifactGenerator flux-system/apps does not generate ExternalArtifact app-ghost (no folder matching its pathPattern "@repo/apps/{app}" renders it)`,
	} {
		if got[ks] != want {
			t.Errorf("%s: %s\nwant %s", ks, got[ks], want)
		}
	}
}
