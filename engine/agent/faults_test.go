package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/converge-gitops/converge/engine/source/sourcetest"
	"github.com/converge-gitops/converge/engine/testenv"
)

// faultConfigMaps is one file of ConfigMaps <prefix>-<i>, i in [0, n), labelled fault=<ns>.
func faultConfigMaps(ns, prefix string, n int) *string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s-%d\n  namespace: %s\n  labels: {fault: %s}\ndata:\n  value: v\n", prefix, i, ns, ns)
	}
	return sourcetest.Str(b.String())
}

func inventoryIDs(t *testing.T, ns, name string) []string {
	t.Helper()
	entries, _, _ := unstructured.NestedSlice(get(t, ksGVR, ns, name).Object, "status", "inventory", "entries")
	var ids []string
	for _, e := range entries {
		id, _ := e.(map[string]any)["id"].(string)
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func wantIDs(ns, prefix string, n int) []string {
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprintf("%s_%s-%d__ConfigMap", ns, prefix, i))
	}
	slices.Sort(ids)
	return ids
}

func liveFaultConfigMaps(t *testing.T, ns string) map[string]bool {
	t.Helper()
	list, err := cluster.Client.CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "fault=" + ns})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, cm := range list.Items {
		out[cm.Name] = true
	}
	return out
}

// TestFaultAgentKilledDuringPrune: the agent process is SIGKILLed as soon as the prune of 180 of a
// Kustomization's 200 ConfigMaps deletes its first object. The inventory still lists the 200; the next
// agent process finishes the prune, and deletes nothing else: the 20 kept, another Kustomization's
// ConfigMaps and an unmanaged ConfigMap stay.
func TestFaultAgentKilledDuringPrune(t *testing.T) {
	ctx := context.Background()
	ns := "fault-prune"
	namespace(t, ns)
	kubeconfig := agentKubeconfig(t)
	srv := sourcetest.StartGitServer(t)
	repo := srv.NewRepo(t, "fault-prune")
	const total, kept, others = 200, 20, 20
	repo.Commit("first", map[string]*string{
		"apps/cms.yaml":  faultConfigMaps(ns, "app", total),
		"other/cms.yaml": faultConfigMaps(ns, "other", others),
	})
	bystander := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "bystander", Namespace: ns, Labels: map[string]string{"fault": ns}}}
	if _, err := cluster.Client.CoreV1().ConfigMaps(ns).Create(ctx, bystander, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cluster.ApplyYAML(t, gitRepository(ns, "repo", repo.URL))
	cluster.ApplyYAML(t, kustomization(ns, "apps", "./apps", ""))
	cluster.ApplyYAML(t, kustomization(ns, "other", "./other", ""))

	a := startAgentProcess(t, kubeconfig)
	eventually(t, "the first revision applied", ksReadyAt(t, ns, "apps", ""))
	eventually(t, "the other Kustomization applied", ksReadyAt(t, ns, "other", ""))
	if got := inventoryIDs(t, ns, "apps"); len(got) != total {
		t.Fatalf("inventory of %d entries, want %d", len(got), total)
	}

	w, err := cluster.Client.CoreV1().ConfigMaps(ns).Watch(ctx, metav1.ListOptions{LabelSelector: "fault=" + ns})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	next := "main@sha1:" + repo.Commit("prune most", map[string]*string{"apps/cms.yaml": faultConfigMaps(ns, "app", kept)})
	requestReconcile(t, gitGVR, ns, "repo")
	timeout := time.After(time.Minute)
	var killedAt time.Time
	for killedAt.IsZero() {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("the watch ended before the prune")
			}
			if ev.Type == watch.Deleted {
				if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				killedAt = time.Now()
			}
		case <-timeout:
			t.Fatal("the prune did not start within a minute")
		}
	}
	err = <-a.done
	a.done <- err
	w.Stop()

	live := liveFaultConfigMaps(t, ns)
	leftToPrune := 0
	for i := kept; i < total; i++ {
		if live[fmt.Sprintf("app-%d", i)] {
			leftToPrune++
		}
	}
	if leftToPrune == 0 {
		t.Fatal("the prune ended before the kill: the fault was not injected")
	}
	if got := inventoryIDs(t, ns, "apps"); !slices.Equal(got, wantIDs(ns, "app", total)) {
		t.Errorf("after the kill the inventory holds %d entries, want the previous %d", len(got), total)
	}

	restartedAt := time.Now()
	startAgentProcess(t, kubeconfig)
	eventually(t, "the next agent finishes the prune", ksReadyAt(t, ns, "apps", next))
	recovered := time.Since(restartedAt)
	live = liveFaultConfigMaps(t, ns)
	want := map[string]bool{"bystander": true}
	for i := range kept {
		want[fmt.Sprintf("app-%d", i)] = true
	}
	for i := range others {
		want[fmt.Sprintf("other-%d", i)] = true
	}
	for name := range want {
		if !live[name] {
			t.Errorf("ConfigMap %s was deleted", name)
		}
	}
	for name := range live {
		if !want[name] {
			t.Errorf("ConfigMap %s was not pruned", name)
		}
	}
	if got := inventoryIDs(t, ns, "apps"); !slices.Equal(got, wantIDs(ns, "app", kept)) {
		t.Errorf("inventory of %d entries after the prune, want %d", len(got), kept)
	}
	if got := inventoryIDs(t, ns, "other"); !slices.Equal(got, wantIDs(ns, "other", others)) {
		t.Errorf("the other Kustomization's inventory changed: %d entries", len(got))
	}
	t.Logf("killed at the first delete, %d of %d left to prune; the next agent finished the prune %s after it started",
		leftToPrune, total-kept, recovered.Round(time.Millisecond))
}

