package reconcile

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/converge-gitops/converge/crds/meta"
	"github.com/converge-gitops/converge/engine/kube"
)

// RemoteClients hands out one set of clients per kubeconfig Secret and ServiceAccount, the same while
// the Secret's kubeconfig is unchanged, new ones when it changes, none once the Secret is deleted.
func TestRemoteClientsCache(t *testing.T) {
	ctx := context.Background()
	ns := "remote-cache"
	ensureNS(t, ns)
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	put := func(name string, kubeconfig []byte) {
		t.Helper()
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: map[string][]byte{"value": kubeconfig}}
		if _, err := cluster.Client.CoreV1().Secrets(ns).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			if _, err := cluster.Client.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	put("a", kubeconfigFor(t, ""))
	put("b", kubeconfigFor(t, ""))
	ref := func(name string) *meta.KubeConfigReference {
		return &meta.KubeConfigReference{SecretRef: &meta.SecretKeyReference{Name: name}}
	}
	rc := &RemoteClients{}
	get := func(name, sa string) *kube.Clients {
		t.Helper()
		c, err := rc.Clients(ctx, dyn, ns, ref(name), sa, kube.KubeconfigOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	a1, a2 := get("a", ""), get("a", "")
	if a1 != a2 {
		t.Error("the same Secret gave new clients: not cached")
	}
	if b := get("b", ""); b == a1 {
		t.Error("two Secrets share clients")
	}
	if sa := get("a", "deployer"); sa == a1 || sa.Config.Impersonate.UserName != "system:serviceaccount:"+ns+":deployer" {
		t.Errorf("the ServiceAccount's clients: shared with the Secret's (%v) or not impersonating (%q)", sa == a1, sa.Config.Impersonate.UserName)
	}
	if rc.Len() != 3 {
		t.Errorf("%d entries, want 3", rc.Len())
	}

	// A changed kubeconfig (another user) replaces the entry.
	put("a", kubeconfigFor(t, "some-token"))
	a3 := get("a", "")
	if a3 == a1 || a3.Config.BearerToken != "some-token" {
		t.Errorf("after the Secret changed: same clients %v, token %q", a3 == a1, a3.Config.BearerToken)
	}
	if rc.Len() != 3 {
		t.Errorf("%d entries after the change, want 3 (replaced, not added)", rc.Len())
	}

	// A deleted Secret is an error naming it, and its entry goes.
	if err := cluster.Client.CoreV1().Secrets(ns).Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Clients(ctx, dyn, ns, ref("b"), "", kube.KubeconfigOptions{}); err == nil || !strings.Contains(err.Error(), ns+"/b") {
		t.Fatalf("deleted Secret: %v", err)
	}
	if rc.Len() != 2 {
		t.Errorf("%d entries after the Secret was deleted, want 2", rc.Len())
	}
}
