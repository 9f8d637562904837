package reconcile

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/crds/meta"
	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/health"
)

// requestCounter counts the API requests a client makes, by "VERB resource".
type requestCounter struct {
	mu     sync.Mutex
	counts map[string]int
	next   http.RoundTripper
}

func (c *requestCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	key := req.Method + " " + parts[len(parts)-1]
	if len(parts) > 1 && parts[len(parts)-1] == "status" {
		key = req.Method + " " + parts[len(parts)-3] + "/status"
	}
	c.mu.Lock()
	c.counts[key]++
	c.mu.Unlock()
	return c.next.RoundTrip(req)
}

func (c *requestCounter) reset() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.counts
	c.counts = map[string]int{}
	return out
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func describe(m map[string]int) string {
	var keys []string
	for k, v := range m {
		keys = append(keys, k+"="+strings.Repeat("I", v))
	}
	sort.Strings(keys)
	return strings.Join(keys, " ")
}

// countingReconciler is newReconciler whose requests are counted.
func countingReconciler(t *testing.T) (*Kustomizations, *requestCounter) {
	t.Helper()
	counter := &requestCounter{counts: map[string]int{}}
	cfg := rest.CopyConfig(cluster.Config)
	cfg.QPS, cfg.Burst = -1, -1
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { counter.next = rt; return counter }
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cluster.Client.Discovery()))
	return &Kustomizations{Clock: clock.RealClock{}, Client: dyn, Apply: &apply.Manager{Client: dyn, Mapper: mapper},
		Health: &health.Checker{Client: dyn, Mapper: mapper, Interval: 100 * time.Millisecond}}, counter
}

// An unchanged periodic reconciliation makes no more status writes than before the Reconciling condition:
// one (the final status). A new revision adds one write, at the start.
func TestReconcileRequestCounts(t *testing.T) {
	ctx := context.Background()
	r, counter := countingReconciler(t)
	createKustomization(t, r, "counted", "")
	rev1 := "main@sha1:" + strings.Repeat("a", 40)
	rev2 := "main@sha1:" + strings.Repeat("b", 40)
	counter.reset()
	if res := r.Reconcile(ctx, ksRef("flux-system", "counted"), rev1, objs(t, cm("counted-1", "1")), nil); res.Err != nil {
		t.Fatal(res.Err)
	}
	first := counter.reset()
	if res := r.Reconcile(ctx, ksRef("flux-system", "counted"), rev1, objs(t, cm("counted-1", "1")), nil); res.Err != nil {
		t.Fatal(res.Err)
	}
	unchanged := counter.reset()
	if res := r.Reconcile(ctx, ksRef("flux-system", "counted"), rev2, objs(t, cm("counted-1", "2")), nil); res.Err != nil {
		t.Fatal(res.Err)
	}
	newRevision := counter.reset()
	t.Logf("first reconcile: %d requests: %s", total(first), describe(first))
	t.Logf("unchanged reconcile: %d requests: %s", total(unchanged), describe(unchanged))
	t.Logf("new revision: %d requests: %s", total(newRevision), describe(newRevision))
	// Before the Reconciling condition: 3 requests unchanged (the status was rewritten as it was), 5 for
	// a new revision. Now an unchanged status is not written, and a new revision writes twice.
	if w := unchanged["PUT kustomizations/status"]; w != 0 || total(unchanged) > 2 {
		t.Errorf("unchanged reconcile: %d requests, %d status writes; want at most 2, no write", total(unchanged), w)
	}
	if w := newRevision["PUT kustomizations/status"]; w != 2 || total(newRevision) > 6 {
		t.Errorf("new revision: %d requests, %d status writes; want at most 6, 2 writes", total(newRevision), w)
	}
}

// While a reconciliation of a new revision runs, the Kustomization is Reconciling (Progressing) and Ready
// is Unknown; the final status removes Reconciling. A failure leaves Reconciling with ProgressingWithRetry.
func TestReconcilingCondition(t *testing.T) {
	ctx := context.Background()
	r := newReconciler(t)
	gate := objs(t, cm("reconciling-gate", "closed"))[0]
	cms := cluster.Client.CoreV1().ConfigMaps("default")
	if _, err := r.Client.Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace("default").Create(ctx, gate, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createKustomization(t, r, "slow", `  timeout: 20s
  healthChecks:
    - {apiVersion: v1, kind: ConfigMap, name: reconciling-gate, namespace: default}
  healthCheckExprs:
    - {apiVersion: v1, kind: ConfigMap, current: "data.k == 'open'", failed: "data.k == 'broken'"}
`)
	conditions := func() (ready, reconciling *metav1.Condition) {
		ks, err := r.Get(ctx, "flux-system", "slow")
		if err != nil || ks == nil {
			t.Fatalf("get: %v", err)
		}
		return apimeta.FindStatusCondition(ks.Status.Conditions, meta.ReadyCondition), apimeta.FindStatusCondition(ks.Status.Conditions, meta.ReconcilingCondition)
	}
	rev := "main@sha1:" + strings.Repeat("c", 40)
	done := make(chan *KustomizationResult, 1)
	go func() { done <- r.Reconcile(ctx, ksRef("flux-system", "slow"), rev, objs(t, cm("slow-1", "1")), nil) }()

	deadline := time.Now().Add(10 * time.Second)
	for {
		ready, reconciling := conditions()
		if reconciling != nil {
			if reconciling.Status != metav1.ConditionTrue || reconciling.Reason != meta.ProgressingReason || !strings.Contains(reconciling.Message, rev) {
				t.Fatalf("Reconciling during the health check: %+v", reconciling)
			}
			if ready == nil || ready.Status != metav1.ConditionUnknown || ready.Reason != meta.ProgressingReason {
				t.Fatalf("Ready during the health check: %+v", ready)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never saw Reconciling=True")
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case res := <-done:
		t.Fatalf("reconciliation finished before its health check passed: %v", res.Err)
	default:
	}
	if _, err := cms.Patch(ctx, "reconciling-gate", types.MergePatchType, []byte(`{"data":{"k":"open"}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if res := <-done; res.Err != nil {
		t.Fatal(res.Err)
	}
	ready, reconciling := conditions()
	if reconciling != nil || ready == nil || ready.Status != metav1.ConditionTrue {
		t.Fatalf("after the reconciliation: Ready %+v, Reconciling %+v", ready, reconciling)
	}

	// A new revision that fails its health check: Ready=False, Reconciling kept with ProgressingWithRetry.
	if _, err := cms.Patch(ctx, "reconciling-gate", types.MergePatchType, []byte(`{"data":{"k":"broken"}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	rev2 := "main@sha1:" + strings.Repeat("d", 40)
	if res := r.Reconcile(ctx, ksRef("flux-system", "slow"), rev2, objs(t, cm("slow-1", "2")), nil); res.Err == nil {
		t.Fatal("health check passed with the gate closed")
	}
	ready, reconciling = conditions()
	if ready.Status != metav1.ConditionFalse || ready.Reason != "HealthCheckFailed" || reconciling == nil ||
		reconciling.Status != metav1.ConditionTrue || reconciling.Reason != meta.ProgressingWithRetryReason || !strings.Contains(reconciling.Message, rev2) {
		t.Fatalf("after a failure: Ready %+v, Reconciling %+v", ready, reconciling)
	}
}
