package apply

import (
	"github.com/converge-gitops/converge/engine/kube"

	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/engine/testenv"
)

const (
	// benchPerKind objects of each of the four kinds: benchObjectCount in all.
	benchPerKind     = 250
	benchObjectCount = 4 * benchPerKind
	// benchRawWorkers is how many goroutines send the raw server-side apply requests.
	benchRawWorkers = 32
	// benchManager is the field manager of kubectl and of the raw requests, which send what kubectl sends.
	benchManager = "bench"
	// benchWaitTimeout bounds every wait for the cluster (namespace deletion, controllers settling).
	benchWaitTimeout = 5 * time.Minute
)

// benchEnv is what every sub-benchmark of one run shares.
type benchEnv struct {
	ctx context.Context
	// m is converge's Manager, with the client rate limits `converge apply` uses (see freshManager).
	m         *Manager
	convergeC *rest.Config
	// raw is a dynamic client without client-side rate limiting, for the API server limit.
	raw dynamic.Interface
	// kubectl is the testbin kubectl, run with kubeconfig and its own discovery cache in cacheDir.
	kubectl, kubeconfig, cacheDir string
	dir                           string
	// rate is objects/s per sub-benchmark (the last, longest run of each).
	rate map[string]float64
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	dir := b.TempDir()
	e := &benchEnv{
		ctx:        context.Background(),
		kubectl:    filepath.Join(testenv.BinDir(), "kubectl"),
		kubeconfig: filepath.Join(dir, "kubeconfig"),
		cacheDir:   filepath.Join(dir, "kube-cache"),
		dir:        dir,
		rate:       map[string]float64{},
	}
	if err := cluster.WriteKubeconfig(e.kubeconfig); err != nil {
		b.Fatal(err)
	}
	// The limits commands/cmdutil.Factory.RESTConfig sets for `converge apply`.
	e.convergeC = rest.CopyConfig(cluster.Config)
	e.convergeC.QPS, e.convergeC.Burst = kube.DefaultQPS, kube.DefaultBurst
	e.m = &Manager{Mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cluster.Client.Discovery()))}
	e.freshManager(b)

	rawCfg := rest.CopyConfig(cluster.Config)
	rawCfg.QPS, rawCfg.Burst = -1, 0 // no client-side throttling: measure the server
	var err error
	if e.raw, err = dynamic.NewForConfig(rawCfg); err != nil {
		b.Fatal(err)
	}

	// Warm both discovery caches so no measured run pays for discovery: converge's in-memory mapper
	// (a long-running agent keeps it) and kubectl's disk cache (every kubectl run reads it).
	for _, o := range benchObjects("warmup") {
		if _, err := e.m.resource(MetaOf(o)); err != nil {
			b.Fatal(err)
		}
	}
	if out, err := e.runKubectl("api-resources", "-o", "name"); err != nil {
		b.Fatalf("kubectl api-resources: %v\n%s", err, out)
	}
	return e
}

// freshManager gives e.m a new client, so a new client-side rate limiter with its full burst, as a new
// `converge apply` process has; the discovery cache stays warm. Without it, a sub-benchmark would start
// with whatever tokens the previous one left.
func (e *benchEnv) freshManager(b *testing.B) {
	b.Helper()
	dyn, err := dynamic.NewForConfig(e.convergeC)
	if err != nil {
		b.Fatal(err)
	}
	e.m = &Manager{Client: dyn, Mapper: e.m.Mapper}
}

// benchSet is 1,000 objects in their own namespace, as objects, as YAML files and as raw requests.
type benchSet struct {
	ns   string
	objs []*unstructured.Unstructured
	dir  string
	raw  []rawPatch
	// prepare, when set, makes the namespace hold the applied set before the first sub-benchmark that
	// uses it; prepared says it ran (or started), so the namespace must be deleted.
	prepare  func(b *testing.B, s *benchSet)
	prepared bool
	// changed is objs with one object changed, for the current iteration.
	changed []*unstructured.Unstructured
	// iter counts iterations over every run of the sub-benchmark.
	iter int
}

type rawPatch struct {
	ri   dynamic.ResourceInterface
	name string
	data []byte
}

