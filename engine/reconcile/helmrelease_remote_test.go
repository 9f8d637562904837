package reconcile

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// spec.kubeConfig on HelmReleases, as TestRemoteKubeconfig checks it for Kustomizations: the release is
// made with the credentials of the kubeconfig in the Secret (here the same API server, once as a
// ServiceAccount without rights: refused, so the kubeconfig's identity is the one used; once as the
// admin: installed, its storage in that cluster), and uninstalled through it. configMapRef is refused,
// naming the field and why.
func TestHelmReleaseRemoteKubeconfig(t *testing.T) {
	ctx := context.Background()
	r := newHelmReleases(t)
	ns := "hr-remote"
	ensureNS(t, ns)
	saCfg, err := cluster.ServiceAccountConfig(ctx, "hr-remote-target", "nobody")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]map[string][]byte{
		"admin-kubeconfig":  {"value.yaml": kubeconfigFor(t, "")},
		"nobody-kubeconfig": {"value": kubeconfigFor(t, saCfg.BearerToken)},
	} {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: data}
		if _, err := cluster.Client.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	chrt := loadTestChart(t, "")
	for _, tt := range []struct {
		name, spec string
		wantErr    []string
	}{
		{name: "denied", spec: "  kubeConfig:\n    secretRef: {name: nobody-kubeconfig}\n", wantErr: []string{"system:serviceaccount:hr-remote-target:nobody"}},
		{name: "no-secret", spec: "  kubeConfig:\n    secretRef: {name: missing}\n", wantErr: []string{"kubeConfig.secretRef", ns + "/missing", "not found"}},
		{name: "provider", spec: "  kubeConfig:\n    configMapRef: {name: workload-identity}\n", wantErr: []string{"spec.kubeConfig.configMapRef is not supported yet", "token service", "use spec.kubeConfig.secretRef"}},
		{name: "admin", spec: "  kubeConfig:\n    secretRef: {name: admin-kubeconfig}\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			createHelmRelease(t, r, ns, tt.name, tt.spec)
			res := r.Reconcile(ctx, hrRef(ns, tt.name), chrt, "", nil)
			if len(tt.wantErr) == 0 {
				if res.Err != nil || actionsOf(res) != "install" {
					t.Fatalf("actions %q, err %v", actionsOf(res), res.Err)
				}
				if h := helmHistory(t, ns, tt.name); statuses(h) != "deployed" {
					t.Fatalf("release history %q", statuses(h))
				}
				if err := r.Uninstall(ctx, liveHR(t, r, ns, tt.name)); err != nil {
					t.Fatal(err)
				}
				if h := helmHistory(t, ns, tt.name); len(h) != 0 {
					t.Fatalf("release history after uninstall %q", statuses(h))
				}
				return
			}
			if res.Err == nil {
				t.Fatal("want an error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(res.Err.Error(), want) {
					t.Errorf("error %q lacks %q", res.Err, want)
				}
			}
			if c := condition(liveHR(t, r, ns, tt.name), "Ready"); c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, tt.wantErr[0]) {
				t.Errorf("Ready = %s %s %q", c.Status, c.Reason, c.Message)
			}
		})
	}
}
