package reconcile

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
)

func TestTenancyChecks(t *testing.T) {
	ks := func(ns string) *kustomizev1.Kustomization {
		return &kustomizev1.Kustomization{ObjectMeta: metav1.ObjectMeta{Name: "apps", Namespace: "team-a"},
			Spec: kustomizev1.KustomizationSpec{SourceRef: kustomizev1.CrossNamespaceSourceReference{Kind: "GitRepository", Name: "repo", Namespace: ns}}}
	}
	chartRef := func(ns string) *helmv2.HelmRelease {
		return &helmv2.HelmRelease{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "team-a"},
			Spec: helmv2.HelmReleaseSpec{ChartRef: &helmv2.CrossNamespaceSourceReference{Kind: "OCIRepository", Name: "chart", Namespace: ns}}}
	}
	template := func(ns string) *helmv2.HelmRelease {
		return &helmv2.HelmRelease{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "team-a"},
			Spec: helmv2.HelmReleaseSpec{Chart: &helmv2.HelmChartTemplate{Spec: helmv2.HelmChartTemplateSpec{Chart: "web",
				SourceRef: helmv2.CrossNamespaceObjectReference{Kind: "HelmRepository", Name: "charts", Namespace: ns}}}}}
	}
	locked := Tenancy{NoCrossNamespaceRefs: true}
	tests := []struct {
		name string
		t    Tenancy
		err  func(Tenancy) error
		want string
	}{
		{"sourceRef elsewhere", locked, func(t Tenancy) error { return t.CheckKustomization(ks("team-b")) },
			"spec.sourceRef: can't access 'GitRepository/team-b/repo', cross-namespace references have been blocked"},
		{"sourceRef here", locked, func(t Tenancy) error { return t.CheckKustomization(ks("team-a")) }, ""},
		{"sourceRef implicit", locked, func(t Tenancy) error { return t.CheckKustomization(ks("")) }, ""},
		{"sourceRef elsewhere, not locked", Tenancy{}, func(t Tenancy) error { return t.CheckKustomization(ks("team-b")) }, ""},
		{"chartRef elsewhere", locked, func(t Tenancy) error { return t.CheckHelmRelease(chartRef("team-b")) },
			"spec.chartRef: cross-namespace references are not allowed: cannot access OCIRepository team-b/chart"},
		{"chartRef here", locked, func(t Tenancy) error { return t.CheckHelmRelease(chartRef("")) }, ""},
		{"chart template elsewhere", locked, func(t Tenancy) error { return t.CheckHelmRelease(template("team-b")) },
			"spec.chart.spec.sourceRef: cross-namespace references are not allowed: cannot access HelmChart team-b/team-a-web"},
		{"chart template here", locked, func(t Tenancy) error { return t.CheckHelmRelease(template("team-a")) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err(tt.t)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want || !IsAccessDenied(err)):
				t.Fatalf("error %v, want AccessDenied %q", err, tt.want)
			}
		})
	}
	if sa := (Tenancy{DefaultServiceAccount: "reconciler"}).ServiceAccount(""); sa != "reconciler" {
		t.Errorf("default ServiceAccount = %q", sa)
	}
	if sa := (Tenancy{DefaultServiceAccount: "reconciler"}).ServiceAccount("own"); sa != "own" {
		t.Errorf("spec.serviceAccountName overridden by the default: %q", sa)
	}
}
