package agent

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/converge-gitops/converge/engine/source/sourcetest"
	"github.com/converge-gitops/converge/engine/testenv"
)

// agentKubeconfig writes a kubeconfig authenticated as the ServiceAccount flux-system/converge-agent,
// bound to cluster-admin as converge install binds it.
func agentKubeconfig(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	cfg, err := cluster.ServiceAccountConfig(ctx, "flux-system", "converge-agent")
	if err != nil {
		t.Fatal(err)
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "converge-agent-test"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "converge-agent", Namespace: "flux-system"}},
	}
	if _, err := cluster.Client.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	return testenv.WriteTokenKubeconfig(t, cfg)
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// agentProcess is `converge agent` running as a child process.
type agentProcess struct {
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	logs strings.Builder
	done chan error
}

func startAgentProcess(t testing.TB, kubeconfig string, args ...string) *agentProcess {
	t.Helper()
	p := &agentProcess{addr: freeAddr(t), done: make(chan error, 1)}
	args = append([]string{"agent", "--kubeconfig", kubeconfig, "--http-addr", p.addr,
		"--storage-path", t.TempDir(), "--requeue-dependency", "1s"}, args...)
	p.cmd = exec.Command(testenv.ConvergeBinary(t), args...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.logs.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
		p.done <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("agent %d logs:\n%s", p.cmd.Process.Pid, p.log())
		}
	})
	return p
}

func (p *agentProcess) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

