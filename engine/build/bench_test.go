package build

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/converge-gitops/converge/engine/fetch"
	"github.com/converge-gitops/converge/engine/helmrelease"
	"github.com/converge-gitops/converge/engine/manifest"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/helmchart"
	"github.com/converge-gitops/converge/engine/testenv"
)

const (
	benchKustomizations = 200
	benchReleases       = 20
)

// -bench-repo writes the repository of BenchmarkBuildTreeRepository into a folder that is kept, to
// time other tools (flux build ks --recursive) on the same tree.
var benchRepo = flag.String("bench-repo", "", "write BenchmarkBuildTreeRepository's repository into this folder and keep it")

// writeBenchRepo generates a Flux repository: clusters/bench declares benchKustomizations
// Kustomizations (targetNamespace, postBuild substitution), each of an app folder with a Deployment,
// Service and ConfigMap; the first releases apps also hold a HelmRelease of the repository's own
// chart (a GitRepository chart, packaged and rendered as helm-controller would). root is a new
// temporary folder unless given.
func writeBenchRepo(b *testing.B, root string, releases int) (_ string, appDirs []string) {
	b.Helper()
	if root == "" {
		root = b.TempDir()
	}
	write := func(p, content string) {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	write("charts/bench/Chart.yaml", "apiVersion: v2\nname: bench\nversion: 1.0.0\n")
	write("charts/bench/values.yaml", "replicas: 1\nimage: ghcr.io/stefanprodan/podinfo:6.7.0\nport: 9898\n")
	write("charts/bench/templates/deployment.yaml", `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels:
    app.kubernetes.io/name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels:
      app.kubernetes.io/name: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {{ .Release.Name }}
    spec:
      containers:
        - name: app
          image: {{ .Values.image }}
          ports:
            - containerPort: {{ .Values.port }}
`)
	write("charts/bench/templates/service.yaml", `apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  selector:
    app.kubernetes.io/name: {{ .Release.Name }}
  ports:
    - port: 80
      targetPort: {{ .Values.port }}
`)
	var ks strings.Builder
	for i := 0; i < benchKustomizations; i++ {
		app := fmt.Sprintf("app-%03d", i)
		dir := "apps/" + app
		appDirs = append(appDirs, filepath.Join(root, dir))
		fmt.Fprintf(&ks, `---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: %[1]s
  namespace: flux-system
spec:
  interval: 10m
  prune: true
  path: ./%[2]s
  targetNamespace: %[1]s
  sourceRef:
    kind: GitRepository
    name: flux-system
  postBuild:
    substitute:
      app: %[1]s
      replicas: "2"
`, app, dir)
		resources := "  - deployment.yaml\n  - service.yaml\n  - configmap.yaml\n"
		if i < releases {
			resources += "  - release.yaml\n"
			write(dir+"/release.yaml", fmt.Sprintf(`apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: %[1]s-chart
  namespace: flux-system
spec:
  interval: 10m
  targetNamespace: %[1]s
  chart:
    spec:
      chart: ./charts/bench
      sourceRef:
        kind: GitRepository
        name: flux-system
        namespace: flux-system
  values:
    replicas: %[2]d
`, app, i%3+1))
		}
		write(dir+"/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"+resources+
			"labels:\n  - pairs:\n      app.kubernetes.io/part-of: bench\n")
		write(dir+"/deployment.yaml", `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    app: ${app}
spec:
  replicas: ${replicas:=1}
  selector:
    matchLabels:
      app.kubernetes.io/name: web
  template:
    metadata:
      labels:
        app.kubernetes.io/name: web
    spec:
      containers:
        - name: web
          image: ghcr.io/stefanprodan/podinfo:6.7.0
          ports:
            - containerPort: 9898
          resources:
            requests:
              cpu: 10m
              memory: 32Mi
`)
		write(dir+"/service.yaml", `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app.kubernetes.io/name: web
  ports:
    - port: 80
      targetPort: 9898
`)
		write(dir+"/configmap.yaml", fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  index: "%d"
  greeting: hello from ${app}
`, i))
	}
	write("clusters/bench/apps.yaml", ks.String())
	return root, appDirs
}

// peakHeap samples the bytes of live heap objects until stop is called and returns the peak.
func peakHeap() (stop func() uint64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak {
				peak = v
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak }
}

// BenchmarkBuildTree builds a generated tree of 200 Kustomizations and 20 HelmReleases offline, with
// one and with four concurrent builds, and in the same run runs `kubectl kustomize` (the testbin
// kubectl) over the same 200 folders with the same parallelism. kubectl only runs kustomize: it does
// not substitute, label, decode Flux objects or render the HelmReleases, so the comparison favours it.
// Metrics: converge-s and kubectl-s per whole tree, x-vs-kubectl (kubectl time / converge time, above 1
// means converge is faster), peak-heap-MB (live heap objects during the build).
func BenchmarkBuildTree(b *testing.B) {
	kubectl := filepath.Join(testenv.BinDir(), "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		b.Fatalf("kubectl: %v (run make testbin)", err)
	}
	root, appDirs := writeBenchRepo(b, "", benchReleases)
	dec, err := manifest.NewDecoder()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, conc := range []int{1, 4} {
		b.Run(fmt.Sprintf("concurrency-%d", conc), func(b *testing.B) {
			var convergeTime, kubectlTime time.Duration
			var peak uint64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				store, err := source.OpenStore(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				resolver := &fetch.Resolver{Local: map[string]string{DefaultRootSource: root}}
				charts := &fetch.Charts{Sources: resolver, Fetcher: helmchart.New(store, nil)}
				bld := &Builder{Strict: true}
				bld.Helm = &helmrelease.Renderer{KustomizeLock: bld.KustomizeLock()}
				b.StartTimer()

				start := time.Now()
				stop := peakHeap()
				tree, err := bld.BuildTree(ctx, dec, TreeOptions{Root: root, Path: "clusters/bench", Sources: resolver, Charts: charts, Concurrency: conc})
				p := stop()
				convergeTime += time.Since(start)
				peak = max(peak, p)
				if err != nil {
					b.Fatal(err)
				}
				if err := tree.Err(); err != nil {
					b.Fatal(err)
				}
				if want := 1 + benchKustomizations + benchReleases; len(tree.Nodes) != want {
					b.Fatalf("%d nodes, want %d", len(tree.Nodes), want)
				}

				b.StopTimer()
				start = time.Now()
				g, gctx := errgroup.WithContext(ctx)
				g.SetLimit(conc)
				for _, dir := range appDirs {
					g.Go(func() error {
						out, err := exec.CommandContext(gctx, kubectl, "kustomize", dir).CombinedOutput()
						if err != nil {
							return fmt.Errorf("kubectl kustomize %s: %w\n%s", dir, err, out)
						}
						return nil
					})
				}
				if err := g.Wait(); err != nil {
					b.Fatal(err)
				}
				kubectlTime += time.Since(start)
				b.StartTimer()
			}
			n := float64(b.N)
			b.ReportMetric(convergeTime.Seconds()/n, "converge-s")
			b.ReportMetric(kubectlTime.Seconds()/n, "kubectl-s")
			b.ReportMetric(kubectlTime.Seconds()/convergeTime.Seconds(), "x-vs-kubectl")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		})
	}
}

// BenchmarkBuildTreeRepository builds a generated repository of 200 Kustomizations and 50 HelmReleases
// of a chart in the repository, offline, with the default concurrency, as `converge build` does.
// Metrics: tree-s (seconds per whole tree), peak-heap-MB (live heap objects during the build),
// alloc-MB (bytes allocated per build). Time the same tree as a whole process, beside other tools, with
// -bench-repo DIR.
func BenchmarkBuildTreeRepository(b *testing.B) {
	const releases = 50
	root, _ := writeBenchRepo(b, *benchRepo, releases)
	dec, err := manifest.NewDecoder()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var total time.Duration
	var peak uint64
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		store, err := source.OpenStore(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		resolver := &fetch.Resolver{Local: map[string]string{DefaultRootSource: root}}
		charts := &fetch.Charts{Sources: resolver, Fetcher: helmchart.New(store, nil)}
		bld := &Builder{Strict: true, MaskSOPS: true}
		bld.Helm = &helmrelease.Renderer{KustomizeLock: bld.KustomizeLock()}
		b.StartTimer()

		start := time.Now()
		stop := peakHeap()
		tree, err := bld.BuildTree(ctx, dec, TreeOptions{Root: root, Path: "clusters/bench", Sources: resolver, Charts: charts})
		peak = max(peak, stop())
		total += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if err := tree.Err(); err != nil {
			b.Fatal(err)
		}
		if want := 1 + benchKustomizations + releases; len(tree.Nodes) != want {
			b.Fatalf("%d nodes, want %d", len(tree.Nodes), want)
		}
	}
	runtime.ReadMemStats(&after)
	n := float64(b.N)
	b.ReportMetric(total.Seconds()/n, "tree-s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n/(1<<20), "alloc-MB")
}
