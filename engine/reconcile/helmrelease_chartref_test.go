package reconcile

import (
	"context"
	"strings"
	"testing"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/fetch"
	"github.com/converge-gitops/converge/engine/helmrelease/helmtest"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/helmchart"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// createChartRefRelease creates a HelmRelease namespace/name whose chart is spec.chartRef to kind/ref.
func createChartRefRelease(t *testing.T, r *HelmReleases, namespace, name, kind, ref, spec string) {
	t.Helper()
	ensureNS(t, namespace)
	obj := objs(t, `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: `+name+`
  namespace: `+namespace+`
spec:
  interval: 10m
  chartRef:
    kind: `+kind+`
    name: `+ref+`
`+spec)[0]
	if _, err := r.Client.Resource(HelmReleasesResource).Namespace(namespace).Create(context.Background(), obj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestHelmReleaseChartRefOCIRepository: a chart pushed to a real registry (Debian's docker-registry)
// with Helm's client, referenced through an OCIRepository and spec.chartRef, is installed with the
// digest-tracked version helm-controller uses; the same tag pushed again with other content (a new
// digest) upgrades the release; an unchanged artifact is a no-op.
func TestHelmReleaseChartRefOCIRepository(t *testing.T) {
	ctx := context.Background()
	r := newHelmReleases(t)
	ns := "hr-chartref"
	reg := sourcetest.StartRegistry(t, "")
	ref := reg.Host + "/charts/simple:0.1.0"
	digest1 := helmtest.Push(t, ref, helmtest.Package(t, helmtest.ChartDir("simple"), nil))

	store, err := source.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	charts := &fetch.Charts{Sources: &fetch.Resolver{Remote: fetch.NewFetchers(store, nil).Dir}, Fetcher: helmchart.New(store, nil)}
	oci := &sourcev1.OCIRepository{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "simple", Generation: 1},
		Spec: sourcev1.OCIRepositorySpec{URL: "oci://" + reg.Host + "/charts/simple", Insecure: true,
			Reference: &sourcev1.OCIRepositoryRef{Tag: "0.1.0"}, Interval: metav1.Duration{Duration: 1e9}}}
	declared := map[string]runtime.Object{"OCIRepository/" + ns + "/simple": oci}
	createChartRefRelease(t, r, ns, "web", "OCIRepository", "simple", "")
	resolve := func() (*chart.Chart, string) {
		t.Helper()
		chrt, digest, err := charts.ResolveChart(ctx, liveHR(t, r, ns, "web"), declared)
		if err != nil {
			t.Fatal(err)
		}
		return chrt, digest
	}
	version := func(digest string) string { return "0.1.0+" + strings.TrimPrefix(digest, "sha256:")[:12] }

	chrt, digest := resolve()
	res := r.Reconcile(ctx, hrRef(ns, "web"), chrt, digest, nil)
	if res.Err != nil || actionsOf(res) != "install" || res.Revision != version(digest1) {
		t.Fatalf("install: actions %q revision %s err %v", actionsOf(res), res.Revision, res.Err)
	}
	hr := liveHR(t, r, ns, "web")
	st := hr.Status
	if st.LastAttemptedRevision != version(digest1) || st.LastAttemptedRevisionDigest != digest1 || st.HelmChart != "" ||
		len(st.History) != 1 || st.History[0].OCIDigest != digest1 || st.History[0].ChartVersion != version(digest1) {
		t.Fatalf("status after install: %+v", st)
	}
	if c := condition(hr, "Ready"); c.Status != metav1.ConditionTrue ||
		c.Message != "Helm install succeeded for release hr-chartref/web.v1 with chart simple@"+version(digest1) {
		t.Fatalf("Ready %+v", c)
	}
	if h := helmHistory(t, ns, "web"); len(h) != 1 || h[0].Chart.Metadata.Version != version(digest1) {
		t.Fatalf("helm history %s", statuses(h))
	}

	chrt, digest = resolve()
	if res := r.Reconcile(ctx, hrRef(ns, "web"), chrt, digest, nil); res.Err != nil || len(res.Actions) != 0 {
		t.Fatalf("unchanged artifact: actions %q err %v", actionsOf(res), res.Err)
	}

	// The same tag, other content: a new digest, so a new chart version and an upgrade.
	digest2 := helmtest.Push(t, ref, helmtest.Package(t, helmtest.ChartDir("simple"), func(c *chart.Chart) {
		for _, f := range c.Raw {
			if f.Name == "values.yaml" {
				f.Data = []byte(strings.Replace(string(f.Data), "message: hello", "message: repushed", 1))
			}
		}
	}))
	if digest2 == digest1 {
		t.Fatal("the re-pushed chart has the same digest")
	}
	chrt, digest = resolve()
	res = r.Reconcile(ctx, hrRef(ns, "web"), chrt, digest, nil)
	if res.Err != nil || actionsOf(res) != "upgrade" || res.Revision != version(digest2) {
		t.Fatalf("new digest: actions %q revision %s err %v", actionsOf(res), res.Revision, res.Err)
	}
	hr = liveHR(t, r, ns, "web")
	if hr.Status.LastAttemptedRevisionDigest != digest2 || hr.Status.History.Latest().OCIDigest != digest2 || hr.Status.History[1].OCIDigest != digest1 {
		t.Fatalf("history after the new digest %+v", hr.Status.History)
	}
	cm, err := cluster.Client.CoreV1().ConfigMaps(ns).Get(ctx, "web-config", metav1.GetOptions{})
	if err != nil || cm.Data["message"] != "repushed" {
		t.Fatalf("ConfigMap after upgrade: %v %v", cm.Data, err)
	}
}
