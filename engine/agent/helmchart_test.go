package agent

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/converge-gitops/converge/engine/helmrelease/helmtest"
	"github.com/converge-gitops/converge/engine/kube"
)

var (
	hrGVR    = schema.GroupVersionResource{Group: "helm.toolkit.fluxcd.io", Version: "v2", Resource: "helmreleases"}
	chartGVR = schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "helmcharts"}
)

// TestAgentHelmChart: for a HelmRelease with spec.chart the agent creates the HelmChart helm-controller
// would ("<namespace>-<name>" in the source's namespace, the template's metadata and spec, the labels
// naming the HelmRelease), reconciles it as source-controller does (artifact, observed fields,
// ChartPullSucceeded) from a real chart repository, and installs the HelmChart's artifact; a new chart
// version in the index gives a new artifact and an upgrade. A chart the repository lacks leaves the
// HelmChart failed and the HelmRelease SourceNotReady, saying why. Deleting a HelmRelease deletes its
// HelmChart.
func TestAgentHelmChart(t *testing.T) {
	ns, srcNS := "helmchart", "helmchart-sources"
	namespace(t, ns)
	namespace(t, srcNS)
	charts := helmtest.NewRepository(t)
	v1, v2 := helmtest.PackageVersion(t, "simple", "0.1.0"), helmtest.PackageVersion(t, "simple", "0.2.0")
	charts.Publish(t, "simple", map[string][]byte{"0.1.0": v1})
	startAgent(t, Options{})
	cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {name: charts, namespace: %s}
spec: {interval: 1h, url: %q}`, srcNS, charts.URL))
	hr := func(name, chart string) string {
		return fmt.Sprintf(`apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: %s, namespace: %s}
spec:
  interval: 1h
  chart:
    metadata:
      labels: {team: web}
      annotations: {note: from-template}
    spec:
      chart: %s
      version: ">=0.1.0"
      interval: 5m
      sourceRef: {kind: HelmRepository, name: charts, namespace: %s}
  values: {message: hello}
