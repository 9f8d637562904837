package reconcile

import (
	"context"
	"strings"
	"testing"
	"time"

	rcommon "helm.sh/helm/v4/pkg/release/common"
	helmrel "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/engine/helmrelease"
	"github.com/converge-gitops/converge/engine/kube"
)

// TestHelmReleaseRetryOnFailure: with the RetryOnFailure strategy a failed install is not remediated:
// the release stays failed, the next attempt (an upgrade, as helm-controller does) waits for
// retryInterval, and a fixed spec is released with the failures cleared.
func TestHelmReleaseRetryOnFailure(t *testing.T) {
	ctx := context.Background()
	r := newHelmReleases(t)
	ns := "hr-retry"
	createHelmRelease(t, r, ns, "flaky", `  timeout: 2s
  install:
    strategy:
      name: RetryOnFailure
      retryInterval: 7s
  upgrade:
    strategy:
      name: RetryOnFailure
      retryInterval: 9s
  values:
    replicas: 1
`)
	res := r.Reconcile(ctx, hrRef(ns, "flaky"), loadTestChart(t, ""), "", nil)
	if actionsOf(res) != "install" || res.RequeueAfter != 7*time.Second || res.Stalled || res.Err == nil {
		t.Fatalf("first attempt: actions %q requeueAfter %s stalled %v err %v", actionsOf(res), res.RequeueAfter, res.Stalled, res.Err)
	}
	hr := liveHR(t, r, ns, "flaky")
	if c := condition(hr, "Ready"); c.Status != metav1.ConditionFalse || c.Reason != "InstallFailed" {
		t.Fatalf("Ready %+v", c)
	}
	if c := condition(hr, "Reconciling"); c.Reason != "ProgressingWithRetry" || c.Message != "retrying after 7s" {
		t.Fatalf("Reconciling %+v", c)
	}
	if condition(hr, "Remediated").Type != "" || condition(hr, "Stalled").Type != "" {
		t.Fatalf("remediated or stalled with RetryOnFailure: %+v", hr.Status.Conditions)
	}
	if h := helmHistory(t, ns, "flaky"); statuses(h) != "failed" {
		t.Fatalf("helm history %s", statuses(h))
	}

	// The retry is an upgrade of the failed release, with the upgrade's interval.
	res = r.Reconcile(ctx, hrRef(ns, "flaky"), loadTestChart(t, ""), "", nil)
	if actionsOf(res) != "upgrade" || res.RequeueAfter != 9*time.Second || res.Err == nil {
		t.Fatalf("retry: actions %q requeueAfter %s err %v", actionsOf(res), res.RequeueAfter, res.Err)
	}
	if h := helmHistory(t, ns, "flaky"); statuses(h) != "failed,failed" {
		t.Fatalf("helm history %s", statuses(h))
	}

	updateHelmRelease(t, r, ns, "flaky", func(u *unstructured.Unstructured) {
		setValues("replicas: 0")(u)
		_ = unstructured.SetNestedField(u.Object, "1m", "spec", "timeout")
	})
	res = r.Reconcile(ctx, hrRef(ns, "flaky"), loadTestChart(t, ""), "", nil)
	if actionsOf(res) != "upgrade" || res.Err != nil || res.RequeueAfter != 0 {
		t.Fatalf("fixed: actions %q requeueAfter %s err %v", actionsOf(res), res.RequeueAfter, res.Err)
	}
	hr = liveHR(t, r, ns, "flaky")
	if c := condition(hr, "Ready"); c.Status != metav1.ConditionTrue || c.Reason != "UpgradeSucceeded" || hr.Status.Failures != 0 ||
		hr.Status.InstallFailures != 0 || hr.Status.UpgradeFailures != 0 || condition(hr, "Reconciling").Type != "" {
		t.Fatalf("after the fix %+v", hr.Status)
	}
}

// TestHelmReleaseUnlocksPendingRelease: a release left pending (the process releasing it died) is
// unlocked as helm-controller does, marked failed, then upgraded.
func TestHelmReleaseUnlocksPendingRelease(t *testing.T) {
	ctx := context.Background()
	r := newHelmReleases(t)
	ns := "hr-unlock"
	createHelmRelease(t, r, ns, "stuck", "")
	if res := r.Reconcile(ctx, hrRef(ns, "stuck"), loadTestChart(t, ""), "", nil); res.Err != nil {
		t.Fatal(res.Err)
	}
	st := storage.Init(driver.NewSecrets(cluster.Client.CoreV1().Secrets(ns)))
	stored, err := st.Get("stuck", 1)
	if err != nil {
		t.Fatal(err)
	}
	rls := stored.(*helmrel.Release)
	rls.SetStatus(rcommon.StatusPendingUpgrade, "upgrade in progress")
	if err := st.Update(rls); err != nil {
		t.Fatal(err)
	}

	res := r.Reconcile(ctx, hrRef(ns, "stuck"), loadTestChart(t, ""), "", nil)
	if res.Err != nil || actionsOf(res) != "unlock,upgrade" || res.Release != ns+"/stuck.v2" {
		t.Fatalf("actions %q release %s err %v", actionsOf(res), res.Release, res.Err)
	}
	h := helmHistory(t, ns, "stuck")
	if statuses(h) != "superseded,deployed" || h[0].Info.Description != "Release unlocked from stale 'pending-upgrade' state" {
		t.Fatalf("helm history %s (%q)", statuses(h), h[0].Info.Description)
	}
	hr := liveHR(t, r, ns, "stuck")
	if c := condition(hr, "Ready"); c.Status != metav1.ConditionTrue || c.Reason != "UpgradeSucceeded" {
		t.Fatalf("Ready %+v", c)
	}
	if len(hr.Status.History) != 2 || hr.Status.History[1].Status != "superseded" || hr.Status.History[0].Version != 2 {
		t.Fatalf("history %+v", hr.Status.History)
	}
}

