package reconcile

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	"github.com/converge-gitops/converge/engine/helmrelease/release"
)

// tamperConfigMap changes data keys of a live ConfigMap, as someone with kubectl would.
func tamperConfigMap(t *testing.T, ns, name string, data map[string]string) {
	t.Helper()
	ctx := context.Background()
	cm, err := cluster.Client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range data {
		cm.Data[k] = v
	}
	if _, err := cluster.Client.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
}

func configMapData(t *testing.T, ns, name string) map[string]string {
	t.Helper()
	cm, err := cluster.Client.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm.Data
}

func driftLines(d *release.Drift) string {
	if d == nil {
		return ""
	}
	return d.Summary()
}

func eventReasons(d *release.Drift) string {
	var out []string
	for _, e := range d.Events() {
		out = append(out, e.Reason+"/"+e.Severity)
	}
	return strings.Join(out, ",")
}

// TestHelmReleaseDriftEnabled: with drift detection enabled, an in-sync release whose ConfigMap was
// edited and whose Deployment was deleted is corrected without a Helm action or a new revision; the
// result reports the drift and its correction as helm-controller's events do; status.inventory lists
// the release objects (not its test hook).
func TestHelmReleaseDriftEnabled(t *testing.T) {
	ctx := context.Background()
	r := newHelmReleases(t)
	ns := "hr-drift"
	createHelmRelease(t, r, ns, "web", `  driftDetection:
    mode: enabled
`)
	if res := r.Reconcile(ctx, hrRef(ns, "web"), loadTestChart(t, ""), "", nil); res.Err != nil || actionsOf(res) != "install" || res.Drift != nil {
		t.Fatalf("install: %q drift %v err %v", actionsOf(res), driftLines(res.Drift), res.Err)
	}
	hr := liveHR(t, r, ns, "web")
	if c := condition(hr, "Drifted"); c.Status != metav1.ConditionFalse || c.Reason != "NoDriftDetected" || c.Message != "No drift detected against the cluster state" {
		t.Fatalf("Drifted after install %+v", c)
	}
	var ids []string
	for _, e := range hr.Status.Inventory.Entries {
		ids = append(ids, e.ID+"@"+e.Version)
	}
	if got := strings.Join(ids, ","); got != "hr-drift_web-config__ConfigMap@v1,hr-drift_web-app_apps_Deployment@v1" {
		t.Fatalf("inventory %s", got)
	}

	tamperConfigMap(t, ns, "web-config", map[string]string{"message": "tampered"})
	if err := cluster.Client.AppsV1().Deployments(ns).Delete(ctx, "web-app", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	res := r.Reconcile(ctx, hrRef(ns, "web"), loadTestChart(t, ""), "", nil)
	if res.Err != nil || len(res.Actions) != 0 {
		t.Fatalf("drift: actions %q err %v", actionsOf(res), res.Err)
	}
	want := "ConfigMap/hr-drift/web-config changed (0 additions, 1 changes, 0 removals)\nDeployment/hr-drift/web-app removed"
	if got := driftLines(res.Drift); got != want {
		t.Fatalf("drift\n%s\nwant\n%s", got, want)
	}
	if got := strings.Join(res.Drift.Corrected, ","); got != "ConfigMap/hr-drift/web-config configured,Deployment/hr-drift/web-app created" || res.Drift.CorrectionErr != nil {
		t.Fatalf("corrected %s (%v)", got, res.Drift.CorrectionErr)
	}
	if got := eventReasons(res.Drift); got != "DriftDetected/error,DriftCorrected/info" {
		t.Fatalf("events %s", got)
	}
	if !strings.HasPrefix(res.Drift.Events()[0].Message, "Cluster state of release hr-drift/web.v1 has drifted from the desired state:\n") {
		t.Fatalf("event message %q", res.Drift.Events()[0].Message)
	}
	if d := configMapData(t, ns, "web-config"); d["message"] != "hello" {
		t.Fatalf("ConfigMap not corrected: %v", d)
	}
	if _, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "web-app", metav1.GetOptions{}); err != nil {
		t.Fatalf("Deployment not recreated: %v", err)
	}
	hr = liveHR(t, r, ns, "web")
	if c := condition(hr, "Drifted"); c.Status != metav1.ConditionFalse || c.Reason != "NoDriftDetected" {
		t.Fatalf("Drifted after correction %+v", c)
	}
	if c := condition(hr, "Ready"); c.Status != metav1.ConditionTrue || c.Reason != "InstallSucceeded" || condition(hr, "Reconciling").Type != "" {
		t.Fatalf("Ready after correction %+v", hr.Status.Conditions)
	}
	if h := helmHistory(t, ns, "web"); len(h) != 1 {
		t.Fatalf("correction made Helm revisions: %s", statuses(h))
	}
	// Corrected: the next reconciliation finds nothing.
	if res := r.Reconcile(ctx, hrRef(ns, "web"), loadTestChart(t, ""), "", nil); res.Err != nil || len(res.Actions) != 0 || res.Drift != nil {
		t.Fatalf("after correction: %q drift %s err %v", actionsOf(res), driftLines(res.Drift), res.Err)
	}

	// Uninstalling clears the inventory.
	if err := r.Uninstall(ctx, hrRef(ns, "web")); err != nil {
		t.Fatal(err)
	}
	if hr := liveHR(t, r, ns, "web"); hr.Status.Inventory != nil {
		t.Fatalf("inventory after uninstall %+v", hr.Status.Inventory)
	}
}