`, name, ns, chart, srcNS)
	}
	cluster.ApplyYAML(t, hr("web", "simple"))
	cluster.ApplyYAML(t, hr("absent", "no-such-chart"))

	hrAt := func(name, version string) func() (bool, string) {
		return func() (bool, string) {
			u := get(t, hrGVR, ns, name)
			st, reason, msg := condition(u, "Ready")
			got := nested(t, u, "status", "lastAttemptedRevision")
			return st == "True" && got == version, fmt.Sprintf("%s %s %s revision %s", st, reason, msg, got)
		}
	}
	eventually(t, "installed from the HelmChart", hrAt("web", "0.1.0"))

	hc := get(t, chartGVR, srcNS, ns+"-web")
	repo := get(t, helmRepoGVR, srcNS, "charts")
	st, reason, msg := condition(hc, "Ready")
	for _, c := range []struct{ what, got, want string }{
		{"HelmRelease status.helmChart", nested(t, get(t, hrGVR, ns, "web"), "status", "helmChart"), srcNS + "/" + ns + "-web"},
		{"label team", hc.GetLabels()["team"], "web"},
		{"label helm.toolkit.fluxcd.io/name", hc.GetLabels()["helm.toolkit.fluxcd.io/name"], "web"},
		{"label helm.toolkit.fluxcd.io/namespace", hc.GetLabels()["helm.toolkit.fluxcd.io/namespace"], ns},
		{"annotation note", hc.GetAnnotations()["note"], "from-template"},
		{"spec.chart", nested(t, hc, "spec", "chart"), "simple"},
		{"spec.version", nested(t, hc, "spec", "version"), ">=0.1.0"},
		{"spec.interval", nested(t, hc, "spec", "interval"), "5m0s"},
		{"spec.sourceRef", nested(t, hc, "spec", "sourceRef"), "map[kind:HelmRepository name:charts]"},
		{"Ready", st + " " + reason + " " + msg, "True ChartPullSucceeded pulled 'simple' chart with version '0.1.0'"},
		{"status.artifact.revision", nested(t, hc, "status", "artifact", "revision"), "0.1.0"},
		{"status.observedGeneration", nested(t, hc, "status", "observedGeneration"), fmt.Sprint(hc.GetGeneration())},
		{"status.observedChartName", nested(t, hc, "status", "observedChartName"), "simple"},
		{"status.observedSourceArtifactRevision", nested(t, hc, "status", "observedSourceArtifactRevision"), nested(t, repo, "status", "artifact", "revision")},
		{"HelmRepository revision is a digest", fmt.Sprint(strings.HasPrefix(nested(t, repo, "status", "artifact", "revision"), "sha256:")), "true"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}

	eventually(t, "the new artifact announced as source-controller does", func() (bool, string) {
		evs, err := cluster.Client.CoreV1().Events(srcNS).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var seen []string
		for _, e := range evs.Items {
			if e.InvolvedObject.Kind == "HelmChart" && e.InvolvedObject.Name == ns+"-web" {
				seen = append(seen, e.Reason+": "+e.Message)
			}
		}
		return slices.Contains(seen, "ChartPullSucceeded: pulled 'simple' chart with version '0.1.0'"), fmt.Sprint(seen)
	})

	eventually(t, "a missing chart reported", func() (bool, string) {
		st, reason, msg := condition(get(t, hrGVR, ns, "absent"), "Ready")
		hst, hreason, _ := condition(get(t, chartGVR, srcNS, ns+"-absent"), "FetchFailed")
		return st == "False" && reason == "SourceNotReady" && strings.Contains(msg, "HelmChart '"+srcNS+"/"+ns+"-absent' is not ready") &&
				strings.Contains(msg, "no-such-chart") && hst == "True" && hreason == "InvalidChartReference",
			fmt.Sprintf("HelmRelease %s %s %s; HelmChart FetchFailed %s %s", st, reason, msg, hst, hreason)
	})

	// A suspended HelmChart keeps its artifact when a new version appears (a HelmChart of its own on the
	// same repository, reconciled at the same time, shows when it did), even though its HelmRelease
	// re-applies it.
	clients, _ := kube.New(cluster.Config)
	patchChart := func(patch string) {
		t.Helper()
		if _, err := clients.Dynamic.Resource(chartGVR).Namespace(srcNS).Patch(context.Background(), ns+"-web", types.MergePatchType,
			[]byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	patchChart(`{"spec":{"suspend":true}}`)
	cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmChart
metadata: {name: witness, namespace: %s}
spec: {interval: 1h, chart: simple, sourceRef: {kind: HelmRepository, name: charts}}`, srcNS))
	chartAt := func(name, version string) func() (bool, string) {
		return func() (bool, string) {
			got := nested(t, get(t, chartGVR, srcNS, name), "status", "artifact", "revision")
			return got == version, "revision " + got
		}
	}
	eventually(t, "the witness HelmChart at the first version", chartAt("witness", "0.1.0"))
	charts.Publish(t, "simple", map[string][]byte{"0.1.0": v1, "0.2.0": v2})
	requestReconcile(t, helmRepoGVR, srcNS, "charts")
	eventually(t, "the witness HelmChart at the new version", chartAt("witness", "0.2.0"))
	requestReconcile(t, hrGVR, ns, "web")
	eventually(t, "the HelmRelease reconciled", func() (bool, string) {
		u := get(t, hrGVR, ns, "web")
		handled := nested(t, u, "status", "lastHandledReconcileAt")
		return handled == u.GetAnnotations()["reconcile.fluxcd.io/requestedAt"], "handled " + handled
	})
	if got := nested(t, get(t, chartGVR, srcNS, ns+"-web"), "status", "artifact", "revision"); got != "0.1.0" {
		t.Errorf("suspended HelmChart artifact revision = %s", got)
	}
	if s := nested(t, get(t, chartGVR, srcNS, ns+"-web"), "spec", "suspend"); s != "true" {
		t.Errorf("the HelmRelease's apply changed spec.suspend to %s", s)
	}

	// Resumed (as `converge resume source chart` does it), the HelmChart gets the new version, which
	// upgrades the release.
	token := time.Now().Format(time.RFC3339Nano)
	patchChart(fmt.Sprintf(`{"spec":{"suspend":false},"metadata":{"annotations":{"reconcile.fluxcd.io/requestedAt":%q}}}`, token))
	eventually(t, "upgraded to the new chart version", hrAt("web", "0.2.0"))
	hc = get(t, chartGVR, srcNS, ns+"-web")
	if got := nested(t, hc, "status", "artifact", "revision"); got != "0.2.0" {
		t.Errorf("HelmChart artifact revision = %s", got)
	}
	if got := nested(t, hc, "status", "lastHandledReconcileAt"); got != token {
		t.Errorf("HelmChart lastHandledReconcileAt = %s, want %s", got, token)
	}

	// A chartRef to a HelmChart installs that HelmChart's artifact.
	cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: byref, namespace: %s}
spec:
  interval: 1h
  chartRef: {kind: HelmChart, name: witness, namespace: %s}
`, ns, srcNS))
	eventually(t, "installed from the chartRef's HelmChart", hrAt("byref", "0.2.0"))

	// Deleting a HelmRelease deletes the HelmChart made for it, not the one its chartRef names.
	for _, name := range []string{"web", "byref"} {
		if err := clients.Dynamic.Resource(hrGVR).Namespace(ns).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the HelmChart deleted with its HelmRelease", func() (bool, string) {
		return get(t, hrGVR, ns, "web") == nil && get(t, hrGVR, ns, "byref") == nil && get(t, chartGVR, srcNS, ns+"-web") == nil, "still there"
	})
	if get(t, chartGVR, srcNS, "witness") == nil {
		t.Error("the HelmChart of a deleted HelmRelease's chartRef was deleted")
	}
}
