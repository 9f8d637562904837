// Command procbench is the whole-process part of `make bench`: it times converge as users run it (one
// process per command, default flags) beside kubectl in the same run, on a fresh local control plane
// (engine/testenv) and a generated tree of 1,000 objects (250 each of Deployments with 0 replicas,
// Services, ConfigMaps and ServiceAccounts, one Flux Kustomization):
//
//   - build: `converge build` of the tree against `kubectl kustomize` of its folder (no cluster);
//   - first apply: `converge apply` against `kubectl apply --server-side -k` into an empty namespace, and
//     the API server's own limit for the same objects: raw server-side apply PATCHes from 32 workers;
//   - unchanged apply: the same commands again on objects each applied itself;
//   - unchanged diff: `converge diff` against `kubectl diff --server-side -k`.
//
// Runs alternate (converge, kubectl, converge, …) so drift of the shared machine hits both alike; each
// figure is printed as min / median / max of wall seconds, and each ratio is kubectl's median over
// converge's. converge and kubectl run with a HOME of their own whose caches (kubectl's discovery cache,
// converge's user cache) are warmed by one run that is not counted, as a user's are.
//
// -serve starts the control plane, writes the tree and prints KUBECONFIG and the folders, then waits for
// Ctrl-C: to profile by hand (CONVERGE_CPUPROFILE=FILE converge apply …).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/engine/testenv"
)

const (
	perKind    = 250
	rawWorkers = 32
	// Namespaces: one per tool, so neither sees the other's field managers.
	nsConverge = "bench-converge"
	nsKubectl  = "bench-kubectl"
	nsRaw      = "bench-raw"
)

func main() {
	converge := flag.String("converge", "bin/converge", "the converge binary to time")
	kubectl := flag.String("kubectl", filepath.Join(testenv.BinDir(), "kubectl"), "the kubectl binary to time")
	runs := flag.Int("runs", 5, "timed runs of each command (after one warm-up run)")
	serve := flag.Bool("serve", false, "start the control plane, write the tree, print where, and wait for Ctrl-C")
	flag.Parse()
	ctrllog.SetLogger(logr.Discard()) // envtest logs through it
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *converge, *kubectl, *runs, *serve); err != nil {
		fmt.Fprintln(os.Stderr, "procbench:", err)
		os.Exit(1)
	}
}

type bench struct {
	ctx        context.Context
	work       string
	kubeconfig string
	converge   string
	kubectl    string
	env        []string
	dyn        dynamic.Interface
	cluster    *testenv.Cluster
}

func run(ctx context.Context, converge, kubectl string, runs int, serve bool) error {
	var err error
	if converge, err = filepath.Abs(converge); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "converge-procbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	cluster, err := testenv.Start(ctx, testenv.Options{})
	if err != nil {
		return err
	}
	defer cluster.Stop()
	b := &bench{ctx: ctx, work: work, kubeconfig: filepath.Join(work, "kubeconfig"), converge: converge, kubectl: kubectl, cluster: cluster}
	if err := cluster.WriteKubeconfig(b.kubeconfig); err != nil {
		return err
	}
	if b.dyn, err = dynamic.NewForConfig(cluster.Config); err != nil {
		return err
	}
	home := filepath.Join(work, "home")
	b.env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "XDG_CACHE_HOME=") || strings.HasPrefix(kv, "KUBECONFIG=")
	}), "HOME="+home, "KUBECONFIG="+b.kubeconfig, "KUBECTL_EXTERNAL_DIFF=")
	for _, ns := range []string{"flux-system", nsConverge, nsKubectl, nsRaw} {
		if err := b.createNamespace(ns); err != nil {
			return err
		}
	}
	for _, ns := range []string{nsConverge, nsKubectl, nsRaw} {
		if err := writeTree(filepath.Join(work, ns), ns); err != nil {
			return err
		}
	}
	if serve {
		fmt.Printf("export KUBECONFIG=%s HOME=%s\n", b.kubeconfig, home)
		for _, ns := range []string{nsConverge, nsKubectl} {
			fmt.Printf("tree %s: %s (objects in %s)\n", ns, filepath.Join(work, ns), filepath.Join(work, ns, "apps"))
		}
		fmt.Println("Ctrl-C stops the control plane")
		<-ctx.Done()
		return nil
	}
	return b.measure(runs)
}

// sample is one timed run: wall and CPU (user + system) seconds.
type sample struct{ wall, cpu float64 }

type series struct {
	name    string
	samples []sample
}

func (s *series) median() float64 { return stat(s.samples, 1) }

// stat returns the minimum (0), median (1) or maximum (2) wall time.
func stat(ss []sample, which int) float64 {
	w := make([]float64, len(ss))
	for i, s := range ss {
		w[i] = s.wall
	}
	slices.Sort(w)
	switch which {
	case 0:
		return w[0]
	case 2:
		return w[len(w)-1]
	}
	if len(w)%2 == 1 {
		return w[len(w)/2]
	}
	return (w[len(w)/2-1] + w[len(w)/2]) / 2
}

