package agent

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/converge-gitops/converge/engine/reconcile"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// tenant makes namespace ns a tenant as `flux create tenant` does, but with a namespace-scoped Role only:
// the ServiceAccount reconciler may do anything in ns and nothing elsewhere.
func tenant(t *testing.T, ns string) {
	t.Helper()
	namespace(t, ns)
	ctx := context.Background()
	if _, err := cluster.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "reconciler"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "tenant"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}}}
	if _, err := cluster.Client.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "tenant"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "tenant"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "reconciler", Namespace: ns}}}
	if _, err := cluster.Client.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// TestAgentTenants runs two tenants under Flux's lockdown (--no-cross-namespace-refs,
// --default-service-account): tenant A's attempts to reach tenant B's namespace, B's source and the
// cluster scope fail on A's own Kustomizations only, and B is reconciled throughout.
func TestAgentTenants(t *testing.T) {
	a, b := "tenant-a", "tenant-b"
	tenant(t, a)
	tenant(t, b)
	srv := sourcetest.StartGitServer(t)
	repoA := srv.NewRepo(t, "tenant-a")
	repoA.Commit("tenant a", map[string]*string{
		"apps/cm.yaml":    configMap("a-config", a, "a"),
		"escape/cm.yaml":  configMap("planted", b, "from a"),
		"cluster/ns.yaml": sourcetest.Str("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: tenant-a-extra\n"),
	})
	repoB := srv.NewRepo(t, "tenant-b")
	firstB := repoB.Commit("tenant b", map[string]*string{"apps/cm.yaml": configMap("b-config", b, "one")})

	startAgent(t, Options{Tenancy: reconcile.Tenancy{NoCrossNamespaceRefs: true, DefaultServiceAccount: "reconciler"}})
	cluster.ApplyYAML(t, gitRepository(a, "repo", repoA.URL))
	cluster.ApplyYAML(t, gitRepository(b, "repo", repoB.URL))
	cluster.ApplyYAML(t, kustomization(b, "apps", "./apps", ""))
	cluster.ApplyYAML(t, kustomization(a, "apps", "./apps", ""))
	cluster.ApplyYAML(t, kustomization(a, "escape", "./escape", ""))
	cluster.ApplyYAML(t, kustomization(a, "cluster", "./cluster", ""))
	cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: steal, namespace: %s}
spec:
  interval: 1h
  path: ./apps
  prune: true
  sourceRef: {kind: GitRepository, name: repo, namespace: %s}
`, a, b))

	eventually(t, "tenant B applied", ksReadyAt(t, b, "apps", "main@sha1:"+firstB))
	eventually(t, "tenant A's own objects applied", ksReadyAt(t, a, "apps", ""))

	failures := []struct {
		name, reason, msg string
	}{
		{"escape", "ReconciliationFailed", `configmaps "planted" is forbidden: User "system:serviceaccount:tenant-a:reconciler"`},
		{"cluster", "ReconciliationFailed", `namespaces "tenant-a-extra" is forbidden: User "system:serviceaccount:tenant-a:reconciler"`},
		{"steal", reconcile.AccessDeniedReason, "spec.sourceRef: can't access 'GitRepository/tenant-b/repo', cross-namespace references have been blocked"},
	}
	for _, f := range failures {
		eventually(t, "Kustomization "+a+"/"+f.name+" refused", func() (bool, string) {
			st, reason, msg := condition(get(t, ksGVR, a, f.name), "Ready")
			return st == "False" && reason == f.reason && strings.Contains(msg, f.msg), st + " " + reason + " " + msg
		})
	}
	if st, reason, _ := condition(get(t, ksGVR, a, "steal"), "Stalled"); st != "True" || reason != reconcile.AccessDeniedReason {
		t.Errorf("Kustomization %s/steal Stalled = %s %s, want True AccessDenied", a, st, reason)
	}
	if v := cmValue(t, b, "planted"); v != "<missing>" {
		t.Errorf("tenant A wrote ConfigMap %s/planted = %q", b, v)
	}
	if _, err := cluster.Client.CoreV1().Namespaces().Get(context.Background(), "tenant-a-extra", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("tenant A created a cluster-scoped Namespace (err %v)", err)
	}

	// B keeps being reconciled: a new revision is applied.
	secondB := repoB.Commit("tenant b again", map[string]*string{"apps/cm.yaml": configMap("b-config", b, "two")})
	requestReconcile(t, gitGVR, b, "repo")
	eventually(t, "tenant B's second revision", ksReadyAt(t, b, "apps", "main@sha1:"+secondB))
	if v := cmValue(t, b, "b-config"); v != "two" {
		t.Errorf("ConfigMap %s/b-config = %q", b, v)
	}

	// A's failures are reported on A's objects only: B's Kustomization and source have no failing
	// condition, and no event in B's namespace is a warning or speaks of A.
	for _, c := range []string{"Ready", "Stalled", "Reconciling"} {
		st, reason, msg := condition(get(t, ksGVR, b, "apps"), c)
		if (c == "Ready" && st != "True") || (c != "Ready" && st != "") {
			t.Errorf("Kustomization %s/apps %s = %s %s %s", b, c, st, reason, msg)
		}
	}
	if st, reason, msg := condition(get(t, gitGVR, b, "repo"), "Ready"); st != "True" {
		t.Errorf("GitRepository %s/repo Ready = %s %s %s", b, st, reason, msg)
	}
	evs, err := cluster.Client.CoreV1().Events(b).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs.Items {
		if e.Type == corev1.EventTypeWarning || strings.Contains(e.Message, a) {
			t.Errorf("event in %s about %s/%s: %s %s %s", b, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Type, e.Reason, e.Message)
		}
	}
	evs, err = cluster.Client.CoreV1().Events(a).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	denied := false
	for _, e := range evs.Items {
		denied = denied || (e.InvolvedObject.Name == "steal" && e.Reason == reconcile.AccessDeniedReason && e.Type == corev1.EventTypeWarning)
	}
	if !denied {
		t.Errorf("no AccessDenied warning event on Kustomization %s/steal", a)
	}
}
