package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
	"github.com/converge-gitops/converge/engine/testenv"
)

// spokeApp is the small app every spoke receives: a ConfigMap carrying value, a ServiceAccount and a
// Service, without a namespace (the Kustomization's targetNamespace gives it).
func spokeApp(value string) *string {
	return sourcetest.Str(`apiVersion: v1
kind: ConfigMap
metadata: {name: app}
data: {value: "` + value + `"}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: app}
---
apiVersion: v1
kind: Service
metadata: {name: app}
spec:
  selector: {app: app}
  ports:
  - {name: http, port: 80, targetPort: 8080}
`)
}

// namespacedKubeconfig returns a kubeconfig for sp authenticated as ServiceAccount ns/converge, which
// is admin of ns only: a spoke whose reach is one namespace.
func namespacedKubeconfig(b *testing.B, sp *testenv.Spoke, ns string) []byte {
	ctx := context.Background()
	c := sp.Client
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	if _, err := c.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "converge"}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "converge"},
		// cluster-admin bound in one namespace: "admin" is an aggregated role, and the spokes run no
		// controller-manager to aggregate it.
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "converge", Namespace: ns}},
	}
	if _, err := c.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	expiry := int64(24 * 3600)
	tr, err := c.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "converge", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["spoke"] = &clientcmdapi.Cluster{Server: sp.Config.Host, CertificateAuthorityData: sp.Config.CAData}
	cfg.AuthInfos["spoke"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["spoke"] = &clientcmdapi.Context{Cluster: "spoke", AuthInfo: "spoke", Namespace: ns}
	cfg.CurrentContext = "spoke"
	out, err := clientcmd.Write(*cfg)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// processesUnder returns the resident set (KiB) of every process whose command line names dir, by
// executable name.
func processesUnder(dir string) map[string][]int64 {
	out := map[string][]int64{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !strings.Contains(string(cmdline), dir) {
			continue
		}
		if rss, ok := procRSSKiB(pid); ok {
			exe := filepath.Base(strings.SplitN(string(cmdline), "\x00", 2)[0])
			out[exe] = append(out[exe], rss)
		}
	}
	return out
}

// scrapeGauge reads the gauge name from the agent's /metrics (false while the agent is not serving).
func scrapeGauge(p *agentProcess, name string) (float64, bool) {
	code, body := p.get("/metrics")
	if code != 200 {
		return 0, false
	}
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, name+" ") {
			v, err := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return v, err == nil
		}
	}
	return 0, false
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(p*float64(len(s)-1)+0.5)]
}

