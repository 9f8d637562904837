package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// syncBuffer is a log destination the process writes to while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the log lines that contain s.
func (b *syncBuffer) lines(s string) []string {
	var out []string
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// inProcess is an agent Process run by the test.
type inProcess struct {
	p    *Process
	logs *syncBuffer
	stop context.CancelFunc
	done chan error
}

// startProcess runs a Process with opts (addresses on loopback, a temporary store, a JSON log) until the
// test stops it or ends.
func startProcess(t *testing.T, opts ProcessOptions) *inProcess {
	t.Helper()
	logs := &syncBuffer{}
	opts.Config = cluster.Config
	opts.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	opts.StoragePath = t.TempDir()
	opts.HTTPAddr = "127.0.0.1:0"
	if opts.Agent.DependencyRequeue == 0 {
		opts.Agent.DependencyRequeue = time.Second
	}
	opts.Agent.ShutdownGrace = 5 * time.Second
	p, err := NewProcess(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ip := &inProcess{p: p, logs: logs, stop: cancel, done: make(chan error, 1)}
	go func() { ip.done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-ip.done
		if t.Failed() {
			t.Logf("agent logs:\n%s", logs.String())
		}
	})
	return ip
}

func (ip *inProcess) get(path string) (int, string) {
	resp, err := http.Get("http://" + ip.p.HTTPAddr() + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// stopped cancels the process's context and returns what Run returned.
func (ip *inProcess) stopped(t *testing.T) error {
	t.Helper()
	ip.stop()
	select {
	case err := <-ip.done:
		ip.done <- err
		return err
	case <-time.After(time.Minute):
		t.Fatal("the process did not stop within a minute of its context's end")
		return nil
	}
}

func leaseHolderOf(t *testing.T, ns, name string) string {
	l, err := cluster.Client.CoordinationV1().Leases(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// notJSON returns the log lines that are not JSON objects.
func notJSON(logs string) []string {
	var bad []string
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) != nil {
			bad = append(bad, l)
		}
	}
	return bad
}

// processGoroutines returns the stacks of goroutines that belong to an agent process: its servers (started
// by (*Process).Run), its leader election, its event pipeline, its reconciler. Other servers of the test
// (the Git server) are not counted.
func processGoroutines() []string {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		// Frames of the process's own goroutines, and goroutines its code started (the servers' Serve).
		for _, marker := range []string{"engine/agent.(*Process)", "engine/agent.(*Agent)", "engine/events.(*Async).Run",
			"leaderelection.(*LeaderElector)", "engine/notify.(*Notifier)"} {
			if strings.Contains(g, marker) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// TestProcessInProcess starts the agent process in the test: it takes the Lease, serves its probes,
// metrics and webhook receivers, reconciles a Kustomization and records its event, logs JSON only
// (client-go's leader election included), and on cancellation stops every server and goroutine and
// releases the Lease.
func TestProcessInProcess(t *testing.T) {
	const ns, lease = "inprocess", "converge-inprocess"
	namespace(t, ns)
	srv := sourcetest.StartGitServer(t)
	repo := srv.NewRepo(t, "inprocess")
	rev := "main@sha1:" + repo.Commit("first", map[string]*string{"apps/cm.yaml": configMap("one", ns, "v1")})
	cluster.ApplyYAML(t, gitRepository(ns, "repo", repo.URL))
	cluster.ApplyYAML(t, kustomization(ns, "apps", "./apps", ""))

	ip := startProcess(t, ProcessOptions{
		ReceiverAddr: "127.0.0.1:0", Host: "inprocess-test",
		Agent: Options{Namespace: ns},
		LeaderElection: &LeaderElection{Namespace: ns, Name: lease, Identity: "inprocess-test",
			LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: 500 * time.Millisecond},
	})
	hooks := ip.p.ReceiverAddr()
	if hooks == "" {
		t.Fatal("no receiver address")
	}
	if code, body := ip.get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz answered %d %s", code, body)
	}
	eventually(t, "the process takes the Lease", func() (bool, string) {
		h := leaseHolderOf(t, ns, lease)
		return h == "inprocess-test", h
	})
	eventually(t, "ready", func() (bool, string) { code, body := ip.get("/readyz"); return code == http.StatusOK, body })
	eventually(t, "applied", ksReadyAt(t, ns, "apps", rev))
	eventually(t, "the reconciliation counted", func() (bool, string) {
		code, body := ip.get("/metrics")
		return code == http.StatusOK && strings.Contains(body, `converge_reconciles_total{kind="Kustomization",result="success"}`), fmt.Sprint(code)
	})
	eventually(t, "the Kustomization's event recorded", func() (bool, string) {
		evs, err := cluster.Client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range evs.Items {
			if e.InvolvedObject.Kind == "Kustomization" && e.InvolvedObject.Name == "apps" && e.Reason == "ReconciliationSucceeded" &&
				e.Source.Host == "inprocess-test" {
				return true, ""
			}
			seen = append(seen, e.InvolvedObject.Kind+"/"+e.InvolvedObject.Name+" "+e.Reason)
		}
		return false, strings.Join(seen, ", ")
	})
	resp, err := http.Post("http://"+hooks+"/hook/"+strings.Repeat("0", 64), "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatalf("the receiver is not served: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown webhook path answered %d, want 404", resp.StatusCode)
	}

	if err := ip.stopped(t); err != nil {
		t.Fatalf("Run returned %v after cancellation", err)
	}
	if h := leaseHolderOf(t, ns, lease); h != "" {
		t.Errorf("Lease still held by %q after the process stopped", h)
	}
	for _, addr := range []string{ip.p.HTTPAddr(), hooks} {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after the process stopped", addr)
		}
	}
	if left := processGoroutines(); len(left) > 0 {
		t.Errorf("%d goroutines of the process still run after it stopped:\n%s", len(left), strings.Join(left, "\n\n"))
	}
	logs := ip.logs.String()
	if bad := notJSON(logs); len(bad) > 0 {
		t.Errorf("log lines that are not JSON:\n%s", strings.Join(bad, "\n"))
	}
	// client-go's leader election logs through the process's handler.
	if len(ip.logs.lines(`"msg":"Attempting to acquire leader lease`)) == 0 {
		t.Errorf("no JSON line from client-go's leader election:\n%s", logs)
	}
}

// TestProcessLeaseNamespaceMissing: a process whose Lease namespace does not exist says so once, naming
// the namespace, keeps checking (as Flux's controllers keep retrying their Lease), and takes the Lease
// once the namespace is created.
func TestProcessLeaseNamespaceMissing(t *testing.T) {
	const watched, lease = "inprocess-nolease", "converge-later"
	// A namespace of its own per run (namespaces are not deleted here: no namespace controller runs).
	leaseNS := "inprocess-lease-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	namespace(t, watched)
	ip := startProcess(t, ProcessOptions{
		Host: "later-test", Agent: Options{Namespace: watched},
		LeaderElection: &LeaderElection{Namespace: leaseNS, Name: lease, Identity: "later-test",
			LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: 100 * time.Millisecond},
	})
	said := `leader election: namespace \"` + leaseNS + `\" does not exist`
	eventually(t, "the missing namespace reported", func() (bool, string) {
		return len(ip.logs.lines(said)) > 0, ip.logs.String()
	})
	// Let it check a few more times before the namespace appears.
	posts := func() float64 {
		var n float64
		_, body := ip.get("/metrics")
		for _, l := range strings.Split(body, "\n") {
			if strings.HasPrefix(l, `converge_api_requests_total{method="POST"} `) {
				_, _ = fmt.Sscan(strings.TrimPrefix(l, `converge_api_requests_total{method="POST"} `), &n)
			}
		}
		return n
	}
	base := posts()
	eventually(t, "more checks of the namespace", func() (bool, string) { n := posts(); return n >= base+3, fmt.Sprint(n) })
	namespace(t, leaseNS)
	eventually(t, "the Lease taken once the namespace exists", func() (bool, string) {
		h := leaseHolderOf(t, leaseNS, lease)
		return h == "later-test", h
	})
	if got := ip.logs.lines(said); len(got) != 1 {
		t.Errorf("the missing namespace was reported %d times, want once:\n%s", len(got), strings.Join(got, "\n"))
	} else if !strings.Contains(got[0], `"level":"ERROR"`) {
		t.Errorf("the missing namespace is not reported as an error: %s", got[0])
	}
	if len(ip.logs.lines(`"msg":"leader election namespace exists now"`)) != 1 {
		t.Errorf("the namespace's appearance is not logged:\n%s", ip.logs.String())
	}
	if err := ip.stopped(t); err != nil {
		t.Fatalf("Run returned %v after cancellation", err)
	}
	if bad := notJSON(ip.logs.String()); len(bad) > 0 {
		t.Errorf("log lines that are not JSON:\n%s", strings.Join(bad, "\n"))
	}
}
