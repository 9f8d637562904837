package agent

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
	"github.com/converge-gitops/converge/engine/testenv"
)

// benchCounts reads a comma-separated list of positive counts from the environment variable name, or
// returns def when it is unset.
func benchCounts(b *testing.B, name string, def ...int) []int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			b.Fatalf("%s %q: %q is not a positive count", name, v, f)
		}
		out = append(out, n)
	}
	return out
}

// benchSizes are the Kustomization counts of the sharded benchmarks: 1,000, or CONVERGE_BENCH_SIZES
// (e.g. "1000,5000,10000").
func benchSizes(b *testing.B) []int { return benchCounts(b, "CONVERGE_BENCH_SIZES", 1000) }

// benchIdle is how long the sharded benchmark measures the steady state once all are Ready: 30 s, or
// CONVERGE_BENCH_IDLE (a duration).
func benchIdle(b *testing.B) time.Duration {
	v := os.Getenv("CONVERGE_BENCH_IDLE")
	if v == "" {
		return 30 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		b.Fatalf("CONVERGE_BENCH_IDLE %q: want a positive duration", v)
	}
	return d
}

// BenchmarkAgentShards runs Flux's benchmark layout (each Kustomization with wait: true, a ServiceAccount,
// a Service and a Deployment with 0 replicas) split over 1, 2 and 4 agents (CONVERGE_BENCH_SHARDS, e.g.
// "1,2") started with --shard, each given an equal labelled share, at default flags: time until all are
// Ready, each agent's peak RSS, and the API server's requests per second (every client); then, nothing
// changing for CONVERGE_BENCH_IDLE, each agent's CPU and requests per minute and the API server's. The
// GitRepository is in the first shard: the others download its artifact from that agent's artifact
// server. `make bench-scale` runs it with BenchmarkAPIServerCeiling, the API server's own limit.
func BenchmarkAgentShards(b *testing.B) {
	kubeconfig := agentKubeconfig(b)
	testenv.ConvergeBinary(b)
	srv := sourcetest.StartGitServer(b)
	for _, n := range benchSizes(b) {
		for _, shards := range benchCounts(b, "CONVERGE_BENCH_SHARDS", 1, 2, 4) {
			b.Run(fmt.Sprintf("kustomizations=%d/shards=%d", n, shards), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					benchShardsOnce(b, srv, kubeconfig, n, shards, i)
				}
			})
		}
	}
}

