package manifest

import (
	"context"
	"strings"
	"testing"

	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
)

// TestDecodeOldVersions: a version Flux once served is converted to the served one where that loses
// nothing, and refused otherwise, naming the version to use.
func TestDecodeOldVersions(t *testing.T) {
	d := newTestDecoder(t)
	tests := []struct {
		name, doc string
		check     func(t *testing.T, o Object)
		err       string
	}{
		{name: "kustomization v1beta2 patches", doc: `apiVersion: kustomize.toolkit.fluxcd.io/v1beta2
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec:
  interval: 1m
  prune: true
  sourceRef: {kind: GitRepository, name: flux-system}
  patches:
    - patch: "kind: X"
  patchesJson6902:
    - target: {kind: ConfigMap, name: c}
      patch: [{op: remove, path: /data/a}]
  patchesStrategicMerge:
    - {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}
`, check: func(t *testing.T, o Object) {
			ks := o.Typed.(*kustomizev1.Kustomization)
			if len(ks.Spec.Patches) != 3 || ks.Spec.Patches[1].Target == nil || ks.Spec.Patches[1].Target.Name != "c" ||
				!strings.Contains(ks.Spec.Patches[1].Patch, "op: remove") || !strings.Contains(ks.Spec.Patches[2].Patch, "kind: ConfigMap") {
				t.Errorf("patches %+v", ks.Spec.Patches)
			}
		}},
		{name: "helmchart v1beta1 valuesFile", doc: `apiVersion: source.toolkit.fluxcd.io/v1beta1
kind: HelmChart
metadata: {name: c, namespace: flux-system}
spec:
  chart: c
  interval: 1m
  sourceRef: {kind: HelmRepository, name: r}
  valuesFile: a.yaml
  valuesFiles: [b.yaml]
`, check: func(t *testing.T, o Object) {
			hc := o.Typed.(*sourcev1.HelmChart)
			if strings.Join(hc.Spec.ValuesFiles, ",") != "a.yaml,b.yaml" {
				t.Errorf("valuesFiles %v", hc.Spec.ValuesFiles)
			}
		}},
		{name: "kustomization v1beta1 field v1 lacks", doc: `apiVersion: kustomize.toolkit.fluxcd.io/v1beta1
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec: {interval: 1m, prune: true, sourceRef: {kind: GitRepository, name: flux-system}, oldField: 1}
`, err: "spec.oldField: unknown field"},
		{name: "image v1beta1 refused", doc: `apiVersion: image.toolkit.fluxcd.io/v1beta1
kind: ImagePolicy
metadata: {name: p, namespace: flux-system}
`, err: "f.yaml:1: ImagePolicy flux-system/p: apiVersion: image.toolkit.fluxcd.io/v1beta1 is no longer served by Flux for ImagePolicy and cannot be converted without loss: use image.toolkit.fluxcd.io/v1"},
		{name: "unknown kind of a Flux group", doc: `apiVersion: source.toolkit.fluxcd.io/v1
kind: Tarball
metadata: {name: p, namespace: flux-system}
`, err: "source.toolkit.fluxcd.io/v1 Tarball is not a kind Flux serves"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := d.Decode(context.Background(), "f.yaml", []byte(tt.doc))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, objs[0])
		})
	}
}
