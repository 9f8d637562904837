package reconcile

import (
	"context"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	helmrel "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/helmrelease"
	"github.com/converge-gitops/converge/engine/helmrelease/helmtest"
)

// managers returns the field managers of a ConfigMap with their operation ("converge:Apply").
func managers(t *testing.T, ns, name string) string {
	t.Helper()
	cm, err := cluster.Client.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range cm.ManagedFields {
		out = append(out, m.Manager+":"+string(m.Operation))
	}
	return strings.Join(out, ",")
}

func storedRelease(t *testing.T, st *storage.Storage, name string, version int) *helmrel.Release {
	t.Helper()
	r, err := st.Get(name, version)
	if err != nil {
		t.Fatal(err)
	}
	return r.(*helmrel.Release)
}

// TestHelmReleaseServerSideApply: new releases apply server-side (field manager "converge", Apply);
// spec.install.serverSideApply false installs client-side; upgrades follow the release they start
// from ("auto") unless spec.upgrade.serverSideApply says otherwise.
func TestHelmReleaseServerSideApply(t *testing.T) {
	ctx := context.Background()
	r := newHelmReleases(t)
	ns := "hr-ssa"
	tests := []struct {
		name, spec   string
		install      string // managers after install
		upgradeSpec  string // spec.upgrade set before the upgrade
		upgrade      string // managers after the upgrade
		applyMethods string // of v1 and v2
	}{
		{"default", "", apply.FieldManager + ":Apply", "", apply.FieldManager + ":Apply", "ssa,ssa"},
		{"client-side install", "  install:\n    serverSideApply: false\n", apply.FieldManager + ":Update", "", apply.FieldManager + ":Update", "csa,csa"},
		{"client-side release upgraded server-side", "  install:\n    serverSideApply: false\n", apply.FieldManager + ":Update", "enabled",
			apply.FieldManager + ":Apply", "csa,ssa"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := []string{"a", "b", "c"}[i]
			createHelmRelease(t, r, ns, name, tc.spec)
			if res := r.Reconcile(ctx, hrRef(ns, name), loadTestChart(t, ""), "", nil); res.Err != nil || actionsOf(res) != "install" {
				t.Fatalf("install: actions %q err %v", actionsOf(res), res.Err)
			}
			if got := managers(t, ns, name+"-config"); got != tc.install {
				t.Fatalf("managers after install %q, want %q", got, tc.install)
			}
			updateHelmRelease(t, r, ns, name, func(u *unstructured.Unstructured) {
				setValues("message: two")(u)
				if tc.upgradeSpec != "" {
					u.Object["spec"].(map[string]any)["upgrade"] = map[string]any{"serverSideApply": tc.upgradeSpec}
				}
			})
			if res := r.Reconcile(ctx, hrRef(ns, name), loadTestChart(t, ""), "", nil); res.Err != nil || actionsOf(res) != "upgrade" {
				t.Fatalf("upgrade: actions %q err %v", actionsOf(res), res.Err)
			}
			if got := managers(t, ns, name+"-config"); !strings.Contains(got, tc.upgrade) {
				t.Fatalf("managers after upgrade %q, want %q among them", got, tc.upgrade)
			}
			st := storage.Init(driver.NewSecrets(cluster.Client.CoreV1().Secrets(ns)))
			got := storedRelease(t, st, name, 1).ApplyMethod + "," + storedRelease(t, st, name, 2).ApplyMethod
			if got != tc.applyMethods {
				t.Fatalf("apply methods %q, want %q", got, tc.applyMethods)
			}
		})
	}
}