func benchShardsOnce(b *testing.B, srv *sourcetest.GitServer, kubeconfig string, n, shards, iter int) {
	b.StopTimer()
	ctx := context.Background()
	ns := fmt.Sprintf("shards-%d-%d-%d", n, shards, iter)
	namespace(b, ns)
	repo := srv.NewRepo(b, ns)
	files := map[string]*string{}
	for i := range n {
		files[fmt.Sprintf("apps/app-%d/app.yaml", i)] = sourcetest.Str(testenv.FluxBenchmarkApp(ns, i))
	}
	repo.Commit("apps", files)
	shardOf := func(i int) string { return fmt.Sprintf("s%d", i%shards) }
	cluster.ApplyYAML(b, fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: repo
  namespace: %s
  labels: {%s: %s}
spec:
  interval: 1h
  url: %s
  ref: {branch: main}
`, ns, ShardKey, shardOf(0), repo.URL))
	clients, err := kube.New(cluster.Config)
	if err != nil {
		b.Fatal(err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for i := range n {
		g.Go(func() error {
			data := fmt.Appendf(nil, `{"apiVersion":"kustomize.toolkit.fluxcd.io/v1","kind":"Kustomization","metadata":{"name":"app-%d","namespace":%q,"labels":{%q:%q}},"spec":{"interval":"1h","path":"./apps/app-%d","prune":true,"wait":true,"timeout":"5m","sourceRef":{"kind":"GitRepository","name":"repo"}}}`, i, ns, ShardKey, shardOf(i), i)
			_, err := clients.Dynamic.Resource(ksGVR).Namespace(ns).Patch(gctx, fmt.Sprintf("app-%d", i), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "bench"})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}

	b.StartTimer()
	server0 := apiServerRequests(b)
	start := time.Now()
	var agents []*agentProcess
	for s := range shards {
		agents = append(agents, startAgentProcess(b, kubeconfig, "--leader-elect=false", "--watch-namespace", ns, "--shard", shardOf(s)))
	}
	peak := make([]int64, shards)
	for {
		for i, p := range agents {
			if rss, ok := procRSSKiB(p.cmd.Process.Pid); ok && rss > peak[i] {
				peak[i] = rss
			}
		}
		// From the API server's watch cache: the poll costs it little at 10,000 objects.
		list, err := clients.Dynamic.Resource(ksGVR).Namespace(ns).List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			b.Fatal(err)
		}
		ready := 0
		for i := range list.Items {
			if st, _, _ := condition(&list.Items[i], "Ready"); st == "True" {
				ready++
			}
		}
		if ready == n {
			break
		}
		if time.Since(start) > 20*time.Minute {
			b.Fatalf("%d of %d Ready after 20 minutes", ready, n)
		}
		time.Sleep(time.Second)
	}
	took := time.Since(start)
	b.StopTimer()
	// Logged last: a benchmark's log is cut after 10 lines, and the per-agent figures come first.
	server1 := apiServerRequests(b)

	// Steady state: nothing changes; the agents only keep their watches (and their intervals, 1h, are
	// far off).
	idle := benchIdle(b)
	idleServer0 := apiServerRequests(b)
	req0, cpu0 := make([]float64, shards), make([]time.Duration, shards)
	for i, p := range agents {
		req0[i], cpu0[i] = scrapeRequests(b, p), procCPU(b, p.cmd.Process.Pid)
	}
	time.Sleep(idle)
	idleServer := 0.0
	for k, v := range apiServerRequests(b) {
		idleServer += v - idleServer0[k]
	}
	perMinute := float64(time.Minute) / float64(idle)
	maxPeak, maxCPU, agentRequests := int64(0), 0.0, 0.0
	for i, p := range agents {
		req, cpu := scrapeRequests(b, p)-req0[i], 100*(procCPU(b, p.cmd.Process.Pid)-cpu0[i]).Seconds()/idle.Seconds()
		b.Logf("agent of shard %s: %d Kustomizations, peak RSS %d MiB; idle: %.2f%% CPU, %.1f requests/min",
			shardOf(i), (n+shards-1-i)/shards, peak[i]>>10, cpu, req*perMinute)
		maxPeak, maxCPU, agentRequests = max(maxPeak, peak[i]), max(maxCPU, cpu), agentRequests+req
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	b.ReportMetric(took.Seconds(), "s-to-all-ready")
	b.ReportMetric(float64(n)/took.Seconds(), "ready/s")
	b.ReportMetric(float64(maxPeak)/1024, "MiB-peak-RSS-max-agent")
	b.ReportMetric(maxCPU, "idle-CPU-%-max-agent")
	b.ReportMetric(agentRequests*perMinute, "idle-agent-requests/min")
	b.ReportMetric(idleServer*perMinute, "idle-apiserver-requests/min")
	b.Logf("%d Kustomizations over %d shards Ready in %s; idle for %s: the agents %.1f requests/min, the API server %.1f/min (every client)",
		n, shards, took.Round(time.Millisecond), idle, agentRequests*perMinute, idleServer*perMinute)
	logRequestRates(b, server0, server1, took)
}

// BenchmarkAPIServerCeiling is the API server's own limit for the objects of Flux's benchmark layout:
// their ServiceAccounts, Services and Deployments server-side applied by 32 workers, no reconciler,
// nothing waited for (compare with BenchmarkAgentShards' apply part).
func BenchmarkAPIServerCeiling(b *testing.B) {
	clients, err := kube.New(cluster.Config)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range benchSizes(b) {
		b.Run(fmt.Sprintf("kustomizations=%d", n), func(b *testing.B) {
			for iter := 0; iter < b.N; iter++ {
				b.StopTimer()
				ns := fmt.Sprintf("ceiling-%d-%d", n, iter)
				namespace(b, ns)
				var objs []*unstructured.Unstructured
				for i := range n {
					dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(testenv.FluxBenchmarkApp(ns, i)), 4096)
					for {
						u := &unstructured.Unstructured{}
						if err := dec.Decode(&u.Object); err != nil {
							break
						}
						objs = append(objs, u)
					}
				}
				b.StartTimer()
				start := time.Now()
				g, gctx := errgroup.WithContext(context.Background())
				g.SetLimit(32)
				for _, u := range objs {
					g.Go(func() error {
						gvr := map[string]schema.GroupVersionResource{
							"ServiceAccount": {Version: "v1", Resource: "serviceaccounts"},
							"Service":        {Version: "v1", Resource: "services"},
							"Deployment":     {Group: "apps", Version: "v1", Resource: "deployments"},
						}[u.GetKind()]
						data, err := u.MarshalJSON()
						if err != nil {
							return err
						}
						// A loaded machine's API server may time a request out: retried, as clients do.
						for try := 1; ; try++ {
							_, err = clients.Dynamic.Resource(gvr).Namespace(ns).Patch(gctx, u.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "ceiling"})
							if err == nil || try == 3 || !(apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) || apierrors.IsTooManyRequests(err)) {
								return err
							}
						}
					})
				}
				if err := g.Wait(); err != nil {
					b.Fatal(err)
				}
				took := time.Since(start)
				b.ReportMetric(took.Seconds(), "s-to-apply-all")
				b.ReportMetric(float64(len(objs))/took.Seconds(), "objects/s")
			}
		})
	}
}
