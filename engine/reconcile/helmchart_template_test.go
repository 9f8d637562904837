package reconcile

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"sigs.k8s.io/yaml"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	"github.com/converge-gitops/converge/engine/testenv/goldenfile"
)

// TestHelmChartFor: the HelmChart made from a HelmRelease's spec.chart, field by field as
// helm-controller builds it (golden files under testdata/golden/helmchart-template).
func TestHelmChartFor(t *testing.T) {
	for _, tt := range []struct{ name, spec string }{
		{name: "minimal", spec: `
interval: 10m
chart:
  spec:
    chart: podinfo
    sourceRef: {kind: HelmRepository, name: podinfo}
`},
		{name: "full", spec: `
interval: 10m
chart:
  metadata:
    labels: {team: web, helm.toolkit.fluxcd.io/name: overridden}
    annotations: {note: kept}
  spec:
    chart: ./charts/podinfo
    version: ">=6.0.0"
    interval: 1m
    reconcileStrategy: Revision
    valuesFiles: [values.yaml, values-prod.yaml]
    ignoreMissingValuesFiles: true
    verify: {provider: cosign, secretRef: {name: cosign-pub}}
    sourceRef: {kind: GitRepository, name: charts, namespace: flux-system}
`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hr := &helmv2.HelmRelease{}
			hr.Namespace, hr.Name = "apps", "web"
			if err := yaml.UnmarshalStrict([]byte(tt.spec), &hr.Spec); err != nil {
				t.Fatal(err)
			}
			got, err := yaml.Marshal(HelmChartFor(hr))
			if err != nil {
				t.Fatal(err)
			}
			goldenfile.Check(t, filepath.Join("../../testdata/golden/helmchart-template", tt.name+".yaml"), got)
		})
	}
	if hc := HelmChartFor(&helmv2.HelmRelease{}); hc != nil {
		t.Errorf("a HelmRelease without spec.chart: %+v", hc)
	}
}

// TestApplyHelmChart: the HelmChart follows the HelmRelease's spec.chart as helm-controller keeps it:
// created, updated in place, replaced (the old one deleted) when its namespace changes, deleted when the
// HelmRelease moves to a chartRef; a suspended HelmRelease keeps it on deletion.
func TestApplyHelmChart(t *testing.T) {
	ctx := context.Background()
	r := newHelmReleases(t)
	ensureNS(t, "hc-apps")
	ensureNS(t, "hc-sources")
	hr := &helmv2.HelmRelease{}
	hr.Namespace, hr.Name = "hc-apps", "web"
	chartSpec := func(ns, version string) *helmv2.HelmChartTemplate {
		return &helmv2.HelmChartTemplate{Spec: helmv2.HelmChartTemplateSpec{Chart: "podinfo", Version: version,
			SourceRef: helmv2.CrossNamespaceObjectReference{Kind: "HelmRepository", Name: "podinfo", Namespace: ns}}}
	}
	exists := func(ns, name string) string {
		u, err := r.Client.Resource(HelmChartsResource).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return "absent"
		}
		if err != nil {
			t.Fatal(err)
		}
		v, _, _ := unstructured.NestedString(u.Object, "spec", "version")
		return "version " + v
	}
	for _, step := range []struct {
		name       string
		chart      *helmv2.HelmChartTemplate
		chartRef   bool
		wantStatus string
		want       map[string]string // "namespace/name" -> exists()
	}{
		{name: "created", chart: chartSpec("", "1.x"), wantStatus: "hc-apps/hc-apps-web",
			want: map[string]string{"hc-apps/hc-apps-web": "version 1.x"}},
		{name: "updated", chart: chartSpec("", "2.x"), wantStatus: "hc-apps/hc-apps-web",
			want: map[string]string{"hc-apps/hc-apps-web": "version 2.x"}},
		{name: "moved to the source's namespace", chart: chartSpec("hc-sources", "2.x"), wantStatus: "hc-sources/hc-apps-web",
			want: map[string]string{"hc-apps/hc-apps-web": "absent", "hc-sources/hc-apps-web": "version 2.x"}},
		{name: "chartRef instead", chartRef: true, wantStatus: "",
			want: map[string]string{"hc-sources/hc-apps-web": "absent"}},
		{name: "spec.chart again", chart: chartSpec("", "3.x"), wantStatus: "hc-apps/hc-apps-web",
			want: map[string]string{"hc-apps/hc-apps-web": "version 3.x"}},
	} {
		t.Run(step.name, func(t *testing.T) {
			hr.Spec.Chart, hr.Spec.ChartRef = step.chart, nil
			if step.chartRef {
				hr.Spec.ChartRef = &helmv2.CrossNamespaceSourceReference{Kind: "OCIRepository", Name: "podinfo"}
			}
			if err := r.ApplyHelmChart(ctx, hr); err != nil {
				t.Fatal(err)
			}
			if hr.Status.HelmChart != step.wantStatus {
				t.Errorf("status.helmChart = %q, want %q", hr.Status.HelmChart, step.wantStatus)
			}
			for id, want := range step.want {
				ns, name, _ := strings.Cut(id, "/")
				if got := exists(ns, name); got != want {
					t.Errorf("HelmChart %s: %s, want %s", id, got, want)
				}
			}
		})
	}
	hr.Spec.Suspend = true
	if err := r.DeleteHelmChart(ctx, hr); err != nil || exists("hc-apps", "hc-apps-web") == "absent" {
		t.Errorf("suspended: err %v, HelmChart %s", err, exists("hc-apps", "hc-apps-web"))
	}
	hr.Spec.Suspend = false
	if err := r.DeleteHelmChart(ctx, hr); err != nil || exists("hc-apps", "hc-apps-web") != "absent" || hr.Status.HelmChart != "" {
		t.Errorf("deleted: err %v, HelmChart %s, status.helmChart %q", err, exists("hc-apps", "hc-apps-web"), hr.Status.HelmChart)
	}
}
