package v1

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

const testKustomization = `
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec:
  interval: 10m
  retryInterval: 1m
  timeout: 2m
  path: ./apps/production
  prune: true
  deletionPolicy: WaitForTermination
  wait: true
  force: true
  suspend: false
  targetNamespace: apps
  namePrefix: p-
  nameSuffix: -s
  serviceAccountName: kustomize
  components: [../components/a]
  ignoreMissingComponents: true
  buildMetadata: [originAnnotations]
  commonMetadata: {labels: {team: a}, annotations: {owner: b}}
  dependsOn:
    - name: infra
      namespace: flux-system
      readyExpr: status.observedGeneration == metadata.generation
  decryption: {provider: sops, serviceAccountName: sops, secretRef: {name: sops-age}}
  kubeConfig: {secretRef: {name: remote, key: value.yaml}}
  healthChecks:
    - {apiVersion: apps/v1, kind: Deployment, name: web, namespace: apps}
  healthCheckExprs:
    - apiVersion: example.com/v1
      kind: Widget
      current: status.ready
      inProgress: '!status.ready'
      failed: status.failed
  images: [{name: web, newName: mirror/web, newTag: v2, digest: 'sha256:abc'}]
  patches:
    - patch: |
        - op: add
          path: /metadata/labels/x
          value: y
      target: {group: apps, version: v1, kind: Deployment, name: web, namespace: apps, labelSelector: a=b, annotationSelector: c=d}
  ignore:
    - paths: [/spec/replicas]
      target: {kind: Deployment}
  postBuild:
    substituteStrategy: Always
    substitute: {cluster: prod}
    substituteFrom:
      - {kind: ConfigMap, name: vars, optional: true}
  sourceRef: {kind: GitRepository, name: flux-system, namespace: flux-system}
status:
  observedGeneration: 3
  lastAppliedRevision: main@sha1:abc
  lastAppliedOriginRevision: v1.0.0@sha1:abc
  lastAttemptedRevision: main@sha1:def
  lastHandledReconcileAt: "2026-01-01T00:00:00Z"
  inventory: {entries: [{id: apps_web_apps_Deployment, v: v1}]}
  history:
    - digest: sha256:123
      firstReconciled: "2026-01-01T00:00:00Z"
      lastReconciled: "2026-01-01T00:10:00Z"
      lastReconciledDuration: 2s
      lastReconciledStatus: ReconciliationSucceeded
      totalReconciliations: 2
      metadata: {revision: main@sha1:abc}
  conditions:
    - {type: Ready, status: "True", reason: ReconciliationSucceeded, message: ok, lastTransitionTime: "2026-01-01T00:00:00Z"}
`

func TestKustomizationDecode(t *testing.T) {
	var ks Kustomization
	if err := yaml.UnmarshalStrict([]byte(testKustomization), &ks); err != nil {
		t.Fatalf("decode: %v", err)
	}
	s := ks.Spec
	if s.DependsOn[0].ReadyExpr == "" || s.Decryption.SecretRef.Name != "sops-age" ||
		s.Patches[0].Target.AnnotationSelector != "c=d" || s.HealthCheckExprs[0].InProgress != "!status.ready" ||
		s.PostBuild.SubstituteFrom[0].Kind != "ConfigMap" || s.SourceRef.String() != "GitRepository/flux-system/flux-system" {
		t.Errorf("spec not decoded: %+v", s)
	}
	if ks.Status.Inventory.Entries[0].Version != "v1" || ks.Status.History.Latest().TotalReconciliations != 2 ||
		ks.Status.LastHandledReconcileAt == "" {
		t.Errorf("status not decoded: %+v", ks.Status)
	}
	if ks.GetTimeout() != 2*time.Minute || ks.GetRetryInterval() != time.Minute || ks.GetRequeueAfter() != 10*time.Minute {
		t.Errorf("durations: %s %s %s", ks.GetTimeout(), ks.GetRetryInterval(), ks.GetRequeueAfter())
	}
	if ks.GetDeletionPolicy() != DeletionPolicyWaitForTermination || ks.GetSubstituteStrategy() != SubstituteStrategyAlways {
		t.Errorf("policy/strategy: %s %s", ks.GetDeletionPolicy(), ks.GetSubstituteStrategy())
	}
	// Re-encoding and decoding gives the same object.
	raw, err := yaml.Marshal(&ks)
	if err != nil {
		t.Fatal(err)
	}
	var again Kustomization
	if err := yaml.UnmarshalStrict(raw, &again); err != nil {
		t.Fatal(err)
	}
	if !again.Status.History[0].LastReconciled.Equal(&ks.Status.History[0].LastReconciled) || again.Spec.Patches[0].Patch != ks.Spec.Patches[0].Patch {
		t.Error("round trip changed the object")
	}
}

func TestKustomizationDefaults(t *testing.T) {
	ks := Kustomization{Spec: KustomizationSpec{Interval: metav1.Duration{Duration: 10 * time.Minute}}}
	if ks.GetTimeout() != 10*time.Minute-30*time.Second {
		t.Errorf("timeout = %s", ks.GetTimeout())
	}
	ks.Spec.Interval.Duration = 40 * time.Second
	if ks.GetTimeout() != 30*time.Second {
		t.Errorf("timeout floor = %s", ks.GetTimeout())
	}
	if ks.GetRetryInterval() != 40*time.Second || ks.GetDeletionPolicy() != DeletionPolicyMirrorPrune ||
		ks.GetSubstituteStrategy() != SubstituteStrategyWithVariables {
		t.Error("defaults wrong")
	}
}

func TestHistoryUpsert(t *testing.T) {
	var h History
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 6 {
		h.Upsert("sha256:"+string(rune('a'+i)), t0.Add(time.Duration(i)*time.Minute), time.Second, "ReconciliationSucceeded", nil)
	}
	if len(h) != HistoryMaxSize || h.Latest().Digest != "sha256:f" || h[HistoryMaxSize-1].Digest != "sha256:b" {
		t.Fatalf("after inserts: %+v", h)
	}
	h.Upsert("sha256:c", t0.Add(time.Hour), 2*time.Second, "ReconciliationSucceeded", map[string]string{"k": "v"})
	if len(h) != HistoryMaxSize || h[0].Digest != "sha256:c" || h[0].TotalReconciliations != 2 ||
		!h[0].FirstReconciled.Equal(&metav1.Time{Time: t0.Add(2 * time.Minute)}) || h[0].Metadata["k"] != "v" ||
		h[1].Digest != "sha256:f" || h[4].Digest != "sha256:b" {
		t.Fatalf("after update: %+v", h)
	}
	h.Upsert("sha256:c", t0.Add(2*time.Hour), time.Second, "ReconciliationFailed", nil)
	if h[0].LastReconciledStatus != "ReconciliationFailed" || h[0].TotalReconciliations != 1 || h[1].Digest != "sha256:c" {
		t.Fatalf("different status must add a snapshot: %+v", h)
	}
}