func (e *benchEnv) newSet(b *testing.B, ns string) *benchSet {
	b.Helper()
	s := &benchSet{ns: ns, objs: benchObjects(ns), dir: filepath.Join(e.dir, ns)}
	if err := writeBenchYAML(s.dir, s.objs); err != nil {
		b.Fatal(err)
	}
	for _, o := range s.objs {
		mapping, err := e.m.Mapper.RESTMapping(o.GroupVersionKind().GroupKind(), o.GroupVersionKind().Version)
		if err != nil {
			b.Fatal(err)
		}
		data, err := o.MarshalJSON()
		if err != nil {
			b.Fatal(err)
		}
		s.raw = append(s.raw, rawPatch{ri: e.raw.Resource(mapping.Resource).Namespace(ns), name: o.GetName(), data: data})
	}
	return s
}

// benchObjects returns 250 Deployments (replicas 0), Services, ConfigMaps and ServiceAccounts in ns.
func benchObjects(ns string) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, 0, benchObjectCount)
	for _, kind := range testenv.BenchKinds() {
		for i := range benchPerKind {
			doc := testenv.BenchDocument(kind, ns, fmt.Sprintf("app-%04d", i))
			j, err := yaml.YAMLToJSON([]byte(doc))
			if err != nil {
				panic(err)
			}
			u := &unstructured.Unstructured{}
			if err := u.UnmarshalJSON(j); err != nil {
				panic(err)
			}
			out = append(out, u)
		}
	}
	return out
}

