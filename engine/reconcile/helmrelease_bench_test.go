package reconcile

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/converge-gitops/converge/engine/helmrelease/helmtest"
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

// BenchmarkHelmReleases installs 50 HelmReleases of the simple test chart (a ConfigMap and a
// Deployment, the poller wait on) through HelmReleases.Reconcile, four at a time as the agent's default
// workers do, reconciles all 50 again unchanged (the no-op path must run no Helm action), then upgrades
// all 50 (new values). The chart is published in a chart repository on loopback (helmtest.Repository)
// and loaded once from its archive, as the agent keeps the HelmChart's artifact. Metrics: s/release of
// each phase (wall time of the batch divided by 50, so with four workers), noop-seq-ms/release (one at
// a time), and the peak live heap of each phase. Run with -benchtime=1x.
//
// The helm v4 CLI does the same in the same run when one is given (CONVERGE_HELM_ORACLE, else helm on
// PATH, if `helm version` says v4): `helm upgrade --install --wait=watcher` from the repository, four
// at a time, for install, unchanged (Helm has no no-op: a new revision each time) and upgrade; the
// helm-*-s/release metrics and the x-vs-helm ratios (helm's time over converge's) are then reported.
func BenchmarkHelmReleases(b *testing.B) {
	ctx := context.Background()
	r := newHelmReleases(b)
	repo := helmtest.NewRepository(b)
	repo.Publish(b, "simple", map[string][]byte{"0.1.0": helmtest.PackageVersion(b, "simple", "0.1.0")})
	chrt := chartFromRepository(b, repo.URL+"/simple-0.1.0.tgz")
	helm := helmCLI(b)
	var installTime, noopTime, seqTime, upgradeTime time.Duration
	var helmInstall, helmNoop, helmUpgrade time.Duration
	var installPeak, noopPeak, upgradePeak uint64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ns := fmt.Sprintf("hr-bench-%d-%d", time.Now().UnixNano()%100000, i)
		ensureNSB(b, ns)
		for j := 0; j < benchReleases; j++ {
			createHelmReleaseB(b, r, ns, fmt.Sprintf("rel-%02d", j))
		}
		b.StartTimer()

		run := func(concurrency int, want string) (time.Duration, uint64) {
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
					if got := actionsOf(res); got != want {
						return fmt.Errorf("%s: actions %q, want %q", res.HelmRelease, got, want)
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
		d, p := run(4, "install")
		installTime += d
		installPeak = max(installPeak, p)
		d, p = run(4, "")
		noopTime += d
		noopPeak = max(noopPeak, p)
		d, _ = run(1, "")
		seqTime += d
		b.StopTimer()
		for j := 0; j < benchReleases; j++ {
			setValuesB(b, r, ns, fmt.Sprintf("rel-%02d", j), map[string]any{"message": "two"})
		}
		b.StartTimer()
		d, p = run(4, "upgrade")
		upgradeTime += d
		upgradePeak = max(upgradePeak, p)

		if helm != nil {
			b.StopTimer()
			hns := ns + "-helm"
			ensureNSB(b, hns)
			helmInstall += helm.batch(b, hns, repo.URL)
			helmNoop += helm.batch(b, hns, repo.URL)
			helmUpgrade += helm.batch(b, hns, repo.URL, "--set", "message=two")
			b.StartTimer()
		}
	}
	per := float64(b.N * benchReleases)
	b.ReportMetric(installTime.Seconds()/per, "install-s/release")
	b.ReportMetric(float64(noopTime.Milliseconds())/per, "noop-ms/release")
	b.ReportMetric(float64(seqTime.Milliseconds())/per, "noop-seq-ms/release")
	b.ReportMetric(upgradeTime.Seconds()/per, "upgrade-s/release")
	b.ReportMetric(float64(installPeak)/(1<<20), "install-peak-heap-MB")
	b.ReportMetric(float64(noopPeak)/(1<<20), "noop-peak-heap-MB")
	b.ReportMetric(float64(upgradePeak)/(1<<20), "upgrade-peak-heap-MB")
	if helm == nil {
		return
	}
	b.ReportMetric(helmInstall.Seconds()/per, "helm-install-s/release")
	b.ReportMetric(helmNoop.Seconds()/per, "helm-unchanged-s/release")
	b.ReportMetric(helmUpgrade.Seconds()/per, "helm-upgrade-s/release")
	b.ReportMetric(helmInstall.Seconds()/installTime.Seconds(), "install-x-vs-helm")
	b.ReportMetric(helmNoop.Seconds()/noopTime.Seconds(), "unchanged-x-vs-helm")
	b.ReportMetric(helmUpgrade.Seconds()/upgradeTime.Seconds(), "upgrade-x-vs-helm")
}

// helmRunner runs the helm v4 CLI against the test API server, with its own Helm home folders.
type helmRunner struct {
	bin        string
	kubeconfig string
	env        []string
}

// helmCLI returns the helm v4 CLI of CONVERGE_HELM_ORACLE or PATH; nil (logged) when there is none.
func helmCLI(b *testing.B) *helmRunner {
	bin := os.Getenv("CONVERGE_HELM_ORACLE")
	if bin == "" {
		p, err := exec.LookPath("helm")
		if err != nil {
			b.Log("no helm binary (CONVERGE_HELM_ORACLE or PATH): the helm CLI is not measured")
			return nil
		}
		bin = p
	}
	out, err := exec.Command(bin, "version", "--short").Output()
	if err != nil || !strings.HasPrefix(string(out), "v4.") {
		b.Logf("%s is not helm v4 (%q, %v): the helm CLI is not measured", bin, out, err)
		return nil
	}
	dir := b.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := cluster.WriteKubeconfig(kubeconfig); err != nil {
		b.Fatal(err)
	}
	env := append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(dir, "cache"), "HELM_CONFIG_HOME="+filepath.Join(dir, "config"),
		"HELM_DATA_HOME="+filepath.Join(dir, "data"))
	return &helmRunner{bin: bin, kubeconfig: kubeconfig, env: env}
}

// batch runs `helm upgrade --install` for the 50 releases of namespace, four at a time, and returns
// the wall time.
func (h *helmRunner) batch(b *testing.B, namespace, repoURL string, extra ...string) time.Duration {
	start := time.Now()
	var g errgroup.Group
	g.SetLimit(4)
	for j := 0; j < benchReleases; j++ {
		g.Go(func() error {
			args := append([]string{"upgrade", "--install", fmt.Sprintf("rel-%02d", j), "simple", "--repo", repoURL, "--version", "0.1.0",
				"--namespace", namespace, "--kubeconfig", h.kubeconfig, "--wait=watcher", "--timeout", "5m"}, extra...)
			cmd := exec.Command(h.bin, args...)
			cmd.Env = h.env
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, out)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// chartFromRepository downloads and loads a chart archive from url.
func chartFromRepository(b *testing.B, url string) *chart.Chart {
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %s", url, resp.Status)
	}
	c, err := loader.LoadArchive(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func setValuesB(b *testing.B, r *HelmReleases, namespace, name string, values map[string]any) {
	ri := r.Client.Resource(HelmReleasesResource).Namespace(namespace)
	u, err := ri.Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if err := unstructured.SetNestedField(u.Object, values, "spec", "values"); err != nil {
		b.Fatal(err)
	}
	if _, err := ri.Update(context.Background(), u, metav1.UpdateOptions{}); err != nil {
		b.Fatal(err)
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