// BenchmarkAgentSpokes is hub and spoke at 100 spokes, simulated with 10 API servers (one etcd, each
// server under its own prefix) × 10 namespaces: each spoke is a kubeconfig Secret on the hub holding a
// ServiceAccount token that is admin of one namespace of one server, and a Kustomization applying a
// small app (ConfigMap, ServiceAccount, Service) there through it. One agent, as a process at its
// default flags, on the hub. It reports the time until all 100 are Ready (first apply, clients made),
// the agent's peak RSS and Go heap in use (sampled every 250 ms), then, for a new commit announced
// by a reconcile request to the GitRepository, the latency from the request until each Kustomization
// has applied it (median, p95, max), and the spokes' own memory (etcd, API servers). Run with
// -benchtime 1x (`make bench-spokes`).
func BenchmarkAgentSpokes(b *testing.B) {
	const servers, perServer = 10, 10
	ctx := context.Background()
	kubeconfig := agentKubeconfig(b)
	testenv.ConvergeBinary(b)
	srv := sourcetest.StartGitServer(b)
	t0 := time.Now()
	spokes, err := testenv.StartSpokes(ctx, testenv.SpokeOptions{N: servers})
	if err != nil {
		b.Fatal(err)
	}
	defer spokes.Stop()
	b.Logf("%d spoke API servers over one etcd started in %s", servers, time.Since(t0).Round(time.Millisecond))

	for iter := 0; iter < b.N; iter++ {
		b.StopTimer()
		ns := fmt.Sprintf("hub-bench-%d", iter)
		namespace(b, ns)
		repo := srv.NewRepo(b, ns)
		first := repo.Commit("first", map[string]*string{"app/app.yaml": spokeApp("one")})
		cluster.ApplyYAML(b, gitRepository(ns, "repo", repo.URL))
		var names []string
		for s, sp := range spokes.Servers {
			for j := range perServer {
				name := fmt.Sprintf("s%d-ns%d", s, j)
				target := fmt.Sprintf("bench-%d-%d", iter, j)
				kubeconfigSecret(b, ns, name, namespacedKubeconfig(b, sp, target))
				cluster.ApplyYAML(b, kustomization(ns, name, "./app", fmt.Sprintf("  targetNamespace: %s\n  kubeConfig:\n    secretRef: {name: %s}\n", target, name)))
				names = append(names, name)
			}
		}
		clients, err := kube.New(cluster.Config)
		if err != nil {
			b.Fatal(err)
		}
		// applied returns when each Kustomization first showed lastAppliedRevision == revision.
		applied := func(p *agentProcess, revision string, since time.Time, peakRSS *int64, peakHeap *float64) map[string]time.Duration {
			at := map[string]time.Duration{}
			for len(at) < len(names) {
				if rss, ok := procRSSKiB(p.cmd.Process.Pid); ok && rss > *peakRSS {
					*peakRSS = rss
				}
				if h, ok := scrapeGauge(p, "go_memstats_heap_inuse_bytes"); ok && h > *peakHeap {
					*peakHeap = h
				}
				list, err := clients.Dynamic.Resource(ksGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
				if err != nil {
					b.Fatal(err)
				}
				now := time.Since(since)
				for i := range list.Items {
					u := &list.Items[i]
					rev, _, _ := unstructured.NestedString(u.Object, "status", "lastAppliedRevision")
					if _, seen := at[u.GetName()]; !seen && rev == revision {
						at[u.GetName()] = now
					}
				}
				if now > 10*time.Minute {
					var late []string
					for _, n := range names {
						if _, ok := at[n]; !ok {
							u, err := clients.Dynamic.Resource(ksGVR).Namespace(ns).Get(ctx, n, metav1.GetOptions{})
							if err != nil {
								b.Fatal(err)
							}
							st, reason, msg := condition(u, "Ready")
							late = append(late, fmt.Sprintf("%s: %s %s %s", n, st, reason, msg))
						}
					}
					b.Fatalf("%d of %d at %s after 10 minutes; first late: %v", len(at), len(names), revision, late[:min(3, len(late))])
				}
				time.Sleep(250 * time.Millisecond)
			}
			return at
		}

		b.StartTimer()
		start := time.Now()
		p := startAgentProcess(b, kubeconfig, "--leader-elect=false", "--watch-namespace", ns)
		var peakRSS int64
		var peakHeap float64
		applied(p, "main@sha1:"+first, start, &peakRSS, &peakHeap)
		firstAll := time.Since(start)

		second := repo.Commit("second", map[string]*string{"app/app.yaml": spokeApp("two")})
		time.Sleep(time.Second) // let the first round's last status writes settle
		v := time.Now().Format(time.RFC3339Nano)
		patch := fmt.Sprintf(`{"metadata":{"annotations":{"reconcile.fluxcd.io/requestedAt":%q}}}`, v)
		reqAt := time.Now()
		if _, err := clients.Dynamic.Resource(gitGVR).Namespace(ns).Patch(ctx, "repo", "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
			b.Fatal(err)
		}
		at := applied(p, "main@sha1:"+second, reqAt, &peakRSS, &peakHeap)
		b.StopTimer()
		var lat []time.Duration
		for _, d := range at {
			lat = append(lat, d)
		}
		heapNow, ok := scrapeGauge(p, "go_memstats_heap_inuse_bytes")
		if !ok {
			b.Fatal("the agent's /metrics has no go_memstats_heap_inuse_bytes")
		}
		rssNow, _ := procRSSKiB(p.cmd.Process.Pid)
		_ = p.cmd.Process.Signal(syscall.SIGTERM)

		procs := processesUnder(spokes.Dir())
		var apiTotal int64
		for _, r := range procs["kube-apiserver"] {
			apiTotal += r
		}
		var etcdRSS int64
		for _, r := range procs["etcd"] {
			etcdRSS += r
		}
		b.ReportMetric(firstAll.Seconds(), "s-first-all-ready")
		b.ReportMetric(float64(peakRSS)/1024, "MiB-peak-RSS")
		b.ReportMetric(peakHeap/(1<<20), "MiB-peak-heap")
		b.ReportMetric(percentile(lat, 0.5).Seconds(), "s-commit-median")
		b.ReportMetric(percentile(lat, 0.95).Seconds(), "s-commit-p95")
		b.ReportMetric(percentile(lat, 1).Seconds(), "s-commit-max")
		b.Logf("100 spokes (%d servers x %d namespaces), one agent at default flags: first apply of all in %s; "+
			"new commit from the reconcile request to applied: median %s, p95 %s, max %s; agent peak RSS %d MiB (now %d MiB), "+
			"peak Go heap in use %.0f MiB (now %.0f MiB); spokes: etcd %d MiB, %d API servers %d MiB in all (%d MiB each)",
			servers, perServer, firstAll.Round(time.Millisecond), percentile(lat, 0.5).Round(time.Millisecond),
			percentile(lat, 0.95).Round(time.Millisecond), percentile(lat, 1).Round(time.Millisecond),
			peakRSS>>10, rssNow>>10, peakHeap/(1<<20), heapNow/(1<<20), etcdRSS>>10, len(procs["kube-apiserver"]),
			apiTotal>>10, apiTotal>>10/int64(max(1, len(procs["kube-apiserver"]))))
	}
}
