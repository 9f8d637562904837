package reconcile

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

func stateCM(name, state string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n  namespace: default\ndata:\n  state: " + state + "\n"
}

func TestHealthCheckExprs(t *testing.T) {
	ctx := context.Background()
	r := newReconciler(t)
	exprs := `  wait: true
  healthCheckExprs:
    - apiVersion: v1
      kind: ConfigMap
      failed: "data.state == 'broken'"
      current: "data.state == 'ready'"
`
	createKustomization(t, r, "cel", exprs)
	res := r.Reconcile(ctx, ksRef("flux-system", "cel"), "main@sha1:9999999999999999999999999999999999999999", objs(t, stateCM("cel-state", "broken")), nil)
	cond, _ := readyCondition(t, r, "cel")
	if res.Err == nil || cond.Reason != "HealthCheckFailed" || !strings.Contains(cond.Message, "ConfigMap/default/cel-state status: 'Failed'") {
		t.Fatalf("want the failed expression to fail the health check: %+v %v", cond, res.Err)
	}
	res = r.Reconcile(ctx, ksRef("flux-system", "cel"), "main@sha1:9999999999999999999999999999999999999999", objs(t, stateCM("cel-state", "ready")), nil)
	if cond, _ := readyCondition(t, r, "cel"); res.Err != nil || cond.Status != metav1.ConditionTrue {
		t.Fatalf("want ready: %+v %v", cond, res.Err)
	}

	createKustomization(t, r, "cel-invalid", "  wait: true\n  healthCheckExprs:\n    - apiVersion: v1\n      kind: ConfigMap\n      current: \"data.state ==\"\n")
	res = r.Reconcile(ctx, ksRef("flux-system", "cel-invalid"), "main@sha1:9999999999999999999999999999999999999999", objs(t, stateCM("cel-never", "ready")), nil)
	cond, _ = readyCondition(t, r, "cel-invalid")
	if res.Err == nil || cond.Reason != "InvalidCELExpression" || !strings.Contains(cond.Message, "current expression") {
		t.Fatalf("invalid expression: %+v %v", cond, res.Err)
	}
	if _, err := cluster.Client.CoreV1().ConfigMaps("default").Get(ctx, "cel-never", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("objects were applied despite an invalid expression: %v", err)
	}
}

// kubeconfigFor writes a kubeconfig for the test API server authenticated with token ("" for the
// admin's client certificate).
func kubeconfigFor(t *testing.T, token string) []byte {
	t.Helper()
	if token == "" {
		return cluster.Kubeconfig
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: cluster.Config.Host, CertificateAuthorityData: cluster.Config.CAData}
	cfg.AuthInfos["test"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "test"}
	cfg.CurrentContext = "test"
	b, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// kubeConfig.secretRef: the Kustomization's objects go where the kubeconfig in the Secret says, with its
// credentials: here the same API server, once as a ServiceAccount without rights (refused, so the
// kubeconfig's identity is the one used), once as the admin. configMapRef is refused, saying why.
func TestRemoteKubeconfig(t *testing.T) {
	ctx := context.Background()
	r := newReconciler(t)
	ensureNS(t, "flux-system")
	saCfg, err := cluster.ServiceAccountConfig(ctx, "remote", "nobody")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]map[string][]byte{
		"admin-kubeconfig":  {"value": kubeconfigFor(t, "")},
		"nobody-kubeconfig": {"custom.yaml": kubeconfigFor(t, saCfg.BearerToken)},
		"empty-kubeconfig":  {"other": []byte("x")},
	} {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "flux-system"}, Data: data}
		if _, err := cluster.Client.CoreV1().Secrets("flux-system").Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	remoteCM := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: remote-config\n  namespace: remote\ndata:\n  k: v\n"

	createKustomization(t, r, "remote-denied", "  kubeConfig:\n    secretRef:\n      name: nobody-kubeconfig\n      key: custom.yaml\n")
	res := r.Reconcile(ctx, ksRef("flux-system", "remote-denied"), "main@sha1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", objs(t, remoteCM), nil)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "system:serviceaccount:remote:nobody") {
		t.Fatalf("want the write refused for the kubeconfig's service account, got %v", res.Err)
	}

	createKustomization(t, r, "remote-nokey", "  kubeConfig:\n    secretRef:\n      name: empty-kubeconfig\n")
	res = r.Reconcile(ctx, ksRef("flux-system", "remote-nokey"), "main@sha1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", objs(t, remoteCM), nil)
	if res.Err == nil || !strings.Contains(res.Err.Error(), `neither key "value" nor "value.yaml"`) || !strings.Contains(res.Err.Error(), "flux-system/empty-kubeconfig") {
		t.Fatalf("want a missing-key error naming the Secret, got %v", res.Err)
	}

	createKustomization(t, r, "remote-provider", "  kubeConfig:\n    configMapRef:\n      name: workload-identity\n")
	res = r.Reconcile(ctx, ksRef("flux-system", "remote-provider"), "main@sha1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", objs(t, remoteCM), nil)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "spec.kubeConfig.configMapRef is not supported yet") || !strings.Contains(res.Err.Error(), "token service") {
		t.Fatalf("want configMapRef refused, naming the field and why, got %v", res.Err)
	}

	createKustomization(t, r, "remote", "  kubeConfig:\n    secretRef:\n      name: admin-kubeconfig\n")
	res = r.Reconcile(ctx, ksRef("flux-system", "remote"), "main@sha1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", objs(t, remoteCM), nil)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if _, err := cluster.Client.CoreV1().ConfigMaps("remote").Get(ctx, "remote-config", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
}