func (s *series) String() string {
	cpu := make([]sample, len(s.samples))
	for i, x := range s.samples {
		cpu[i] = sample{wall: x.cpu}
	}
	return fmt.Sprintf("%-44s wall %6.2f / %6.2f / %6.2f s   cpu %6.2f s (median)   n=%d",
		s.name, stat(s.samples, 0), s.median(), stat(s.samples, 2), stat(cpu, 1), len(s.samples))
}

// op is one command of a comparison; before runs outside the timer.
type op struct {
	name   string
	before func() error
	run    func() (sample, error)
}

// compare runs the warm-up and then runs timed rounds of ops in turn, and prints each series.
func (b *bench) compare(title string, runs int, ops ...op) ([]*series, error) {
	fmt.Printf("\n%s\n", title)
	out := make([]*series, len(ops))
	for i, o := range ops {
		out[i] = &series{name: o.name}
	}
	for round := range runs + 1 {
		for i, o := range ops {
			if o.before != nil {
				if err := o.before(); err != nil {
					return nil, fmt.Errorf("%s: %w", o.name, err)
				}
			}
			s, err := o.run()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", o.name, err)
			}
			if round > 0 {
				out[i].samples = append(out[i].samples, s)
			}
		}
	}
	for _, s := range out {
		fmt.Println(" ", s)
	}
	return out, nil
}

// command returns an op running name args as a process; ok judges its exit code.
func (b *bench) command(label string, ok func(code int) bool, name string, args ...string) func() (sample, error) {
	return func() (sample, error) {
		cmd := exec.CommandContext(b.ctx, name, args...)
		cmd.Env = b.env
		cmd.Dir = b.work
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		err := cmd.Run()
		wall := time.Since(start).Seconds()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code, err = exit.ExitCode(), nil
		}
		if err != nil {
			return sample{}, err
		}
		if !ok(code) {
			return sample{}, fmt.Errorf("%s exited %d:\n%s", label, code, tail(out.Bytes()))
		}
		st := cmd.ProcessState
		return sample{wall: wall, cpu: (st.UserTime() + st.SystemTime()).Seconds()}, nil
	}
}

func exit0(code int) bool { return code == 0 }

func (b *bench) measure(runs int) error {
	tree := func(ns string) string { return filepath.Join(b.work, ns, "clusters", "bench") }
	apps := func(ns string) string { return filepath.Join(b.work, ns, "apps") }
	convergeApply := b.command("converge apply", exit0, b.converge, "apply", tree(nsConverge))
	kubectlApply := b.command("kubectl apply", exit0, b.kubectl, "apply", "--server-side", "-k", apps(nsKubectl))

	build, err := b.compare("build of the tree (no cluster)", runs,
		op{name: "converge build", run: b.command("converge build", exit0, b.converge, "build", tree(nsConverge))},
		op{name: "kubectl kustomize", run: b.command("kubectl kustomize", exit0, b.kubectl, "kustomize", apps(nsConverge))},
	)
	if err != nil {
		return err
	}
	raw, err := b.rawRequests(apps(nsRaw))
	if err != nil {
		return err
	}
	first, err := b.compare("first apply into an empty namespace", runs,
		op{name: "converge apply", before: b.emptyNamespace(nsConverge, true), run: convergeApply},
		op{name: "kubectl apply --server-side", before: b.emptyNamespace(nsKubectl, false), run: kubectlApply},
		op{name: fmt.Sprintf("API server limit (%d raw SSA workers)", rawWorkers), before: b.emptyNamespace(nsRaw, false), run: raw},
	)
	if err != nil {
		return err
	}
	for _, ns := range []string{nsConverge, nsKubectl} {
		if err := b.waitSettled(ns); err != nil {
			return err
		}
	}
	unchanged, err := b.compare("unchanged re-apply", runs,
		op{name: "converge apply", run: convergeApply},
		op{name: "kubectl apply --server-side", run: kubectlApply},
	)
	if err != nil {
		return err
	}
	diff, err := b.compare("unchanged diff", runs,
		op{name: "converge diff", run: b.command("converge diff", exit0, b.converge, "diff", tree(nsConverge))},
		op{name: "kubectl diff --server-side", run: b.command("kubectl diff", exit0, b.kubectl, "diff", "--server-side", "-k", apps(nsKubectl))},
	)
	if err != nil {
		return err
	}
	fmt.Println("\nratios of medians (target in brackets)")
	fmt.Printf("  build:            kubectl / converge %5.2f×\n", build[1].median()/build[0].median())
	fmt.Printf("  first apply:      kubectl / converge %5.2f×   converge / API limit %5.2f× (≤1.5×)\n",
		first[1].median()/first[0].median(), first[0].median()/first[2].median())
	fmt.Printf("  unchanged apply:  kubectl / converge %5.2f× (≥10×)\n", unchanged[1].median()/unchanged[0].median())
	fmt.Printf("  unchanged diff:   kubectl / converge %5.2f× (≥5×)\n", diff[1].median()/diff[0].median())
	return nil
}