// reconcilesStartedAfter returns the reconciliations of objects in ns an agent logged (done or failed)
// that started after at (the line's time less its duration).
func reconcilesStartedAfter(t *testing.T, p *agentProcess, ns string, at time.Time) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(p.log(), "\n") {
		var line struct {
			Time      time.Time `json:"time"`
			Msg       string    `json:"msg"`
			Namespace string    `json:"namespace"`
			Duration  string    `json:"duration"`
		}
		if json.Unmarshal([]byte(l), &line) != nil || line.Namespace != ns || (line.Msg != "reconciled" && line.Msg != "reconciliation failed") {
			continue
		}
		d, err := time.ParseDuration(line.Duration)
		if err != nil {
			t.Fatalf("log line without a duration: %s", l)
		}
		if line.Time.Add(-d).After(at) {
			out = append(out, l)
		}
	}
	return out
}

// TestFaultLeaderLost: the leading agent is frozen (SIGSTOP) so that its Lease expires; the standby takes
// the Lease over and applies a new revision; the old leader, resumed (SIGCONT), reconciles nothing more
// and exits as leadership lost; started again, it stands by.
func TestFaultLeaderLost(t *testing.T) {
	ns := "fault-leader"
	namespace(t, ns)
	kubeconfig := agentKubeconfig(t)
	srv := sourcetest.StartGitServer(t)
	repo := srv.NewRepo(t, "fault-leader")
	rev := "main@sha1:" + repo.Commit("first", map[string]*string{"apps/cm.yaml": configMap("one", ns, "v1")})
	cluster.ApplyYAML(t, gitRepository(ns, "repo", repo.URL))
	cluster.ApplyYAML(t, kustomization(ns, "apps", "./apps", ""))

	lease := []string{"--leader-election-namespace", "flux-system", "--leader-election-lease-duration", "4s",
		"--leader-election-renew-deadline", "3s", "--leader-election-retry-period", "500ms"}
	holds := func(p *agentProcess) func() (bool, string) {
		return func() (bool, string) {
			h := leaseHolder(t)
			return strings.HasSuffix(h, fmt.Sprintf("_%d", p.cmd.Process.Pid)), h
		}
	}
	a := startAgentProcess(t, kubeconfig, lease...)
	eventually(t, "the first replica leads", holds(a))
	b := startAgentProcess(t, kubeconfig, lease...)
	eventually(t, "applied by the leader", ksReadyAt(t, ns, "apps", rev))
	eventually(t, "the second replica stands by", func() (bool, string) {
		return strings.Contains(b.log(), "standing by"), ""
	})

	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stoppedAt := time.Now()
	eventually(t, "the standby takes the Lease", holds(b))
	tookOver := time.Since(stoppedAt)
	next := "main@sha1:" + repo.Commit("second", map[string]*string{"apps/cm.yaml": configMap("one", ns, "v2")})
	requestReconcile(t, gitGVR, ns, "repo")
	eventually(t, "applied by the new leader", ksReadyAt(t, ns, "apps", next))
	appliedAt := time.Now()

	// Resumed, the old leader finds the Lease taken: it must not act on what its informers now deliver.
	if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumedAt := time.Now()
	select {
	case err := <-a.done:
		a.done <- err
		if err == nil {
			t.Error("the old leader exited cleanly; want the leadership-lost failure")
		}
	case <-time.After(45 * time.Second):
		t.Fatal("the old leader did not exit within 45s of resuming")
	}
	exited := time.Since(resumedAt)
	if !strings.Contains(a.log(), "leadership lost") {
		t.Errorf("the old leader's log does not say leadership was lost:\n%.3000s", a.log())
	}
	// A reconciliation in flight when it froze finishes (nothing can stop it); none may start after.
	late := reconcilesStartedAfter(t, a, ns, stoppedAt)
	if len(late) > 0 {
		t.Errorf("the old leader started %d reconciliations after losing the Lease (two writers):\n%s", len(late), strings.Join(late, "\n"))
	}
	if h := leaseHolder(t); !strings.HasSuffix(h, fmt.Sprintf("_%d", b.cmd.Process.Pid)) {
		t.Errorf("Lease held by %q after the old leader resumed", h)
	}

	// Started again (as its Pod would be), it stands by.
	c := startAgentProcess(t, kubeconfig, lease...)
	eventually(t, "the restarted replica stands by", func() (bool, string) {
		return strings.Contains(c.log(), "standing by"), leaseHolder(t)
	})
	eventually(t, "ready probe of the standby", func() (bool, string) { code, body := c.get("/readyz"); return code == 200, body })
	if n := reconcilesStartedAfter(t, c, ns, time.Time{}); len(n) != 0 {
		t.Errorf("the restarted standby reconciled %d times", len(n))
	}
	if v := cmValue(t, ns, "one"); v != "v2" {
		t.Errorf("ConfigMap = %q, want the new leader's v2", v)
	}
	t.Logf("leader frozen: standby took the Lease after %s (lease 4s), applied the next revision %s later; "+
		"the old leader exited %s after resuming, with %d reconciliations after it lost the Lease",
		tookOver.Round(time.Millisecond), appliedAt.Sub(stoppedAt.Add(tookOver)).Round(time.Millisecond),
		exited.Round(time.Millisecond), len(late))
}

