package release

import (
	"encoding/json"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
)

func obj(t testing.TB, y string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(y), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestRemovePointer(t *testing.T) {
	doc := `{"a":{"b/c":1,"d~e":2,"list":[{"x":1},{"x":2}],"keep":3}}`
	tests := []struct{ pointer, want string }{
		{"/a/b~1c", `{"a":{"d~e":2,"keep":3,"list":[{"x":1},{"x":2}]}}`},
		{"/a/d~0e", `{"a":{"b/c":1,"keep":3,"list":[{"x":1},{"x":2}]}}`},
		{"/a/list/0", `{"a":{"b/c":1,"d~e":2,"keep":3,"list":[{"x":2}]}}`},
		{"/a/list/1/x", `{"a":{"b/c":1,"d~e":2,"keep":3,"list":[{"x":1},{}]}}`},
		{"/a/missing/deep", `{"a":{"b/c":1,"d~e":2,"keep":3,"list":[{"x":1},{"x":2}]}}`},
		{"/a/list/9", `{"a":{"b/c":1,"d~e":2,"keep":3,"list":[{"x":1},{"x":2}]}}`},
		{"", `{}`},
	}
	for _, tc := range tests {
		var m map[string]any
		_ = json.Unmarshal([]byte(doc), &m)
		out, err := removePointer(m, tc.pointer)
		if err != nil {
			t.Fatalf("%q: %v", tc.pointer, err)
		}
		got, _ := json.Marshal(out)
		if string(got) != tc.want {
			t.Errorf("%q: %s, want %s", tc.pointer, got, tc.want)
		}
	}
	if _, err := removePointer(map[string]any{}, "spec/replicas"); err == nil {
		t.Error("a pointer without a leading / was accepted")
	}
}

// FuzzDriftPatch: the patch driftPatch computes, applied to live by a JSON patch implementation, makes
// live equal merged outside metadata and status, whatever the documents; removePointer never panics.
func FuzzDriftPatch(f *testing.F) {
	f.Add(`{"data":{"a":"1","b":[1,2]}}`, `{"data":{"a":"2","b":[1],"c":{"d":null}}}`, "/data/a")
	f.Add(`{"spec":{"x":[{"y":1}]}}`, `{"spec":{"x":[{"y":2,"z":3}]}}`, "/spec/x/0/z")
	f.Add(`{"a":1}`, `{"a":{"b":1}}`, "/a~1b/~0")
	f.Fuzz(func(t *testing.T, live, merged, pointer string) {
		var l, m map[string]any
		if json.Unmarshal([]byte(live), &l) != nil || json.Unmarshal([]byte(merged), &m) != nil || l == nil || m == nil {
			return
		}
		_, _ = removePointer(deepCopy(l), pointer)
		delete(l, "metadata")
		delete(m, "metadata")
		delete(l, "status")
		delete(m, "status")
		ops, err := driftPatch(&unstructured.Unstructured{Object: l}, &unstructured.Unstructured{Object: m}, nil)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(ops)
		patch, err := jsonpatch.DecodePatch(raw)
		if err != nil {
			t.Fatalf("patch %s: %v", raw, err)
		}
		lb, _ := json.Marshal(l)
		out, err := patch.Apply(lb)
		if err != nil {
			t.Fatalf("apply %s to %s: %v", raw, lb, err)
		}
		mb, _ := json.Marshal(m)
		if !jsonpatch.Equal(out, mb) {
			t.Fatalf("patched %s, want %s (patch %s)", out, mb, raw)
		}
	})
}

func deepCopy(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

func TestDriftPatchMetadataAndIgnore(t *testing.T) {
	live := obj(t, `
apiVersion: v1
kind: ConfigMap
metadata: {name: c, labels: {keep: "1", extra: "2"}, annotations: {a: old}, resourceVersion: "7"}
data: {message: tampered, other: x}
`)
	merged := obj(t, `
apiVersion: v1
kind: ConfigMap
metadata: {name: c, labels: {keep: "1", extra: "2", new: "3"}, annotations: {a: new}, resourceVersion: "8"}
data: {message: hello, other: x}
`)
	ops, err := driftPatch(live, merged, []string{"/data/message"})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(ops)
	want := `[{"op":"add","path":"/metadata/labels/new","value":"3"},{"op":"replace","path":"/metadata/annotations/a","value":"new"}]`
	if string(got) != want {
		t.Errorf("patch %s\nwant  %s", got, want)
	}
	// Labels another writer added are not drift.
	ops, _ = driftPatch(merged, live, nil)
	for _, op := range ops {
		if op.Op == "remove" {
			t.Errorf("removal of metadata reported: %+v", op)
		}
	}
}

func TestIgnoreRuleTargets(t *testing.T) {
	rules, err := compileIgnoreRules([]helmv2.IgnoreRule{
		{Paths: []string{"/spec/replicas"}, Target: &kustomizev1.Selector{Kind: "Deploy.*", Group: "apps", LabelSelector: "tier=web"}},
		{Paths: []string{"/data"}, Target: &kustomizev1.Selector{Name: "cfg", AnnotationSelector: "skip in (yes)"}},
		{Paths: []string{"/metadata/labels/x"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	dep := obj(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, labels: {tier: web}}\n")
	other := obj(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, labels: {tier: db}}\n")
	cm := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, annotations: {skip: \"yes\"}}\n")
	cmNamed := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg-2, annotations: {skip: \"yes\"}}\n")
	for _, tc := range []struct {
		u    *unstructured.Unstructured
		want string
	}{
		{dep, "/spec/replicas,/metadata/labels/x"},
		{other, "/metadata/labels/x"},
		{cm, "/data,/metadata/labels/x"},
		{cmNamed, "/metadata/labels/x"},
	} {
		got := ignoredPaths(rules, tc.u)
		b, _ := json.Marshal(got)
		w, _ := json.Marshal(splitComma(tc.want))
		if string(b) != string(w) {
			t.Errorf("%s %s: %s, want %s", tc.u.GetKind(), tc.u.GetName(), b, w)
		}
	}
	if _, err := compileIgnoreRules([]helmv2.IgnoreRule{{Paths: []string{"/a"}, Target: &kustomizev1.Selector{Kind: "("}}}); err == nil {
		t.Error("an invalid regular expression was accepted")
	}
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}
