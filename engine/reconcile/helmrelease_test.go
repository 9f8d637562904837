package reconcile

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	helmrel "helm.sh/helm/v4/pkg/release/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/utils/clock"
	"sigs.k8s.io/yaml"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	"github.com/converge-gitops/converge/engine/helmrelease"
	"github.com/converge-gitops/converge/engine/helmrelease/helmtest"
	"github.com/converge-gitops/converge/engine/kube"
)

func newHelmReleases(t testing.TB) *HelmReleases {
	t.Helper()
	clients, err := kube.New(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	return &HelmReleases{Clock: clock.RealClock{}, Client: clients.Dynamic, Config: cluster.Config,
		Renderer: &helmrelease.Renderer{Secrets: clients, ConfigMaps: clients}}
}

func loadTestChart(t testing.TB, version string) *chart.Chart {
	t.Helper()
	c, err := helmrelease.LoadChart(helmtest.ChartDir("simple"))
	if err != nil {
		t.Fatal(err)
	}
	if version != "" {
		c.Metadata.Version = version
	}
	return c
}

// createHelmRelease creates a HelmRelease namespace/name with spec lines added to a minimal spec.
func createHelmRelease(t *testing.T, r *HelmReleases, namespace, name, spec string) *helmv2.HelmRelease {
	t.Helper()
	ensureNS(t, namespace)
	obj := objs(t, `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: `+name+`
  namespace: `+namespace+`
spec:
  interval: 10m
  chart:
    spec:
      chart: simple
      sourceRef:
        kind: HelmRepository
        name: charts
`+spec)[0]
	if _, err := r.Client.Resource(HelmReleasesResource).Namespace(namespace).Create(context.Background(), obj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return hrRef(namespace, name)
}

func hrRef(namespace, name string) *helmv2.HelmRelease {
	hr := &helmv2.HelmRelease{}
	hr.Namespace, hr.Name = namespace, name
	return hr
}

// updateHelmRelease changes the live HelmRelease's spec (a new generation) or metadata.
func updateHelmRelease(t *testing.T, r *HelmReleases, namespace, name string, mutate func(u *unstructured.Unstructured)) {
	t.Helper()
	ri := r.Client.Resource(HelmReleasesResource).Namespace(namespace)
	u, err := ri.Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mutate(u)
	if _, err := ri.Update(context.Background(), u, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func setValues(values string) func(u *unstructured.Unstructured) {
	return func(u *unstructured.Unstructured) {
		var v map[string]any
		if err := yaml.Unmarshal([]byte(values), &v); err != nil {
			panic(err)
		}
		_ = unstructured.SetNestedField(u.Object, v, "spec", "values")
	}
}

func liveHR(t *testing.T, r *HelmReleases, namespace, name string) *helmv2.HelmRelease {
	t.Helper()
	hr, err := r.Get(context.Background(), namespace, name)
	if err != nil || hr == nil {
		t.Fatalf("get HelmRelease %s/%s: %v", namespace, name, err)
	}
	return hr
}

func condition(hr *helmv2.HelmRelease, t string) metav1.Condition {
	if c := apimeta.FindStatusCondition(hr.Status.Conditions, t); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// helmHistory reads a release's records with Helm's own action package and storage, configured the
// way the helm CLI is (a kubeconfig file), independently of engine/helmrelease/release.
func helmHistory(t *testing.T, storageNamespace, name string) []*helmrel.Release {
	t.Helper()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cluster.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &kubeconfig
	flags.Namespace = &storageNamespace
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.DiscardHandler))
	if err := cfg.Init(flags, storageNamespace, "secret"); err != nil {
		t.Fatal(err)
	}
	rs, err := action.NewHistory(cfg).Run(name)
	if err != nil && !strings.Contains(err.Error(), "not found") {
		t.Fatalf("helm history %s: %v", name, err)
	}
	var h []*helmrel.Release
	for _, r := range rs {
		rls, ok := r.(*helmrel.Release)
		if !ok {
			t.Fatalf("helm history %s: %T is not a v1 release", name, r)
		}
		h = append(h, rls)
	}
	return h
}

func statuses(h []*helmrel.Release) string {
	var s []string
	for _, r := range h {
		s = append(s, r.Info.Status.String())
	}
	return strings.Join(s, ",")
}

func actionsOf(res *HelmReleaseResult) string {
	var s []string
	for _, a := range res.Actions {
		s = append(s, string(a))
	}
	return strings.Join(s, ",")
}

func TestHelmReleaseInstallNoOpUpgrade(t *testing.T) {
	ctx := context.Background()
	r := newHelmReleases(t)
	ns := "hr-basic"
	createHelmRelease(t, r, ns, "web", `  values:
    message: one
  postRenderers:
    - kustomize:
        patches:
          - target:
              kind: ConfigMap
            patch: |
              apiVersion: v1
              kind: ConfigMap
              metadata:
                name: any
                labels:
                  patched: "yes"
`)
	c1 := loadTestChart(t, "")

	res := r.Reconcile(ctx, hrRef(ns, "web"), c1, "", nil)
	if res.Err != nil || actionsOf(res) != "install" {
		t.Fatalf("install: actions %q err %v", actionsOf(res), res.Err)
	}
	hr := liveHR(t, r, ns, "web")
	ready := condition(hr, "Ready")
	if ready.Status != metav1.ConditionTrue || ready.Reason != "InstallSucceeded" ||
		ready.Message != "Helm install succeeded for release hr-basic/web.v1 with chart simple@0.1.0" {
		t.Fatalf("Ready after install: %+v", ready)
	}
	if c := condition(hr, "Released"); c.Status != metav1.ConditionTrue || c.Reason != "InstallSucceeded" {
		t.Fatalf("Released: %+v", c)
	}
	st := hr.Status
	if len(st.History) != 1 || st.History[0].Version != 1 || st.History[0].Status != "deployed" || st.History[0].ChartName != "simple" ||
		st.History[0].ChartVersion != "0.1.0" || st.History[0].AppVersion != "1.0.0" || st.History[0].ConfigDigest != st.LastAttemptedConfigDigest ||
		st.History[0].Action != "install" || st.History[0].FirstDeployed.IsZero() || !strings.HasPrefix(st.History[0].Digest, "sha256:") {
		t.Fatalf("history %+v", st.History)
	}
	if st.LastAttemptedRevision != "0.1.0" || st.LastAttemptedReleaseAction != "install" || st.StorageNamespace != ns ||
		st.ObservedGeneration != hr.Generation || st.LastAttemptedConfigDigest != helmrelease.DigestValues(map[string]any{"message": "one"}) ||
		st.HelmChart != ns+"/"+ns+"-web" || st.InstallFailures != 0 || st.Failures != 0 {
		t.Fatalf("status %+v", st)
	}

	// An ordinary Helm release, post-rendered and labelled as `converge build helmrelease` renders it.
	h := helmHistory(t, ns, "web")
	if len(h) != 1 || h[0].Info.Status != rcommon.StatusDeployed || h[0].Chart.Metadata.Version != "0.1.0" {
		t.Fatalf("helm history: %d records %s", len(h), statuses(h))
	}
	rendered, err := r.Renderer.Render(ctx, hr, c1)
	if err != nil {
		t.Fatal(err)
	}
	if h[0].Manifest != rendered.Manifest {
		t.Errorf("stored manifest differs from the build:\n%s\n---- build:\n%s", h[0].Manifest, rendered.Manifest)
	}
	cm, err := cluster.Client.CoreV1().ConfigMaps(ns).Get(ctx, "web-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Labels["patched"] != "yes" || cm.Labels[helmrelease.NameLabel] != "web" || cm.Labels[helmrelease.NamespaceLabel] != ns ||
		cm.Labels["app.kubernetes.io/managed-by"] != "Helm" || cm.Data["message"] != "one" {
		t.Fatalf("ConfigMap %v %v", cm.Labels, cm.Data)
	}
	for _, hook := range h[0].Hooks {
		if !strings.Contains(hook.Manifest, helmrelease.NameLabel+": web") {
			t.Errorf("hook %s not post-rendered:\n%s", hook.Name, hook.Manifest)
		}
	}

	// Unchanged: no Helm action, no new revision.
	installTook := res.Duration
	res = r.Reconcile(ctx, hrRef(ns, "web"), loadTestChart(t, ""), "", nil)
	if res.Err != nil || len(res.Actions) != 0 {
		t.Fatalf("second reconcile: actions %q err %v", actionsOf(res), res.Err)
	}
	t.Logf("install took %s, the unchanged reconcile %s", installTook, res.Duration)
	if h := helmHistory(t, ns, "web"); len(h) != 1 {
		t.Fatalf("no-op made revisions: %s", statuses(h))
	}

	// Values change: upgrade.
	updateHelmRelease(t, r, ns, "web", setValues("message: two"))
	res = r.Reconcile(ctx, hrRef(ns, "web"), loadTestChart(t, ""), "", nil)
	if res.Err != nil || actionsOf(res) != "upgrade" || res.Release != ns+"/web.v2" {
		t.Fatalf("values change: actions %q release %s err %v", actionsOf(res), res.Release, res.Err)
	}
	hr = liveHR(t, r, ns, "web")
	if c := condition(hr, "Ready"); c.Reason != "UpgradeSucceeded" || c.ObservedGeneration != 2 {
		t.Fatalf("Ready after upgrade %+v", c)
	}
	if len(hr.Status.History) != 2 || hr.Status.History[1].Status != "superseded" {
		t.Fatalf("history after upgrade %+v", hr.Status.History)
	}

	// Chart version change: upgrade.
	res = r.Reconcile(ctx, hrRef(ns, "web"), loadTestChart(t, "0.2.0"), "", nil)
	if res.Err != nil || actionsOf(res) != "upgrade" {
		t.Fatalf("chart change: actions %q err %v", actionsOf(res), res.Err)
	}
	if hr := liveHR(t, r, ns, "web"); hr.Status.LastAttemptedRevision != "0.2.0" {
		t.Fatalf("lastAttemptedRevision %s", hr.Status.LastAttemptedRevision)
	}

	// forceAt with the matching requestedAt: one upgrade, then back to no-op.
	updateHelmRelease(t, r, ns, "web", func(u *unstructured.Unstructured) {
		u.SetAnnotations(map[string]string{"reconcile.fluxcd.io/requestedAt": "now", "reconcile.fluxcd.io/forceAt": "now"})
	})
	res = r.Reconcile(ctx, hrRef(ns, "web"), loadTestChart(t, "0.2.0"), "", nil)
	if res.Err != nil || actionsOf(res) != "upgrade" {
		t.Fatalf("force: actions %q err %v", actionsOf(res), res.Err)
	}
	res = r.Reconcile(ctx, hrRef(ns, "web"), loadTestChart(t, "0.2.0"), "", nil)
	if res.Err != nil || len(res.Actions) != 0 {
		t.Fatalf("after force: actions %q err %v", actionsOf(res), res.Err)
	}
	hr = liveHR(t, r, ns, "web")
	if hr.Status.LastHandledForceAt != "now" || hr.Status.LastHandledReconcileAt != "now" {
		t.Fatalf("force handling %+v", hr.Status)
	}
	if h := helmHistory(t, ns, "web"); len(h) != 4 || statuses(h) != "superseded,superseded,superseded,deployed" {
		t.Fatalf("helm history: %s", statuses(h))
	}

	// Deletion: the finalizer's uninstall removes the release and its objects.
	if err := r.Uninstall(ctx, hrRef(ns, "web")); err != nil {
		t.Fatal(err)
	}
	if h := helmHistory(t, ns, "web"); len(h) != 0 {
		t.Fatalf("after uninstall: %s", statuses(h))
	}
	if _, err := cluster.Client.CoreV1().ConfigMaps(ns).Get(ctx, "web-config", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("ConfigMap left after uninstall: %v", err)
	}
	hr = liveHR(t, r, ns, "web")
	if c := condition(hr, "Released"); c.Status != metav1.ConditionFalse || c.Reason != "UninstallSucceeded" || hr.Status.StorageNamespace != "" || len(hr.Status.History) != 0 {
		t.Fatalf("status after uninstall: %+v %+v", c, hr.Status)
	}
}

func TestHelmReleaseFailedUpgradeRollsBack(t *testing.T) {
	ctx := context.Background()
	r := newHelmReleases(t)
	ns := "hr-rollback"
	createHelmRelease(t, r, ns, "api", `  timeout: 3s
  install:
    timeout: 1m
  upgrade:
    remediation:
      remediateLastFailure: true
`)
	if res := r.Reconcile(ctx, hrRef(ns, "api"), loadTestChart(t, ""), "", nil); res.Err != nil {
		t.Fatal(res.Err)
	}
	// One replica never becomes available here: the upgrade's wait times out.
	updateHelmRelease(t, r, ns, "api", setValues("replicas: 1"))
	res := r.Reconcile(ctx, hrRef(ns, "api"), loadTestChart(t, ""), "", nil)
	if actionsOf(res) != "upgrade,rollback" || res.Err == nil || !res.Stalled {
		t.Fatalf("actions %q stalled %v err %v", actionsOf(res), res.Stalled, res.Err)
	}
	hr := liveHR(t, r, ns, "api")
	ready, rem, rel := condition(hr, "Ready"), condition(hr, "Remediated"), condition(hr, "Released")
	if ready.Status != metav1.ConditionFalse || ready.Reason != "RollbackSucceeded" ||
		rem.Status != metav1.ConditionTrue || rem.Message != "Helm rollback to previous release hr-rollback/api.v1 with chart simple@0.1.0 succeeded" ||
		rel.Status != metav1.ConditionFalse || rel.Reason != "UpgradeFailed" || !strings.Contains(rel.Message, "Helm upgrade failed for release hr-rollback/api with chart simple@0.1.0") {
		t.Fatalf("conditions %+v", hr.Status.Conditions)
	}
	if c := condition(hr, "Stalled"); c.Reason != "RetriesExceeded" || c.Message != "Failed to upgrade after 1 attempt(s)" {
		t.Fatalf("Stalled %+v", c)
	}
	if hr.Status.UpgradeFailures != 1 || hr.Status.Failures != 1 || hr.Status.LastAttemptedReleaseAction != "upgrade" {
		t.Fatalf("counters %+v", hr.Status)
	}
	if h := helmHistory(t, ns, "api"); statuses(h) != "superseded,failed,deployed" || h[2].Config["replicas"] != nil {
		t.Fatalf("helm history %s", statuses(h))
	}
	if latest := hr.Status.History.Latest(); latest.Version != 3 || latest.Action != "rollback" || latest.Status != "deployed" {
		t.Fatalf("history %+v", hr.Status.History)
	}
	// Stalled until something changes: no attempt.
	if res := r.Reconcile(ctx, hrRef(ns, "api"), loadTestChart(t, ""), "", nil); len(res.Actions) != 0 || !res.Stalled {
		t.Fatalf("stalled release retried: %q", actionsOf(res))
	}
	// A new desired state resets the counters and upgrades.
	updateHelmRelease(t, r, ns, "api", setValues("message: fixed"))
	if res := r.Reconcile(ctx, hrRef(ns, "api"), loadTestChart(t, ""), "", nil); res.Err != nil || actionsOf(res) != "upgrade" {
		t.Fatalf("after fix: %q %v", actionsOf(res), res.Err)
	}
	hr = liveHR(t, r, ns, "api")
	if c := condition(hr, "Ready"); c.Status != metav1.ConditionTrue || condition(hr, "Stalled").Type != "" || hr.Status.UpgradeFailures != 0 {
		t.Fatalf("after fix %+v", hr.Status)
	}
}

func TestHelmReleaseFailedInstallUninstalledAndRetried(t *testing.T) {
	ctx := context.Background()
	r := newHelmReleases(t)
	ns := "hr-install-fail"
	createHelmRelease(t, r, ns, "db", `  timeout: 2s
  install:
    remediation:
      retries: 1
  values:
    replicas: 1
`)
	res := r.Reconcile(ctx, hrRef(ns, "db"), loadTestChart(t, ""), "", nil)
	// install fails, uninstall remediation, retried install fails, retries exhausted.
	if actionsOf(res) != "install,uninstall,install" || !res.Stalled || res.Err == nil {
		t.Fatalf("actions %q stalled %v err %v", actionsOf(res), res.Stalled, res.Err)
	}
	hr := liveHR(t, r, ns, "db")
	if hr.Status.InstallFailures != 2 || condition(hr, "Ready").Reason != "InstallFailed" || condition(hr, "Stalled").Message != "Failed to install after 2 attempt(s)" {
		t.Fatalf("status %+v", hr.Status)
	}
	if h := helmHistory(t, ns, "db"); statuses(h) != "failed" {
		t.Fatalf("helm history %s", statuses(h))
	}
}

func TestHelmReleaseTests(t *testing.T) {
	ctx := context.Background()
	r := newHelmReleases(t)
	ns := "hr-tests"
	createHelmRelease(t, r, ns, "checked", `  test:
    enable: true
`)
	res := r.Reconcile(ctx, hrRef(ns, "checked"), loadTestChart(t, ""), "", nil)
	if res.Err != nil || actionsOf(res) != "install,test" {
		t.Fatalf("actions %q err %v", actionsOf(res), res.Err)
	}
	hr := liveHR(t, r, ns, "checked")
	ts := condition(hr, "TestSuccess")
	if ts.Status != metav1.ConditionTrue || ts.Message != "Helm test succeeded for release hr-tests/checked.v1 with chart simple@0.1.0: 1 test hook completed successfully" ||
		condition(hr, "Ready").Reason != "TestSucceeded" {
		t.Fatalf("conditions %+v", hr.Status.Conditions)
	}
	if hooks := hr.Status.History.Latest().GetTestHooks(); len(hooks) != 1 || hooks["checked-test"] == nil || hooks["checked-test"].Phase != "Succeeded" {
		t.Fatalf("test hooks %+v", hooks)
	}
	// Tested and unchanged: nothing to do.
	if res := r.Reconcile(ctx, hrRef(ns, "checked"), loadTestChart(t, ""), "", nil); len(res.Actions) != 0 || res.Err != nil {
		t.Fatalf("second reconcile %q %v", actionsOf(res), res.Err)
	}

	// A failing test: not ignored, the upgrade remediation (none configured) stalls it.
	updateHelmRelease(t, r, ns, "checked", setValues("failTest: true"))
	res = r.Reconcile(ctx, hrRef(ns, "checked"), loadTestChart(t, ""), "", nil)
	if actionsOf(res) != "upgrade,test" || res.Err == nil {
		t.Fatalf("failing test: %q %v", actionsOf(res), res.Err)
	}
	hr = liveHR(t, r, ns, "checked")
	if ts := condition(hr, "TestSuccess"); ts.Status != metav1.ConditionFalse || ts.Reason != "TestFailed" || condition(hr, "Ready").Reason != "TestFailed" ||
		hr.Status.UpgradeFailures != 1 {
		t.Fatalf("failed test status %+v", hr.Status)
	}
	if hooks := hr.Status.History.Latest().GetTestHooks(); hooks["checked-test"] == nil || hooks["checked-test"].Phase != "Failed" {
		t.Fatalf("test hooks %+v", hooks)
	}

	// Ignored failures leave the release Ready.
	updateHelmRelease(t, r, ns, "checked", func(u *unstructured.Unstructured) {
		_ = unstructured.SetNestedField(u.Object, true, "spec", "test", "ignoreFailures")
		_ = unstructured.SetNestedField(u.Object, "ignored", "spec", "values", "message")
	})
	res = r.Reconcile(ctx, hrRef(ns, "checked"), loadTestChart(t, ""), "", nil)
	if actionsOf(res) != "upgrade,test" || res.Err != nil {
		t.Fatalf("ignored failure: %q %v", actionsOf(res), res.Err)
	}
	hr = liveHR(t, r, ns, "checked")
	if condition(hr, "Ready").Status != metav1.ConditionTrue || condition(hr, "TestSuccess").Status != metav1.ConditionFalse {
		t.Fatalf("ignored failure conditions %+v", hr.Status.Conditions)
	}
}

func TestHelmReleaseMaxHistoryAndRename(t *testing.T) {
	ctx := context.Background()
	r := newHelmReleases(t)
	ns := "hr-history"
	ensureNS(t, "hr-history-apps")
	createHelmRelease(t, r, ns, "app", `  maxHistory: 2
  targetNamespace: hr-history-apps
  storageNamespace: hr-history-apps
`)
	for i, msg := range []string{"a", "b", "c", "d"} {
		if i > 0 {
			updateHelmRelease(t, r, ns, "app", setValues("message: "+msg))
		}
		if res := r.Reconcile(ctx, hrRef(ns, "app"), loadTestChart(t, ""), "", nil); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	h := helmHistory(t, "hr-history-apps", "hr-history-apps-app")
	if len(h) != 2 || h[len(h)-1].Version != 4 || statuses(h) != "superseded,deployed" {
		t.Fatalf("maxHistory 2: %d records %s", len(h), statuses(h))
	}
	hr := liveHR(t, r, ns, "app")
	if hr.Status.History.Latest().Name != "hr-history-apps-app" || hr.Status.History.Latest().Namespace != "hr-history-apps" {
		t.Fatalf("history %+v", hr.Status.History)
	}

	// A new release name: the old release is uninstalled, the new one installed.
	updateHelmRelease(t, r, ns, "app", func(u *unstructured.Unstructured) {
		_ = unstructured.SetNestedField(u.Object, "renamed", "spec", "releaseName")
	})
	res := r.Reconcile(ctx, hrRef(ns, "app"), loadTestChart(t, ""), "", nil)
	if res.Err != nil || actionsOf(res) != "uninstall,install" || res.Release != "hr-history-apps/renamed.v1" {
		t.Fatalf("rename: %q %s %v", actionsOf(res), res.Release, res.Err)
	}
	if h := helmHistory(t, "hr-history-apps", "hr-history-apps-app"); len(h) != 0 {
		t.Fatalf("old release left: %s", statuses(h))
	}
	if h := helmHistory(t, "hr-history-apps", "renamed"); statuses(h) != "deployed" {
		t.Fatalf("new release: %s", statuses(h))
	}
	if _, err := cluster.Client.CoreV1().ConfigMaps("hr-history-apps").Get(ctx, "renamed-config", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestHelmReleaseSuspendAndArtifactFailure(t *testing.T) {
	ctx := context.Background()
	r := newHelmReleases(t)
	ns := "hr-misc"
	createHelmRelease(t, r, ns, "paused", "  suspend: true\n")
	if res := r.Reconcile(ctx, hrRef(ns, "paused"), loadTestChart(t, ""), "", nil); !res.Suspended || len(res.Actions) != 0 {
		t.Fatalf("suspended: %+v", res)
	}
	if h := helmHistory(t, ns, "paused"); len(h) != 0 {
		t.Fatal("a suspended HelmRelease was installed")
	}
	createHelmRelease(t, r, ns, "nochart", "")
	res := r.Reconcile(ctx, hrRef(ns, "nochart"), nil, "", os.ErrNotExist)
	hr := liveHR(t, r, ns, "nochart")
	if c := condition(hr, "Ready"); res.Err == nil || c.Reason != "ArtifactFailed" || !strings.HasPrefix(c.Message, "Could not load chart: ") {
		t.Fatalf("artifact failure: %+v %v", c, res.Err)
	}
	if res := r.Reconcile(ctx, hrRef(ns, "missing"), loadTestChart(t, ""), "", nil); res.Err == nil || !strings.Contains(res.Err.Error(), "does not exist") {
		t.Fatalf("missing: %v", res.Err)
	}
}

func TestHelmReleaseCRDPolicies(t *testing.T) {
	ctx := context.Background()
	r := newHelmReleases(t)
	ns := "hr-crds"
	createHelmRelease(t, r, ns, "widgets", `  upgrade:
    crds: CreateReplace
`)
	withCRD := func(version, shortName string) *chart.Chart {
		c := loadTestChart(t, version)
		c.Files = append(c.Files, &common.File{Name: "crds/widgets.yaml", Data: helmtest.CRD("test.converge.dev", "Widget", "widgets", shortName)})
		return c
	}
	if res := r.Reconcile(ctx, hrRef(ns, "widgets"), withCRD("", "wd"), "", nil); res.Err != nil {
		t.Fatal(res.Err)
	}
	getCRD := func() *unstructured.Unstructured {
		t.Helper()
		u, err := r.Client.Resource(crdResource).Get(ctx, "widgets.test.converge.dev", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	crd := getCRD()
	short, _, _ := unstructured.NestedStringSlice(crd.Object, "spec", "names", "shortNames")
	if crd.GetLabels()[helmrelease.NameLabel] != "widgets" || crd.GetLabels()[helmrelease.NamespaceLabel] != ns || strings.Join(short, ",") != "wd" {
		t.Fatalf("CRD created by install: labels %v short names %v", crd.GetLabels(), short)
	}
	// The chart's CRDs are in the inventory, after the manifest's objects.
	if inv := liveHR(t, r, ns, "widgets").Status.Inventory; inv == nil || len(inv.Entries) != 3 ||
		inv.Entries[2].ID != "_widgets.test.converge.dev_apiextensions.k8s.io_CustomResourceDefinition" || inv.Entries[2].Version != "v1" {
		t.Fatalf("inventory %+v", inv)
	}
	// CreateReplace on upgrade replaces the existing CRD.
	if res := r.Reconcile(ctx, hrRef(ns, "widgets"), withCRD("0.2.0", "wdg"), "", nil); res.Err != nil || actionsOf(res) != "upgrade" {
		t.Fatalf("upgrade: %q %v", actionsOf(res), res.Err)
	}
	short, _, _ = unstructured.NestedStringSlice(getCRD().Object, "spec", "names", "shortNames")
	if strings.Join(short, ",") != "wdg" {
		t.Fatalf("CRD not replaced: %v", short)
	}
	// Skip leaves it alone.
	updateHelmRelease(t, r, ns, "widgets", func(u *unstructured.Unstructured) {
		_ = unstructured.SetNestedField(u.Object, "Skip", "spec", "upgrade", "crds")
	})
	if res := r.Reconcile(ctx, hrRef(ns, "widgets"), withCRD("0.3.0", "w"), "", nil); res.Err != nil || actionsOf(res) != "upgrade" {
		t.Fatalf("upgrade: %q %v", actionsOf(res), res.Err)
	}
	short, _, _ = unstructured.NestedStringSlice(getCRD().Object, "spec", "names", "shortNames")
	if strings.Join(short, ",") != "wdg" {
		t.Fatalf("Skip changed the CRD: %v", short)
	}
}

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
