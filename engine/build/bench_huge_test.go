package build

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/converge-gitops/converge/engine/fetch"
	"github.com/converge-gitops/converge/engine/manifest"
)

// -huge-objects sets the ConfigMaps of BenchmarkBuildHugeKustomization's large build.
var hugeObjects = flag.Int("huge-objects", 50000, "objects in BenchmarkBuildHugeKustomization's large Kustomization")

// writeHugeKustomization writes clusters/huge/ks.yaml, one Flux Kustomization of ./huge, and ./huge
// with objects ConfigMaps in files of 1,000 (no kustomization.yaml: every file is a resource).
func writeHugeKustomization(b *testing.B, root string, objects int) {
	b.Helper()
	write := func(p, content string) {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	write("clusters/huge/ks.yaml", `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: huge
  namespace: flux-system
spec:
  interval: 10m
  path: ./huge
  prune: true
  targetNamespace: huge
  sourceRef:
    kind: GitRepository
    name: flux-system
`)
	for f := 0; f*1000 < objects; f++ {
		var sb strings.Builder
		for i := f * 1000; i < min(objects, (f+1)*1000); i++ {
			fmt.Fprintf(&sb, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%05d\n  labels: {app: huge}\ndata:\n  index: \"%d\"\n  greeting: hello\n", i, i)
		}
		write(fmt.Sprintf("huge/cm-%03d.yaml", f), sb.String())
	}
}

// BenchmarkBuildHugeKustomization builds, offline as `converge build` does, one Kustomization of 50,000
// ConfigMaps (-huge-objects), and one whose folder holds a 100 MiB file (sparse), which is refused with ErrFileTooLarge
// before it is read. No object-count limit applies (Flux has none); memory grows with the objects.
// Metrics: build-s, peak-heap-MB (live heap objects sampled during the build), heap-after-MB
// (runtime.ReadMemStats HeapAlloc after a GC, with the built objects still held), alloc-MB (bytes
// allocated per build).
func BenchmarkBuildHugeKustomization(b *testing.B) {
	dec, err := manifest.NewDecoder()
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		objects int
		bigFile bool
	}{
		{name: fmt.Sprintf("objects-%d", *hugeObjects), objects: *hugeObjects},
		{name: "file-100MiB", objects: 10, bigFile: true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			root := b.TempDir()
			writeHugeKustomization(b, root, tc.objects)
			if tc.bigFile {
				f, err := os.Create(filepath.Join(root, "huge", "big.yaml"))
				if err != nil {
					b.Fatal(err)
				}
				if err := f.Truncate(100 << 20); err != nil {
					b.Fatal(err)
				}
				_ = f.Close()
			}
			var peak, heapAfter, allocated uint64
			for i := 0; i < b.N; i++ {
				resolver := &fetch.Resolver{Local: map[string]string{DefaultRootSource: root}}
				bld := &Builder{Strict: true}
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				stop := peakHeap()
				tree, err := bld.BuildTree(context.Background(), dec, TreeOptions{Root: root, Path: "clusters/huge", Sources: resolver})
				peak = max(peak, stop())
				if err == nil {
					err = tree.Err()
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				heapAfter = max(heapAfter, after.HeapAlloc)
				allocated += after.TotalAlloc - before.TotalAlloc
				if tc.bigFile {
					if !errors.Is(err, ErrFileTooLarge) || !strings.Contains(err.Error(), "big.yaml") {
						b.Fatalf("a 100 MiB file: error %v, want %v naming big.yaml", err, ErrFileTooLarge)
					}
					continue
				}
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for _, node := range tree.Nodes {
					n += len(node.Objects)
				}
				if n < tc.objects {
					b.Fatalf("%d objects built, want at least %d", n, tc.objects)
				}
				runtime.KeepAlive(tree)
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(heapAfter)/(1<<20), "heap-after-MB")
			b.ReportMetric(float64(allocated)/float64(b.N)/(1<<20), "alloc-MB")
		})
	}
}
