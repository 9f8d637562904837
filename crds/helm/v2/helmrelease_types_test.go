package v2

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/crds/meta"
)

const testHelmRelease = `
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: podinfo, namespace: apps}
spec:
  interval: 10m
  timeout: 3m
  maxHistory: 3
  persistentClient: false
  targetNamespace: web
  storageNamespace: helm
  serviceAccountName: helm
  chartRef: {kind: OCIRepository, name: podinfo, namespace: flux-system}
  dependsOn: [{name: redis, readyExpr: status.ready}]
  driftDetection: {mode: enabled, ignore: [{paths: [/spec/replicas], target: {kind: Deployment}}]}
  install: {strategy: {name: RetryOnFailure, retryInterval: 2m}, crds: CreateReplace, serverSideApply: true, remediation: {retries: 3}}
  upgrade: {strategy: {name: RemediateOnFailure}, remediation: {retries: 2, strategy: uninstall}, serverSideApply: auto, chartNameChangeStrategy: InPlaceUpdate}
  test: {enable: true, filters: [{name: smoke, exclude: true}]}
  rollback: {recreate: true, serverSideApply: disabled}
  uninstall: {deletionPropagation: orphan, keepHistory: true}
  valuesFrom: [{kind: Secret, name: values, valuesKey: v.yaml, targetPath: a.b, optional: true}]
  values: {replicaCount: 2}
  commonMetadata: {labels: {team: a}}
  postRenderers:
    - kustomize:
        patches: [{patch: "- op: remove\n  path: /x", target: {kind: Service}}]
        images: [{name: podinfo, newTag: "6.5.0"}]
  postRenderStrategy: separate
  waitStrategy: {name: poller}
  healthCheckExprs: [{apiVersion: example.com/v1, kind: Widget, current: status.ready}]
status:
  observedGeneration: 2
  lastAttemptedReleaseAction: upgrade
  lastAttemptedReleaseActionDuration: 5s
  upgradeFailures: 3
  helmChart: flux-system/apps-podinfo
  lastHandledReconcileAt: r1
  lastHandledForceAt: f1
  lastHandledResetAt: x1
  inventory: {entries: [{id: web_podinfo_apps_Deployment, v: v1}]}
  history:
    - {digest: d3, name: podinfo, namespace: web, version: 3, status: failed, chartName: podinfo, chartVersion: 6.5.0, configDigest: c, firstDeployed: "2026-01-01T00:00:00Z", lastDeployed: "2026-01-03T00:00:00Z"}
    - {digest: d2, name: podinfo, namespace: web, version: 2, status: superseded, chartName: podinfo, chartVersion: 6.4.0, configDigest: c, firstDeployed: "2026-01-01T00:00:00Z", lastDeployed: "2026-01-02T00:00:00Z", testHooks: {t: {phase: Failed}}}
    - {digest: d1, name: podinfo, namespace: web, version: 1, status: superseded, chartName: podinfo, chartVersion: 6.3.0, configDigest: c, firstDeployed: "2026-01-01T00:00:00Z", lastDeployed: "2026-01-01T00:00:00Z", testHooks: {}}
`

func TestHelmReleaseDecode(t *testing.T) {
	var hr HelmRelease
	if err := yaml.UnmarshalStrict([]byte(testHelmRelease), &hr); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if hr.GetReleaseName() != "web-podinfo" || hr.GetReleaseNamespace() != "web" || hr.GetStorageNamespace() != "helm" {
		t.Errorf("names: %s %s %s", hr.GetReleaseName(), hr.GetReleaseNamespace(), hr.GetStorageNamespace())
	}
	if hr.GetTimeout().Duration != 3*time.Minute || hr.GetMaxHistory() != 3 || hr.UsePersistentClient() {
		t.Error("spec defaults overridden wrongly")
	}
	if !hr.GetDriftDetection().MustDetectChanges() || hr.GetValues()["replicaCount"] != float64(2) {
		t.Error("drift/values")
	}
	rem := hr.GetActiveRemediation()
	if rem == nil || rem.GetStrategy() != UninstallRemediationStrategy || !rem.IsUninstallAfterUpgrade() ||
		!rem.MustRemediateLastFailure() || !rem.RetriesExhausted(&hr) {
		t.Errorf("upgrade remediation: %+v", rem)
	}
	if hr.GetActiveRetry(true) != nil {
		t.Error("upgrade strategy is RemediateOnFailure, no retry expected")
	}
	hr.Status.LastAttemptedReleaseAction = ReleaseActionInstall
	if r := hr.GetActiveRetry(false); r == nil || r.GetRetryInterval() != 2*time.Minute {
		t.Errorf("install retry: %v", r)
	}
	if ns, name := hr.Status.GetHelmChart(); ns != "flux-system" || name != "apps-podinfo" {
		t.Errorf("helm chart: %s/%s", ns, name)
	}
	if hr.Spec.DependsOn[0].String() != "redis@status.ready" || (*hr.Spec.Test.Filters)[0].Name != "smoke" {
		t.Error("dependsOn/filters")
	}

	h := hr.Status.History
	if h.Latest().Version != 3 {
		t.Errorf("latest = %d", h.Latest().Version)
	}
	if p := h.Previous(false); p == nil || p.Version != 1 {
		t.Errorf("previous (tests count) = %v", p)
	}
	if p := h.Previous(true); p == nil || p.Version != 2 {
		t.Errorf("previous (tests ignored) = %v", p)
	}
	if !h[2].HasBeenTested() || !h[1].HasBeenTested() || h[0].HasBeenTested() {
		t.Error("HasBeenTested")
	}
	h.Truncate(true)
	if len(h) != 2 {
		t.Errorf("truncate kept %d", len(h))
	}
}

func TestHelmReleaseDefaults(t *testing.T) {
	hr := HelmRelease{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns"}}
	if hr.GetReleaseName() != "a" || hr.GetTimeout().Duration != 5*time.Minute || hr.GetMaxHistory() != 5 ||
		!hr.UsePersistentClient() || hr.GetActiveRemediation() != nil || hr.GetHelmChartName() != "ns-a" {
		t.Error("defaults wrong")
	}
	up := UpgradeRemediation{Retries: 1}
	if up.GetStrategy() != RollbackRemediationStrategy || !up.MustRemediateLastFailure() {
		t.Error("upgrade remediation defaults")
	}
	if (InstallRemediation{}).MustRemediateLastFailure() || (Uninstall{}).GetDeletionPropagation() != "background" {
		t.Error("install/uninstall defaults")
	}
}

func TestShouldHandleRequests(t *testing.T) {
	hr := &HelmRelease{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
		meta.ReconcileRequestAnnotation: "t1", ForceRequestAnnotation: "t1", ResetRequestAnnotation: "t0",
	}}}
	if !ShouldHandleForceRequest(hr) || hr.Status.LastHandledForceAt != "t1" {
		t.Error("force request with matching token must be handled")
	}
	if ShouldHandleForceRequest(hr) {
		t.Error("force request must be handled once")
	}
	if ShouldHandleResetRequest(hr) || hr.Status.LastHandledResetAt != "t0" {
		t.Error("reset request with other token must not be handled but recorded")
	}
}
