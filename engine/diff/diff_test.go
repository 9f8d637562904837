package diff

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	helmrel "helm.sh/helm/v4/pkg/release/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/crds/meta"
	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/helmrelease"
)

func obj(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestDeletesInventory(t *testing.T) {
	inv := &kustomizev1.ResourceInventory{Entries: []kustomizev1.ResourceRef{{ID: "ns_cm__ConfigMap", Version: "v1"}}}
	tests := []struct {
		name    string
		policy  string
		prune   bool
		suspend bool
		inv     *kustomizev1.ResourceInventory
		want    bool
	}{
		{"default policy with prune", "", true, false, inv, true},
		{"default policy without prune", "", false, false, inv, false},
		{"MirrorPrune with prune", kustomizev1.DeletionPolicyMirrorPrune, true, false, inv, true},
		{"Delete without prune", kustomizev1.DeletionPolicyDelete, false, false, inv, true},
		{"WaitForTermination", kustomizev1.DeletionPolicyWaitForTermination, false, false, inv, true},
		{"Orphan with prune", kustomizev1.DeletionPolicyOrphan, true, false, inv, false},
		{"suspended", kustomizev1.DeletionPolicyDelete, true, true, inv, false},
		{"no inventory", kustomizev1.DeletionPolicyDelete, true, false, nil, false},
		{"empty inventory", kustomizev1.DeletionPolicyDelete, true, false, &kustomizev1.ResourceInventory{}, false},
		{"unknown policy", "Sometimes", true, false, inv, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks := &kustomizev1.Kustomization{}
			ks.Spec.DeletionPolicy, ks.Spec.Prune, ks.Spec.Suspend, ks.Status.Inventory = tt.policy, tt.prune, tt.suspend, tt.inv
			if got := DeletesInventory(ks); got != tt.want {
				t.Errorf("DeletesInventory = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestProject(t *testing.T) {
	live := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  uid: x\n  labels: {a: b, c: d}\ndata:\n  k: old\n  other: kept-out\nimmutable: true\n")
	desired := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels: {a: b}\ndata:\n  k: new\n  added: v\n")
	want := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels: {a: b}\ndata:\n  k: old\n")
	if got := project(live, desired); !reflect.DeepEqual(got.Object, want.Object) {
		t.Errorf("project = %v, want %v", got.Object, want.Object)
	}
	if project(nil, desired) != nil {
		t.Error("project of no live object is not nil")
	}
}

func TestMaskSecrets(t *testing.T) {
	tests := []struct {
		name          string
		before, after string
		wantBefore    map[string]any
		wantAfter     map[string]any
	}{
		{"changed and unchanged", "kind: Secret\napiVersion: v1\ndata: {a: MQ==, b: Mg==}\n", "kind: Secret\napiVersion: v1\ndata: {a: MQ==, b: Mw==}\n",
			map[string]any{"a": "***", "b": "*** (before)"}, map[string]any{"a": "***", "b": "*** (after)"}},
		{"added and removed", "kind: Secret\napiVersion: v1\ndata: {gone: MQ==}\n", "kind: Secret\napiVersion: v1\ndata: {new: MQ==}\n",
			map[string]any{"gone": "***"}, map[string]any{"new": "***"}},
		{"created", "", "kind: Secret\napiVersion: v1\nstringData: {token: hunter2}\n", nil, map[string]any{"token": "***"}},
		{"not a Secret", "kind: ConfigMap\napiVersion: v1\ndata: {a: \"1\"}\n", "kind: ConfigMap\napiVersion: v1\ndata: {a: \"2\"}\n",
			map[string]any{"a": "1"}, map[string]any{"a": "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b, a *unstructured.Unstructured
			if tt.before != "" {
				b = obj(t, tt.before)
			}
			a = obj(t, tt.after)
			maskSecrets(b, a)
			field := func(u *unstructured.Unstructured) map[string]any {
				if u == nil {
					return nil
				}
				if m, ok := u.Object["data"].(map[string]any); ok {
					return m
				}
				m, _ := u.Object["stringData"].(map[string]any)
				return m
			}
			if got := field(b); !reflect.DeepEqual(got, tt.wantBefore) {
				t.Errorf("before = %v, want %v", got, tt.wantBefore)
			}
			if got := field(a); !reflect.DeepEqual(got, tt.wantAfter) {
				t.Errorf("after = %v, want %v", got, tt.wantAfter)
			}
		})
	}
}

// TestHelmPatch checks the patches Helm's update would send: nothing for an unchanged object (another
// writer's additions kept), the changed field only, a drifted field reset, and JSON merge patches for
// custom resources (two-way on upgrade, three-way on install).
func TestHelmPatch(t *testing.T) {
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  namespace: apps\ndata:\n  greeting: %s\n"
	liveCM := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  namespace: apps\n  labels: {added: by-someone}\ndata:\n  greeting: %s\n"
	cr := "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: apps\nspec:\n  size: %s\n"
	tests := []struct {
		name                   string
		original, target, live string
		threeWay               bool
		wantType               string
		want                   string
	}{
		{"unchanged", fmt.Sprintf(cm, "hi"), fmt.Sprintf(cm, "hi"), fmt.Sprintf(liveCM, "hi"), false, "application/strategic-merge-patch+json", `{}`},
		{"changed", fmt.Sprintf(cm, "hi"), fmt.Sprintf(cm, "hello"), fmt.Sprintf(liveCM, "hi"), false, "application/strategic-merge-patch+json", `{"data":{"greeting":"hello"}}`},
		{"drift reset", fmt.Sprintf(cm, "hi"), fmt.Sprintf(cm, "hi"), fmt.Sprintf(liveCM, "edited"), false, "application/strategic-merge-patch+json", `{"data":{"greeting":"hi"}}`},
		{"custom resource upgrade ignores drift", fmt.Sprintf(cr, "1"), fmt.Sprintf(cr, "1"), fmt.Sprintf(cr, "9"), false, "application/merge-patch+json", `{}`},
		{"custom resource upgrade", fmt.Sprintf(cr, "1"), fmt.Sprintf(cr, "2"), fmt.Sprintf(cr, "9"), false, "application/merge-patch+json", `{"spec":{"size":2}}`},
		{"custom resource adoption", fmt.Sprintf(cr, "1"), fmt.Sprintf(cr, "1"), fmt.Sprintf(cr, "9"), true, "application/merge-patch+json", `{"spec":{"size":1}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			patch, pt, err := helmPatch(obj(t, tt.original), obj(t, tt.target), obj(t, tt.live), tt.threeWay)
			if err != nil {
				t.Fatal(err)
			}
			if string(pt) != tt.wantType || string(patch) != tt.want {
				t.Errorf("patch %s %s, want %s %s", pt, patch, tt.wantType, tt.want)
			}
		})
	}
}

func TestVersioned(t *testing.T) {
	for gvk, want := range map[schema.GroupVersionKind]bool{
		{Group: "apps", Version: "v1", Kind: "Deployment"}:                                    true,
		{Version: "v1", Kind: "ConfigMap"}:                                                    true,
		{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}:      true,
		{Group: "apiextensions.k8s.io", Version: "v1beta1", Kind: "CustomResourceDefinition"}: false,
		{Group: "helm.toolkit.fluxcd.io", Version: "v2", Kind: "HelmRelease"}:                 false,
	} {
		if _, got := versioned(gvk); got != want {
			t.Errorf("versioned(%s) = %v, want %v", gvk, got, want)
		}
	}
}

func TestInSync(t *testing.T) {
	values := map[string]any{"greeting": "hello"}
	digest := helmrelease.DigestValues(values)
	chrt := &chart.Chart{Metadata: &chart.Metadata{Name: "web", Version: "1.0.0"}}
	last := &helmrel.Release{Name: "web", Namespace: "apps", Version: 2, Info: &helmrel.Info{Status: rcommon.StatusDeployed},
		Chart: &chart.Chart{Metadata: &chart.Metadata{Name: "web", Version: "1.0.0"}}, Config: values}
	synced := func() *helmv2.HelmRelease {
		hr := &helmv2.HelmRelease{}
		hr.Status.History = helmv2.Snapshots{{Name: "web", Namespace: "apps", Version: 2, ConfigDigest: digest}}
		return hr
	}
	tests := []struct {
		name   string
		mutate func(hr *helmv2.HelmRelease, last *helmrel.Release)
		want   bool
	}{
		{"in sync", func(*helmv2.HelmRelease, *helmrel.Release) {}, true},
		{"values changed", func(hr *helmv2.HelmRelease, _ *helmrel.Release) { hr.Status.History[0].ConfigDigest = "sha256:old" }, false},
		{"chart version changed", func(_ *helmv2.HelmRelease, l *helmrel.Release) { l.Chart.Metadata.Version = "0.9.0" }, false},
		{"release failed", func(_ *helmv2.HelmRelease, l *helmrel.Release) { l.Info.Status = rcommon.StatusFailed }, false},
		{"newer release than recorded", func(_ *helmv2.HelmRelease, l *helmrel.Release) { l.Version = 3 }, false},
		{"never recorded", func(hr *helmv2.HelmRelease, _ *helmrel.Release) { hr.Status.History = nil }, false},
		{"post-renderers changed", func(hr *helmv2.HelmRelease, _ *helmrel.Release) {
			hr.Status.ObservedPostRenderersDigest = "sha256:before"
			hr.Spec.PostRenderers = []helmv2.PostRenderer{{}}
		}, false},
		{"force requested", func(hr *helmv2.HelmRelease, _ *helmrel.Release) {
			hr.Annotations = map[string]string{meta.ReconcileRequestAnnotation: "t1", meta.ForceRequestAnnotation: "t1"}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hr, l := synced(), *last
			lc := *last.Chart.Metadata
			info := *last.Info
			l.Chart, l.Info = &chart.Chart{Metadata: &lc}, &info
			tt.mutate(hr, &l)
			if got := inSync(hr, &l, chrt, digest); got != tt.want {
				t.Errorf("inSync = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestObjectErrors(t *testing.T) {
	cm := apply.ObjMeta{Kind: "ConfigMap", Namespace: "a", Name: "b", Version: "v1"}
	invalid := apierrors.NewInvalid(schema.GroupKind{Kind: "ConfigMap"}, "b", nil)
	joined := errors.Join(&apply.ObjectError{Object: cm, Op: "validate", Err: invalid}, &apply.ObjectError{Object: cm, Op: "read", Err: errors.New("timeout")})
	if got := objectErrors(joined); len(got) != 2 {
		t.Errorf("objectErrors of two object errors: %d", len(got))
	}
	if got := objectErrors(errors.Join(joined, errors.New("context canceled"))); got != nil {
		t.Errorf("objectErrors with a general error: %v", got)
	}
	if got := serverMessage(fmt.Errorf("wrapped: %w", invalid)); got != invalid.ErrStatus.Message {
		t.Errorf("serverMessage = %q", got)
	}
}
