package helmrelease

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	chart "helm.sh/helm/v4/pkg/chart/v2"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	"github.com/converge-gitops/converge/engine/helmrelease/helmtest"
	"github.com/converge-gitops/converge/engine/testenv/goldenfile"
)

const goldenDir = "../../testdata/helm-render"

// testKubeVersion pins the Kubernetes version of the golden renders, so that they do not change with
// the client-go version the default follows.
const testKubeVersion = "v1.35.2"

func loadDemo(t testing.TB, files map[string]string) *chart.Chart {
	t.Helper()
	c, err := LoadChart(helmtest.WriteChart(t, t.TempDir(), "demo", files))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRenderGolden(t *testing.T) {
	demo := loadDemo(t, demoChart)
	tests := []struct {
		name     string
		hrName   string
		spec     string
		renderer *Renderer
	}{
		{name: "defaults"},
		{name: "release-name", spec: "  releaseName: custom\n"},
		{name: "values-from", spec: `  valuesFrom:
    - kind: ConfigMap
      name: base
    - kind: Secret
      name: override
    - kind: Secret
      name: override
      valuesKey: tag
      targetPath: image.tag
    - kind: ConfigMap
      name: base
      valuesKey: config.json
      targetPath: config.raw
      literal: true
    - kind: ConfigMap
      name: base
      valuesKey: list
      targetPath: config.list
    - kind: ConfigMap
      name: base
      valuesKey: os
      targetPath: nodeSelector.kubernetes\.io/os
    - kind: ConfigMap
      name: base
      valuesKey: quoted
      targetPath: config.port
    - kind: ConfigMap
      name: absent
      optional: true
    - kind: Secret
      name: override
      valuesKey: absent
      optional: true
  values:
    replicaCount: 3
    config:
      inline: true
`},
		{name: "long-release-name", hrName: "object-name", spec: "  targetNamespace: a-very-lengthy-target-namespace-with-a-nice\n"},
		{name: "target-namespace", spec: `  targetNamespace: prod
  storageNamespace: helm-store
  install:
    createNamespace: true
`},
		{name: "crds-skip", spec: "  install:\n    crds: Skip\n"},
		{name: "crds-create-replace", spec: "  install:\n    crds: CreateReplace\n"},
		{name: "subchart", spec: "  values:\n    sub:\n      enabled: true\n      greeting: from-parent\n"},
		{name: "post-renderers", spec: `  postRenderers:
    - kustomize:
        patches:
          - patch: |
              apiVersion: apps/v1
              kind: Deployment
              metadata:
                name: demo-demo
                annotations:
                  patched: "true"
              spec:
                template:
                  spec:
                    containers:
                      - name: app
                        env:
                          - name: PATCHED
                            value: "yes"
          - patch: |
              - op: add
                path: /data/extra
                value: from-json6902
            target:
              kind: ConfigMap
              labelSelector: app.kubernetes.io/name=demo
        images:
          - name: ghcr.io/example/app
            newName: registry.example.com/app
            newTag: 2.0.0
    - kustomize:
        images:
          - name: registry.example.com/app
            digest: sha256:0000000000000000000000000000000000000000000000000000000000000001
  commonMetadata:
    labels:
      team: platform
      helm.toolkit.fluxcd.io/name: overridden-by-the-origin-label
    annotations:
      owner: platform
`},
		{name: "post-render-nohooks", spec: `  postRenderStrategy: nohooks
  postRenderers:
    - kustomize:
        images:
          - name: ghcr.io/example/app
            newTag: 2.0.0
`},
		{name: "post-render-separate", spec: `  postRenderStrategy: separate
  postRenderers:
    - kustomize:
        images:
          - name: ghcr.io/example/app
            newTag: 2.0.0
`},
		{name: "cluster-capabilities", renderer: &Renderer{KubeVersion: "v1.33.4-gke.1245000", APIVersions: []string{"monitoring.coreos.com/v1"}}},
		{name: "install-options", spec: `  install:
    disableHooks: true
    disableSchemaValidation: true
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := tt.hrName
			if name == "" {
				name = "demo"
			}
			r := tt.renderer
			if r == nil {
				r = &Renderer{KubeVersion: testKubeVersion}
			}
			r.Secrets, r.ConfigMaps = testResources(), testResources()
			res, err := r.Render(context.Background(), helmRelease(t, name, tt.spec), demo)
			if err != nil {
				t.Fatal(err)
			}
			got := golden(t, res)
			file := filepath.Join(goldenDir, tt.name+".yaml")
			goldenfile.CheckString(t, file, got)
		})
	}
	// The chart given to Render is not modified: rendering the defaults again gives the same result.
	r := &Renderer{KubeVersion: testKubeVersion}
	res, err := r.Render(context.Background(), helmRelease(t, "demo", ""), demo)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(goldenDir, "defaults.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got := golden(t, res); got != string(want) {
		t.Errorf("a second render of the same chart differs:\n%s", got)
	}
}

// TestRenderSemantics checks the properties the golden files show, so that a wrong golden file cannot
// hide them.
func TestRenderSemantics(t *testing.T) {
	demo := loadDemo(t, demoChart)
	render := func(t *testing.T, name, spec string, r *Renderer) *Result {
		t.Helper()
		if r == nil {
			r = &Renderer{KubeVersion: testKubeVersion}
		}
		r.Secrets, r.ConfigMaps = testResources(), testResources()
		res, err := r.Render(context.Background(), helmRelease(t, name, spec), demo)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	find := func(res *Result, kind, name string) map[string]any {
		for _, o := range res.Objects {
			if o.GetKind() == kind && o.GetName() == name {
				return o.Object
			}
		}
		return nil
	}
	kinds := func(res *Result) []string {
		var out []string
		for _, o := range res.Objects {
			out = append(out, o.GetKind()+"/"+o.GetName())
		}
		return out
	}

	t.Run("defaults", func(t *testing.T) {
		res := render(t, "demo", "", nil)
		if res.ReleaseName != "demo" || res.Namespace != "apps" || res.StorageNamespace != "apps" {
			t.Errorf("release %s in %s (storage %s)", res.ReleaseName, res.Namespace, res.StorageNamespace)
		}
		want := []string{
			"CustomResourceDefinition/widgets.example.com", // CRDs first, the crds/ ConfigMap ignored
			"ConfigMap/demo-demo-env", "ConfigMap/demo-demo-values", "ClusterRole/demo-demo-reader",
			"Deployment/demo-demo", "Widget/demo-demo", // unknown kinds last
		}
		if got := kinds(res); !reflect.DeepEqual(got, want) {
			t.Errorf("objects %v, want %v", got, want)
		}
		for _, o := range res.Objects {
			wantNS := "apps"
			if o.GetKind() == "ClusterRole" || o.GetKind() == "CustomResourceDefinition" {
				wantNS = ""
			}
			if o.GetNamespace() != wantNS {
				t.Errorf("%s/%s in namespace %q, want %q", o.GetKind(), o.GetName(), o.GetNamespace(), wantNS)
			}
			if l := o.GetLabels(); l[NameLabel] != "demo" || l[NamespaceLabel] != "apps" {
				t.Errorf("%s/%s lacks the origin labels: %v", o.GetKind(), o.GetName(), l)
			}
		}
		env := find(res, "ConfigMap", "demo-demo-env")["data"].(map[string]any)
		for k, v := range map[string]string{"releaseName": "demo", "releaseNamespace": "apps", "revision": "1", "isInstall": "true",
			"kubeVersion": testKubeVersion, "kubeMinor": "35", "policyV1": "true", "widgets": "true", "monitoring": "false"} {
			if env[k] != v {
				t.Errorf("%s = %v, want %s", k, env[k], v)
			}
		}
		if len(res.Hooks) != 1 || res.Hooks[0].Name != "demo-demo-migrate" || !reflect.DeepEqual(res.Hooks[0].Events, []string{"pre-install", "pre-upgrade"}) ||
			res.Hooks[0].Weight != -5 || res.Hooks[0].Object.GetNamespace() != "apps" {
			t.Errorf("hooks %+v", res.Hooks)
		}
		if strings.Contains(res.Manifest, "helm.sh/hook") || !strings.Contains(res.Manifest, "# Source: demo/templates/deployment.yaml\n") {
			t.Errorf("manifest:\n%s", res.Manifest)
		}
		if res.Notes != "demo is installed in apps.\n" {
			t.Errorf("notes %q", res.Notes)
		}
		if a := find(res, "Deployment", "demo-demo")["metadata"].(map[string]any)["annotations"].(map[string]any); a[ReleaseNameAnnotation] != "demo" || a[ReleaseNamespaceAnnotation] != "apps" {
			t.Errorf("release annotations %v", a)
		}
	})

	t.Run("default kube version", func(t *testing.T) {
		res := render(t, "demo", "", &Renderer{})
		if res.KubeVersion != DefaultKubeVersion() || !regexp.MustCompile(`^v1\.\d+\.0$`).MatchString(res.KubeVersion) {
			t.Errorf("kube version %s, default %s", res.KubeVersion, DefaultKubeVersion())
		}
	})

	t.Run("values from", func(t *testing.T) {
		res := render(t, "demo", `  valuesFrom:
    - kind: ConfigMap
      name: base
    - kind: Secret
      name: override
    - kind: Secret
      name: override
      valuesKey: tag
      targetPath: image.tag
    - kind: ConfigMap
      name: base
      valuesKey: config.json
      targetPath: config.raw
      literal: true
    - kind: ConfigMap
      name: base
      valuesKey: quoted
      targetPath: config.port
  values:
    replicaCount: 3
`, nil)
		want := map[string]any{
			"replicaCount": float64(3), // inline values win over valuesFrom
			"config": map[string]any{
				"greeting": "hola", "from": "base", // later valuesFrom entries win
				"raw":  `{"a": [1, 2], "b": "x=y,z"}`, // literal: the raw string
				"port": "8080",                        // a quoted value is a string
			},
			"image": map[string]any{"tag": "v3"},
		}
		if !reflect.DeepEqual(res.Values, want) {
			t.Errorf("values %#v, want %#v", res.Values, want)
		}
		if d := find(res, "Deployment", "demo-demo"); d["spec"].(map[string]any)["replicas"] != int64(3) {
			t.Errorf("replicas %v", d["spec"].(map[string]any)["replicas"])
		}
	})

	t.Run("crd policy", func(t *testing.T) {
		skip := render(t, "demo", "  install:\n    crds: Skip\n", nil)
		if len(skip.CRDs) != 0 || find(skip, "Widget", "demo-demo") != nil {
			t.Errorf("Skip: %v", kinds(skip))
		}
		for _, p := range []string{"", "Create", "CreateReplace"} {
			spec := ""
			if p != "" {
				spec = "  install:\n    crds: " + p + "\n"
			}
			res := render(t, "demo", spec, nil)
			if len(res.CRDs) != 1 || res.Objects[0] != res.CRDs[0] || find(res, "Widget", "demo-demo") == nil {
				t.Errorf("%q: %v", p, kinds(res))
			}
		}
	})

	t.Run("subchart crds and scopes", func(t *testing.T) {
		res := render(t, "demo", "  values:\n    sub:\n      enabled: true\n", nil)
		if len(res.CRDs) != 2 {
			t.Errorf("CRDs %v", kinds(res))
		}
		if g := find(res, "Gadget", "demo-gadget"); g == nil || g["metadata"].(map[string]any)["namespace"] != nil {
			t.Errorf("cluster-scoped Gadget: %v", g)
		}
	})

	t.Run("post-render strategies", func(t *testing.T) {
		spec := "  postRenderers:\n    - kustomize:\n        images:\n          - name: ghcr.io/example/app\n            newTag: 2.0.0\n"
		image := func(h Hook) string {
			c := h.Object.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)
			return c[0].(map[string]any)["image"].(string)
		}
		for strategy, want := range map[string]string{"": "ghcr.io/example/app:2.0.0", "combined": "ghcr.io/example/app:2.0.0",
			"separate": "ghcr.io/example/app:2.0.0", "nohooks": "ghcr.io/example/app:1.0.0"} {
			s := spec
			if strategy != "" {
				s += "  postRenderStrategy: " + strategy + "\n"
			}
			res := render(t, "demo", s, nil)
			if got := image(res.Hooks[0]); got != want {
				t.Errorf("%q: hook image %s, want %s", strategy, got, want)
			}
			if _, labelled := res.Hooks[0].Object.GetLabels()[NameLabel]; labelled == (strategy == "nohooks") {
				t.Errorf("%q: hook labels %v", strategy, res.Hooks[0].Object.GetLabels())
			}
		}
	})

	t.Run("common metadata yields to origin labels", func(t *testing.T) {
		res := render(t, "demo", "  commonMetadata:\n    labels:\n      helm.toolkit.fluxcd.io/name: other\n      team: a\n", nil)
		for _, o := range res.Objects {
			if o.GetKind() == "CustomResourceDefinition" {
				if o.GetLabels()["team"] != "" {
					t.Errorf("CRD got common labels")
				}
				continue
			}
			if l := o.GetLabels(); l[NameLabel] != "demo" || l["team"] != "a" {
				t.Errorf("%s labels %v", o.GetName(), l)
			}
		}
	})

	t.Run("schema validation disabled", func(t *testing.T) {
		c := loadDemo(t, with(demoChart, map[string]string{"values.schema.json": `{"type": "object", "properties": {"replicaCount": {"type": "integer"}}}`}))
		r := &Renderer{KubeVersion: testKubeVersion}
		hr := helmRelease(t, "demo", "  values:\n    replicaCount: 2\n  install:\n    disableSchemaValidation: true\n")
		if _, err := r.Render(context.Background(), hr, c); err != nil {
			t.Fatal(err)
		}
		hr = helmRelease(t, "demo", "  values:\n    replicaCount: three\n  install:\n    disableSchemaValidation: true\n")
		if _, err := r.Render(context.Background(), hr, c); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("unreadable CRD skipped", func(t *testing.T) {
		c := loadDemo(t, with(demoChart, map[string]string{"crds/bad.yaml": "kind: [\n"}))
		r := &Renderer{KubeVersion: testKubeVersion}
		if _, err := r.Render(context.Background(), helmRelease(t, "demo", "  install:\n    crds: Skip\n"), c); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("scopes from the caller", func(t *testing.T) {
		res := render(t, "demo", "", &Renderer{KubeVersion: testKubeVersion, IsNamespaced: func(apiVersion, kind string) (bool, bool) {
			return false, apiVersion == "example.com/v1" && kind == "Widget"
		}})
		if w := findObject(res, "Widget", "demo-demo"); w == nil || w.GetNamespace() != "" {
			t.Errorf("Widget %v", w)
		}
		if d := findObject(res, "Deployment", "demo-demo"); d.GetNamespace() != "apps" {
			t.Errorf("Deployment namespace %q", d.GetNamespace())
		}
	})

	t.Run("target namespace", func(t *testing.T) {
		res := render(t, "demo", "  targetNamespace: prod\n  install:\n    createNamespace: true\n", nil)
		if res.ReleaseName != "prod-demo" || res.Namespace != "prod" || res.StorageNamespace != "apps" {
			t.Errorf("release %s in %s (storage %s)", res.ReleaseName, res.Namespace, res.StorageNamespace)
		}
		if o := res.Objects[0]; o.GetKind() != "Namespace" || o.GetName() != "prod" {
			t.Errorf("first object %s/%s", o.GetKind(), o.GetName())
		}
		// Origin labels name the HelmRelease, not the target.
		if l := find(res, "Deployment", "prod-demo-demo")["metadata"].(map[string]any)["labels"].(map[string]any); l[NamespaceLabel] != "apps" {
			t.Errorf("labels %v", l)
		}
		// createNamespace without targetNamespace does nothing.
		res = render(t, "demo", "  install:\n    createNamespace: true\n", nil)
		if res.Objects[0].GetKind() == "Namespace" {
			t.Error("namespace created without targetNamespace")
		}
	})
}

func TestRenderErrors(t *testing.T) {
	demo := loadDemo(t, demoChart)
	parseError := loadDemo(t, with(demoChart, map[string]string{"templates/bad.yaml": "a: 1\nb: {{ .Values.x | nosuchfunc }}\n"}))
	badYAML := loadDemo(t, with(demoChart, map[string]string{"templates/bad.yaml": "a: [1\n"}))
	badCRD := loadDemo(t, with(demoChart, map[string]string{"crds/bad.yaml": "kind: [\n"}))
	schema := loadDemo(t, with(demoChart, map[string]string{"values.schema.json": `{"type": "object", "properties": {"replicaCount": {"type": "integer"}}}`}))
	tests := []struct {
		name     string
		spec     string
		chart    *chart.Chart
		renderer *Renderer
		want     []string
		is       error
		template string
		line     int
	}{
		{name: "missing values ConfigMap", spec: "  valuesFrom:\n    - kind: ConfigMap\n      name: absent\n",
			want: []string{"HelmRelease apps/demo: could not resolve ConfigMap chart values reference 'apps/absent' with key 'values.yaml'", `configmaps "absent" not found`},
			is:   ErrValuesResourceNotFound},
		{name: "missing values Secret key", spec: "  valuesFrom:\n    - kind: Secret\n      name: override\n      valuesKey: nope\n",
			want: []string{"could not resolve Secret chart values reference 'apps/override' with key 'nope': key not found"}, is: ErrValuesKeyNotFound},
		{name: "missing resource after an optional reference to it", spec: "  valuesFrom:\n    - kind: ConfigMap\n      name: absent\n      optional: true\n    - kind: ConfigMap\n      name: absent\n",
			want: []string{"could not resolve ConfigMap chart values reference 'apps/absent' with key 'values.yaml': resource not found"}, is: ErrValuesResourceNotFound},
		{name: "bad targetPath", spec: "  valuesFrom:\n    - kind: ConfigMap\n      name: base\n      valuesKey: os\n      targetPath: list[99999]\n",
			want: []string{"could not resolve ConfigMap chart values reference 'apps/base' with key 'os'", "index of 99999 is greater than maximum supported index"}, is: ErrValueMerge},
		{name: "invalid values document", spec: "  valuesFrom:\n    - kind: ConfigMap\n      name: base\n      valuesKey: invalid\n",
			want: []string{"with key 'invalid'", "mapping values are not allowed"}, is: ErrValuesDataRead},
		{name: "unsupported kind", spec: "  valuesFrom:\n    - kind: Bucket\n      name: base\n",
			want: []string{"unsupported values reference kind"}, is: ErrValuesKindUnsupported},
		{name: "no ConfigMaps source", spec: "  valuesFrom:\n    - kind: ConfigMap\n      name: base\n", renderer: &Renderer{},
			want: []string{"no cluster or local resource supplies ConfigMaps"}},
		{name: "template execution error", spec: "  values:\n    broken: true\n",
			want:     []string{"HelmRelease apps/demo: failed to render chart demo: execution error at (demo/templates/broken.yaml:5:8): broken is set"},
			template: "demo/templates/broken.yaml", line: 5},
		{name: "template parse error", chart: parseError,
			want:     []string{`parse error at (demo/templates/bad.yaml:2): function "nosuchfunc" not defined`},
			template: "demo/templates/bad.yaml", line: 2},
		{name: "invalid YAML from a template", chart: badYAML,
			want: []string{"HelmRelease apps/demo: error merging manifests: parsing demo/templates/bad.yaml"}, template: "demo/templates/bad.yaml"},
		{name: "values against the chart's schema", chart: schema, spec: "  values:\n    replicaCount: three\n",
			want: []string{"HelmRelease apps/demo: values don't meet the specifications of the schema(s)", "replicaCount"}},
		{name: "unreadable CRD", chart: badCRD,
			want: []string{"HelmRelease apps/demo: failed to apply CustomResourceDefinitions: failed to parse CustomResourceDefinitions from demo/crds/bad.yaml"}},
		{name: "incompatible Kubernetes version", renderer: &Renderer{KubeVersion: "v1.19.3"},
			want: []string{"chart requires kubeVersion: >=1.20.0-0 which is incompatible with Kubernetes v1.19.3"}},
		{name: "invalid release name", spec: "  releaseName: Not_Valid\n", want: []string{`release name "Not_Valid"`}},
		{name: "invalid CRD policy", spec: "  install:\n    crds: Sometimes\n", want: []string{"invalid CRD policy 'Sometimes'"}},
		{name: "unknown post-render strategy", spec: "  postRenderStrategy: sideways\n", want: []string{"unknown post-render strategy: 'sideways'"}},
		{name: "failing patch", spec: "  postRenderers:\n    - kustomize:\n        patches:\n          - patch: |\n              - op: replace\n                path: /spec/nope/deeper\n                value: 1\n            target:\n              kind: Deployment\n",
			want: []string{"error while running post render on files"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.renderer
			if r == nil {
				r = &Renderer{KubeVersion: testKubeVersion, Secrets: testResources(), ConfigMaps: testResources()}
			}
			c := tt.chart
			if c == nil {
				c = demo
			}
			_, err := r.Render(context.Background(), helmRelease(t, "demo", tt.spec), c)
			if err == nil {
				t.Fatal("expected an error")
			}
			var re *Error
			if !errors.As(err, &re) || re.HelmRelease != "apps/demo" {
				t.Fatalf("error does not name the HelmRelease: %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			if re.Template != tt.template || re.Line != tt.line {
				t.Errorf("location %s:%d, want %s:%d", re.Template, re.Line, tt.template, tt.line)
			}
		})
	}
}

func TestRenderCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := (&Renderer{}).Render(ctx, helmRelease(t, "demo", ""), loadDemo(t, demoChart))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v", err)
	}
}

func TestShortenName(t *testing.T) {
	tests := map[string]string{
		"demo":                  "demo",
		strings.Repeat("a", 53): strings.Repeat("a", 53),
		// The example of Flux's documentation, whose hash it gives; its prefix there is 42 characters,
		// which would make 55 in all: helm-controller keeps 40.
		"a-very-lengthy-target-namespace-with-a-nice-object-name": "a-very-lengthy-target-namespace-with-a-n-97af5d7f41f3",
	}
	for in, want := range tests {
		if got := ShortenName(in); got != want || len(got) > 53 {
			t.Errorf("ShortenName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDigestValues(t *testing.T) {
	tests := []struct {
		values map[string]any
		want   string
	}{
		// The config digest of Flux's documented example (values: replicaCount: 2).
		{map[string]any{"replicaCount": float64(2)}, "sha256:e15c415d62760896bd8bec192a44c5716dc224db9e0fc609b9ac14718f8f9e56"},
		{nil, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{map[string]any{}, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	}
	for _, tt := range tests {
		if got := DigestValues(tt.values); got != tt.want {
			t.Errorf("DigestValues(%v) = %s, want %s", tt.values, got, tt.want)
		}
	}
	// Key order does not matter, at any depth.
	a := map[string]any{"b": map[string]any{"y": 1, "x": []any{map[string]any{"q": 1, "p": 2}}}, "a": "1"}
	b := map[string]any{"a": "1", "b": map[string]any{"x": []any{map[string]any{"p": 2, "q": 1}}, "y": 1}}
	if DigestValues(a) != DigestValues(b) {
		t.Error("digest depends on key order")
	}
}

// TestComposeValues follows the cases of Flux's own values composition tests.
func TestComposeValues(t *testing.T) {
	tests := []struct {
		name string
		spec string
		want map[string]any
	}{
		{name: "target path precedence over all", spec: `  valuesFrom:
    - kind: Secret
      name: precedence
      valuesKey: key
      targetPath: nested.configuration[0]
    - kind: ConfigMap
      name: precedence
  values:
    nested:
      configuration: [list, item, option]
`, want: map[string]any{"flat": "value", "nested": map[string]any{"configuration": []any{"value", "item", "option"}}}},
		{name: "target path for a list item", spec: `  valuesFrom:
    - kind: ConfigMap
      name: precedence
    - kind: Secret
      name: precedence
      valuesKey: key
      targetPath: nested.configuration[1]
  values:
    other: values
`, want: map[string]any{"flat": "value", "nested": map[string]any{"configuration": []any{"one", "value", "three"}}, "other": "values"}},
		{name: "set syntax", spec: `  valuesFrom:
    - kind: ConfigMap
      name: base
      valuesKey: list
      targetPath: a.list
    - kind: ConfigMap
      name: base
      valuesKey: os
      targetPath: nodeSelector.kubernetes\.io/os
    - kind: ConfigMap
      name: base
      valuesKey: config.json
      targetPath: a.b\.c
      literal: true
`, want: map[string]any{"a": map[string]any{"list": []any{"x", "y"}, "b.c": `{"a": [1, 2], "b": "x=y,z"}`}, "nodeSelector": map[string]any{"kubernetes.io/os": "linux"}}},
		{name: "optional references", spec: `  valuesFrom:
    - kind: Secret
      name: absent
      optional: true
    - kind: ConfigMap
      name: base
      valuesKey: absent
      optional: true
`, want: map[string]any{}},
	}
	r := &Renderer{Secrets: testResources(), ConfigMaps: testResources()}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.composeValues(context.Background(), helmRelease(t, "demo", tt.spec))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("values %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestLoadChart(t *testing.T) {
	if _, err := LoadChart(filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Error("no error for a missing chart")
	}
	notChart := filepath.Join(t.TempDir(), "x.tgz")
	if err := os.WriteFile(notChart, []byte("not a chart"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadChart(notChart); err == nil || !strings.Contains(err.Error(), notChart) {
		t.Errorf("error %v", err)
	}
}

func TestCRDPolicyDefault(t *testing.T) {
	var hr helmv2.HelmRelease
	if p, err := crdPolicyOrDefault(hr.GetInstall().CRDs); p != helmv2.Create || err != nil {
		t.Errorf("default policy %s, %v", p, err)
	}
}

func TestTrackSourceDigest(t *testing.T) {
	const sha = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		kind, revision, version string
		want, wantDigest        string
		err                     string
	}{
		{kind: "OCIRepository", revision: "6.5.3@" + sha, version: "6.5.3", want: "6.5.3+0123456789ab", wantDigest: sha},
		{kind: "OCIRepository", revision: "6.5.3_build.1@" + sha, version: "6.5.3+build.1", want: "6.5.3+0123456789ab", wantDigest: sha},
		{kind: "OCIRepository", revision: sha, version: "1.0.0", want: "1.0.0+0123456789ab", wantDigest: sha},
		{kind: "OCIRepository", revision: "latest@" + sha, version: "1.0.0", want: "1.0.0+0123456789ab", wantDigest: "latest@" + sha},
		{kind: "OCIRepository", revision: "6.5.4@" + sha, version: "6.5.3", err: "artifact revision 6.5.4 does not match chart version 6.5.3"},
		{kind: "OCIRepository", revision: "sha256:0123", version: "6.5.3", err: "invalid artifact revision sha256:0123"},
		{kind: "ExternalArtifact", revision: sha, version: "1.0.0", want: "1.0.0+0123456789ab", wantDigest: sha},
		{kind: "ExternalArtifact", revision: "1.0.0", version: "1.0.0", want: "1.0.0"},
		{kind: "HelmChart", revision: "1.0.0", version: "1.0.0", want: "1.0.0"},
	}
	for _, tt := range tests {
		c := &chart.Chart{Metadata: &chart.Metadata{Name: "x", Version: tt.version}}
		d, err := TrackSourceDigest(c, tt.kind, tt.revision)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("%s %s: error %v, want %s", tt.kind, tt.revision, err, tt.err)
			}
			continue
		}
		if err != nil || c.Metadata.Version != tt.want || d != tt.wantDigest {
			t.Errorf("%s %s: version %s digest %q (%v), want %s %q", tt.kind, tt.revision, c.Metadata.Version, d, err, tt.want, tt.wantDigest)
		}
	}
}

// TestRenderConcurrent renders with one Renderer from several goroutines (run with -race).
func TestRenderConcurrent(t *testing.T) {
	demo := loadDemo(t, demoChart)
	r := &Renderer{KubeVersion: testKubeVersion}
	spec := "  postRenderers:\n    - kustomize:\n        images:\n          - name: ghcr.io/example/app\n            newTag: 2.0.0\n"
	hr := helmRelease(t, "demo", spec)
	want, err := r.Render(context.Background(), hr, demo)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			res, err := r.Render(context.Background(), hr, demo)
			if err == nil && res.Manifest != want.Manifest {
				err = errors.New("a concurrent render differs")
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
