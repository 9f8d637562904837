package reconcile

import (
	"path/filepath"
	"testing"

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
