package build

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/engine/testenv/goldenfile"
)

// The podinfo-shaped fixture chart (testdata/build/repo/charts/podinfo, a chart of our own) installed
// by a HelmRelease with valuesFrom (a whole values.yaml from a ConfigMap, a Secret key and a ConfigMap
// key at a targetPath) and inline values, some of whose chart defaults are null.
const (
	podinfoRelease = repo + "/clusters/podinfo/release.yaml"
	podinfoValues  = "../../testdata/build/podinfo-values.yaml"
	podinfoSecret  = "../../testdata/build/podinfo-secret.yaml"
	// podinfoTemplate is what Helm 4.3's own `helm template` printed for the same release (see
	// TestHelmTemplateOracle): the reference converge's render must equal.
	podinfoTemplate = "../../testdata/golden/commands/build-podinfo-helm-template.yaml"
	kubeVersion     = "1.35.2"
)

func buildPodinfo(t *testing.T) string {
	t.Helper()
	out, errOut, code := run(t, "hr", "podinfo", "--helmrelease-file", podinfoRelease, "--root", repo,
		"--local-resource", "ConfigMap/flux-system/podinfo-values="+podinfoValues,
		"--local-resource", "Secret/flux-system/podinfo-secret="+podinfoSecret, "--kube-version", kubeVersion)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	return out
}

// TestBuildHelmReleaseEqualsHelmTemplate: converge build renders the podinfo HelmRelease as Helm 4's
// `helm template` does, object for object and field for field. The differences that are not the
// render's own are removed from converge's objects first, each for a reason:
//   - meta.helm.sh/release-name and -namespace annotations, and the app.kubernetes.io/managed-by=Helm
//     label: Helm's install adds them to every object it applies, `helm template` does not print them;
//   - helm.toolkit.fluxcd.io/name and -namespace labels: helm-controller's post-renderer adds them;
//   - metadata.namespace: Helm's install sets the release namespace on namespaced objects that have
//     none, `helm template` prints the chart's text;
//   - hooks (here the chart's test Pod): build prints what the install applies, not hooks;
//   - order and YAML layout: build prints objects in apply order with sorted keys, so both sides are
//     compared sorted by kind and name, each marshalled the same way.
func TestBuildHelmReleaseEqualsHelmTemplate(t *testing.T) {
	out := buildPodinfo(t)
	golden(t, "build-podinfo.yaml", out)

	oracle, err := os.ReadFile(podinfoTemplate)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, obj := range decodeDocs(t, string(oracle)) {
		if _, hook := annotations(obj)["helm.sh/hook"]; hook {
			continue
		}
		deleteMeta(obj, "labels", "app.kubernetes.io/managed-by")
		want[objKey(obj)] = marshal(t, obj)
	}
	got := map[string]string{}
	for _, obj := range decodeDocs(t, out) {
		for _, k := range []string{"meta.helm.sh/release-name", "meta.helm.sh/release-namespace"} {
			if annotations(obj)[k] == nil {
				t.Errorf("%s: no %s annotation", objKey(obj), k)
			}
			deleteMeta(obj, "annotations", k)
		}
		for _, k := range []string{"app.kubernetes.io/managed-by", "helm.toolkit.fluxcd.io/name", "helm.toolkit.fluxcd.io/namespace"} {
			deleteMeta(obj, "labels", k)
		}
		meta := obj["metadata"].(map[string]any)
		if meta["namespace"] != "apps" {
			t.Errorf("%s: namespace %v, want apps", objKey(obj), meta["namespace"])
		}
		delete(meta, "namespace")
		got[objKey(obj)] = marshal(t, obj)
	}
	if len(want) < 5 {
		t.Fatalf("the oracle has %d objects, want the 5 of the chart", len(want))
	}
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		if got[k] != want[k] {
			t.Errorf("%s differs from helm template\nconverge:\n%s\nhelm:\n%s", k, got[k], want[k])
		}
	}
}

// TestHelmTemplateOracle runs Helm 4's CLI on the same chart and values and compares its output with
// the oracle golden (-update rewrites it). The helm binary is not a dependency of the module: give it
// with CONVERGE_HELM_ORACLE (a helm v4.3 binary, e.g. built with
// `GOBIN=/tmp/helm go install helm.sh/helm/v4/cmd/helm@v4.3.2` outside this module).
func TestHelmTemplateOracle(t *testing.T) {
	helm := os.Getenv("CONVERGE_HELM_ORACLE")
	if helm == "" {
		t.Skip("CONVERGE_HELM_ORACLE names no helm v4 binary: the oracle golden is not regenerated")
	}
	version, err := exec.Command(helm, "version", "--short").Output()
	if err != nil || !strings.HasPrefix(string(version), "v4.3") {
		t.Fatalf("%s version: %q %v, want v4.3", helm, version, err)
	}
	// The HelmRelease's values, as helm-controller merges them: the ConfigMap's values.yaml, then the
	// targetPath values, then spec.values. Helm's CLI applies -f files before --set, which gives the
	// same result here as spec.values sets neither targetPath.
	var cm struct {
		Data map[string]string `json:"data"`
	}
	readYAML(t, podinfoValues, &cm)
	var sec struct {
		StringData map[string]string `json:"stringData"`
	}
	readYAML(t, podinfoSecret, &sec)
	var hr struct {
		Spec struct {
			Values map[string]any `json:"values"`
		} `json:"spec"`
	}
	readYAML(t, podinfoRelease, &hr)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	inline, err := yaml.Marshal(hr.Spec.Values)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(helm, "template", "apps-podinfo", repo+"/charts/podinfo", "--namespace", "apps",
		"--kube-version", kubeVersion,
		"-f", write("configmap.yaml", []byte(cm.Data["values.yaml"])), "-f", write("inline.yaml", inline),
		"--set", "ui.message="+sec.StringData["message"], "--set", "hpa.maxReplicas="+cm.Data["maxReplicas"])
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, stderr.String())
	}
	goldenfile.Check(t, podinfoTemplate, out)
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func decodeDocs(t *testing.T, s string) []map[string]any {
	t.Helper()
	var objs []map[string]any
	for _, doc := range strings.Split(s, "\n---") {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		if obj != nil {
			objs = append(objs, obj)
		}
	}
	return objs
}

func annotations(obj map[string]any) map[string]any {
	a, _ := obj["metadata"].(map[string]any)["annotations"].(map[string]any)
	return a
}

// deleteMeta removes key from metadata.field (labels or annotations), and the field once empty.
func deleteMeta(obj map[string]any, field, key string) {
	meta := obj["metadata"].(map[string]any)
	m, _ := meta[field].(map[string]any)
	delete(m, key)
	if len(m) == 0 {
		delete(meta, field)
	}
}

func objKey(obj map[string]any) string {
	return obj["kind"].(string) + "/" + obj["metadata"].(map[string]any)["name"].(string)
}

func marshal(t *testing.T, obj map[string]any) string {
	t.Helper()
	b, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