// TestFaultAgentLatency: the agent process reaches the API server through a proxy adding 200 ms each
// way to every exchange, and converges; then the proxy stalls every byte for 15 s while a new revision
// is pushed: the agent cannot renew its Lease within the renew deadline (10 s) and exits saying
// leadership was lost, as Flux's controllers do; started again (as its Pod would be), it converges.
func TestFaultAgentLatency(t *testing.T) {
	ns := "fault-latency"
	namespace(t, ns)
	cfg, err := cluster.ServiceAccountConfig(context.Background(), "flux-system", "converge-agent")
	if err != nil {
		t.Fatal(err)
	}
	agentKubeconfig(t) // binds the ServiceAccount
	proxy := cluster.StartProxy(t)
	proxy.SetDelay(200 * time.Millisecond)
	kubeconfig := testenv.WriteTokenKubeconfig(t, proxy.Via(cfg))
	srv := sourcetest.StartGitServer(t)
	repo := srv.NewRepo(t, "fault-latency")
	rev := "main@sha1:" + repo.Commit("first", map[string]*string{"apps/cms.yaml": faultConfigMaps(ns, "app", 10)})
	cluster.ApplyYAML(t, gitRepository(ns, "repo", repo.URL))
	cluster.ApplyYAML(t, kustomization(ns, "apps", "./apps", ""))

	testenv.ConvergeBinary(t) // built before the clock starts
	start := time.Now()
	a := startAgentProcess(t, kubeconfig, "--watch-namespace", ns)
	eventually(t, "applied through 200ms latency", ksReadyAt(t, ns, "apps", rev))
	slow := time.Since(start)
	if got := inventoryIDs(t, ns, "apps"); !slices.Equal(got, wantIDs(ns, "app", 10)) {
		t.Fatalf("inventory of %d entries, want 20", len(got))
	}

	proxy.SetDelay(0)
	proxy.Stall()
	next := "main@sha1:" + repo.Commit("second", map[string]*string{"apps/cms.yaml": faultConfigMaps(ns, "app", 5)})
	requestReconcile(t, gitGVR, ns, "repo")
	time.Sleep(15 * time.Second) // the outage
	if got := inventoryIDs(t, ns, "apps"); !slices.Equal(got, wantIDs(ns, "app", 10)) {
		t.Errorf("inventory of %d entries during the stall, want the previous 20", len(got))
	}
	proxy.Resume()
	resumed := time.Now()
	select {
	case err := <-a.done:
		a.done <- err
		if err == nil || !strings.Contains(a.log(), "leadership lost") {
			t.Errorf("the agent exited with %v; want the leadership-lost failure", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the agent did not exit after a stall longer than its renew deadline")
	}
	startAgentProcess(t, kubeconfig, "--watch-namespace", ns)
	eventually(t, "converged after the stall", ksReadyAt(t, ns, "apps", next))
	recovered := time.Since(resumed)
	if got := inventoryIDs(t, ns, "apps"); !slices.Equal(got, wantIDs(ns, "app", 5)) {
		t.Errorf("inventory of %d entries after the stall, want 5", len(got))
	}
	if live := liveFaultConfigMaps(t, ns); len(live) != 5 {
		t.Errorf("%d ConfigMaps live, want 5", len(live))
	}
	var failures []string
	for _, l := range strings.Split(a.log(), "\n") {
		if strings.Contains(l, `"level":"ERROR"`) && strings.Contains(l, ns) {
			failures = append(failures, l)
		}
	}
	t.Logf("started and applied 10 objects through 200ms latency in %s; after a 15s stall the agent exited (leadership lost) and, restarted, converged %s after the stall ended; %d errors logged",
		slow.Round(time.Millisecond), recovered.Round(time.Millisecond), len(failures))
	for _, l := range failures {
		t.Logf("  %.400s", l)
	}
}