// TestHelmReleaseUpgradesHelm3Release: a release record as Helm 3 stores it (no apply method) is taken
// over and upgraded in place: a new revision, no uninstall, applied client-side as it was installed.
func TestHelmReleaseUpgradesHelm3Release(t *testing.T) {
	ctx := context.Background()
	r := newHelmReleases(t)
	ns := "hr-helm3"
	createHelmRelease(t, r, ns, "old", "  install:\n    serverSideApply: false\n")
	if res := r.Reconcile(ctx, hrRef(ns, "old"), loadTestChart(t, ""), "", nil); res.Err != nil {
		t.Fatal(res.Err)
	}
	st := storage.Init(driver.NewSecrets(cluster.Client.CoreV1().Secrets(ns)))
	rls := storedRelease(t, st, "old", 1)
	rls.ApplyMethod = "" // Helm 3 records carry none
	if err := st.Update(rls); err != nil {
		t.Fatal(err)
	}
	cm, err := cluster.Client.CoreV1().ConfigMaps(ns).Get(ctx, "old-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	updateHelmRelease(t, r, ns, "old", setValues("message: four"))
	res := r.Reconcile(ctx, hrRef(ns, "old"), loadTestChart(t, ""), "", nil)
	if res.Err != nil || actionsOf(res) != "upgrade" || res.Release != ns+"/old.v2" {
		t.Fatalf("actions %q release %s err %v", actionsOf(res), res.Release, res.Err)
	}
	h := helmHistory(t, ns, "old")
	if statuses(h) != "superseded,deployed" || h[1].ApplyMethod != "csa" {
		t.Fatalf("history %s, apply method %q", statuses(h), h[1].ApplyMethod)
	}
	after, err := cluster.Client.CoreV1().ConfigMaps(ns).Get(ctx, "old-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.UID != cm.UID || after.Data["message"] != "four" {
		t.Fatalf("the ConfigMap was replaced or not upgraded: uid %s->%s data %v", cm.UID, after.UID, after.Data)
	}
}

// TestHelmReleaseWaitStrategies: a Deployment whose pods never become ready (no node runs them here)
// but whose rollout allows one unavailable replica passes Helm's legacy wait and fails the poller's
// (kstatus: not all replicas available).
func TestHelmReleaseWaitStrategies(t *testing.T) {
	ctx := context.Background()
	r := newHelmReleases(t)
	ns := "hr-wait"
	withNeverReady := func() *chart.Chart {
		c := loadTestChart(t, "")
		c.Templates = append(c.Templates, &common.File{Name: "templates/never-ready.yaml", Data: []byte(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-never-ready
spec:
  replicas: 1
  strategy:
    rollingUpdate:
      maxUnavailable: 1
      maxSurge: 0
  selector:
    matchLabels:
      app: {{ .Release.Name }}-never-ready
  template:
    metadata:
      labels:
        app: {{ .Release.Name }}-never-ready
    spec:
      containers:
        - name: app
          image: registry.k8s.io/pause:3.10
`)})
		return c
	}
	tests := []struct {
		name, spec string
		released   metav1.ConditionStatus
		message    string
	}{
		{"legacy", "  timeout: 30s\n  waitStrategy:\n    name: legacy\n", metav1.ConditionTrue, "Helm install succeeded"},
		{"poller", "  timeout: 15s\n  waitStrategy:\n    name: poller\n", metav1.ConditionFalse, "Deployment/hr-wait/poller-never-ready status: 'InProgress'"},
		{"default", "  timeout: 15s\n", metav1.ConditionFalse, "Deployment/hr-wait/default-never-ready status: 'InProgress'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			createHelmRelease(t, r, ns, tc.name, tc.spec)
			res := r.Reconcile(ctx, hrRef(ns, tc.name), withNeverReady(), "", nil)
			if !strings.HasPrefix(actionsOf(res), "install") {
				t.Fatalf("actions %q err %v", actionsOf(res), res.Err)
			}
			c := condition(liveHR(t, r, ns, tc.name), "Released")
			if c.Status != tc.released || !strings.Contains(c.Message, tc.message) {
				t.Fatalf("Released %s %q, want %s containing %q", c.Status, c.Message, tc.released, tc.message)
			}
		})
	}
}

// TestHelmReleaseHealthCheckExprs: the poller judges a custom kind by spec.healthCheckExprs (CEL, the
// Kustomizations' evaluator). A Gadget has no status, which kstatus calls Current: without the
// expressions every case below would pass, so "broken" failing proves they are read; an invalid
// expression is refused naming the field.
func TestHelmReleaseHealthCheckExprs(t *testing.T) {
	ctx := context.Background()
	r := newHelmReleases(t)
	ns := "hr-cel"
	withGadget := func(state string) *chart.Chart {
		c := loadTestChart(t, "")
		c.Files = append(c.Files, &common.File{Name: "crds/gadgets.yaml", Data: helmtest.CRD("cel.converge.dev", "Gadget", "gadgets")})
		c.Templates = append(c.Templates, &common.File{Name: "templates/gadget.yaml", Data: []byte(`apiVersion: cel.converge.dev/v1
kind: Gadget
metadata:
  name: {{ .Release.Name }}-gadget
spec:
  state: ` + state + "\n")})
		return c
	}
	const exprs = `  timeout: 20s
  healthCheckExprs:
    - apiVersion: cel.converge.dev/v1
      kind: Gadget
      current: "spec.state == 'ready'"
      failed: "spec.state == 'broken'"
`
	tests := []struct {
		name, spec, state string
		released          metav1.ConditionStatus
		message           string
	}{
		{"ready", exprs, "ready", metav1.ConditionTrue, "Helm install succeeded"},
		{"broken", exprs, "broken", metav1.ConditionFalse, "Gadget/hr-cel/broken-gadget status: 'Failed'"},
		{"pending", exprs, "starting", metav1.ConditionFalse, "Gadget/hr-cel/pending-gadget status: 'InProgress'"},
		{"no expressions", "  timeout: 20s\n", "broken", metav1.ConditionTrue, "Helm install succeeded"},
		{"invalid", "  timeout: 20s\n  healthCheckExprs:\n    - apiVersion: cel.converge.dev/v1\n      kind: Gadget\n      current: \"spec.state ==\"\n",
			"ready", metav1.ConditionFalse, "spec.healthCheckExprs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := strings.ReplaceAll(tc.name, " ", "-")
			createHelmRelease(t, r, ns, name, tc.spec)
			res := r.Reconcile(ctx, hrRef(ns, name), withGadget(tc.state), "", nil)
			if !strings.HasPrefix(actionsOf(res), "install") {
				t.Fatalf("actions %q err %v", actionsOf(res), res.Err)
			}
			c := condition(liveHR(t, r, ns, name), "Released")
			if c.Status != tc.released || !strings.Contains(c.Message, tc.message) {
				t.Fatalf("Released %s %q, want %s containing %q", c.Status, c.Message, tc.released, tc.message)
			}
		})
	}
}

// TestHelmReleaseCRDApplyMethods: the chart's CRDs are applied as helm-controller applies them with
// Helm 4: server-side (manager "converge", Apply) for a server-side release, where Create also updates
// an existing CRD (Helm's server-side create is an apply); client-side for a client-side release, where
// Create leaves an existing CRD alone and CreateReplace replaces it. An object other than a CRD in
// crds/ is not applied.
func TestHelmReleaseCRDApplyMethods(t *testing.T) {
	ctx := context.Background()
	r := newHelmReleases(t)
	ns := "hr-crd-ssa"
	tests := []struct {
		name, plural, spec, upgradePolicy string
		manager                           string // of the CRD after install
		shortAfterUpgrade                 string
	}{
		{"server-side create", "sprockets", "", "Create", apply.FieldManager + ":Apply", "new"},
		{"client-side create", "cogs", "  install:\n    serverSideApply: false\n", "Create", apply.FieldManager + ":Update", "old"},
		{"client-side create-replace", "gears", "  install:\n    serverSideApply: false\n", "CreateReplace", apply.FieldManager + ":Update", "new"},
		{"server-side skip", "levers", "", "Skip", apply.FieldManager + ":Apply", "old"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.plural
			withCRD := func(version, shortName string) *chart.Chart {
				c := loadTestChart(t, version)
				c.Files = append(c.Files,
					&common.File{Name: "crds/crd.yaml", Data: helmtest.CRD("ssa.converge.dev", strings.ToUpper(tc.plural[:1])+tc.plural[1:len(tc.plural)-1], tc.plural, tc.plural[:4]+shortName)},
					&common.File{Name: "crds/stray.yaml", Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "-stray\n  namespace: " + ns + "\n")})
				return c
			}
			createHelmRelease(t, r, ns, name, tc.spec)
			if res := r.Reconcile(ctx, hrRef(ns, name), withCRD("", "old"), "", nil); res.Err != nil || actionsOf(res) != "install" {
				t.Fatalf("install: %q %v", actionsOf(res), res.Err)
			}
			get := func() *unstructured.Unstructured {
				t.Helper()
				u, err := r.Client.Resource(crdResource).Get(ctx, tc.plural+".ssa.converge.dev", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return u
			}
			live := get()
			var ms []string
			for _, m := range live.GetManagedFields() {
				ms = append(ms, m.Manager+":"+string(m.Operation))
			}
			if got := strings.Join(ms, ","); !strings.Contains(got, tc.manager) || live.GetLabels()[helmrelease.NameLabel] != name {
				t.Fatalf("managers %q (want %q), labels %v", got, tc.manager, live.GetLabels())
			}
			if _, err := cluster.Client.CoreV1().ConfigMaps(ns).Get(ctx, name+"-stray", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Fatalf("the ConfigMap in crds/ was applied: %v", err)
			}
			updateHelmRelease(t, r, ns, name, func(u *unstructured.Unstructured) {
				_ = unstructured.SetNestedField(u.Object, tc.upgradePolicy, "spec", "upgrade", "crds")
			})
			if res := r.Reconcile(ctx, hrRef(ns, name), withCRD("0.2.0", "new"), "", nil); res.Err != nil || actionsOf(res) != "upgrade" {
				t.Fatalf("upgrade: %q %v", actionsOf(res), res.Err)
			}
			short, _, _ := unstructured.NestedStringSlice(get().Object, "spec", "names", "shortNames")
			if strings.Join(short, ",") != tc.plural[:4]+tc.shortAfterUpgrade {
				t.Fatalf("short names after upgrade %v, want %s", short, tc.shortAfterUpgrade)
			}
		})
	}
}
