//go:build node && linux

package node_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
	"github.com/converge-gitops/converge/engine/testenv"
	"github.com/converge-gitops/converge/engine/testenv/node"
)

// BenchmarkAgentPodKustomizations measures the agent as users run it: the image installed with default
// flags, running as a Pod on the real node, reconciling Flux's benchmark layout (N Kustomizations from one
// Git repository served to Pods, each a ServiceAccount, a Service and a Deployment with 0 replicas, with
// wait: true). It reports the time from the last Kustomization created to all Ready and the agent
// container's memory from its cgroup: the working set (usage less inactive file pages, as the kubelet
// counts it) at rest before the load, its peak while reconciling (sampled every second), and the cgroup's
// own high-water mark of usage.
func BenchmarkAgentPodKustomizations(b *testing.B) {
	ctx := context.Background()
	bin := staticConverge(b)
	const tag = "node-bench"
	if _, err := agentimagePush(ctx, bin, tag); err != nil {
		b.Fatal(err)
	}
	converge(b, bin, "install", "--image", env.Registry+"/converge", "--version", tag, "--timeout", "5m")
	b.Cleanup(func() { converge(b, bin, "uninstall", "--silent") })
	pod := agentPod(b, ctx)
	cg, err := containerMemoryCgroup(pod.UID, pod.Status.ContainerStatuses[0].ContainerID)
	if err != nil {
		b.Fatal(err)
	}
	time.Sleep(15 * time.Second) // let start-up settle before the figure at rest
	rest := workingSet(b, cg)
	logMemory(b, ctx, pod.Name)

	srv := sourcetest.StartGitServerOn(b, node.Gateway)
	for _, n := range []int{1000} {
		b.Run(fmt.Sprintf("kustomizations=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchAgentPodOnce(b, ctx, srv, cg, n, i, rest)
			}
		})
	}
}

func benchAgentPodOnce(b *testing.B, ctx context.Context, srv *sourcetest.GitServer, cg string, n, iter int, rest int64) {
	b.StopTimer()
	ns := fmt.Sprintf("bench-%d-%d", n, iter)
	if _, err := env.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	repo := srv.NewRepo(b, ns)
	files := map[string]*string{}
	for i := range n {
		files[fmt.Sprintf("apps/app-%d/app.yaml", i)] = sourcetest.Str(testenv.FluxBenchmarkApp(ns, i))
	}
	repo.Commit("apps", files)
	apply(b, fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: repo, namespace: %s}
spec:
  interval: 1h
  url: %s
  ref: {branch: main}
`, ns, repo.URL))
	clients, err := kube.New(env.Config)
	if err != nil {
		b.Fatal(err)
	}
	if err := testenv.ApplyFluxBenchmarkKustomizations(ctx, clients.Dynamic, ns, n); err != nil {
		b.Fatal(err)
	}

	b.StartTimer()
	start := time.Now()
	var peak int64
	lastList := time.Time{}
	for {
		if ws := workingSet(b, cg); ws > peak {
			peak = ws
		}
		if time.Since(lastList) >= 2*time.Second {
			lastList = time.Now()
			list, err := clients.Dynamic.Resource(ksGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				b.Fatal(err)
			}
			ready := 0
			for i := range list.Items {
				if ok, _ := conditionTrue(&list.Items[i], "Ready"); ok {
					ready++
				}
			}
			if ready == n {
				break
			}
			if time.Since(start) > 15*time.Minute {
				b.Fatalf("%d of %d Ready after 15 minutes", ready, n)
			}
		}
		time.Sleep(time.Second)
	}
	took := time.Since(start)
	b.StopTimer()
	hwm := cgroupInt(b, cg, "memory.max_usage_in_bytes")
	b.ReportMetric(took.Seconds(), "s-to-all-ready")
	b.ReportMetric(float64(rest)/(1<<20), "MiB-working-set-at-rest")
	b.ReportMetric(float64(peak)/(1<<20), "MiB-peak-working-set")
	b.ReportMetric(float64(hwm)/(1<<20), "MiB-cgroup-max-usage")
	b.Logf("agent Pod, default flags: %d Kustomizations (wait: true) Ready in %s; working set at rest %.1f MiB, peak while reconciling %.1f MiB, cgroup high-water mark %.1f MiB",
		n, took.Round(time.Millisecond), float64(rest)/(1<<20), float64(peak)/(1<<20), float64(hwm)/(1<<20))
	if err := env.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		b.Logf("delete namespace %s: %v", ns, err)
	}
}

// containerMemoryCgroup finds the memory cgroup (v1) of the container the kubelet runs for a Pod.
func containerMemoryCgroup(podUID types.UID, containerID string) (string, error) {
	_, id, ok := strings.Cut(containerID, "://")
	if !ok {
		return "", fmt.Errorf("container ID %q has no runtime prefix", containerID)
	}
	pod := "pod" + string(podUID)
	for _, pattern := range []string{
		"/sys/fs/cgroup/memory/kubepods/" + pod + "/" + id,
		"/sys/fs/cgroup/memory/kubepods/*/" + pod + "/" + id,
	} {
		if m, _ := filepath.Glob(pattern); len(m) == 1 {
			return m[0], nil
		}
	}
	return "", fmt.Errorf("no memory cgroup for container %s of %s under /sys/fs/cgroup/memory/kubepods", id, pod)
}

// workingSet is the cgroup's usage less its inactive file pages, the kubelet's working set.
func workingSet(b testing.TB, cg string) int64 {
	usage := cgroupInt(b, cg, "memory.usage_in_bytes")
	data, err := os.ReadFile(filepath.Join(cg, "memory.stat"))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "total_inactive_file "); ok {
			inactive, _ := strconv.ParseInt(v, 10, 64)
			if inactive < usage {
				return usage - inactive
			}
			return 0
		}
	}
	b.Fatalf("%s/memory.stat has no total_inactive_file", cg)
	return 0
}

func cgroupInt(b testing.TB, cg, file string) int64 {
	data, err := os.ReadFile(filepath.Join(cg, file))
	if err != nil {
		b.Fatal(err)
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		b.Fatalf("%s/%s: %v", cg, file, err)
	}
	return v
}
