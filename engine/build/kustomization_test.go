package build

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/engine/manifest"
	"github.com/converge-gitops/converge/engine/testenv/goldenfile"
)

const repo = "../../testdata/build/repo"

func decodeKustomization(t *testing.T, doc string) *kustomizev1.Kustomization {
	t.Helper()
	dec, err := manifest.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := dec.Decode(context.Background(), "test.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return objs[0].Typed.(*kustomizev1.Kustomization)
}

func ksDoc(name, spec string) string {
	return "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: " + name +
		"\n  namespace: flux-system\nspec:\n  interval: 10m\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n" + spec
}

func testResources() *LocalResources {
	l := NewLocalResources()
	l.AddConfigMap(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cluster-vars", Namespace: "flux-system"},
		Data: map[string]string{"cluster_name": "prod-eu", "cluster_env": "overridden-by-inline"}})
	l.AddSecret(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "flux-system"},
		StringData: map[string]string{"region": "us-east-1\n"}})
	return l
}

func TestBuildGolden(t *testing.T) {
	tests := []struct {
		name string
		spec string
	}{
		{"generated-kustomization", "  path: ./infrastructure/controllers\n"},
		{"existing-kustomization-with-generator", "  path: infrastructure/configs\n"},
		{"overlay-with-substitution", `  path: ./apps/production
  postBuild:
    substitute:
      cluster_env: production
    substituteFrom:
      - kind: ConfigMap
        name: cluster-vars
      - kind: Secret
        name: missing
        optional: true
`},
		{"substitute-from-secret-wins-order", `  path: ./apps/staging
  postBuild:
    substituteFrom:
      - kind: ConfigMap
        name: cluster-vars
      - kind: Secret
        name: db
`},
		{"flux-overlay-fields", `  path: ./apps/staging
  targetNamespace: staging
  namePrefix: stg-
  nameSuffix: -v2
  commonMetadata:
    labels:
      team: web
    annotations:
      owner: platform
  components:
    - ../../components/monitoring
    - ../../components/missing
  ignoreMissingComponents: true
  images:
    - name: ghcr.io/stefanprodan/podinfo
      newName: registry.example.com/podinfo
      digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  patches:
    - patch: |
        - op: add
          path: /metadata/annotations/patched
          value: json6902
      target:
        kind: Deployment
        name: podinfo
    - patch: |
        apiVersion: v1
        kind: Service
        metadata:
          name: not-used
        spec:
          type: NodePort
      target:
        kind: Service
        labelSelector: ""
`},
		{"plain-folder-no-substitution-without-postbuild", "  path: ./plain\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &Builder{ConfigMaps: testResources(), Secrets: testResources(), Strict: true}
			res, err := b.Build(context.Background(), decodeKustomization(t, ksDoc(tt.name, tt.spec)), repo)
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			for _, o := range res.Objects {
				y, err := yaml.Marshal(o.Object)
				if err != nil {
					t.Fatal(err)
				}
				out.WriteString("---\n")
				out.Write(y)
			}
			golden := filepath.Join("../../testdata/build/golden", tt.name+".yaml")
			goldenfile.CheckString(t, golden, out.String())
		})
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name, spec, want string
	}{
		{"missing variable", "  path: ./apps/staging\n  postBuild:\n    substitute:\n      cluster_env: dev\n",
			`Kustomization flux-system/missing-variable: apps/base/podinfo/deployment.yaml:23: Deployment podinfo/podinfo: ${cluster_name}: variable "cluster_name" is not set`},
		{"missing configmap", "  path: ./apps/staging\n  postBuild:\n    substituteFrom:\n      - kind: ConfigMap\n        name: nope\n",
			`substituteFrom ConfigMap/nope: configmaps "flux-system/nope" not found`},
		{"invalid variable name", "  path: ./plain\n  postBuild:\n    substitute:\n      bad-name: x\n", `variable name "bad-name" is invalid`},
		{"remote base", "  path: ./remote\n", `remote/kustomization.yaml: remote resource "https://github.com/stefanprodan/podinfo//kustomize?ref=master": remote bases are disabled`},
		{"file outside the source", "  path: ./escape\n", "outside the source root"},
		{"path not found", "  path: ./nowhere\n", `path "./nowhere" not found in the source`},
		{"path leaving the source is confined", "  path: ../../../etc\n", `path "../../../etc" not found in the source`},
		{"missing component", "  path: ./apps/staging\n  components:\n    - ../../components/missing\n", "components/missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &Builder{ConfigMaps: testResources(), Secrets: testResources(), Strict: true}
			name := strings.ReplaceAll(tt.name, " ", "-")
			_, err := b.Build(context.Background(), decodeKustomization(t, ksDoc(name, tt.spec)), repo)
			if err == nil {
				t.Fatal("expected an error")
			}
			var be *Error
			if !errors.As(err, &be) || be.Kustomization != "flux-system/"+name {
				t.Errorf("error does not name the Kustomization: %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}