// TestHelmReleaseDriftWarn: in warn mode drift is reported (Drifted=True, DriftDetected event) and
// left alone; Ready stays True; an object excluded by the driftDetection annotation is listed as
// excluded, not as drift.
func TestHelmReleaseDriftWarn(t *testing.T) {
	ctx := context.Background()
	r := newHelmReleases(t)
	ns := "hr-drift-warn"
	createHelmRelease(t, r, ns, "web", `  driftDetection:
    mode: warn
`)
	if res := r.Reconcile(ctx, hrRef(ns, "web"), loadTestChart(t, ""), "", nil); res.Err != nil {
		t.Fatal(res.Err)
	}
	tamperConfigMap(t, ns, "web-config", map[string]string{"message": "tampered"})
	dep, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "web-app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dep.Annotations[helmv2.DriftDetectionMetadataKey] = "disabled"
	dep.Spec.Template.Labels["extra"] = "label"
	if _, err := cluster.Client.AppsV1().Deployments(ns).Update(ctx, dep, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ {
		res := r.Reconcile(ctx, hrRef(ns, "web"), loadTestChart(t, ""), "", nil)
		if res.Err != nil || len(res.Actions) != 0 {
			t.Fatalf("warn: %q err %v", actionsOf(res), res.Err)
		}
		want := "ConfigMap/hr-drift-warn/web-config changed (0 additions, 1 changes, 0 removals)\nDeployment/hr-drift-warn/web-app excluded"
		if got := driftLines(res.Drift); got != want || len(res.Drift.Corrected) != 0 || eventReasons(res.Drift) != "DriftDetected/error" {
			t.Fatalf("round %d: drift\n%s\nwant\n%s\nevents %s", round, got, want, eventReasons(res.Drift))
		}
		hr := liveHR(t, r, ns, "web")
		if c := condition(hr, "Drifted"); c.Status != metav1.ConditionTrue || c.Reason != "DriftDetected" || c.Message != res.Drift.Message() {
			t.Fatalf("Drifted %+v", c)
		}
		if c := condition(hr, "Ready"); c.Status != metav1.ConditionTrue {
			t.Fatalf("Ready %+v", c)
		}
		if d := configMapData(t, ns, "web-config"); d["message"] != "tampered" {
			t.Fatalf("warn mode corrected the ConfigMap: %v", d)
		}
	}
}

// TestHelmReleaseDriftIgnoreRules: ignored JSON pointers of the targeted objects are neither reported
// nor corrected; the other fields of the same object are; a rule whose target does not match leaves
// the object compared in full.
func TestHelmReleaseDriftIgnoreRules(t *testing.T) {
	ctx := context.Background()
	r := newHelmReleases(t)
	ns := "hr-drift-ignore"
	createHelmRelease(t, r, ns, "web", `  driftDetection:
    mode: enabled
    ignore:
      - paths: ["/data/message"]
        target:
          kind: ConfigMap
          name: ".*-config"
      - paths: ["/metadata/labels/owner", "/spec/replicas"]
        target:
          kind: Deployment
          name: other
`)
	if res := r.Reconcile(ctx, hrRef(ns, "web"), loadTestChart(t, ""), "", nil); res.Err != nil {
		t.Fatal(res.Err)
	}
	// Only ignored: no drift.
	tamperConfigMap(t, ns, "web-config", map[string]string{"message": "scaled-by-hand"})
	res := r.Reconcile(ctx, hrRef(ns, "web"), loadTestChart(t, ""), "", nil)
	if res.Err != nil || res.Drift != nil {
		t.Fatalf("ignored path reported: %s err %v", driftLines(res.Drift), res.Err)
	}
	if c := condition(liveHR(t, r, ns, "web"), "Drifted"); c.Reason != "NoDriftDetected" {
		t.Fatalf("Drifted %+v", c)
	}
	// An ignored and a compared field, and a Deployment the Deployment rule does not target.
	tamperConfigMap(t, ns, "web-config", map[string]string{"revision": "99"})
	dep, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "web-app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	replicas := int32(3)
	dep.Spec.Replicas = &replicas
	if _, err := cluster.Client.AppsV1().Deployments(ns).Update(ctx, dep, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	res = r.Reconcile(ctx, hrRef(ns, "web"), loadTestChart(t, ""), "", nil)
	want := "ConfigMap/hr-drift-ignore/web-config changed (0 additions, 1 changes, 0 removals)\nDeployment/hr-drift-ignore/web-app changed (0 additions, 1 changes, 0 removals)"
	if res.Err != nil || driftLines(res.Drift) != want {
		t.Fatalf("drift\n%s\nwant\n%s\n(err %v)", driftLines(res.Drift), want, res.Err)
	}
	if d := configMapData(t, ns, "web-config"); d["message"] != "scaled-by-hand" || d["revision"] != "1" {
		t.Fatalf("ConfigMap after correction %v", d)
	}
	dep, err = cluster.Client.AppsV1().Deployments(ns).Get(ctx, "web-app", metav1.GetOptions{})
	if err != nil || *dep.Spec.Replicas != 0 {
		t.Fatalf("Deployment replicas not corrected: %v %v", dep.Spec.Replicas, err)
	}
}
