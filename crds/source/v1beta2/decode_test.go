package v1beta2

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
)

func strictYAML(t *testing.T) *json.Serializer {
	t.Helper()
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s, json.SerializerOptions{Yaml: true, Strict: true})
}

func TestDecodeSeedExamples(t *testing.T) {
	dec := strictYAML(t)

	obj, gvk, err := dec.Decode([]byte(`
apiVersion: source.toolkit.fluxcd.io/v1beta2
kind: HelmRepository
metadata:
  name: podinfo
  namespace: flux-system
spec:
  type: oci
  interval: 5m
  url: oci://ghcr.io/stefanprodan/charts
`), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	hr, ok := obj.(*HelmRepository)
	if !ok || gvk.Kind != HelmRepositoryKind || gvk.Version != "v1beta2" {
		t.Fatalf("decoded %T %v", obj, gvk)
	}
	if hr.Spec.Type != HelmRepositoryTypeOCI || hr.GetRequeueAfter() != 5*time.Minute || hr.Spec.URL != "oci://ghcr.io/stefanprodan/charts" {
		t.Errorf("spec = %+v", hr.Spec)
	}

	obj, gvk, err = dec.Decode([]byte(`
apiVersion: source.toolkit.fluxcd.io/v1beta2
kind: OCIRepository
metadata:
  name: podinfo
  namespace: flux-system
spec:
  interval: 5m
  url: oci://ghcr.io/stefanprodan/manifests/podinfo
  ref:
    tag: latest
  secretRef:
    name: ghcr-credentials
`), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	oci, ok := obj.(*OCIRepository)
	if !ok || gvk.Kind != OCIRepositoryKind {
		t.Fatalf("decoded %T %v", obj, gvk)
	}
	if oci.Spec.Reference == nil || oci.Spec.Reference.Tag != "latest" || oci.Spec.SecretRef == nil ||
		oci.Spec.SecretRef.Name != "ghcr-credentials" || oci.GetRequeueAfter() != 5*time.Minute {
		t.Errorf("spec = %+v", oci.Spec)
	}
}

func TestDecodeOlderKinds(t *testing.T) {
	dec := strictYAML(t)
	obj, _, err := dec.Decode([]byte(`
apiVersion: source.toolkit.fluxcd.io/v1beta2
kind: GitRepository
metadata: {name: podinfo}
spec:
  interval: 1m
  url: https://github.com/stefanprodan/podinfo
  ref: {branch: master}
  gitImplementation: libgit2
  verify: {mode: head, secretRef: {name: pgp}}
  include:
    - repository: {name: other}
      fromPath: ""
      toPath: ""
  accessFrom:
    namespaceSelectors: [{matchLabels: {team: a}}]
status:
  url: http://source-controller/gitrepository/flux-system/podinfo/latest.tar.gz
  contentConfigChecksum: sha256:feed
`), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	repo := obj.(*GitRepository)
	if repo.Spec.GitImplementation != LibGit2Implementation || repo.Spec.Include[0].GetToPath() != "other" ||
		repo.Spec.Verification.Mode != "head" || repo.Status.ContentConfigChecksum != "sha256:feed" {
		t.Errorf("gitrepository = %+v", repo)
	}

	obj, _, err = dec.Decode([]byte(`
apiVersion: source.toolkit.fluxcd.io/v1beta2
kind: HelmChart
metadata: {name: podinfo}
spec:
  chart: ./charts/podinfo
  sourceRef: {kind: GitRepository, name: podinfo}
  interval: 10m
  valuesFile: values.yaml
  valuesFiles: [values-prod.yaml]
`), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := obj.(*HelmChart).GetValuesFiles(); len(got) != 2 || got[0] != "values.yaml" {
		t.Errorf("values files = %v", got)
	}

	obj, _, err = dec.Decode([]byte(`
apiVersion: source.toolkit.fluxcd.io/v1beta2
kind: Bucket
metadata: {name: podinfo}
spec:
  bucketName: podinfo
  endpoint: s3.amazonaws.com
  provider: aws
  interval: 5m
  sts: {provider: aws, endpoint: https://sts.amazonaws.com}
`), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b := obj.(*Bucket); b.Spec.STS.Provider != "aws" || b.GetRequeueAfter() != 5*time.Minute {
		t.Errorf("bucket = %+v", b.Spec)
	}
}
