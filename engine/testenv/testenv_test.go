package testenv

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

var cluster *Cluster

func TestMain(m *testing.M) { os.Exit(Main(m, &cluster)) }

func TestServerVersionAndCRDs(t *testing.T) {
	v, err := cluster.Client.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != "v1.37.2" {
		t.Errorf("server version %s, want v1.37.2 (ldflags not applied?)", v.GitVersion)
	}
	groups, err := cluster.Client.Discovery().ServerGroups()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"source.toolkit.fluxcd.io": false, "kustomize.toolkit.fluxcd.io": false, "helm.toolkit.fluxcd.io": false,
		"notification.toolkit.fluxcd.io": false, "image.toolkit.fluxcd.io": false, "source.extensions.fluxcd.io": false}
	for _, g := range groups.Groups {
		if _, ok := want[g.Name]; ok {
			want[g.Name] = true
		}
	}
	for g, ok := range want {
		if !ok {
			t.Errorf("API group %s not served", g)
		}
	}
}

func clientFor(t *testing.T, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRBACUsersAndServiceAccounts(t *testing.T) {
	ctx := context.Background()
	ns := "rbac-test"
	userCfg, err := cluster.UserConfig("alice", "developers")
	if err != nil {
		t.Fatal(err)
	}
	saCfg, err := cluster.ServiceAccountConfig(ctx, ns, "deployer")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  *rest.Config
	}{
		{"certificate user", userCfg},
		{"impersonated user", cluster.ImpersonatingConfig("bob", "developers")},
		{"service account", saCfg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := clientFor(t, tt.cfg).CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
			if !apierrors.IsForbidden(err) {
				t.Fatalf("want forbidden before any RoleBinding, got %v", err)
			}
		})
	}

	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "cm-reader", Namespace: ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"list"}}}}
	if _, err := cluster.Client.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "cm-reader", Namespace: ns},
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "cm-reader"},
		Subjects: []rbacv1.Subject{
			{Kind: "Group", APIGroup: "rbac.authorization.k8s.io", Name: "developers"},
			{Kind: "ServiceAccount", Name: "deployer", Namespace: ns},
		}}
	if _, err := cluster.Client.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name+" allowed", func(t *testing.T) {
			err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
				_, err := clientFor(t, tt.cfg).CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
				return err == nil, nil
			})
			if err != nil {
				t.Fatalf("still forbidden after the RoleBinding: %v", err)
			}
		})
	}
}

func TestControllerManagerRuns(t *testing.T) {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "gc-test"}}
	if _, err := cluster.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "inside", Namespace: "gc-test"}}
	if _, err := cluster.Client.CoreV1().ConfigMaps("gc-test").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Client.CoreV1().Namespaces().Delete(ctx, "gc-test", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Only the namespace controller finishes a namespace deletion.
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := cluster.Client.CoreV1().Namespaces().Get(ctx, "gc-test", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("namespace not deleted by kube-controller-manager: %v", err)
	}
}

func TestMissingBinariesIsAnError(t *testing.T) {
	_, err := Start(context.Background(), Options{BinDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "make testbin") {
		t.Fatalf("want an error naming make testbin, got %v", err)
	}
}
