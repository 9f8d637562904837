package agent

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/engine/events"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// methodCounter counts API requests by method.
type methodCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *methodCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		c.mu.Lock()
		c.n[r.Method]++
		c.mu.Unlock()
		return rt.RoundTrip(r)
	})
}

func (c *methodCounter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

func reconcileCount(t *testing.T, m *Metrics, kind string) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, f := range families {
		if f.GetName() != "converge_reconciles_total" {
			continue
		}
		for _, metric := range f.GetMetric() {
			if labelValue(metric, "kind") == kind {
				total += metric.GetCounter().GetValue()
			}
		}
	}
	return total
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// The API requests of unchanged periodic Kustomization reconciliations (no new revision, no spec change),
// with the agent limited to the test namespace (other tests leave objects behind):
// no status write among them.
func TestAgentUnchangedReconcileRequests(t *testing.T) {
	ns := "idle-requests"
	namespace(t, ns)
	srv := sourcetest.StartGitServer(t)
	repo := srv.NewRepo(t, "idle")
	rev := "main@sha1:" + repo.Commit("first", map[string]*string{"app/cm.yaml": configMap("idle", ns, "one")})
	counter := &methodCounter{n: map[string]int{}}
	cfg := rest.CopyConfig(cluster.Config)
	cfg.WrapTransport = counter.wrap
	clients, err := kube.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	store, err := source.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics()
	a, err := New(Options{Clients: clients, Store: store, Metrics: m, Events: &events.Kubernetes{Clock: clock.RealClock{}, Client: clients.Core, Host: "test"}, Namespace: ns,
		DependencyRequeue: time.Second, ShutdownGrace: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
	cluster.ApplyYAML(t, gitRepository(ns, "repo", repo.URL))
	cluster.ApplyYAML(t, kustomization(ns, "idle", "./app", ""))
	eventually(t, "idle ready", ksReadyAt(t, ns, "idle", rev))
	// A short interval now: every reconciliation from here on is an unchanged periodic one.
	cluster.ApplyYAML(t, `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: idle, namespace: `+ns+`}
spec:
  interval: 500ms
  path: ./app
  prune: true
  sourceRef: {kind: GitRepository, name: repo}
`)
	time.Sleep(1500 * time.Millisecond) // the spec change's own reconciliation is done
	before, reconciles := counter.snapshot(), reconcileCount(t, m, "Kustomization")
	time.Sleep(5 * time.Second)
	after, n := counter.snapshot(), reconcileCount(t, m, "Kustomization")-reconciles
	if n < 4 {
		t.Fatalf("only %v reconciliations in 5s at a 500ms interval", n)
	}
	per := map[string]float64{}
	for method, v := range after {
		if d := v - before[method]; d > 0 {
			per[method] = float64(d) / n
		}
	}
	t.Logf("%v unchanged reconciliations; API requests per reconciliation by method: %v", n, per)
	if per["PUT"] != 0 || per["PATCH"] != 0 {
		t.Errorf("unchanged reconciliations write: %v", per)
	}
}
