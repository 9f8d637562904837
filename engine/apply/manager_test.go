package apply

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/engine/health"
	"github.com/converge-gitops/converge/engine/testenv"
)

var cluster *testenv.Cluster

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &cluster)) }

func newManager(t *testing.T) *Manager {
	t.Helper()
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cluster.Client.Discovery()))
	return &Manager{Client: dyn, Mapper: mapper}
}

func objects(t *testing.T, docs ...string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, d := range docs {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(d), &u.Object); err != nil {
			t.Fatal(err)
		}
		out = append(out, u)
	}
	return out
}

func cm(ns, name, value string, annotations ...string) string {
	a := ""
	if len(annotations) > 0 {
		a = "\n  annotations:\n" + "    " + strings.Join(annotations, "\n    ")
	}
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n  namespace: " + ns + a + "\ndata:\n  key: " + value + "\n"
}

func ns(name string) string {
	return "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + name + "\n"
}

func actions(cs *ChangeSet) map[string]Action {
	out := map[string]Action{}
	for _, e := range cs.Entries {
		out[e.Subject] = e.Action
	}
	return out
}

func TestApplyCreateUpdateNoopAndPrune(t *testing.T) {
	ctx := context.Background()
	m := newManager(t)
	v1 := objects(t, ns("app1"), cm("app1", "a", "one"), cm("app1", "b", "one"), cm("app1", "keep", "one", "kustomize.toolkit.fluxcd.io/prune: disabled"))

	cs, err := m.Apply(ctx, v1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Action{"Namespace/app1": Created, "ConfigMap/app1/a": Created, "ConfigMap/app1/b": Created, "ConfigMap/app1/keep": Created}
	if got := actions(cs); !equalActions(got, want) {
		t.Fatalf("first apply %v, want %v", got, want)
	}
	if cs.Entries[0].Subject != "Namespace/app1" {
		t.Errorf("the Namespace must be applied first, got %v", cs.Entries[0])
	}

	cs, err = m.Apply(ctx, v1, Options{})
	if err != nil || cs.Changed() || cs.Count(Unchanged) != 4 {
		t.Fatalf("second apply must change nothing: %v %v", cs, err)
	}

	v2 := objects(t, ns("app1"), cm("app1", "a", "two"))
	cs, err = m.Apply(ctx, v2, Options{})
	if err != nil || actions(cs)["ConfigMap/app1/a"] != Configured {
		t.Fatalf("update: %v %v", cs, err)
	}
	stale, err := Stale(Inventory(v1), v2)
	if err != nil || len(stale) != 2 {
		t.Fatalf("stale %v %v", stale, err)
	}
	pcs, err := m.Prune(ctx, stale, PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(pcs); got["ConfigMap/app1/b"] != Deleted || got["ConfigMap/app1/keep"] != Skipped {
		t.Fatalf("prune %v", got)
	}
	if _, err := cluster.Client.CoreV1().ConfigMaps("app1").Get(ctx, "b", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("b not pruned: %v", err)
	}
	if _, err := cluster.Client.CoreV1().ConfigMaps("app1").Get(ctx, "keep", metav1.GetOptions{}); err != nil {
		t.Errorf("keep was pruned: %v", err)
	}
}

func equalActions(a, b map[string]Action) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestFailingDryRunWritesNothing(t *testing.T) {
	ctx := context.Background()
	m := newManager(t)
	if _, err := m.Apply(ctx, objects(t, ns("app2")), Options{}); err != nil {
		t.Fatal(err)
	}
	bad := objects(t, ns("app2"), cm("app2", "good", "x"),
		"apiVersion: v1\nkind: Service\nmetadata:\n  name: broken\n  namespace: app2\nspec:\n  ports:\n  - port: 99999\n")
	_, err := m.Apply(ctx, bad, Options{})
	var oe *ObjectError
	if !errors.As(err, &oe) || oe.Object.String() != "Service/app2/broken" || !strings.Contains(err.Error(), "99999") {
		t.Fatalf("want the Service named with the server's message, got %v", err)
	}
	if _, err := cluster.Client.CoreV1().ConfigMaps("app2").Get(ctx, "good", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a valid object was written despite another's failed validation: %v", err)
	}
}

func TestCRDAndCustomResourceTogether(t *testing.T) {
	ctx := context.Background()
	m := newManager(t)
	crd := `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer}}}
`
	cr := "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: app3\nspec:\n  size: 3\n"
	cs, err := m.Apply(ctx, objects(t, cr, crd, ns("app3")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(cs); got["Widget/app3/w"] != Created || got["CustomResourceDefinition/widgets.example.com"] != Created {
		t.Fatalf("got %v", got)
	}
}

func TestImmutableFieldAndForce(t *testing.T) {
	ctx := context.Background()
	m := newManager(t)
	job := func(image string, force bool) string {
		a := ""
		if force {
			a = "\n  annotations:\n    kustomize.toolkit.fluxcd.io/force: Enabled"
		}
		return "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  namespace: app4" + a +
			"\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: m\n        image: " + image + "\n"
	}
	if _, err := m.Apply(ctx, objects(t, ns("app4"), job("busybox:1", false)), Options{}); err != nil {
		t.Fatal(err)
	}
	_, err := m.Apply(ctx, objects(t, ns("app4"), job("busybox:2", false)), Options{})
	if err == nil || !strings.Contains(err.Error(), "immutable") || !strings.Contains(err.Error(), "Job/app4/migrate") {
		t.Fatalf("want an immutable-field error naming the Job, got %v", err)
	}
	cs, err := m.Apply(ctx, objects(t, ns("app4"), job("busybox:2", true)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if e := findEntry(cs, "Job/app4/migrate"); e == nil || e.Action != Configured || !strings.Contains(e.Reason, "recreated") {
		t.Fatalf("want the Job recreated, got %+v", cs.Entries)
	}
}

func findEntry(cs *ChangeSet, subject string) *Change {
	for i := range cs.Entries {
		if cs.Entries[i].Subject == subject {
			return &cs.Entries[i]
		}
	}
	return nil
}

func TestSSAPolicies(t *testing.T) {
	ctx := context.Background()
	m := newManager(t)
	if _, err := m.Apply(ctx, objects(t, ns("app5"), cm("app5", "ifnp", "one"), cm("app5", "ignored", "one")), Options{}); err != nil {
		t.Fatal(err)
	}
	cs, err := m.Apply(ctx, objects(t, ns("app5"),
		cm("app5", "ifnp", "two", "kustomize.toolkit.fluxcd.io/ssa: IfNotPresent"),
		cm("app5", "ignored", "two", "kustomize.toolkit.fluxcd.io/ssa: Ignore"),
		cm("app5", "fresh", "two", "kustomize.toolkit.fluxcd.io/ssa: IfNotPresent")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := actions(cs)
	if got["ConfigMap/app5/ifnp"] != Skipped || got["ConfigMap/app5/ignored"] != Skipped || got["ConfigMap/app5/fresh"] != Created {
		t.Fatalf("got %v", got)
	}
	live, _ := cluster.Client.CoreV1().ConfigMaps("app5").Get(ctx, "ifnp", metav1.GetOptions{})
	if live.Data["key"] != "one" {
		t.Errorf("IfNotPresent overwrote an existing object")
	}
}

func TestTakesOverFieldsOfAnotherManager(t *testing.T) {
	ctx := context.Background()
	m := newManager(t)
	if _, err := m.Apply(ctx, objects(t, ns("app6")), Options{}); err != nil {
		t.Fatal(err)
	}
	other := &Manager{Client: m.Client, Mapper: m.Mapper, FieldManager: "kubectl-edit"}
	if _, err := other.Apply(ctx, objects(t, cm("app6", "shared", "theirs")), Options{}); err != nil {
		t.Fatal(err)
	}
	cs, err := m.Apply(ctx, objects(t, cm("app6", "shared", "ours")), Options{})
	if err != nil || actions(cs)["ConfigMap/app6/shared"] != Configured {
		t.Fatalf("%v %v", cs, err)
	}
	live, _ := cluster.Client.CoreV1().ConfigMaps("app6").Get(ctx, "shared", metav1.GetOptions{})
	if live.Data["key"] != "ours" {
		t.Errorf("field owned by another manager not taken over: %v", live.Data)
	}
}

func TestHealth(t *testing.T) {
	ctx := context.Background()
	m := newManager(t)
	deploy := func(name string, replicas int, image string) string {
		return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + name + "\n  namespace: app7\nspec:\n  replicas: " +
			map[int]string{0: "0", 1: "1"}[replicas] + "\n  selector:\n    matchLabels: {app: " + name + "}\n  template:\n    metadata:\n      labels: {app: " + name +
			"}\n    spec:\n      containers:\n      - name: c\n        image: " + image + "\n"
	}
	objs := objects(t, ns("app7"), deploy("idle", 0, "busybox"), deploy("busy", 1, "busybox"))
	if _, err := m.Apply(ctx, objs, Options{}); err != nil {
		t.Fatal(err)
	}
	c := &health.Checker{Client: m.Client, Mapper: m.Mapper, Interval: 100 * time.Millisecond}
	idle := health.Object{GVK: objs[1].GroupVersionKind(), Namespace: "app7", Name: "idle"}
	busy := health.Object{GVK: objs[2].GroupVersionKind(), Namespace: "app7", Name: "busy"}
	// replicas: 0 becomes Available through the real deployment controller.
	if _, err := c.Wait(ctx, []health.Object{idle}, 60*time.Second); err != nil {
		t.Fatalf("idle Deployment not ready: %v", err)
	}
	// No kubelet runs pods here: a Deployment with a replica never becomes ready.
	_, err := c.Wait(ctx, []health.Object{idle, busy}, 2*time.Second)
	var he *health.Error
	if !errors.As(err, &he) || !strings.Contains(err.Error(), "timeout waiting for") || !strings.Contains(err.Error(), "Deployment/app7/busy") || strings.Contains(err.Error(), "idle") {
		t.Fatalf("want a timeout naming only the busy Deployment, got %v", err)
	}
}

// Many objects of one kind are read with one LIST; the plan must be the same as with GETs.
func TestApplyManyObjectsOfOneKind(t *testing.T) {
	ctx := context.Background()
	m := newManager(t)
	docs := []string{ns("app8")}
	for i := 0; i < 2*listThreshold; i++ {
		docs = append(docs, cm("app8", "cm-"+string(rune('a'+i)), "one"))
	}
	if cs, err := m.Apply(ctx, objects(t, docs...), Options{}); err != nil || cs.Count(Created) != len(docs) {
		t.Fatalf("first apply: %v %v", cs, err)
	}
	docs[3] = cm("app8", "cm-c", "two")
	cs, err := m.Apply(ctx, objects(t, docs...), Options{})
	if err != nil || cs.Count(Configured) != 1 || cs.Count(Unchanged) != len(docs)-1 || actions(cs)["ConfigMap/app8/cm-c"] != Configured {
		t.Fatalf("second apply: %+v %v", cs, err)
	}
	diffs, err := m.Diff(ctx, objects(t, docs...))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		if d.Action != Unchanged || (d.Object.Kind == "ConfigMap" && d.Live == nil) {
			t.Fatalf("diff after apply: %+v", d)
		}
	}
}

type countingTransport struct {
	next    http.RoundTripper
	patches atomic.Int64
	mu      sync.Mutex
	paths   []string
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPatch {
		c.patches.Add(1)
		c.mu.Lock()
		c.paths = append(c.paths, r.URL.Path)
		c.mu.Unlock()
	}
	return c.next.RoundTrip(r)
}

func (c *countingTransport) reset() {
	c.patches.Store(0)
	c.mu.Lock()
	c.paths = nil
	c.mu.Unlock()
}

// Unchanged objects are recognised from their managed fields, without a dry-run per object; drift made by
// other writers (updates, forced applies, removals) and changes in the desired objects fall back to the
// dry-run and are corrected.
func TestUnchangedObjectsNeedNoDryRun(t *testing.T) {
	ctx := context.Background()
	counter := &countingTransport{}
	cfg := rest.CopyConfig(cluster.Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { counter.next = rt; return counter }
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := &Manager{Client: dyn, Mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cluster.Client.Discovery()))}
	const space = "app9"
	docs := func() []string {
		out := []string{ns(space)}
		for i := range 12 {
			name := fmt.Sprintf("app-%02d", i)
			for _, kind := range testenv.BenchKinds() {
				out = append(out, testenv.BenchDocument(kind, space, name))
			}
		}
		return out
	}
	if _, err := m.Apply(ctx, objects(t, docs()...), Options{}); err != nil {
		t.Fatal(err)
	}
	counter.reset()
	cs, err := m.Apply(ctx, objects(t, docs()...), Options{})
	if err != nil || cs.Changed() || cs.Count(Unchanged) != len(docs()) {
		t.Fatalf("unchanged re-apply: %+v %v", cs, err)
	}
	if n := counter.patches.Load(); n > 1 {
		t.Errorf("%d PATCH requests for an unchanged set, want at most the Namespace's", n)
	}

	// Drift by other writers, each a different way, and two changes in the desired objects.
	drift := []struct {
		resource, name string
		typ            types.PatchType
		patch          string
		force          bool
		manager        string
	}{
		{"configmaps", "app-01", types.MergePatchType, `{"data":{"APP_NAME":"drift"}}`, false, "kubectl-edit"},
		{"deployments", "app-02", types.StrategicMergePatchType, `{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"evil:1"}]}}}}`, false, "kubectl-patch"},
		{"deployments", "app-03", types.ApplyPatchType, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"app-03"},"spec":{"replicas":2}}`, true, "other-applier"},
		{"services", "app-04", types.JSONPatchType, `[{"op":"replace","path":"/spec/ports/0/targetPort","value":9090}]`, false, "kubectl-patch"},
		{"serviceaccounts", "app-05", types.JSONPatchType, `[{"op":"remove","path":"/metadata/labels/app.kubernetes.io~1part-of"}]`, false, "kubectl-label"},
		{"deployments", "app-06", types.StrategicMergePatchType, `{"spec":{"template":{"spec":{"containers":[{"name":"app","env":[{"name":"LOG_LEVEL","value":"debug"}]}]}}}}`, false, "kubectl-set"},
	}
	for _, d := range drift {
		gvr := map[string]schema.GroupVersionResource{
			"configmaps": {Version: "v1", Resource: "configmaps"}, "services": {Version: "v1", Resource: "services"},
			"serviceaccounts": {Version: "v1", Resource: "serviceaccounts"}, "deployments": {Group: "apps", Version: "v1", Resource: "deployments"},
		}[d.resource]
		force := d.force
		if _, err := dyn.Resource(gvr).Namespace(space).Patch(ctx, d.name, d.typ, []byte(d.patch), metav1.PatchOptions{FieldManager: d.manager, Force: forcePtr(d.typ, force)}); err != nil {
			t.Fatalf("drift %s/%s: %v", d.resource, d.name, err)
		}
	}
	// Another controller adding a field converge does not set is not drift: apply would not touch it.
	// (kubectl's edits would be: converge takes over kubectl's fields, see TestTakeOverFromKubectlAndFlux.)
	if _, err := cluster.Client.CoreV1().ConfigMaps(space).Patch(ctx, "app-07", types.MergePatchType, []byte(`{"metadata":{"annotations":{"note":"theirs"}}}`),
		metav1.PatchOptions{FieldManager: "some-controller"}); err != nil {
		t.Fatal(err)
	}
	changed := docs()
	changed[1+4*8+2] = strings.Replace(changed[1+4*8+2], "APP_NAME: app-08", "APP_NAME: renamed", 1)                                              // ConfigMap app-08
	changed[1+4*9+1] = strings.Replace(changed[1+4*9+1], "  labels: {app.kubernetes.io/name: app-09, app.kubernetes.io/part-of: bench}\n", "", 1) // Service app-09 drops its labels
	cs, err = m.Apply(ctx, objects(t, changed...), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ConfigMap/app9/app-01", "Deployment/app9/app-02", "Deployment/app9/app-03", "Service/app9/app-04", "ServiceAccount/app9/app-05",
		"Deployment/app9/app-06", "ConfigMap/app9/app-08", "Service/app9/app-09"}
	got := actions(cs)
	for _, w := range want {
		if got[w] != Configured {
			t.Errorf("%s: %s, want configured", w, got[w])
		}
	}
	if cs.Count(Unchanged) != len(changed)-len(want) {
		t.Errorf("%d unchanged, want %d: %v", cs.Count(Unchanged), len(changed)-len(want), got)
	}

	// Every drift is corrected: a third apply finds nothing to do, without a dry-run.
	counter.reset()
	cs, err = m.Apply(ctx, objects(t, changed...), Options{})
	if err != nil || cs.Changed() {
		t.Fatalf("after correction: %v %v", actions(cs), err)
	}
	if n := counter.patches.Load(); n > 1 {
		t.Errorf("%d PATCH requests after the correction, want at most the Namespace's", n)
	}
	dep, err := cluster.Client.AppsV1().Deployments(space).Get(ctx, "app-02", metav1.GetOptions{})
	if err != nil || dep.Spec.Template.Spec.Containers[0].Image != "registry.example.com/bench/app:1.0.0" {
		t.Errorf("image drift not corrected: %v", err)
	}
	dep, err = cluster.Client.AppsV1().Deployments(space).Get(ctx, "app-03", metav1.GetOptions{})
	if err != nil || *dep.Spec.Replicas != 0 {
		t.Errorf("forced-apply drift not corrected: %v", err)
	}
	svc, err := cluster.Client.CoreV1().Services(space).Get(ctx, "app-09", metav1.GetOptions{})
	if err != nil || len(svc.Labels) != 0 {
		t.Errorf("labels removed from the desired Service are still there: %v %v", svc.Labels, err)
	}
	cm7, err := cluster.Client.CoreV1().ConfigMaps(space).Get(ctx, "app-07", metav1.GetOptions{})
	if err != nil || cm7.Annotations["note"] != "theirs" {
		t.Errorf("another writer's own field was removed: %v", err)
	}
}

func forcePtr(typ types.PatchType, force bool) *bool {
	if typ != types.ApplyPatchType {
		return nil
	}
	return &force
}

// Objects first written by kubectl (client-side and server-side apply) or by Flux's kustomize-controller
// are taken over: their fields become converge's, so fields removed from Git are removed from the
// cluster and no stale owner is left. The ssa: Merge policy and unrelated managers keep theirs.
func TestTakeOverFromKubectlAndFlux(t *testing.T) {
	ctx := context.Background()
	counter := &countingTransport{}
	cfg := rest.CopyConfig(cluster.Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { counter.next = rt; return counter }
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := &Manager{Client: dyn, Mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cluster.Client.Discovery()))}
	const space = "app10"
	if _, err := m.Apply(ctx, objects(t, ns(space)), Options{}); err != nil {
		t.Fatal(err)
	}
	two := func(name string, annotations ...string) string {
		return strings.Replace(cm(space, name, "one", annotations...), "\ndata:\n", "\ndata:\n  extra: gone-from-git\n", 1)
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := cluster.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	kubectl := func(args ...string) {
		t.Helper()
		out, err := exec.CommandContext(ctx, filepath.Join(testenv.BinDir(), "kubectl"), append([]string{"--kubeconfig=" + kubeconfig}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, out)
		}
	}
	for name, doc := range map[string]string{
		"csa":   two("csa"),
		"ssa":   two("ssa"),
		"merge": two("merge", "kustomize.toolkit.fluxcd.io/ssa: Merge"),
	} {
		file := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		if name == "ssa" {
			kubectl("apply", "--server-side", "-f", file)
		} else {
			kubectl("apply", "-f", file)
		}
	}
	flux := &Manager{Client: dyn, Mapper: m.Mapper, FieldManager: "kustomize-controller"}
	if _, err := flux.Apply(ctx, objects(t, two("flux")), Options{}); err != nil {
		t.Fatal(err)
	}
	// Flux before server-side apply wrote with updates.
	if _, err := cluster.Client.CoreV1().ConfigMaps(space).Patch(ctx, "flux", types.MergePatchType, []byte(`{"data":{"old":"update"}}`),
		metav1.PatchOptions{FieldManager: "kustomize-controller"}); err != nil {
		t.Fatal(err)
	}
	operator := &Manager{Client: dyn, Mapper: m.Mapper, FieldManager: "some-operator"}
	if _, err := operator.Apply(ctx, objects(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: operator\n  namespace: app10\ndata:\n  theirs: kept\n"), Options{}); err != nil {
		t.Fatal(err)
	}

	desired := objects(t, cm(space, "csa", "one"), cm(space, "ssa", "one"), cm(space, "flux", "one"),
		cm(space, "merge", "one", "kustomize.toolkit.fluxcd.io/ssa: Merge"), cm(space, "operator", "one"))
	cs, err := m.Apply(ctx, desired, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"csa", "ssa", "flux"} {
		e := findEntry(cs, "ConfigMap/app10/"+name)
		if e == nil || e.Action != Configured || !strings.Contains(e.Reason, "took over from") {
			t.Errorf("%s: %+v", name, e)
		}
	}
	managers := func(name string) (map[string]string, []string) {
		live, err := cluster.Client.CoreV1().ConfigMaps(space).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range live.ManagedFields {
			out = append(out, e.Manager+"/"+string(e.Operation))
		}
		sort.Strings(out)
		if _, ok := live.Annotations["kubectl.kubernetes.io/last-applied-configuration"]; ok {
			out = append(out, "last-applied-configuration")
		}
		return live.Data, out
	}
	for _, name := range []string{"csa", "ssa", "flux"} {
		data, owners := managers(name)
		if len(data) != 1 || data["key"] != "one" || strings.Join(owners, ",") != "converge/Apply" {
			t.Errorf("%s after the takeover: data %v, owners %v", name, data, owners)
		}
	}
	if data, owners := managers("merge"); data["extra"] != "gone-from-git" || !slices.Contains(owners, "kubectl-client-side-apply/Update") {
		t.Errorf("ssa: Merge must keep kubectl's fields: %v %v", data, owners)
	}
	if data, owners := managers("operator"); data["theirs"] != "kept" || data["key"] != "one" || !slices.Contains(owners, "some-operator/Apply") {
		t.Errorf("an unrelated manager must keep its fields: %v %v", data, owners)
	}

	counter.reset()
	cs, err = m.Apply(ctx, desired, Options{})
	if err != nil || cs.Changed() {
		t.Fatalf("second apply after the takeover: %v %v", actions(cs), err)
	}
	// Only the ssa: Merge object still needs a dry-run: its content never changed, so converge never
	// wrote it and owns none of its fields (as with Flux).
	if n := counter.patches.Load(); n != 1 || !strings.HasSuffix(counter.paths[0], "/merge") {
		t.Errorf("%d PATCH requests after the takeover, want only the dry-run of merge: %v", n, counter.paths)
	}
}

// Flux's per-object settings, as labels or annotations, with any letter case, on the desired object or
// (reconcile: disabled, ssa: Ignore) on the cluster's.
func TestPerObjectSettings(t *testing.T) {
	ctx := context.Background()
	m := newManager(t)
	if _, err := m.Apply(ctx, objects(t, ns("app11"), cm("app11", "frozen", "one"), cm("app11", "labelled", "one")), Options{}); err != nil {
		t.Fatal(err)
	}
	// Someone disables reconciliation on the cluster's object.
	if _, err := cluster.Client.CoreV1().ConfigMaps("app11").Patch(ctx, "frozen", types.MergePatchType,
		[]byte(`{"metadata":{"annotations":{"kustomize.toolkit.fluxcd.io/reconcile":"Disabled"}}}`), metav1.PatchOptions{FieldManager: "ops"}); err != nil {
		t.Fatal(err)
	}
	labelled := strings.Replace(cm("app11", "labelled", "two"), "  namespace: app11\n", "  namespace: app11\n  labels:\n    kustomize.toolkit.fluxcd.io/ssa: ignore\n", 1)
	cs, err := m.Apply(ctx, objects(t, ns("app11"), cm("app11", "frozen", "two"), labelled), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(cs); got["ConfigMap/app11/frozen"] != Skipped || got["ConfigMap/app11/labelled"] != Skipped {
		t.Fatalf("got %v", got)
	}
	for _, name := range []string{"frozen", "labelled"} {
		if live, _ := cluster.Client.CoreV1().ConfigMaps("app11").Get(ctx, name, metav1.GetOptions{}); live.Data["key"] != "one" {
			t.Errorf("%s was applied: %v", name, live.Data)
		}
	}
	// prune: disabled as a label, in capitals.
	keep := strings.Replace(cm("app11", "kept", "one"), "  namespace: app11\n", "  namespace: app11\n  labels:\n    kustomize.toolkit.fluxcd.io/prune: DISABLED\n", 1)
	if _, err := m.Apply(ctx, objects(t, keep), Options{}); err != nil {
		t.Fatal(err)
	}
	pcs, err := m.Prune(ctx, []ObjMeta{{Namespace: "app11", Name: "kept", Kind: "ConfigMap", Version: "v1"}}, PruneOptions{})
	if err != nil || actions(pcs)["ConfigMap/app11/kept"] != Skipped {
		t.Fatalf("prune: %v %v", actions(pcs), err)
	}
}
