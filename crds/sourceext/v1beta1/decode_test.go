package v1beta1

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

const generatorYAML = `
apiVersion: source.extensions.fluxcd.io/v1beta1
kind: ArtifactGenerator
metadata:
  name: podinfo
  namespace: apps
  annotations:
    source.extensions.fluxcd.io/reconcile: Disabled
spec:
  commonMetadata:
    labels: {team: a}
  sources:
    - alias: backend
      kind: GitRepository
      name: backend
    - alias: config
      kind: OCIRepository
      name: config
      namespace: shared
  artifacts:
    - name: podinfo-composite
      revision: '@backend'
      originRevision: '@backend'
      copy:
        - from: '@backend/deploy/**'
          to: '@artifact/'
          exclude: ["*.md"]
        - from: '@config/values.yaml'
          to: '@artifact/values.yaml'
          strategy: Merge
status:
  observedSourcesDigest: sha256:abc
  inventory:
    - name: podinfo-composite
      namespace: apps
      digest: sha256:def
      filename: "123.tar.gz"
`

func TestDecode(t *testing.T) {
	var g ArtifactGenerator
	if err := yaml.UnmarshalStrict([]byte(generatorYAML), &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Spec.Sources) != 2 || g.Spec.OutputArtifacts[0].Copy[1].GetStrategy() != MergeStrategy ||
		g.Spec.OutputArtifacts[0].Copy[0].GetStrategy() != OverwriteStrategy || !g.IsDisabled() ||
		!g.HasArtifactInInventory("podinfo-composite", "apps", "sha256:def") {
		t.Fatalf("unexpected generator: %+v", g)
	}
	a := HashObservedSources(map[string]ObservedSource{"a": {Digest: "d1", Revision: "r1", URL: "u1"}, "b": {Digest: "d2", Revision: "r2", URL: "u2"}})
	b := HashObservedSources(map[string]ObservedSource{"b": {Digest: "d2", Revision: "r2", URL: "u2"}, "a": {Digest: "d1", Revision: "r1", URL: "u1"}})
	if a != b || len(a) != len("sha256:")+64 {
		t.Fatalf("hash not stable: %s %s", a, b)
	}
}

func TestScheme(t *testing.T) {
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if !s.Recognizes(GroupVersion.WithKind("ArtifactGenerator")) || !s.Recognizes(GroupVersion.WithKind("ArtifactGeneratorList")) {
		t.Fatal("ArtifactGenerator not registered")
	}
}
