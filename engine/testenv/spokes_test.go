package testenv

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Spokes sharing one etcd are separate clusters: an object created on one is not on another, and a
// spoke stopped and started again serves the same objects to the same kubeconfig.
func TestSpokesAreSeparateAndRestart(t *testing.T) {
	ctx := context.Background()
	s, err := StartSpokes(ctx, SpokeOptions{N: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	a, b := s.Servers[0], s.Servers[1]
	if a.Config.Host == b.Config.Host {
		t.Fatalf("both spokes serve at %s", a.Config.Host)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "only-on-a", Namespace: "default"}}
	if _, err := a.Client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Client.CoreV1().ConfigMaps("default").Get(ctx, "only-on-a", metav1.GetOptions{}); err == nil {
		t.Fatal("spoke-1 serves spoke-0's ConfigMap: the spokes share their objects")
	}

	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Client.CoreV1().ConfigMaps("default").Get(ctx, "only-on-a", metav1.GetOptions{}); err == nil {
		t.Fatal("a stopped spoke answered")
	}
	if _, err := b.Client.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("spoke-1 stopped answering when spoke-0 stopped: %v", err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Client.CoreV1().ConfigMaps("default").Get(ctx, "only-on-a", metav1.GetOptions{}); err != nil {
		t.Fatalf("after the restart, with the kubeconfig made before: %v", err)
	}
}
