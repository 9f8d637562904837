package inspect

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/converge-gitops/converge/engine/kinds"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

func objects(t *testing.T, docs string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, d := range strings.Split(docs, "\n---\n") {
		j, err := yaml.YAMLToJSON([]byte(d))
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(j); err != nil {
			t.Fatal(err)
		}
		out = append(out, u)
	}
	return out
}

func TestParseInventoryID(t *testing.T) {
	tests := []struct {
		id, want string
		err      bool
	}{
		{"apps_web_apps_Deployment", "apps/Deployment/apps/web", false},
		{"_apps__Namespace", "/Namespace/apps", false},
		{"_system__controller_rbac.authorization.k8s.io_ClusterRole", "rbac.authorization.k8s.io/ClusterRole/system:controller", false},
		{"apps_my_cm__ConfigMap", "", true}, // "_" is not allowed in names and makes the id ambiguous (as for Flux)
		{"apps_web_Deployment", "", true},
		{"nounderscore", "", true},
		{"ns___Kind", "", true},
	}
	for _, tt := range tests {
		n, err := ParseInventoryID(tt.id)
		if tt.err {
			if err == nil {
				t.Errorf("%q: no error, got %+v", tt.id, n)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.id, err)
			continue
		}
		if got := n.Group + "/" + n.String(); got != tt.want {
			t.Errorf("%q = %s, want %s", tt.id, got, tt.want)
		}
	}
}

func FuzzParseInventoryID(f *testing.F) {
	for _, s := range []string{"apps_web_apps_Deployment", "_a__Namespace", "a__b_c_d_e", "___", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		n, err := ParseInventoryID(id)
		if err != nil {
			return
		}
		if n.Name == "" || n.Kind == "" || strings.Contains(n.Kind, "_") || strings.Contains(n.Group, "_") {
			t.Fatalf("%q parsed to %+v", id, n)
		}
	})
}

