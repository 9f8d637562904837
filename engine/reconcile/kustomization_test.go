package reconcile

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"k8s.io/utils/clock"
	"sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/health"
	"github.com/converge-gitops/converge/engine/testenv"
)

var cluster *testenv.Cluster

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &cluster)) }

func newReconciler(t *testing.T) *Kustomizations {
	t.Helper()
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cluster.Client.Discovery()))
	return &Kustomizations{Clock: clock.RealClock{}, Client: dyn, Apply: &apply.Manager{Client: dyn, Mapper: mapper},
		Health: &health.Checker{Client: dyn, Mapper: mapper, Interval: 100 * time.Millisecond}}
}

func objs(t *testing.T, docs ...string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, d := range docs {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(d), &u.Object); err != nil {
			t.Fatal(err)
		}
		out = append(out, u)
	}
	return out
}

func createKustomization(t *testing.T, r *Kustomizations, name, extra string) {
	t.Helper()
	ensureNS(t, "flux-system")
	k := objs(t, `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: `+name+`
  namespace: flux-system
spec:
  interval: 10m
  timeout: 3s
  prune: true
  path: ./apps
  sourceRef:
    kind: GitRepository
    name: flux-system
`+extra)[0]
	if _, err := r.Client.Resource(KustomizationsResource).Namespace("flux-system").Create(context.Background(), k, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func ensureNS(t *testing.T, name string) {
	ns := objs(t, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+name+"\n")[0]
	dyn, _ := dynamic.NewForConfig(cluster.Config)
	_, err := dyn.Resource(nsResource).Create(context.Background(), ns, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

var nsResource = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}

func cm(name, value string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n  namespace: default\ndata:\n  k: \"" + value + "\"\n"
}

func readyCondition(t *testing.T, r *Kustomizations, name string) (*metav1.Condition, *KustomizationResultStatus) {
	t.Helper()
	ks, err := r.Get(context.Background(), "flux-system", name)
	if err != nil || ks == nil {
		t.Fatalf("get: %v", err)
	}
	return apimeta.FindStatusCondition(ks.Status.Conditions, "Ready"), &KustomizationResultStatus{
		Applied: ks.Status.LastAppliedRevision, Attempted: ks.Status.LastAttemptedRevision, Entries: entries(ks), Gen: ks.Status.ObservedGeneration}
}

type KustomizationResultStatus struct {
	Applied, Attempted string
	Entries            int
	Gen                int64
}

func TestReconcileWritesStatusAndPrunes(t *testing.T) {
	ctx := context.Background()
	r := newReconciler(t)
	createKustomization(t, r, "apps", "")
	res := r.Reconcile(ctx, ksRef("flux-system", "apps"), "main@sha1:1111111111111111111111111111111111111111", objs(t, cm("one", "1"), cm("two", "2")), nil)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	cond, st := readyCondition(t, r, "apps")
	if cond == nil || cond.Status != metav1.ConditionTrue || cond.Reason != "ReconciliationSucceeded" ||
		cond.Message != "Applied revision: main@sha1:1111111111111111111111111111111111111111" {
		t.Fatalf("Ready condition %+v", cond)
	}
	if st.Applied != st.Attempted || st.Entries != 2 || st.Gen != 1 {
		t.Fatalf("status %+v", st)
	}

	res = r.Reconcile(ctx, ksRef("flux-system", "apps"), "main@sha1:2222222222222222222222222222222222222222", objs(t, cm("one", "1")), nil)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if res.ChangeSet.Count(apply.Deleted) != 1 || res.ChangeSet.Count(apply.Unchanged) != 1 {
		t.Fatalf("change set %+v", res.ChangeSet)
	}
	if _, err := cluster.Client.CoreV1().ConfigMaps("default").Get(ctx, "two", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("two not pruned: %v", err)
	}
	_, st = readyCondition(t, r, "apps")
	if st.Entries != 1 || !strings.HasPrefix(st.Applied, "main@sha1:2222") {
		t.Errorf("status after prune %+v", st)
	}
}

func TestReconcileFailures(t *testing.T) {
	ctx := context.Background()
	r := newReconciler(t)

	createKustomization(t, r, "broken", "")
	res := r.Reconcile(ctx, ksRef("flux-system", "broken"), "main@sha1:3333333333333333333333333333333333333333", nil, errors.New(`apps/app.yaml:12: variable "region" is not set`))
	cond, st := readyCondition(t, r, "broken")
	if res.Err == nil || cond.Status != metav1.ConditionFalse || cond.Reason != "BuildFailed" || !strings.Contains(cond.Message, "region") ||
		st.Attempted == "" || st.Applied != "" {
		t.Fatalf("build failure status: %+v %+v %v", cond, st, res.Err)
	}

	createKustomization(t, r, "unhealthy", "  healthChecks:\n    - apiVersion: apps/v1\n      kind: Deployment\n      name: never\n      namespace: default\n")
	res = r.Reconcile(ctx, ksRef("flux-system", "unhealthy"), "main@sha1:4444444444444444444444444444444444444444", objs(t, cm("three", "3")), nil)
	cond, _ = readyCondition(t, r, "unhealthy")
	if res.Err == nil || cond.Reason != "HealthCheckFailed" || !strings.Contains(cond.Message, "Deployment/default/never") {
		t.Fatalf("health failure: %+v %v", cond, res.Err)
	}

	createKustomization(t, r, "paused", "  suspend: true\n")
	res = r.Reconcile(ctx, ksRef("flux-system", "paused"), "main@sha1:5555555555555555555555555555555555555555", objs(t, cm("four", "4")), nil)
	if !res.Suspended || res.Err != nil {
		t.Fatalf("suspended: %+v", res)
	}
	if _, err := cluster.Client.CoreV1().ConfigMaps("default").Get(ctx, "four", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a suspended Kustomization applied objects")
	}

	res = r.Reconcile(ctx, ksRef("flux-system", "missing"), "x", nil, nil)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "does not exist in the cluster") {
		t.Fatalf("missing: %v", res.Err)
	}
}