// TestHelmReleaseServiceAccountImpersonation: spec.serviceAccountName releases as that ServiceAccount:
// without RBAC the release is refused and Ready=False says so; with a Role it installs.
func TestHelmReleaseServiceAccountImpersonation(t *testing.T) {
	ctx := context.Background()
	clients, err := kube.New(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	r := NewHelmReleases(clients, &helmrelease.Renderer{Secrets: clients, ConfigMaps: clients}, clock.RealClock{})
	ns := "hr-tenant"
	createHelmRelease(t, r, ns, "app", "  serviceAccountName: helm-deployer\n")

	res := r.Reconcile(ctx, hrRef(ns, "app"), loadTestChart(t, ""), "", nil)
	user := "system:serviceaccount:hr-tenant:helm-deployer"
	if res.Err == nil || !strings.Contains(res.Err.Error(), "forbidden") || !strings.Contains(res.Err.Error(), user) {
		t.Fatalf("want the release refused for the service account, got %v", res.Err)
	}
	hr := liveHR(t, r, ns, "app")
	if c := condition(hr, "Ready"); c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "forbidden") || !strings.Contains(c.Message, user) {
		t.Fatalf("Ready %+v", c)
	}
	if h := helmHistory(t, ns, "app"); len(h) != 0 {
		t.Fatalf("released without permission: %s", statuses(h))
	}

	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "helm-deployer", Namespace: ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"", "apps"}, Resources: []string{"*"}, Verbs: []string{"*"}}}}
	if _, err := cluster.Client.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "helm-deployer", Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "helm-deployer"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "helm-deployer", Namespace: ns}}}
	if _, err := cluster.Client.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	res = r.Reconcile(ctx, hrRef(ns, "app"), loadTestChart(t, ""), "", nil)
	if res.Err != nil || actionsOf(res) != "install" {
		t.Fatalf("allowed by RBAC: actions %q err %v", actionsOf(res), res.Err)
	}
	if h := helmHistory(t, ns, "app"); statuses(h) != "deployed" {
		t.Fatalf("helm history %s", statuses(h))
	}
	if _, err := cluster.Client.CoreV1().ConfigMaps(ns).Get(ctx, "app-config", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if c := condition(liveHR(t, r, ns, "app"), "Ready"); c.Status != metav1.ConditionTrue {
		t.Fatalf("Ready %+v", c)
	}
}

// TestHelmReleaseResetRequest: once retries are exhausted nothing is attempted for the generation, until
// a reset request (reconcile.fluxcd.io/resetAt equal to requestedAt, as `converge reconcile hr --reset`
// sets them) clears the failure counters: one more attempt, recorded in status.lastHandledResetAt. A
// reset whose value differs from requestedAt, or one already handled, is not honoured. A reset asked
// with a spec change is recorded too.
func TestHelmReleaseResetRequest(t *testing.T) {
	ctx := context.Background()
	r := newHelmReleases(t)
	ns := "hr-reset"
	createHelmRelease(t, r, ns, "stuck", `  timeout: 2s
  values:
    replicas: 1
`)
	res := r.Reconcile(ctx, hrRef(ns, "stuck"), loadTestChart(t, ""), "", nil)
	if actionsOf(res) != "install" || !res.Stalled {
		t.Fatalf("first attempt: actions %q stalled %v err %v", actionsOf(res), res.Stalled, res.Err)
	}
	annotate := func(requested, reset string) func(u *unstructured.Unstructured) {
		return func(u *unstructured.Unstructured) {
			u.SetAnnotations(map[string]string{"reconcile.fluxcd.io/requestedAt": requested, "reconcile.fluxcd.io/resetAt": reset})
		}
	}
	for _, tt := range []struct {
		name      string
		mutate    func(u *unstructured.Unstructured)
		attempted bool
		handled   string // status.lastHandledResetAt afterwards
	}{
		{name: "exhausted", mutate: func(*unstructured.Unstructured) {}},
		{name: "reset not matching the request", mutate: annotate("t1", "t0"), handled: "t0"},
		{name: "reset", mutate: annotate("t2", "t2"), attempted: true, handled: "t2"},
		{name: "reset already handled", mutate: annotate("t2", "t2"), handled: "t2"},
		{name: "reset with a spec change", mutate: func(u *unstructured.Unstructured) {
			annotate("t3", "t3")(u)
			setValues("replicas: 1\nmessage: changed")(u)
		}, attempted: true, handled: "t3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			updateHelmRelease(t, r, ns, "stuck", tt.mutate)
			res := r.Reconcile(ctx, hrRef(ns, "stuck"), loadTestChart(t, ""), "", nil)
			if got := len(res.Actions) > 0; got != tt.attempted {
				t.Errorf("attempted = %v (actions %q), want %v", got, actionsOf(res), tt.attempted)
			}
			hr := liveHR(t, r, ns, "stuck")
			if hr.Status.LastHandledResetAt != tt.handled {
				t.Errorf("lastHandledResetAt = %q, want %q", hr.Status.LastHandledResetAt, tt.handled)
			}
			if c := condition(hr, "Stalled"); c.Status != metav1.ConditionTrue {
				t.Errorf("not stalled after a failed attempt: %+v", c)
			}
		})
	}
}
