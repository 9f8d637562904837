package reconcile

import (
	"context"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/health"
	"github.com/converge-gitops/converge/engine/kube"
)

func TestServiceAccountImpersonation(t *testing.T) {
	ctx := context.Background()
	r := newReconciler(t)
	clients, err := kube.New(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	r.Impersonate = func(namespace, name string) (*apply.Manager, *health.Checker, error) {
		sa, err := clients.Impersonating(namespace, name)
		if err != nil {
			return nil, nil, err
		}
		return &apply.Manager{Client: sa.Dynamic, Mapper: clients.Mapper}, &health.Checker{Client: sa.Dynamic, Mapper: clients.Mapper}, nil
	}
	ensureNS(t, "tenant")
	createKustomization(t, r, "tenant-apps", "  serviceAccountName: deployer\n")
	tenantCM := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tenant-config\n  namespace: tenant\ndata:\n  k: \"v\"\n"

	res := r.Reconcile(ctx, ksRef("flux-system", "tenant-apps"), "main@sha1:6666666666666666666666666666666666666666", objs(t, tenantCM), nil)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "forbidden") || !strings.Contains(res.Err.Error(), "system:serviceaccount:flux-system:deployer") {
		t.Fatalf("want the write refused for the service account, got %v", res.Err)
	}
	cond, _ := readyCondition(t, r, "tenant-apps")
	if cond.Status != metav1.ConditionFalse || !strings.Contains(cond.Message, "forbidden") {
		t.Fatalf("status %+v", cond)
	}

	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "deployer", Namespace: "tenant"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "create", "patch", "update", "delete"}}}}
	if _, err := cluster.Client.RbacV1().Roles("tenant").Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "deployer", Namespace: "tenant"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "deployer"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "deployer", Namespace: "flux-system"}}}
	if _, err := cluster.Client.RbacV1().RoleBindings("tenant").Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	res = r.Reconcile(ctx, ksRef("flux-system", "tenant-apps"), "main@sha1:6666666666666666666666666666666666666666", objs(t, tenantCM), nil)
	if res.Err != nil {
		t.Fatalf("allowed by RBAC, still failed: %v", res.Err)
	}
	if _, err := cluster.Client.CoreV1().ConfigMaps("tenant").Get(ctx, "tenant-config", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
}
