package agent

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/converge-gitops/converge/engine/helmrelease/helmtest"
	"github.com/converge-gitops/converge/engine/kube"
)

// BenchmarkAgentHelmReleases measures the agent's memory with 200 HelmReleases: the agent runs as a
// process with its ServiceAccount and default workers; each HelmRelease installs the simple test chart
// (a ConfigMap and a Deployment with 0 replicas) from a chart repository on loopback through its own
// HelmChart, as Flux does. It reports the time from the agent's start until every HelmRelease is Ready,
// the peak RSS while reconciling (sampled every second), the high-water mark including start-up, and
// the RSS once all are Ready. Reference: Flux 2.9 publishes 1,000 HelmReleases in 4m39s on 16 cores.
func BenchmarkAgentHelmReleases(b *testing.B) {
	kubeconfig := agentKubeconfig(b)
	charts := helmtest.NewRepository(b)
	charts.Publish(b, "simple", map[string][]byte{"0.1.0": helmtest.PackageVersion(b, "simple", "0.1.0")})
	const n = 200
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ctx := context.Background()
		ns := fmt.Sprintf("bench-hr-%d-%d", time.Now().UnixNano()%100000, i)
		namespace(b, ns)
		cluster.ApplyYAML(b, fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {name: charts, namespace: %s}
spec: {interval: 1h, url: %q}`, ns, charts.URL))
		clients, err := kube.New(cluster.Config)
		if err != nil {
			b.Fatal(err)
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(32)
		for j := range n {
			g.Go(func() error {
				data := []byte(fmt.Sprintf(`{"apiVersion":"helm.toolkit.fluxcd.io/v2","kind":"HelmRelease","metadata":{"name":"rel-%d","namespace":%q},"spec":{"interval":"1h","chart":{"spec":{"chart":"simple","version":"0.1.0","sourceRef":{"kind":"HelmRepository","name":"charts"}}},"values":{"message":"m-%d"}}}`, j, ns, j))
				_, err := clients.Dynamic.Resource(hrGVR).Namespace(ns).Patch(gctx, fmt.Sprintf("rel-%d", j), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "bench"})
				return err
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}

		b.StartTimer()
		start := time.Now()
		p := startAgentProcess(b, kubeconfig, "--leader-elect=false", "--watch-namespace", ns)
		var peakWorking int64
		for {
			if rss, ok := procRSSKiB(p.cmd.Process.Pid); ok && rss > peakWorking {
				peakWorking = rss
			}
			list, err := clients.Dynamic.Resource(hrGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				b.Fatal(err)
			}
			ready := 0
			for k := range list.Items {
				if st, _, _ := condition(&list.Items[k], "Ready"); st == "True" {
					ready++
				}
			}
			if ready == n {
				break
			}
			if time.Since(start) > 15*time.Minute {
				b.Fatalf("%d of %d HelmReleases Ready after 15 minutes", ready, n)
			}
			time.Sleep(time.Second)
		}
		took := time.Since(start)
		b.StopTimer()
		pid := p.cmd.Process.Pid
		peak := procStatusKiB(b, pid, "VmHWM")
		settled, _ := procRSSKiB(pid)
		_ = p.cmd.Process.Signal(syscall.SIGTERM)

		b.ReportMetric(took.Seconds(), "s-to-all-ready")
		b.ReportMetric(float64(peakWorking)/1024, "MiB-peak-RSS")
		b.ReportMetric(float64(peak)/1024, "MiB-HWM-with-startup")
		b.ReportMetric(float64(settled)/1024, "MiB-RSS-all-ready")
		b.Logf("%d HelmReleases Ready in %s; peak RSS while reconciling %.0f MiB, high-water mark with start-up %.0f MiB, %.0f MiB once Ready",
			n, took.Round(time.Millisecond), float64(peakWorking)/1024, float64(peak)/1024, float64(settled)/1024)
	}
}