func (p *agentProcess) get(path string) (int, string) {
	resp, err := http.Get("http://" + p.addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func leaseHolder(t *testing.T) string {
	l, err := cluster.Client.CoordinationV1().Leases("flux-system").Get(context.Background(), "converge-agent", metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// TestAgentProcess runs two agent replicas as processes with the agent's ServiceAccount token: one leads
// and reconciles, the other stands by; killing the leader hands the Lease and the work to the other.
func TestAgentProcess(t *testing.T) {
	ns := "process"
	namespace(t, ns)
	kubeconfig := agentKubeconfig(t)
	srv := sourcetest.StartGitServer(t)
	repo := srv.NewRepo(t, "process")
	rev := "main@sha1:" + repo.Commit("first", map[string]*string{
		"apps/cm.yaml":   configMap("one", ns, "v1"),
		"denied/cm.yaml": configMap("denied", ns, "v1"),
	})
	cluster.ApplyYAML(t, gitRepository(ns, "repo", repo.URL))
	cluster.ApplyYAML(t, kustomization(ns, "apps", "./apps", ""))
	// A Kustomization acting as a ServiceAccount without RBAC: refused, reported as a condition.
	cluster.ApplyYAML(t, kustomization(ns, "denied", "./denied", "  serviceAccountName: nobody\n"))

	lease := []string{"--leader-election-namespace", "flux-system", "--leader-election-lease-duration", "4s",
		"--leader-election-renew-deadline", "3s", "--leader-election-retry-period", "500ms"}
	a := startAgentProcess(t, kubeconfig, lease...)
	eventually(t, "the first replica leads", func() (bool, string) {
		h := leaseHolder(t)
		return strings.HasSuffix(h, fmt.Sprintf("_%d", a.cmd.Process.Pid)), h
	})
	b := startAgentProcess(t, kubeconfig, lease...)
	eventually(t, "applied by the leader", ksReadyAt(t, ns, "apps", rev))
	eventually(t, "RBAC denial reported", func() (bool, string) {
		st, reason, msg := condition(get(t, ksGVR, ns, "denied"), "Ready")
		return st == "False" && strings.Contains(msg, "forbidden"), st + " " + reason + " " + msg
	})
	for _, p := range []*agentProcess{a, b} {
		eventually(t, "ready probes", func() (bool, string) { code, body := p.get("/readyz"); return code == 200, body })
	}
	if code, body := a.get("/metrics"); code != 200 || !strings.Contains(body, `converge_reconciles_total{kind="Kustomization",result="success"}`) {
		t.Errorf("leader metrics (%d) lack reconciles:\n%.2000s", code, body)
	}
	if _, body := b.get("/metrics"); strings.Contains(body, `converge_reconciles_total{kind="Kustomization"`) {
		t.Error("the standby replica reconciled")
	}

	// The leader dies without releasing the Lease; the standby takes over and reconciles.
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the standby takes the Lease", func() (bool, string) {
		h := leaseHolder(t)
		return strings.HasSuffix(h, fmt.Sprintf("_%d", b.cmd.Process.Pid)), h
	})
	next := "main@sha1:" + repo.Commit("second", map[string]*string{"apps/cm.yaml": configMap("one", ns, "v2")})
	requestReconcile(t, gitGVR, ns, "repo")
	eventually(t, "applied by the new leader", ksReadyAt(t, ns, "apps", next))
	if v := cmValue(t, ns, "one"); v != "v2" {
		t.Errorf("ConfigMap = %q", v)
	}

	// SIGTERM: a graceful stop that releases the Lease.
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-b.done:
		b.done <- err
		if err != nil {
			t.Errorf("agent exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("agent did not stop within 30s of SIGTERM")
	}
	if h := leaseHolder(t); h != "" {
		t.Errorf("Lease still held by %q after a graceful stop", h)
	}
	if !strings.Contains(b.log(), `"msg":"reconciled"`) {
		t.Errorf("no JSON reconcile log lines:\n%.2000s", b.log())
	}
	// client-go's lines (leader election, informers) included: klog goes through the same handler.
	if bad := notJSON(b.log()); len(bad) > 0 {
		t.Errorf("log lines that are not JSON:\n%s", strings.Join(bad, "\n"))
	}
}

// TestAgentTakesOverFromApply: `converge apply` from a clone of the repository, then the agent: nothing is
// recreated or pruned, the inventory continues, and the agent then follows a new commit.
func TestAgentTakesOverFromApply(t *testing.T) {
	ns := "handover"
	srv := sourcetest.StartGitServer(t)
	repo := srv.NewRepo(t, "fleet")
	sync := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: fleet, namespace: %[1]s}
spec:
  interval: 1h
  url: %[2]s
  ref: {branch: main}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: cluster, namespace: %[1]s}
spec:
  interval: 1h
  path: ./clusters/test
  prune: true
  sourceRef: {kind: GitRepository, name: fleet}
`, ns, repo.URL)
	apps := fmt.Sprintf(`apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: %s}
spec:
  interval: 1h
  path: ./apps
  prune: true
  sourceRef: {kind: GitRepository, name: fleet}
`, ns)
	head := repo.Commit("fleet", map[string]*string{
		"clusters/test/sync.yaml": &sync,
		"clusters/test/apps.yaml": &apps,
		"apps/a.yaml":             configMap("a", ns, "one"),
		"apps/b.yaml":             configMap("b", ns, "one"),
	})
	clone := filepath.Join(t.TempDir(), "clone")
	sourcetest.RunGit(t, "/", "clone", "-q", repo.URL, clone)
	admin := filepath.Join(t.TempDir(), "admin.kubeconfig")
	if err := cluster.WriteKubeconfig(admin); err != nil {
		t.Fatal(err)
	}
	apply := exec.Command(testenv.ConvergeBinary(t), "apply", "clusters/test", "--kubeconfig", admin, "--cache-dir", t.TempDir())
	apply.Dir = clone
	if out, err := apply.CombinedOutput(); err != nil {
		t.Fatalf("converge apply: %v\n%s", err, out)
	}
	rev := "main@sha1:" + head
	for _, name := range []string{"cluster", "apps"} {
		if ok, state := ksReadyAt(t, ns, name, rev)(); !ok {
			t.Fatalf("after converge apply, Kustomization %s: %s", name, state)
		}
	}
	if st, _, msg := condition(get(t, gitGVR, ns, "fleet"), "Ready"); st != "True" || !strings.Contains(msg, rev) {
		t.Errorf("after converge apply, GitRepository Ready = %s %q, want True at the work tree's revision", st, msg)
	}
	before := map[string]string{}
	for _, name := range []string{"a", "b"} {
		u := get(t, cmGVR, ns, name)
		before[name] = string(u.GetUID()) + "/" + u.GetResourceVersion()
	}
	inventoryBefore, _, _ := unstructured.NestedSlice(get(t, ksGVR, ns, "apps").Object, "status", "inventory", "entries")

	p := startAgentProcess(t, agentKubeconfig(t), "--leader-elect=false", "--watch-namespace", ns)
	eventually(t, "the agent reconciled apps", func() (bool, string) {
		code, body := p.get("/metrics")
		return code == 200 && strings.Contains(body, `converge_reconcile_condition{kind="Kustomization",name="apps",namespace="handover",status="True",type="Ready"} 1`), "not yet"
	})
	for _, name := range []string{"a", "b"} {
		u := get(t, cmGVR, ns, name)
		if now := string(u.GetUID()) + "/" + u.GetResourceVersion(); now != before[name] {
			t.Errorf("ConfigMap %s was rewritten or recreated by the agent: %s -> %s", name, before[name], now)
		}
	}
	inventoryAfter, _, _ := unstructured.NestedSlice(get(t, ksGVR, ns, "apps").Object, "status", "inventory", "entries")
	if fmt.Sprint(inventoryAfter) != fmt.Sprint(inventoryBefore) {
		t.Errorf("inventory changed on takeover:\nbefore %v\nafter  %v", inventoryBefore, inventoryAfter)
	}

	next := "main@sha1:" + repo.Commit("drop b, change a", map[string]*string{"apps/a.yaml": configMap("a", ns, "two"), "apps/b.yaml": nil})
	requestReconcile(t, gitGVR, ns, "fleet")
	eventually(t, "the agent applied the new commit", ksReadyAt(t, ns, "apps", next))
	if v := cmValue(t, ns, "a"); v != "two" {
		t.Errorf("ConfigMap a = %q", v)
	}
	if v := cmValue(t, ns, "b"); v != "<missing>" {
		t.Errorf("ConfigMap b = %q, want pruned", v)
	}
}
