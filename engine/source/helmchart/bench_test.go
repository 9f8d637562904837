package helmchart

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	repo "helm.sh/helm/v4/pkg/repo/v1"
)

// writeLargeIndex writes a helm index of about 5 MB (60 charts × 150 versions, with the fields helm
// writes) and returns its path and the chart names.
func writeLargeIndex(b *testing.B) (string, []string) {
	b.Helper()
	idx := repo.NewIndexFile()
	var names []string
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for c := 0; c < 60; c++ {
		name := fmt.Sprintf("chart-%02d", c)
		names = append(names, name)
		for v := 0; v < 150; v++ {
			md := &chart.Metadata{
				APIVersion:  chart.APIVersionV2,
				Name:        name,
				Version:     fmt.Sprintf("%d.%d.%d", v/50, (v/5)%10, v%5),
				AppVersion:  fmt.Sprintf("v%d.%d", v/10, v%10),
				Description: "A Helm chart for Kubernetes generated for the index benchmark " + strings.Repeat("x", 60),
				Home:        "https://example.com/" + name,
				Sources:     []string{"https://github.com/example/" + name},
				Keywords:    []string{"benchmark", "helm", name},
				Maintainers: []*chart.Maintainer{{Name: "converge", Email: "converge@example.com"}},
			}
			if v%7 == 0 {
				md.Version += "-rc.1"
			}
			if err := idx.MustAdd(md, fmt.Sprintf("%s-%s.tgz", name, md.Version), "https://charts.example.com", fmt.Sprintf("%064x", c*1000+v)); err != nil {
				b.Fatal(err)
			}
			cvs := idx.Entries[name]
			cvs[len(cvs)-1].Created = created.Add(time.Duration(v) * time.Hour)
		}
	}
	p := filepath.Join(b.TempDir(), IndexFile)
	if err := idx.WriteFile(p, 0o644); err != nil {
		b.Fatal(err)
	}
	return p, names
}

// BenchmarkResolveLargeIndex resolves 100 HelmCharts (different charts and ranges) against one 5 MB
// repository index, once through the Fetcher's index cache (the index is parsed once per digest) and
// once loading the index with helm's repo.LoadIndexFile for each chart, and reports both and their ratio.
func BenchmarkResolveLargeIndex(b *testing.B) {
	p, names := writeLargeIndex(b)
	fi, err := os.Stat(p)
	if err != nil {
		b.Fatal(err)
	}
	digest, err := fileDigest(p)
	if err != nil {
		b.Fatal(err)
	}
	ranges := []string{"*", "1.x", ">=2.0.0-0", "~0.3", "0.9.3", "<1.5.0", "2.*", ">=1.0.0 <2.0.0-0"}
	type query struct{ name, rng string }
	var queries []query
	for i := 0; i < 100; i++ {
		queries = append(queries, query{names[i%len(names)], ranges[i%len(ranges)]})
	}
	ctx := context.Background()
	b.ReportMetric(float64(fi.Size())/(1<<20), "index-MiB")
	b.ResetTimer()
	var cached, helm time.Duration
	for n := 0; n < b.N; n++ {
		f := &Fetcher{Indexes: NewIndexCache(4)} // a fresh process: the first chart parses the index
		start := time.Now()
		for _, q := range queries {
			idx, err := f.loadIndex(ctx, digest, p, "")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := idx.Resolve(q.name, q.rng); err != nil {
				b.Fatal(q, err)
			}
		}
		cached += time.Since(start)

		start = time.Now()
		for _, q := range queries {
			idx, err := repo.LoadIndexFile(p)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := idx.Get(q.name, q.rng); err != nil {
				b.Fatal(q, err)
			}
		}
		helm += time.Since(start)
	}
	b.ReportMetric(float64(cached.Milliseconds())/float64(b.N), "ms/100-charts-cached")
	b.ReportMetric(float64(helm.Milliseconds())/float64(b.N), "ms/100-charts-helm")
	b.ReportMetric(float64(helm)/float64(cached), "speedup")
}

// BenchmarkLoadIndex is the cost of loading the 5 MB index in a new process (an in-memory cache miss):
// parsing the YAML, or decoding the parsed copy a previous process kept in the store.
func BenchmarkLoadIndex(b *testing.B) {
	p, _ := writeLargeIndex(b)
	data, err := os.ReadFile(p)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256Digest(data)
	b.Run("yaml", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for n := 0; n < b.N; n++ {
			if _, err := LoadIndex(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("kept-parsed", func(b *testing.B) {
		store := openStore(b)
		warm := &Fetcher{Store: store}
		if _, err := warm.loadIndex(context.Background(), digest, p, "https://charts.example.com/"); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(data)))
		b.ResetTimer()
		for n := 0; n < b.N; n++ {
			f := &Fetcher{Store: store} // a new process over the same store
			if _, err := f.loadIndex(context.Background(), digest, p, "https://charts.example.com/"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