// writeBenchYAML writes objs as one multi-document YAML file per kind into dir.
func writeBenchYAML(dir string, objs []*unstructured.Unstructured) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := map[string]*bytes.Buffer{}
	for _, o := range objs {
		name := strings.ToLower(o.GetKind()) + "s.yaml"
		if files[name] == nil {
			files[name] = &bytes.Buffer{}
		}
		y, err := yaml.Marshal(o.Object)
		if err != nil {
			return err
		}
		files[name].WriteString("---\n")
		files[name].Write(y)
	}
	for name, buf := range files {
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// runKubectl runs the testbin kubectl against the cluster and returns its combined output.
func (e *benchEnv) runKubectl(args ...string) ([]byte, error) {
	cmd := exec.CommandContext(e.ctx, e.kubectl, append([]string{"--kubeconfig=" + e.kubeconfig, "--cache-dir=" + e.cacheDir}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECTL_EXTERNAL_DIFF=")
	return cmd.CombinedOutput()
}

// kubectlApply runs `kubectl apply --server-side` on the set's folder.
func (e *benchEnv) kubectlApply(b *testing.B, s *benchSet) {
	if out, err := e.runKubectl("apply", "--server-side", "--field-manager="+benchManager, "-f", s.dir); err != nil {
		b.Fatalf("kubectl apply: %v\n%s", err, tail(out))
	}
}

// kubectlDiff runs `kubectl diff --server-side` on the set's folder and fails unless it finds no change.
func (e *benchEnv) kubectlDiff(b *testing.B, s *benchSet) {
	out, err := e.runKubectl("diff", "--server-side", "--field-manager="+benchManager, "-f", s.dir)
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 {
		b.Fatalf("kubectl diff found changes in an unchanged set:\n%s", tail(out))
	}
	if err != nil {
		b.Fatalf("kubectl diff: %v\n%s", err, tail(out))
	}
}

// benchChangedCount objects differ from the applied set in the "ten changed" diffs.
const benchChangedCount = 10

// tenChanged returns objs with benchChangedCount ConfigMaps (spread over the kind) given a new value.
func tenChanged(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	out := slices.Clone(objs)
	for i := range benchChangedCount {
		j := 2*benchPerKind + i*(benchPerKind/benchChangedCount) // the ConfigMaps
		cm := objs[j].DeepCopy()
		cm.Object["data"].(map[string]any)["REVISION"] = "changed"
		out[j] = cm
	}
	return out
}

// kubectlDiffTen runs `kubectl diff --server-side` on the set's files with tenChanged's changes (written
// once, outside the timer) and fails unless kubectl reports changes (exit 1).
func (e *benchEnv) kubectlDiffTen(b *testing.B, s *benchSet) {
	dir := s.dir + "-ten-changed"
	if _, err := os.Stat(dir); err != nil {
		b.StopTimer()
		if err := writeBenchYAML(dir, tenChanged(s.objs)); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	out, err := e.runKubectl("diff", "--server-side", "--field-manager="+benchManager, "-f", dir)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		b.Fatalf("kubectl diff of ten changed objects: %v, want exit 1\n%s", err, tail(out))
	}
	if n := strings.Count(string(out), "+  REVISION: changed"); n != benchChangedCount {
		b.Fatalf("kubectl diff shows %d changed ConfigMaps, want %d\n%s", n, benchChangedCount, tail(out))
	}
}

func tail(out []byte) string {
	const keep = 4000
	if len(out) > keep {
		return "...\n" + string(out[len(out)-keep:])
	}
	return string(out)
}

// convergeApply applies objs with converge and checks the ChangeSet counts.
func (e *benchEnv) convergeApply(b *testing.B, objs []*unstructured.Unstructured, want map[Action]int) {
	cs, err := e.m.Apply(e.ctx, objs, Options{})
	if err != nil {
		b.Fatal(err)
	}
	for a, n := range want {
		if got := cs.Count(a); got != n {
			b.Fatalf("converge apply: %d %s, want %d", got, a, n)
		}
	}
}

// rawApply sends every object of s as one server-side apply PATCH, from benchRawWorkers goroutines: the
// requests kubectl apply --server-side sends, in parallel instead of in sequence, and nothing else.
func (e *benchEnv) rawApply(b *testing.B, s *benchSet) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, benchRawWorkers)
	force := false // as kubectl apply --server-side sends it
	for w := range benchRawWorkers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(s.raw) {
					return
				}
				p := s.raw[i]
				if _, err := p.ri.Patch(e.ctx, p.name, types.ApplyPatchType, p.data, metav1.PatchOptions{FieldManager: benchManager, Force: &force}); err != nil {
					errs[w] = fmt.Errorf("%s: %w", p.name, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
}

// recreateNamespace deletes ns if it exists, waits until it is gone and creates it empty.
func (e *benchEnv) recreateNamespace(b *testing.B, ns string) {
	b.Helper()
	e.deleteNamespace(b, ns)
	obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	if _, err := cluster.Client.CoreV1().Namespaces().Create(e.ctx, obj, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
}

// deleteNamespace deletes ns and waits until the namespace controller has removed it and its objects.
func (e *benchEnv) deleteNamespace(b *testing.B, ns string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, benchWaitTimeout)
	defer cancel()
	policy := metav1.DeletePropagationBackground
	err := cluster.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{PropagationPolicy: &policy})
	if apierrors.IsNotFound(err) {
		return
	}
	if err != nil {
		b.Fatal(err)
	}
	for {
		_, err := cluster.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		select {
		case <-ctx.Done():
			b.Fatalf("namespace %s not deleted within %s", ns, benchWaitTimeout)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// waitSettled waits until the controllers are done with a freshly applied set: every Deployment
// observed and Available (replicas 0), every ReplicaSet observed. Re-apply measurements then do not
// race the deployment controller's status and annotation writes.
func (e *benchEnv) waitSettled(b *testing.B, ns string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, benchWaitTimeout)
	defer cancel()
	for {
		if e.settled(ctx, ns) {
			return
		}
		select {
		case <-ctx.Done():
			b.Fatalf("the controllers did not settle namespace %s within %s", ns, benchWaitTimeout)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (e *benchEnv) settled(ctx context.Context, ns string) bool {
	deps, err := cluster.Client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(deps.Items) != benchPerKind {
		return false
	}
	for _, d := range deps.Items {
		if d.Status.ObservedGeneration < d.Generation || !deploymentAvailable(d) {
			return false
		}
	}
	rss, err := cluster.Client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(rss.Items) != benchPerKind {
		return false
	}
	for _, rs := range rss.Items {
		if rs.Status.ObservedGeneration < rs.Generation {
			return false
		}
	}
	return true
}

func deploymentAvailable(d appsv1.Deployment) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}
