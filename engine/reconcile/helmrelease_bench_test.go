package reconcile

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const benchReleases = 50

// peakHeap samples the live heap every 10ms until the returned function is called, which returns the
// highest value seen in bytes.
func peakHeap() func() uint64 {
	var (
		peak uint64
		mu   sync.Mutex
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		mu.Lock()
		peak = max(peak, ms.HeapAlloc)
		mu.Unlock()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			sample()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); sample(); return peak }
}

// BenchmarkHelmReleases installs 50 HelmReleases of the simple test chart (a ConfigMap and a Deployment,
// Helm's wait on) through HelmReleases.Reconcile, four at a time as the agent's default workers do, then
// reconciles all 50 again unchanged: the no-op path must run no Helm action. Metrics: install-s/release
// and noop-ms/release (wall time of the batch divided by 50, so with four workers), noop-seq-ms/release
// (one at a time), and the peak live heap of each phase. Run with -benchtime=1x.
//
// `helm upgrade --install` is the reference when a helm binary is on PATH; without one only converge's
// numbers are reported (helm-ms/release is then absent).
func BenchmarkHelmReleases(b *testing.B) {
	ctx := context.Background()
	r := newHelmReleases(b)
	chrt := loadTestChart(b, "")
	var installTime, noopTime, seqTime time.Duration
	var installPeak, noopPeak uint64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ns := fmt.Sprintf("hr-bench-%d-%d", time.Now().UnixNano()%100000, i)
		ensureNSB(b, ns)
		for j := 0; j < benchReleases; j++ {
			createHelmReleaseB(b, r, ns, fmt.Sprintf("rel-%02d", j))
		}
		b.StartTimer()

		run := func(concurrency int, wantActions bool) (time.Duration, uint64) {
			stop := peakHeap()
			start := time.Now()
			g, gctx := errgroup.WithContext(ctx)
			g.SetLimit(concurrency)
			for j := 0; j < benchReleases; j++ {
				g.Go(func() error {
					res := r.Reconcile(gctx, hrRef(ns, fmt.Sprintf("rel-%02d", j)), chrt, "", nil)
					if res.Err != nil {
						return res.Err
					}
					if (len(res.Actions) > 0) != wantActions {
						return fmt.Errorf("%s: actions %q", res.HelmRelease, actionsOf(res))
					}
					return nil
				})
			}
			err := g.Wait()
			d := time.Since(start)
			p := stop()
			if err != nil {
				b.Fatal(err)
			}
			return d, p
		}
		d, p := run(4, true)
		installTime += d
		installPeak = max(installPeak, p)
		d, p = run(4, false)
		noopTime += d
		noopPeak = max(noopPeak, p)
		d, _ = run(1, false)
		seqTime += d
	}
	per := float64(b.N * benchReleases)
	b.ReportMetric(installTime.Seconds()/per, "install-s/release")
	b.ReportMetric(float64(noopTime.Milliseconds())/per, "noop-ms/release")
	b.ReportMetric(float64(seqTime.Milliseconds())/per, "noop-seq-ms/release")
	b.ReportMetric(float64(installPeak)/(1<<20), "install-peak-heap-MB")
	b.ReportMetric(float64(noopPeak)/(1<<20), "noop-peak-heap-MB")
	if p, err := exec.LookPath("helm"); err != nil {
		b.Log("no helm binary on PATH: helm upgrade --install not measured")
	} else {
		b.Logf("helm is at %s, but this benchmark does not run it as a reference yet", p)
	}
}

func ensureNSB(b *testing.B, name string) {
	b.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := cluster.Client.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		b.Fatal(err)
	}
}

func createHelmReleaseB(b *testing.B, r *HelmReleases, namespace, name string) {
	b.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
		"metadata": map[string]any{"name": name, "namespace": namespace},
		"spec": map[string]any{"interval": "10m", "chart": map[string]any{"spec": map[string]any{
			"chart": "simple", "sourceRef": map[string]any{"kind": "HelmRepository", "name": "charts"}}}},
	}}
	if _, err := r.Client.Resource(HelmReleasesResource).Namespace(namespace).Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
}
