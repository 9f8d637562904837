package testenv

import (
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkControllerManagerQPS measures how long kube-controller-manager takes to give 1,000
// Deployments (0 replicas, created at once) their status at several --kube-api-qps, each on its own
// control plane: the figure behind ControllerManagerQPS. Run with -benchtime 1x.
func BenchmarkControllerManagerQPS(b *testing.B) {
	const n = 1000
	for _, qps := range []int{20, 100, ControllerManagerQPS, 500} {
		b.Run(fmt.Sprintf("qps-%d", qps), func(b *testing.B) {
			ctx := context.Background()
			c, err := Start(ctx, Options{ControllerManagerQPS: qps, CRDDirs: []string{}})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Stop()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ns := fmt.Sprintf("kcm-%d", i)
				if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				g, gctx := errgroup.WithContext(ctx)
				g.SetLimit(32)
				for j := 0; j < n; j++ {
					g.Go(func() error {
						_, err := c.Client.AppsV1().Deployments(ns).Create(gctx, benchDeployment(fmt.Sprintf("d%d", j)), metav1.CreateOptions{})
						return err
					})
				}
				if err := g.Wait(); err != nil {
					b.Fatal(err)
				}
				for {
					list, err := c.Client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
					if err != nil {
						b.Fatal(err)
					}
					done := 0
					for _, d := range list.Items {
						if d.Status.ObservedGeneration == d.Generation && hasAvailable(&d) {
							done++
						}
					}
					if done == n {
						break
					}
					time.Sleep(200 * time.Millisecond)
				}
				b.ReportMetric(float64(n)/time.Since(start).Seconds(), "deployments/s")
			}
		})
	}
}

func hasAvailable(d *appsv1.Deployment) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable {
			return true
		}
	}
	return false
}

func benchDeployment(name string) *appsv1.Deployment {
	zero := int32(0)
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &zero,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/app:1"}}},
			},
		},
	}
}
