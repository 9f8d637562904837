package v1

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
)

func decodeStrict(t *testing.T, doc string) runtime.Object {
	t.Helper()
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	dec := json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s, json.SerializerOptions{Yaml: true, Strict: true})
	obj, _, err := dec.Decode([]byte(doc), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

func TestDecodeGitRepository(t *testing.T) {
	repo := decodeStrict(t, `
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: podinfo
  namespace: flux-system
spec:
  interval: 1m0s
  timeout: 60s
  url: https://github.com/stefanprodan/podinfo
  provider: github
  secretRef:
    name: app-credentials
  proxySecretRef:
    name: proxy
  ref:
    branch: main
    commit: 5394cb7f48332b2de7c17dd8b8384bbc84b7e738
  verify:
    mode: head
    secretRef:
      name: pgp-public-keys
  ignore: |
    /*
    !/deploy
  suspend: false
  recurseSubmodules: true
  include:
    - repository:
        name: other
      fromPath: deploy
      toPath: base/other
  sparseCheckout:
    - ./deploy
status:
  observedGeneration: 2
  lastHandledReconcileAt: "2026-01-01T00:00:00Z"
  sourceVerificationMode: HEAD
  observedRecurseSubmodules: true
  observedSparseCheckout: ["./deploy"]
  observedInclude:
    - repository:
        name: other
  artifact:
    path: gitrepository/flux-system/podinfo/5394cb7f.tar.gz
    url: http://source-controller.flux-system.svc.cluster.local./gitrepository/flux-system/podinfo/5394cb7f.tar.gz
    revision: main@sha1:5394cb7f48332b2de7c17dd8b8384bbc84b7e738
    digest: sha256:0123
    lastUpdateTime: "2026-01-01T00:00:00Z"
    size: 1024
  includedArtifacts:
    - path: a
      url: b
      revision: c
      digest: sha256:0123
      lastUpdateTime: "2026-01-01T00:00:00Z"
  conditions:
    - type: Ready
      status: "True"
      reason: Succeeded
      message: stored artifact
      lastTransitionTime: "2026-01-01T00:00:00Z"
`).(*GitRepository)

	if repo.GetRequeueAfter() != time.Minute || repo.GetTimeout() != time.Minute || repo.GetProvider() != GitProviderGitHub {
		t.Errorf("interval/timeout/provider = %v %v %v", repo.GetRequeueAfter(), repo.GetTimeout(), repo.GetProvider())
	}
	if ref := repo.GetReference(); ref.Branch != "main" || ref.Commit == "" {
		t.Errorf("ref = %+v", ref)
	}
	v := repo.Spec.Verification
	if v.GetMode() != ModeGitHEAD || !v.VerifyHEAD() || v.VerifyTag() {
		t.Errorf("legacy head mode = %v", v.GetMode())
	}
	if inc := repo.Spec.Include[0]; inc.GetToPath() != "base/other" || inc.GetFromPath() != "deploy" {
		t.Errorf("include = %+v", inc)
	}
	if repo.Status.ObservedInclude[0].GetToPath() != "other" {
		t.Errorf("default toPath = %q", repo.Status.ObservedInclude[0].GetToPath())
	}
	if repo.GetArtifact().Revision != "main@sha1:5394cb7f48332b2de7c17dd8b8384bbc84b7e738" || len(repo.Status.IncludedArtifacts) != 1 ||
		*repo.Status.SourceVerificationMode != ModeGitHEAD || repo.Status.LastHandledReconcileAt == "" || len(repo.GetConditions()) != 1 {
		t.Errorf("status = %+v", repo.Status)
	}

	bare := &GitRepository{}
	if ref := bare.GetReference(); ref.Branch != DefaultGitBranch {
		t.Errorf("default ref = %+v", ref)
	}
	if bare.GetProvider() != GitProviderGeneric {
		t.Errorf("default provider = %q", bare.GetProvider())
	}
}

func TestDecodeOtherKinds(t *testing.T) {
	hc := decodeStrict(t, `
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmChart
metadata: {name: podinfo}
spec:
  chart: podinfo
  version: "6.x"
  interval: 5m
  reconcileStrategy: Revision
  sourceRef: {kind: HelmRepository, name: podinfo}
  valuesFiles: [values.yaml, values-prod.yaml]
  ignoreMissingValuesFiles: true
  verify:
    provider: cosign
    matchOIDCIdentity:
      - issuer: "^https://token.actions.githubusercontent.com$"
        subject: "^https://github.com/stefanprodan/podinfo.*$"
status:
  observedChartName: podinfo
  observedValuesFiles: [values.yaml]
  observedSourceArtifactRevision: sha256:1
`).(*HelmChart)
	if hc.GetReconcileStrategy() != ReconcileStrategyRevision || len(hc.GetValuesFiles()) != 2 || hc.Spec.Verify.Provider != "cosign" {
		t.Errorf("helmchart = %+v", hc.Spec)
	}

	b := decodeStrict(t, `
apiVersion: source.toolkit.fluxcd.io/v1
kind: Bucket
metadata: {name: b}
spec:
  provider: generic
  bucketName: podinfo
  endpoint: minio.minio.svc.cluster.local:9000
  insecure: true
  region: us-east-1
  prefix: deploy/
  interval: 5m
  sts:
    provider: ldap
    endpoint: https://minio.example.com
    secretRef: {name: ldap}
    certSecretRef: {name: ldap-tls}
  secretRef: {name: minio}
  certSecretRef: {name: tls}
  proxySecretRef: {name: proxy}
`).(*Bucket)
	if b.Spec.STS.Provider != STSProviderLDAP || b.GetTimeout() != 60*time.Second || b.Spec.Prefix != "deploy/" {
		t.Errorf("bucket = %+v", b.Spec)
	}

	oci := decodeStrict(t, `
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {name: podinfo}
spec:
  interval: 5m
  url: oci://ghcr.io/stefanprodan/manifests/podinfo
  ref: {semver: ">=6.0.0", semverFilter: ".*"}
  layerSelector: {mediaType: application/vnd.cncf.helm.chart.content.v1.tar+gzip, operation: copy}
  verify:
    provider: notation
    secretRef: {name: notation-config}
    trustedRootSecretRef: {name: trusted-root}
`).(*OCIRepository)
	if oci.GetLayerOperation() != OCILayerCopy || oci.GetProvider() != GenericOCIProvider || oci.Spec.Reference.SemverFilter != ".*" {
		t.Errorf("ocirepository = %+v", oci.Spec)
	}

	ea := decodeStrict(t, `
apiVersion: source.toolkit.fluxcd.io/v1
kind: ExternalArtifact
metadata: {name: ea}
spec:
  sourceRef: {apiVersion: source.extensions.fluxcd.io/v1beta1, kind: ArtifactGenerator, name: gen, namespace: flux-system}
status:
  artifact: {path: p, url: u, revision: r, digest: "sha256:1", lastUpdateTime: "2026-01-01T00:00:00Z"}
`).(*ExternalArtifact)
	if ea.Spec.SourceRef.Kind != "ArtifactGenerator" || ea.GetArtifact().Revision != "r" || ea.GetRequeueAfter() != time.Minute {
		t.Errorf("externalartifact = %+v", ea)
	}

	hr := decodeStrict(t, `
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {name: podinfo}
spec:
  url: https://stefanprodan.github.io/podinfo
  passCredentials: true
  accessFrom:
    namespaceSelectors:
      - matchLabels: {kubernetes.io/metadata.name: tenant}
`).(*HelmRepository)
	if hr.GetRequeueAfter() != time.Minute || hr.GetTimeout() != time.Minute || hr.IsOCI() ||
		hr.Spec.AccessFrom.NamespaceSelectors[0].MatchLabels["kubernetes.io/metadata.name"] != "tenant" {
		t.Errorf("helmrepository = %+v", hr.Spec)
	}
}
