package reconcile

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/converge-gitops/converge/crds/meta"

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

// TestHelmReleaseCrossNamespaceRefused: under --no-cross-namespace-refs a HelmRelease whose chart comes
// from another namespace is Stalled with AccessDenied in the API server, no HelmChart is made in that
// namespace and nothing is installed, even with a chart at hand.
func TestHelmReleaseCrossNamespaceRefused(t *testing.T) {
	ctx := context.Background()
	r := newHelmReleases(t)
	r.Tenancy = Tenancy{NoCrossNamespaceRefs: true}
	ensureNS(t, "tenant-hr")
	ensureNS(t, "tenant-hr-other")
	createChartRefRelease(t, r, "tenant-hr", "by-ref", "OCIRepository", "chart", "    namespace: tenant-hr-other\n")
	createHelmRelease(t, r, "tenant-hr", "by-template", "        namespace: tenant-hr-other\n")
	tests := []struct{ name, msg string }{
		{"by-ref", "spec.chartRef: cross-namespace references are not allowed: cannot access OCIRepository tenant-hr-other/chart"},
		{"by-template", "spec.chart.spec.sourceRef: cross-namespace references are not allowed: cannot access HelmChart tenant-hr-other/tenant-hr-by-template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hr, err := r.Get(ctx, "tenant-hr", tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.ApplyHelmChart(ctx, hr); !IsAccessDenied(err) {
				t.Fatalf("ApplyHelmChart: %v, want AccessDenied", err)
			}
			res := r.Reconcile(ctx, hr, loadTestChart(t, ""), "", nil)
			if !IsAccessDenied(res.Err) || !strings.Contains(res.Err.Error(), tt.msg) || len(res.Actions) > 0 {
				t.Fatalf("result %v %v, want AccessDenied %q and no action", res.Err, res.Actions, tt.msg)
			}
			live, err := r.Get(ctx, "tenant-hr", tt.name)
			if err != nil {
				t.Fatal(err)
			}
			for _, typ := range []string{meta.ReadyCondition, meta.StalledCondition} {
				c := apimeta.FindStatusCondition(live.Status.Conditions, typ)
				if c == nil || c.Reason != AccessDeniedReason || c.Message != tt.msg {
					t.Errorf("%s = %+v, want reason AccessDenied, message %q", typ, c, tt.msg)
				}
			}
			if ev := res.Events(corev1.ObjectReference{Kind: "HelmRelease", Namespace: live.Namespace, Name: live.Name}, nil, r.now()); len(ev) != 1 || ev[0].Reason != AccessDeniedReason {
				t.Errorf("events %+v, want one AccessDenied", ev)
			}
		})
	}
	if _, err := r.Client.Resource(HelmChartsResource).Namespace("tenant-hr-other").Get(ctx, "tenant-hr-by-template", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a HelmChart was made in the other namespace (err %v)", err)
	}
	secrets, err := cluster.Client.CoreV1().Secrets("tenant-hr").List(ctx, metav1.ListOptions{LabelSelector: "owner=helm"})
	if err != nil {
		t.Fatal(err)
	}
	if len(secrets.Items) > 0 {
		t.Errorf("%d Helm release Secrets written", len(secrets.Items))
	}
}