func TestLogFilter(t *testing.T) {
	lines := []string{
		`{"time":"2026-11-23T00:00:00Z","level":"INFO","msg":"caches synced, reconciling","workers":4}`,
		`{"time":"2026-11-23T00:00:01Z","level":"INFO","msg":"reconciled","kind":"Kustomization","namespace":"flux-system","name":"apps","revision":"main@sha1:abc","duration":"1.2s"}`,
		`{"time":"2026-11-23T00:00:02Z","level":"ERROR","msg":"reconciliation failed","kind":"Kustomization","namespace":"team","name":"apps","error":"build: missing"}`,
		`{"time":"2026-11-23T00:00:03Z","level":"INFO","msg":"reconciled","kind":"GitRepository","namespace":"flux-system","name":"flux-system"}`,
		`panic: not json`,
		``,
	}
	input := strings.Join(lines, "\n")
	tests := []struct {
		name   string
		filter LogFilter
		want   []string // messages and objects, in order
	}{
		{"everything", LogFilter{}, []string{"caches synced", "Kustomization/flux-system/apps", "Kustomization/team/apps", "GitRepository/flux-system/flux-system", "panic: not json"}},
		{"errors", LogFilter{Level: "error"}, []string{"Kustomization/team/apps"}},
		{"namespace keeps agent lines", LogFilter{Namespace: "flux-system"}, []string{"caches synced", "Kustomization/flux-system/apps", "GitRepository/flux-system/flux-system", "panic: not json"}},
		{"kind and name", LogFilter{Kind: "kustomization", Name: "apps"}, []string{"Kustomization/flux-system/apps", "Kustomization/team/apps"}},
		{"kind, name and namespace", LogFilter{Kind: "Kustomization", Name: "apps", Namespace: "team"}, []string{"Kustomization/team/apps"}},
		{"nothing", LogFilter{Name: "nope"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			err := FilterLogs(strings.NewReader(input), tt.filter, func(l LogLine) error {
				got = append(got, l.Format())
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d lines, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("line %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
	l := ParseLogLine(lines[2])
	if got := l.Format(); got != `2026-11-23T00:00:02Z error Kustomization/team/apps reconciliation failed error="build: missing"` {
		t.Errorf("Format = %s", got)
	}
}

func FuzzParseLogLine(f *testing.F) {
	f.Add(`{"level":"INFO","msg":"x","kind":"Kustomization","name":"a","n":1}`)
	f.Add(`{"level":3}`)
	f.Add(`[1,2]`)
	f.Add(`null`)
	f.Fuzz(func(t *testing.T, line string) {
		l := ParseLogLine(line)
		_ = l.Format()
		if !l.Structured && (l.Kind != "" || l.Level != "") {
			t.Fatalf("unstructured line with fields: %+v", l)
		}
		if !(LogFilter{}).Match(l) {
			t.Fatal("the empty filter rejected a line")
		}
	})
}

func TestStatusSelector(t *testing.T) {
	ks := objects(t, `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: a, namespace: ns, generation: 2}
status:
  conditions:
  - {type: Ready, status: "False", message: boom, observedGeneration: 2}
  - {type: Healthy, status: "True"}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: b, namespace: ns, generation: 3}
status:
  conditions:
  - {type: Ready, status: "False", observedGeneration: 2}`)
	rowA, rowB := RowOf(kinds.MustByKey("kustomizations"), ks[0]), RowOf(kinds.MustByKey("kustomizations"), ks[1])
	tests := []struct {
		sel        string
		matchA     bool
		matchB     bool
		parseError bool
	}{
		{"ready=false", true, false, false}, // b's condition is for an older generation: Unknown
		{"Ready=Unknown", false, true, false},
		{"healthy=true", true, false, false},
		{"stalled=unknown", true, true, false},
		{"ready!=true", true, true, false},
		{"Ready!=False", false, true, false},
		{"healthy!=true", false, true, false},
		{"ready!=", false, false, true},
		{"!=true", false, false, true},
		{"ready", false, false, true},
		{"ready=maybe", false, false, true},
	}
	for _, tt := range tests {
		s, err := ParseStatusSelector(tt.sel)
		if (err != nil) != tt.parseError {
			t.Errorf("%q: error %v", tt.sel, err)
			continue
		}
		if err != nil {
			continue
		}
		if s.Match(rowA) != tt.matchA || s.Match(rowB) != tt.matchB {
			t.Errorf("%q matches a=%v b=%v, want %v %v", tt.sel, s.Match(rowA), s.Match(rowB), tt.matchA, tt.matchB)
		}
	}
	if s, _ := ParseStatusSelector(""); !s.Match(rowA) {
		t.Error("the empty selector rejected a row")
	}
}

func TestClean(t *testing.T) {
	u := objects(t, `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: repo
  namespace: flux-system
  uid: 1234
  resourceVersion: "99"
  generation: 3
  creationTimestamp: "2026-11-23T00:00:00Z"
  finalizers: [finalizers.fluxcd.io]
  labels: {team: a}
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: "{}"
    reconcile.fluxcd.io/requestedAt: "2026-11-23T00:00:00Z"
    note: kept
  managedFields: [{manager: kubectl}]
spec: {interval: 1m, url: "https://example.com/repo"}
status: {observedGeneration: 3}`)[0]
	got, err := yaml.Marshal(Clean(u).Object)
	if err != nil {
		t.Fatal(err)
	}
	want := `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  annotations:
    note: kept
  labels:
    team: a
  name: repo
  namespace: flux-system
spec:
  interval: 1m
  url: https://example.com/repo
`
	if string(got) != want {
		t.Errorf("Clean =\n%s\nwant\n%s", got, want)
	}
	if u.GetAnnotations()[LastAppliedAnnotation] == "" || u.Object["status"] == nil {
		t.Error("Clean modified its input")
	}
}

const fleet = `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: flux-system, namespace: flux-system}
spec: {path: ./clusters/prod, sourceRef: {kind: GitRepository, name: flux-system}}
status:
  lastAppliedRevision: main@sha1:abc
  conditions: [{type: Ready, status: "True", message: "Applied revision: main@sha1:abc"}]
  inventory:
    entries:
    - {id: _apps__Namespace, v: v1}
    - {id: flux-system_apps_kustomize.toolkit.fluxcd.io_Kustomization, v: v1}
    - {id: flux-system_flux-system_kustomize.toolkit.fluxcd.io_Kustomization, v: v1}
    - {id: flux-system_gone_kustomize.toolkit.fluxcd.io_Kustomization, v: v1}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux-system, labels: {kustomize.toolkit.fluxcd.io/name: flux-system, kustomize.toolkit.fluxcd.io/namespace: flux-system}}
spec: {path: ./apps, sourceRef: {kind: GitRepository, name: flux-system}}
status:
  lastAppliedRevision: main@sha1:abc
  conditions: [{type: Ready, status: "True", message: "Applied revision: main@sha1:abc"}]
  inventory:
    entries:
    - {id: apps_podinfo_helm.toolkit.fluxcd.io_HelmRelease, v: v2}
    - {id: apps_settings__ConfigMap, v: v1}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: podinfo, namespace: apps, labels: {kustomize.toolkit.fluxcd.io/name: apps, kustomize.toolkit.fluxcd.io/namespace: flux-system}}
spec: {chart: {spec: {chart: podinfo, version: 6.5.0, sourceRef: {kind: HelmRepository, name: podinfo, namespace: flux-system}}}}
status:
  helmChart: flux-system/apps-podinfo
  lastAttemptedRevision: 6.5.0
  conditions: [{type: Ready, status: "False", message: "install retries exhausted"}]
  inventory:
    entries:
    - {id: apps_podinfo_apps_Deployment, v: v1}
    - {id: apps_podinfo__Service, v: v1}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmChart
metadata: {name: apps-podinfo, namespace: flux-system}
spec: {chart: podinfo, sourceRef: {kind: HelmRepository, name: podinfo}}
status:
  artifact: {revision: 6.5.0}
  conditions: [{type: Ready, status: "True", message: "pulled 'podinfo' chart with version '6.5.0'"}]
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {name: podinfo, namespace: flux-system}
spec: {url: "https://stefanprodan.github.io/podinfo"}
status:
  artifact: {revision: "sha256:1234"}
  conditions: [{type: Ready, status: "True", message: "stored artifact"}]
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: flux-system, namespace: flux-system}
spec: {url: "https://git.example.com/fleet"}
status:
  artifact: {revision: main@sha1:abc}
  conditions: [{type: Ready, status: "True", message: "stored artifact for revision 'main@sha1:abc'"}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: podinfo, namespace: apps, labels: {helm.toolkit.fluxcd.io/name: podinfo, helm.toolkit.fluxcd.io/namespace: apps}}`

func TestTree(t *testing.T) {
	get := ObjectsGetter(objects(t, fleet)...)
	root, err := Tree(context.Background(), get, Ref{Kind: kinds.MustByKey("kustomizations"), Namespace: "flux-system", Name: "flux-system"})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	var walk func(n *Node, depth int)
	walk = func(n *Node, depth int) {
		s := strings.Repeat("  ", depth) + n.String()
		if n.Missing {
			s += " missing"
		}
		lines = append(lines, s)
		for _, c := range n.Children {
			walk(c, depth+1)
		}
	}
	walk(root, 0)
	want := `Kustomization/flux-system/flux-system
  Namespace/apps
  Kustomization/flux-system/apps
    HelmRelease/apps/podinfo
      Deployment/apps/podinfo
      Service/apps/podinfo
    ConfigMap/apps/settings
  Kustomization/flux-system/flux-system
  Kustomization/flux-system/gone missing`
	if got := strings.Join(lines, "\n"); got != want {
		t.Errorf("tree:\n%s\nwant:\n%s", got, want)
	}
	if _, err := Tree(context.Background(), get, Ref{Kind: kinds.MustByKey("kustomizations"), Namespace: "flux-system", Name: "nope"}); err == nil || !strings.Contains(err.Error(), "Kustomization flux-system/nope not found") {
		t.Errorf("missing root: %v", err)
	}
}

func TestTrace(t *testing.T) {
	get := ObjectsGetter(objects(t, fleet)...)
	steps, err := Trace(context.Background(), get, schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, "apps", "podinfo")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range steps {
		got = append(got, s.Role+" "+s.Kind+"/"+s.Namespace+"/"+s.Name+" "+s.Ready+" "+s.Revision+" "+s.Origin)
	}
	want := []string{
		"object Deployment/apps/podinfo   ",
		"manager HelmRelease/apps/podinfo False 6.5.0 podinfo@6.5.0",
		"source HelmChart/flux-system/apps-podinfo True 6.5.0 podinfo",
		"source HelmRepository/flux-system/podinfo True sha256:1234 https://stefanprodan.github.io/podinfo",
		"manager Kustomization/flux-system/apps True main@sha1:abc ./apps",
		"source GitRepository/flux-system/flux-system True main@sha1:abc https://git.example.com/fleet",
		"manager Kustomization/flux-system/flux-system True main@sha1:abc ./clusters/prod",
		"source GitRepository/flux-system/flux-system True main@sha1:abc https://git.example.com/fleet",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("trace:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	_, err = Trace(context.Background(), get, schema.GroupVersionKind{Group: "source.toolkit.fluxcd.io", Version: "v1", Kind: "GitRepository"}, "flux-system", "flux-system")
	var nm *ErrNotManaged
	if !errors.As(err, &nm) {
		t.Errorf("unmanaged object: %v", err)
	}
}

func TestEventFilter(t *testing.T) {
	ev := func(apiVersion, kind, ns, name string) *corev1.Event {
		return &corev1.Event{InvolvedObject: corev1.ObjectReference{APIVersion: apiVersion, Kind: kind, Namespace: ns, Name: name}}
	}
	ks := ev("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "flux-system", "apps")
	git := ev("source.toolkit.fluxcd.io/v1", "GitRepository", "flux-system", "repo")
	pod := ev("v1", "Pod", "flux-system", "apps")
	all := EventFilter{}
	if !all.Match(ks) || !all.Match(git) || all.Match(pod) {
		t.Error("the default filter must keep Flux objects only")
	}
	obj, err := ParseEventObject("kustomization/apps", "flux-system")
	if err != nil {
		t.Fatal(err)
	}
	one := EventFilter{For: []EventObject{obj}}
	if !one.Match(ks) || one.Match(git) || one.Match(ev("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "other", "apps")) {
		t.Error("--for Kustomization/apps")
	}
	if !all.Match(ev("", "GitRepository", "flux-system", "repo")) || all.Match(ev("", "Pod", "flux-system", "x")) {
		t.Error("events without apiVersion: judged by kind")
	}
	kindOnly, err := ParseEventObject("GitRepository", "")
	if err != nil {
		t.Fatal(err)
	}
	if f := (EventFilter{For: []EventObject{kindOnly}}); !f.Match(git) || f.Match(ks) {
		t.Error("--for GitRepository")
	}
	for _, bad := range []string{"Pod/x", "", "Kustomization/a/b"} {
		if _, err := ParseEventObject(bad, ""); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func helmSecret(t *testing.T, ns, name string, version int, manifest string) *unstructured.Unstructured {
	t.Helper()
	rel, _ := json.Marshal(map[string]any{"name": name, "namespace": ns, "version": version, "manifest": manifest})
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	_, _ = w.Write(rel)
	_ = w.Close()
	helmEncoded := base64.StdEncoding.EncodeToString(gz.Bytes())
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": fmt.Sprintf("sh.helm.release.v1.%s.v%d", name, version), "namespace": ns},
		"data":     map[string]any{"release": base64.StdEncoding.EncodeToString([]byte(helmEncoded))},
	}}
}

func TestTreeFromHelmStorage(t *testing.T) {
	objs := objects(t, `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: infra, namespace: flux-system}
status:
  inventory:
    entries:
    - {id: apps_legacy_helm.toolkit.fluxcd.io_HelmRelease, v: v2}
    - {id: apps_uninstalled_helm.toolkit.fluxcd.io_HelmRelease, v: v2}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: legacy, namespace: apps}
status:
  storageNamespace: apps
  history:
  - {name: apps-legacy, namespace: apps, version: 2, status: deployed, chartName: legacy, chartVersion: 1.0.0, digest: x, configDigest: y, firstDeployed: "2026-11-23T00:00:00Z", lastDeployed: "2026-11-23T00:00:00Z"}
  - {name: apps-legacy, namespace: apps, version: 1, status: superseded, chartName: legacy, chartVersion: 0.9.0, digest: x, configDigest: y, firstDeployed: "2026-11-23T00:00:00Z", lastDeployed: "2026-11-23T00:00:00Z"}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: uninstalled, namespace: apps}
status: {storageNamespace: apps, history: [{name: apps-uninstalled, namespace: apps, version: 1}]}`)
	objs = append(objs, helmSecret(t, "apps", "apps-legacy", 2, `---
# Source: legacy/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: legacy
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: legacy-reader
---
apiVersion: v1
kind: Service
metadata:
  name: legacy
  namespace: elsewhere
`), helmSecret(t, "apps", "apps-legacy", 1, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: old}\n"))
	root, err := Tree(context.Background(), ObjectsGetter(objs...), Ref{Kind: kinds.MustByKey("kustomizations"), Namespace: "flux-system", Name: "infra"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, hr := range root.Children {
		got = append(got, hr.String())
		for _, c := range hr.Children {
			got = append(got, "  "+c.String())
		}
	}
	want := []string{"HelmRelease/apps/legacy", "  ClusterRole/legacy-reader", "  Deployment/apps/legacy", "  Service/elsewhere/legacy", "HelmRelease/apps/uninstalled"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tree:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, _, err := DecodeHelmRelease("not base64!"); err == nil {
		t.Error("garbage decoded")
	}
}

func FuzzDecodeHelmRelease(f *testing.F) {
	f.Add("")
	f.Add(base64.StdEncoding.EncodeToString([]byte(base64.StdEncoding.EncodeToString([]byte(`{"manifest":"kind: A","namespace":"x"}`)))))
	f.Add(base64.StdEncoding.EncodeToString([]byte(base64.StdEncoding.EncodeToString([]byte{0x1f, 0x8b, 0, 1}))))
	f.Fuzz(func(t *testing.T, data string) {
		manifest, ns, err := DecodeHelmRelease(data)
		if err != nil {
			return
		}
		_, _ = manifestNodes(manifest, ns)
	})
}

func TestSourcesOf(t *testing.T) {
	objs := objects(t, fleet+`
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: direct, namespace: apps}
spec: {chart: {spec: {chart: podinfo, sourceRef: {kind: HelmRepository, name: podinfo, namespace: flux-system}}}}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: oci, namespace: apps}
spec: {chartRef: {kind: OCIRepository, name: podinfo-chart}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: odd, namespace: apps}
spec: {sourceRef: {kind: Secret, name: x}}`)
	get := ObjectsGetter(objs...)
	refGet := func(ctx context.Context, r Ref) (*unstructured.Unstructured, error) {
		return get(ctx, r.Kind.GroupVersionKind(), r.Namespace, r.Name)
	}
	tests := []struct {
		kind, ns, name string
		want           string
	}{
		{"kustomizations", "flux-system", "apps", "GitRepository/flux-system/flux-system"},
		{"helmreleases", "apps", "podinfo", "HelmRepository/flux-system/podinfo HelmChart/flux-system/apps-podinfo"},
		{"helmreleases", "apps", "direct", "HelmRepository/flux-system/podinfo"},
		{"helmreleases", "apps", "oci", "OCIRepository/apps/podinfo-chart"},
		{"git", "flux-system", "flux-system", ""},
		{"kustomizations", "apps", "odd", "error"},
	}
	for _, tt := range tests {
		ref := Ref{Kind: kinds.MustByKey(tt.kind), Namespace: tt.ns, Name: tt.name}
		u, err := refGet(context.Background(), ref)
		if err != nil {
			t.Fatal(err)
		}
		srcs, err := SourcesOf(context.Background(), ref, u, refGet)
		var got []string
		for _, s := range srcs {
			got = append(got, s.String())
		}
		g := strings.Join(got, " ")
		if err != nil {
			g = "error"
		}
		if g != tt.want {
			t.Errorf("sources of %s = %q (%v), want %q", ref, g, err, tt.want)
		}
	}
}
