package bootstrap

import (
	"bufio"
	"context"
	"flag"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/agent"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
	"github.com/converge-gitops/converge/engine/testenv"
)

var (
	cluster *testenv.Cluster
	// gitea is the real Gitea server the Gitea provider tests share, started by the first of them.
	gitea sourcetest.SharedGitea
)

// TestMain starts one control plane, except when fuzzing: FuzzCleanPath needs none, and every fuzz worker
// process would otherwise start its own.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		os.Exit(m.Run())
	}
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		os.Exit(m.Run())
	}
	code := testenv.Main(m, &cluster)
	gitea.Stop()
	os.Exit(code)
}

func clients(t testing.TB) *kube.Clients {
	t.Helper()
	c, err := kube.New(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// bareRepo creates an empty bare repository name.git under root and returns its path.
func bareRepo(t testing.TB, root, name string) string {
	t.Helper()
	p := filepath.Join(root, name+".git")
	sourcetest.RunGit(t, root, "init", "-q", "--bare", p)
	return p
}

// gitLog returns the subjects of branch's commits in the bare repository, newest first.
func gitLog(t testing.TB, bare, branch string) []string {
	t.Helper()
	out := sourcetest.RunGit(t, bare, "log", "--format=%s", branch)
	return strings.Split(out, "\n")
}

func gitShow(t testing.TB, bare, rev string) string {
	t.Helper()
	return sourcetest.RunGit(t, bare, "show", rev)
}

// userEdit clones the bare repository, lets edit change the work tree, commits and pushes as a user would.
func userEdit(t testing.TB, bare, branch, msg string, edit func(dir string)) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "work")
	sourcetest.RunGit(t, t.TempDir(), "clone", "-q", "--branch", branch, bare, dir)
	edit(dir)
	sourcetest.RunGit(t, dir, "add", "-A")
	sourcetest.RunGit(t, dir, "commit", "-q", "-m", msg)
	sourcetest.RunGit(t, dir, "push", "-q", "origin", branch)
	return sourcetest.RunGit(t, dir, "rev-parse", "HEAD")
}

func writeFile(t testing.TB, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startSSHAgent serves keyring on a unix socket with the SSH agent protocol, as ssh-agent does.
func startSSHAgent(t testing.TB, keyring agent.Agent) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "agent-")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait(); os.RemoveAll(dir) })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); defer c.Close(); _ = agent.ServeAgent(keyring, c) }()
		}
	}()
	return sock
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("timed out waiting: %s (last: %s)", what, last)
}

func getObj(t testing.TB, gvr schema.GroupVersionResource, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u, err := clients(t).Dynamic.Resource(gvr).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// agentProcess is `converge agent` running as a child process with the agent ServiceAccount's token, as
// the Deployment's pod would run it (no kubelet runs pods on the test control plane).
type agentProcess struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs strings.Builder
	done chan error
}

func startAgent(t *testing.T, ns string) *agentProcess {
	t.Helper()
	ctx := context.Background()
	// The ServiceAccount and its cluster-admin binding come from the bootstrapped components: the token is
	// minted for the ServiceAccount the bootstrap created, and the RBAC it applied is what authorizes it.
	cfg, err := cluster.ServiceAccountConfig(ctx, ns, "converge-agent")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p := &agentProcess{done: make(chan error, 1)}
	p.cmd = exec.Command(testenv.ConvergeBinary(t), "agent", "--kubeconfig", testenv.WriteTokenKubeconfig(t, cfg), "--http-addr", addr,
		"--storage-path", t.TempDir(), "--requeue-dependency", "1s", "--watch-namespace", ns,
		"--leader-election-namespace", ns, "--log-format", "text")
	p.cmd.Env = append(os.Environ(), "POD_NAMESPACE="+ns)
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
			p.mu.Lock()
			t.Logf("agent logs:\n%s", p.logs.String())
			p.mu.Unlock()
		}
	})
	return p
}

// fakeKubelet plays the kubelet for the agent Deployment's pods in ns: it registers a node, keeps its
// Lease renewed, binds every pending pod to it and reports the pod Running and Ready. The pods' process
// is the agent started with startAgent; this only makes the Deployment's status reflect it.
func fakeKubelet(t *testing.T, ns string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	c := cluster.Client
	node := "fake-node-" + ns
	_, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	setNodeReady := func() {
		n, err := c.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return
		}
		now := metav1.Now()
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			LastHeartbeatTime: now, LastTransitionTime: now}}
		_, _ = c.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
	}
	renewLease := func() {
		leases := c.CoordinationV1().Leases("kube-node-lease")
		now := metav1.NewMicroTime(time.Now())
		holder, dur := node, int32(40)
		l, err := leases.Get(ctx, node, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, _ = leases.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: node},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &dur, RenewTime: &now}}, metav1.CreateOptions{})
			return
		}
		if err == nil {
			l.Spec.RenewTime = &now
			_, _ = leases.Update(ctx, l, metav1.UpdateOptions{})
		}
	}
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for i := 0; ; i++ {
			if i%5 == 0 {
				setNodeReady()
				renewLease()
			}
			pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=converge-agent"})
			if err == nil {
				for _, p := range pods.Items {
					if p.DeletionTimestamp != nil {
						_ = c.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
						continue
					}
					if p.Spec.NodeName == "" {
						_ = c.CoreV1().Pods(ns).Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: p.Name},
							Target: corev1.ObjectReference{Kind: "Node", Name: node}}, metav1.CreateOptions{})
						continue
					}
					if p.Status.Phase == corev1.PodRunning {
						continue
					}
					t := metav1.Now()
					p.Status.Phase = corev1.PodRunning
					p.Status.StartTime = &t
					p.Status.Conditions = []corev1.PodCondition{
						{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: t},
						{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: t},
						{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: t},
						{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: t},
					}
					var cs []corev1.ContainerStatus
					for _, ctr := range p.Spec.Containers {
						cs = append(cs, corev1.ContainerStatus{Name: ctr.Name, Image: ctr.Image, ImageID: "fake://" + ctr.Image, Ready: true,
							Started: ptrTo(true), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: t}}})
					}
					p.Status.ContainerStatuses = cs
					_, _ = c.CoreV1().Pods(ns).UpdateStatus(ctx, &p, metav1.UpdateOptions{})
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

func ptrTo[T any](v T) *T { return &v }
