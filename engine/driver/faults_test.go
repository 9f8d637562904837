package driver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	engineapply "github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/reconcile"
	"github.com/converge-gitops/converge/engine/source/git"
	"github.com/converge-gitops/converge/engine/workspace"
)

// faultTree is a push-mode tree of Kustomizations fault-<k> (k < kustomizations), each applying the
// ConfigMaps cm-<first>..cm-<first+count-1> of namespace ns with data value.
type faultTree struct {
	ns                    string
	kustomizations, count int
}

func (f faultTree) names() []string {
	var out []string
	for k := range f.kustomizations {
		out = append(out, fmt.Sprintf("fault-%d", k))
	}
	return out
}

// write writes the tree at version first/value into root (replacing the apps folders).
func (f faultTree) write(t *testing.T, root string, first int, value string) {
	t.Helper()
	files := map[string]string{
		"clusters/test/namespaces.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + f.ns + "\n",
	}
	for _, name := range f.names() {
		files["clusters/test/"+name+".yaml"] = kustomization(name)
		var b strings.Builder
		for i := first; i < first+f.count; i++ {
			fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s-cm-%d\n  namespace: %s\n  labels: {fault: %s}\ndata:\n  v: %q\n", name, i, f.ns, f.ns, value)
		}
		files["apps/"+name+"/configmaps.yaml"] = b.String()
	}
	for p, content := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// inventory is the sorted inventory ids of Kustomization name at version first.
func (f faultTree) inventory(name string, first int) []string {
	var ids []string
	for i := first; i < first+f.count; i++ {
		ids = append(ids, engineapply.ObjMeta{Namespace: f.ns, Name: fmt.Sprintf("%s-cm-%d", name, i), Kind: "ConfigMap", Version: "v1"}.ID())
	}
	slices.Sort(ids)
	return ids
}

// run applies the tree in root through cfg, as `converge apply` does.
func (f faultTree) run(ctx context.Context, t *testing.T, cfg *rest.Config, root string, progress func(Event)) ([]*Result, error) {
	t.Helper()
	o := &Options{Workspace: workspace.Options{Path: filepath.Join(root, "clusters/test"), Root: root, CacheDir: t.TempDir()},
		InstallCRDs: true, Concurrent: 2, Clock: clock.RealClock{},
		Revision: func(*git.WorkTree) string { return "main@sha1:0123456789012345678901234567890123456789" },
		Clients:  func() (*kube.Clients, error) { return kube.New(cfg) }}
	drv, err := Prepare(ctx, o, nil)
	if err != nil {
		return nil, err
	}
	return drv.Run(ctx, progress)
}

// inventories reads the inventory ids of every Kustomization of the tree (nil: none yet).
func (f faultTree) inventories(ctx context.Context) (map[string][]string, error) {
	clients, err := kube.New(cluster.Config)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, name := range f.names() {
		u, err := clients.Dynamic.Resource(reconcile.KustomizationsResource).Namespace("flux-system").Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		entries, _, _ := unstructured.NestedSlice(u.Object, "status", "inventory", "entries")
		var ids []string
		for _, e := range entries {
			if m, ok := e.(map[string]any); ok {
				id, _ := m["id"].(string)
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		out[name] = ids
	}
	return out, nil
}

// liveConfigMaps lists the names of the tree's ConfigMaps in the cluster.
func (f faultTree) liveConfigMaps(ctx context.Context, t *testing.T) map[string]bool {
	t.Helper()
	list, err := cluster.Client.CoreV1().ConfigMaps(f.ns).List(ctx, metav1.ListOptions{LabelSelector: "fault=" + f.ns})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, cm := range list.Items {
		out[cm.Name] = true
	}
	return out
}

// TestFaultAPIServerRestart: the API server is killed (SIGKILL) while a push-mode apply of a tree of 6
// Kustomizations and 600 ConfigMaps is pruning and applying, and started again a second later on the
// same address and etcd. The apply fails with errors naming the Kustomization and the cause; at every
// moment each inventory is the previous or the new one in full (never lost, never shortened); no object
// of the new revision is deleted; a re-run converges and prunes exactly what left the tree.
func TestFaultAPIServerRestart(t *testing.T) {
	ctx := context.Background()
	f := faultTree{ns: "fault-restart", kustomizations: 6, count: 100}
	root := t.TempDir()
	const first1, first2 = 0, 25 // v2 drops cm-0..24 of each Kustomization and adds cm-100..124
	f.write(t, root, first1, "v1")
	if results, err := f.run(ctx, t, cluster.Config, root, nil); err != nil {
		t.Fatal(err)
	} else {
		for _, r := range results {
			if r.Err() != nil {
				t.Fatalf("first apply: %v", r.Err())
			}
		}
	}
	f.write(t, root, first2, "v2")

	// A reader checks the inventories all along, through the outage.
	watchCtx, stopWatch := context.WithCancel(ctx)
	var watchWG sync.WaitGroup
	var watchMu sync.Mutex
	var badInventory []string
	reads := 0
	watchWG.Add(1)
	go func() {
		defer watchWG.Done()
		for watchCtx.Err() == nil {
			invs, err := f.inventories(watchCtx)
			if err == nil {
				watchMu.Lock()
				reads++
				for _, name := range f.names() {
					got := invs[name]
					if !slices.Equal(got, f.inventory(name, first1)) && !slices.Equal(got, f.inventory(name, first2)) {
						badInventory = append(badInventory, fmt.Sprintf("%s: %d entries, neither revision's", name, len(got)))
					}
				}
				watchMu.Unlock()
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()

	var once sync.Once
	var killedAt, readyAt time.Time
	var restartErr error
	restarted := make(chan struct{})
	progress := func(e Event) {
		if p, ok := e.(Phase); ok && p.Progress.Phase == engineapply.PhasePruning {
			once.Do(func() {
				go func() {
					defer close(restarted)
					killedAt = time.Now()
					if restartErr = cluster.StopAPIServer(ctx, syscall.SIGKILL); restartErr != nil {
						return
					}
					time.Sleep(time.Second)
					rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
					defer cancel()
					restartErr = cluster.StartAPIServer(rctx)
					readyAt = time.Now()
				}()
			})
		}
	}
	start := time.Now()
	results, err := f.run(ctx, t, cluster.Config, root, progress)
	failedRunTook := time.Since(start)
	select {
	case <-restarted:
	case <-time.After(3 * time.Minute):
		t.Fatal("the API server was not restarted")
	}
	if restartErr != nil {
		t.Fatal(restartErr)
	}
	if killedAt.IsZero() {
		t.Fatal("the apply never pruned: the fault was not injected")
	}
	var failed []string
	if err != nil {
		failed = append(failed, err.Error())
	}
	for _, r := range results {
		if r.Err() == nil {
			continue
		}
		msg := r.Err().Error()
		failed = append(failed, msg)
		if !strings.Contains(msg, r.Node.Name) {
			t.Errorf("error does not name the Kustomization %s: %s", r.Node.Name, msg)
		}
		if !strings.Contains(msg, "connection refused") && !strings.Contains(msg, "EOF") && !strings.Contains(msg, "connection reset") &&
			!strings.Contains(msg, "unavailable") && !strings.Contains(msg, "Unavailable") && !strings.Contains(msg, "connection lost") &&
			!strings.Contains(msg, "broken pipe") && !strings.Contains(msg, "closed network connection") {
			t.Errorf("error does not say the API server was unreachable: %s", msg)
		}
	}
	if len(failed) == 0 && (results == nil || len(results) == 0) {
		t.Fatal("no result")
	}

	// Nothing of the new revision was deleted: the live ConfigMaps hold all kept by v2 that existed in
	// v1 (the apply may not have reached those v2 adds).
	live := f.liveConfigMaps(ctx, t)
	for _, name := range f.names() {
		for i := first2; i < first1+f.count; i++ {
			if cm := fmt.Sprintf("%s-cm-%d", name, i); !live[cm] {
				t.Errorf("ConfigMap %s of both revisions was deleted", cm)
			}
		}
	}

	// The re-run converges.
	start = time.Now()
	results, err = f.run(ctx, t, cluster.Config, root, nil)
	rerunTook := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Err() != nil {
			t.Errorf("re-run: %v", r.Err())
		}
	}
	stopWatch()
	watchWG.Wait()
	for _, b := range badInventory {
		t.Error("inventory seen shortened or lost:", b)
	}
	invs, err := f.inventories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	live = f.liveConfigMaps(ctx, t)
	want := map[string]bool{}
	for _, name := range f.names() {
		if !slices.Equal(invs[name], f.inventory(name, first2)) {
			t.Errorf("%s: inventory of %d entries after the re-run, want the %d of v2", name, len(invs[name]), f.count)
		}
		for i := first2; i < first2+f.count; i++ {
			want[fmt.Sprintf("%s-cm-%d", name, i)] = true
		}
	}
	if !mapsEqual(live, want) {
		t.Errorf("after the re-run %d ConfigMaps live, want exactly the %d of v2", len(live), len(want))
	}
	t.Logf("killed during the prune; API server down %s (kill to ready); failed apply returned after %s with %d errors; "+
		"re-run converged in %s; inventories read %d times, %d wrong", readyAt.Sub(killedAt).Round(time.Millisecond),
		failedRunTook.Round(time.Millisecond), len(failed), rerunTook.Round(time.Millisecond), reads, len(badInventory))
	for _, m := range failed {
		t.Logf("  %.300s", m)
	}
}

// TestFaultAPILatency: a push-mode apply through a proxy adding 200 ms each way to every exchange
// converges; through a proxy that stalls, the apply ends at its timeout with an error naming the
// Kustomization and the deadline, and the inventories stay as they were.
func TestFaultAPILatency(t *testing.T) {
	ctx := context.Background()
	f := faultTree{ns: "fault-latency", kustomizations: 2, count: 10}
	root := t.TempDir()
	proxy := cluster.StartProxy(t)
	cfg := proxy.Config(cluster)

	proxy.SetDelay(200 * time.Millisecond)
	f.write(t, root, 0, "v1")
	start := time.Now()
	results, err := f.run(ctx, t, cfg, root, nil)
	slowTook := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Err() != nil {
			t.Fatalf("apply with 200ms latency: %v", r.Err())
		}
	}
	invs, err := f.inventories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range f.names() {
		if !slices.Equal(invs[name], f.inventory(name, 0)) {
			t.Fatalf("%s: inventory of %d entries after the slow apply", name, len(invs[name]))
		}
	}

	// A stall: the apply of v2 (which would prune 5 of each) ends at its deadline.
	proxy.SetDelay(0)
	f.write(t, root, 5, "v2")
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var stallOnce sync.Once
	progress := func(e Event) {
		if _, ok := e.(Started); ok {
			stallOnce.Do(proxy.Stall)
		}
	}
	start = time.Now()
	results, err = f.run(tctx, t, cfg, root, progress)
	stalledTook := time.Since(start)
	proxy.Resume()
	var errs []string
	if err != nil {
		errs = append(errs, err.Error())
	}
	for _, r := range results {
		if r.Err() == nil {
			continue
		}
		msg := r.Err().Error()
		errs = append(errs, msg)
		if !strings.Contains(msg, r.Node.Name) || !strings.Contains(msg, "deadline") {
			t.Errorf("stalled apply: error does not name %s and the deadline: %s", r.Node.Name, msg)
		}
	}
	if len(errs) == 0 {
		t.Fatal("the stalled apply reported no error")
	}
	invs, err = f.inventories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range f.names() {
		if !slices.Equal(invs[name], f.inventory(name, 0)) {
			t.Errorf("%s: inventory of %d entries after the stalled apply, want v1's %d", name, len(invs[name]), f.count)
		}
	}
	live := f.liveConfigMaps(ctx, t)
	for _, name := range f.names() {
		for i := range f.count {
			if cm := fmt.Sprintf("%s-cm-%d", name, i); !live[cm] {
				t.Errorf("ConfigMap %s of v1 deleted by the stalled apply", cm)
			}
		}
	}

	// Resumed: the re-run converges.
	start = time.Now()
	results, err = f.run(ctx, t, cfg, root, nil)
	rerunTook := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Err() != nil {
			t.Errorf("re-run: %v", r.Err())
		}
	}
	invs, err = f.inventories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range f.names() {
		if !slices.Equal(invs[name], f.inventory(name, 5)) {
			t.Errorf("%s: inventory of %d entries after the re-run, want v2's", name, len(invs[name]))
		}
	}
	t.Logf("apply of %d objects with 200ms latency each way: %s; stalled apply failed after %s (timeout 10s) with %d errors; re-run %s",
		2*f.count, slowTook.Round(time.Millisecond), stalledTook.Round(time.Millisecond), len(errs), rerunTook.Round(time.Millisecond))
	for _, m := range errs {
		t.Logf("  %.300s", m)
	}
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}