// writeTree writes root/apps (a kustomization.yaml and one file per kind of the 1,000 objects in ns)
// and root/clusters/bench (one Flux Kustomization of ./apps).
func writeTree(root, ns string) error {
	files := map[string]*strings.Builder{}
	for _, kind := range testenv.BenchKinds() {
		sb := &strings.Builder{}
		for i := range perKind {
			sb.WriteString("---\n")
			sb.WriteString(testenv.BenchDocument(kind, ns, fmt.Sprintf("app-%04d", i)))
		}
		files[filepath.Join("apps", strings.ToLower(kind)+"s.yaml")] = sb
	}
	kust := &strings.Builder{}
	kust.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- deployments.yaml\n- services.yaml\n- configmaps.yaml\n- serviceaccounts.yaml\n")
	files[filepath.Join("apps", "kustomization.yaml")] = kust
	ks := &strings.Builder{}
	ks.WriteString(`apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: ` + ns + `
  namespace: flux-system
spec:
  interval: 10m
  path: ./apps
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
`)
	files[filepath.Join("clusters", "bench", "bench.yaml")] = ks
	for name, sb := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
			return err
		}
	}
	// A Git repository, as users apply from: its work tree is the source's root.
	for _, args := range [][]string{{"init", "-q"}, {"add", "-A"}, {"-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-qm", "bench"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %w\n%s", args[0], err, out)
		}
	}
	return nil
}

var kindResources = map[string]schema.GroupVersionResource{
	"Deployment":     {Group: "apps", Version: "v1", Resource: "deployments"},
	"Service":        {Version: "v1", Resource: "services"},
	"ConfigMap":      {Version: "v1", Resource: "configmaps"},
	"ServiceAccount": {Version: "v1", Resource: "serviceaccounts"},
}

// rawRequests returns an op sending every object under dir as one server-side apply PATCH from
// rawWorkers goroutines: the requests kubectl sends, in parallel, and nothing else.
func (b *bench) rawRequests(dir string) (func() (sample, error), error) {
	type patch struct {
		ri   dynamic.ResourceInterface
		name string
		data []byte
	}
	var patches []patch
	for _, f := range []string{"deployments.yaml", "services.yaml", "configmaps.yaml", "serviceaccounts.yaml"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return nil, err
		}
		for doc := range strings.SplitSeq(string(data), "---\n") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			j, err := yaml.YAMLToJSON([]byte(doc))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			u := &unstructured.Unstructured{}
			if err := u.UnmarshalJSON(j); err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			patches = append(patches, patch{ri: b.dyn.Resource(kindResources[u.GetKind()]).Namespace(u.GetNamespace()), name: u.GetName(), data: j})
		}
	}
	return func() (sample, error) {
		var next atomic.Int64
		var wg sync.WaitGroup
		errs := make([]error, rawWorkers)
		force := false
		start := time.Now()
		for w := range rawWorkers {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= len(patches) {
						return
					}
					p := patches[i]
					if _, err := p.ri.Patch(b.ctx, p.name, types.ApplyPatchType, p.data, metav1.PatchOptions{FieldManager: "bench", Force: &force}); err != nil {
						errs[w] = fmt.Errorf("%s: %w", p.name, err)
						return
					}
				}
			})
		}
		wg.Wait()
		return sample{wall: time.Since(start).Seconds()}, errors.Join(errs...)
	}, nil
}

func (b *bench) createNamespace(ns string) error {
	obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	_, err := b.cluster.Client.CoreV1().Namespaces().Create(b.ctx, obj, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

var kustomizations = schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}

// emptyNamespace returns a step deleting ns (and, with ks, the Kustomization of that name, whose inventory
// would otherwise hold the deleted objects), waiting until it is gone and creating it again.
func (b *bench) emptyNamespace(ns string, ks bool) func() error {
	return func() error {
		if ks {
			err := b.dyn.Resource(kustomizations).Namespace("flux-system").Delete(b.ctx, ns, metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
		policy := metav1.DeletePropagationBackground
		err := b.cluster.Client.CoreV1().Namespaces().Delete(b.ctx, ns, metav1.DeleteOptions{PropagationPolicy: &policy})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		deadline := time.Now().Add(5 * time.Minute)
		for {
			_, err := b.cluster.Client.CoreV1().Namespaces().Get(b.ctx, ns, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("namespace %s not deleted within 5m", ns)
			}
			select {
			case <-b.ctx.Done():
				return b.ctx.Err()
			case <-time.After(250 * time.Millisecond):
			}
		}
		return b.createNamespace(ns)
	}
}

// waitSettled waits until the deployment controller has observed every Deployment in ns, so an
// unchanged re-apply is measured against objects no controller is still writing.
func (b *bench) waitSettled(ns string) error {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		list, err := b.cluster.Client.AppsV1().Deployments(ns).List(b.ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		pending := 0
		for _, d := range list.Items {
			if d.Status.ObservedGeneration < d.Generation {
				pending++
			}
		}
		if pending == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d Deployments in %s not observed within 5m", pending, ns)
		}
		select {
		case <-b.ctx.Done():
			return b.ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func tail(out []byte) string {
	const keep = 3000
	if len(out) > keep {
		return "...\n" + string(out[len(out)-keep:])
	}
	return string(out)
}
