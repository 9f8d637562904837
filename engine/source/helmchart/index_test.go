package helmchart

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	repo "helm.sh/helm/v4/pkg/repo/v1"
)

func TestMain(m *testing.M) {
	log.SetOutput(io.Discard) // helm's index loader, used as the reference in tests, logs skipped entries
	os.Exit(m.Run())
}

func indexWith(entries map[string][]*repo.ChartVersion) *Index {
	f := repo.NewIndexFile()
	for name, cvs := range entries {
		f.Entries[name] = cvs
	}
	return newIndex("sha256:test", f)
}

func cv(name, version string, created time.Time) *repo.ChartVersion {
	return &repo.ChartVersion{Metadata: &chart.Metadata{Name: name, Version: version, APIVersion: chart.APIVersionV2}, Created: created, URLs: []string{name + "-" + version + ".tgz"}}
}

func TestIndexResolve(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := indexWith(map[string][]*repo.ChartVersion{
		"app": {
			cv("app", "2.0.0+build.2", t0.Add(2*time.Hour)),
			cv("app", "2.0.0+build.1", t0.Add(time.Hour)),
			cv("app", "1.5.0", t0),
			cv("app", "v1.4.0", t0),
			cv("app", "1.3", t0), // not strict SemVer: only an exact match selects it
			cv("app", "3.0.0-beta.1", t0),
		},
		"empty": {},
	})
	tests := []struct {
		chart, rng, want string
		wantErr          error
	}{
		{"app", "", "2.0.0+build.2", nil},              // equal versions: the newest created wins
		{"app", "*", "2.0.0+build.2", nil},             // prereleases are not "latest stable"
		{"app", "2.0.0+build.1", "2.0.0+build.1", nil}, // exact string first
		{"app", "1.3", "1.3", nil},
		{"app", "<1.5.0", "v1.4.0", nil},
		{"app", ">=3.0.0-0", "3.0.0-beta.1", nil},
		{"app", "~1.3", "", repo.ErrNoChartVersion},
		{"app", "4.x", "", repo.ErrNoChartVersion},
		{"empty", "*", "", repo.ErrNoChartVersion},
		{"nope", "*", "", repo.ErrNoChartName},
	}
	for _, tt := range tests {
		got, err := x.Resolve(tt.chart, tt.rng)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Resolve(%s, %q) error = %v, want %v", tt.chart, tt.rng, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.Version != tt.want {
			t.Errorf("Resolve(%s, %q) = %v, %v; want %s", tt.chart, tt.rng, got, err, tt.want)
		}
	}
	_, err := x.Resolve("app", "4.x")
	if err == nil || !strings.Contains(err.Error(), "'4.x'") || !strings.Contains(err.Error(), "available: 2.0.0+build.2, 2.0.0+build.1, 1.5.0") {
		t.Errorf("no-match error does not name the range and the versions: %v", err)
	}
}

func TestNoMatchingVersionErrorSummarizes(t *testing.T) {
	var vs []string
	for i := 30; i > 0; i-- {
		vs = append(vs, fmt.Sprintf("1.%d.0", i))
	}
	msg := (&NoMatchingVersionError{Chart: "big", Range: "9.x", Available: vs}).Error()
	if !strings.Contains(msg, "1.30.0, 1.29.0") || !strings.Contains(msg, "and 20 more") || strings.Contains(msg, "1.1.0,") {
		t.Errorf("message = %s", msg)
	}
}

func TestLoadIndexSortsAsHelm(t *testing.T) {
	data := []byte(`apiVersion: v1
entries:
  app:
  - {name: app, version: 1.0.0, urls: [a]}
  - {name: app, version: not-semver, urls: [b]}
  - {name: app, version: 10.0.0, urls: [c]}
  - {name: app, version: 2.0.0-rc.1, urls: [d]}
  - {name: app, version: 2.0.0, urls: [e]}
  - {name: app, version: v1.5.0, urls: [f]}
  - {name: app, version: "", urls: [g]}
`)
	got, err := LoadIndex(data)
	if err != nil {
		t.Fatal(err)
	}
	want := helmLoad(t, data)
	if !reflect.DeepEqual(versions(got), versions(want)) {
		t.Errorf("order = %v, helm's = %v", versions(got), versions(want))
	}
	if v := versions(got)["app"]; len(v) != 5 || v[0] != "10.0.0" {
		t.Errorf("versions = %v (the invalid ones must be dropped)", v)
	}
}

func helmLoad(t testing.TB, data []byte) *repo.IndexFile {
	t.Helper()
	p := filepath.Join(t.TempDir(), "index.yaml")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	i, err := repo.LoadIndexFile(p)
	if err != nil {
		return nil
	}
	return i
}

func versions(i *repo.IndexFile) map[string][]string {
	out := map[string][]string{}
	for name, cvs := range i.Entries {
		for _, cv := range cvs {
			out[name] = append(out[name], cv.Version)
		}
	}
	return out
}

// FuzzLoadIndex checks LoadIndex against helm's own loader: the same documents are accepted, with the
// same charts in the same order.
func FuzzLoadIndex(f *testing.F) {
	for _, s := range []string{
		"apiVersion: v1\nentries:\n  app:\n  - {name: app, version: 1.0.0, urls: [x]}\n  - {name: app, version: 0.9.0}\n",
		"apiVersion: v1\nentries: {}\n",
		`{"apiVersion":"v1","entries":{"a":[{"name":"a","version":"1.2.3","urls":["u"]}]}}`,
		"apiVersion: v1\nentries:\n  app:\n  - null\n  - {name: app, version: 2.0.0}\n",
		"entries: {}\n",
		"apiVersion: v1\nunknown: 1\n",
		"apiVersion: v1\nentries:\n  x:\n  - {name: x, version: 1.0.0, dependencies: [{name: d}, {name: d}]}\n",
		"",
		"- a\n- b\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := LoadIndex(data)
		want := helmLoad(t, data)
		if (err == nil) != (want != nil) {
			t.Fatalf("LoadIndex error %v, helm accepts: %v", err, want != nil)
		}
		if err != nil {
			return
		}
		if !reflect.DeepEqual(versions(got), versions(want)) {
			t.Fatalf("entries %v, helm's %v", versions(got), versions(want))
		}
		x := newIndex("sha256:fuzz", got)
		for name := range got.Entries {
			_, _ = x.Resolve(name, "*")
			_, _ = x.Resolve(name, ">=0.0.0-0")
		}
	})
}

func TestIndexCacheLoadsOncePerDigest(t *testing.T) {
	c := NewIndexCache(2)
	var mu sync.Mutex
	loads := map[string]int{}
	load := func(d string) func() (*Index, error) {
		return func() (*Index, error) {
			mu.Lock()
			loads[d]++
			mu.Unlock()
			return newIndex(d, repo.NewIndexFile()), nil
		}
	}
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x, err := c.Get(context.Background(), "sha256:a", load("sha256:a"))
			if err != nil || x.Digest != "sha256:a" {
				t.Errorf("Get = %v, %v", x, err)
			}
		}()
	}
	wg.Wait()
	if loads["sha256:a"] != 1 {
		t.Fatalf("loaded %d times, want once", loads["sha256:a"])
	}
	// Least recently used goes first beyond the capacity.
	_, _ = c.Get(context.Background(), "sha256:b", load("sha256:b"))
	_, _ = c.Get(context.Background(), "sha256:a", load("sha256:a"))
	_, _ = c.Get(context.Background(), "sha256:c", load("sha256:c")) // evicts b
	_, _ = c.Get(context.Background(), "sha256:a", load("sha256:a"))
	_, _ = c.Get(context.Background(), "sha256:b", load("sha256:b"))
	if loads["sha256:a"] != 1 || loads["sha256:b"] != 2 || loads["sha256:c"] != 1 {
		t.Errorf("loads = %v", loads)
	}
	if st := c.Stats(); st.Len != 2 || st.Loads != 4 {
		t.Errorf("stats = %+v", st)
	}
	// A failed load is not kept.
	boom := errors.New("boom")
	if _, err := c.Get(context.Background(), "sha256:bad", func() (*Index, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if _, err := c.Get(context.Background(), "sha256:bad", load("sha256:bad")); err != nil || loads["sha256:bad"] != 1 {
		t.Errorf("after a failure: %v, loads %d", err, loads["sha256:bad"])
	}
}

func TestSortEntriesMatchesHelm(t *testing.T) {
	// Many versions, duplicates and unparsable ones: same order as helm's own SortEntries.
	var cvs, twins repo.ChartVersions
	for i := 0; i < 300; i++ {
		v := fmt.Sprintf("%d.%d.%d", i%7, i%13, i%5)
		switch i % 17 {
		case 0:
			v = "bad-" + v
		case 1:
			v += "-rc." + fmt.Sprint(i%3)
		}
		cvs = append(cvs, cv("x", v, time.Time{}))
		twins = append(twins, cv("x", v, time.Time{}))
	}
	mine := repo.NewIndexFile()
	mine.Entries["x"] = cvs
	sortEntries(mine)
	helms := repo.NewIndexFile()
	helms.Entries["x"] = twins
	helms.SortEntries()
	if !reflect.DeepEqual(versions(mine), versions(helms)) {
		t.Errorf("order differs from helm's")
	}
	if first := mine.Entries["x"][0].Version; first != "6.12.1" {
		t.Errorf("newest = %s, want 6.12.1", first)
	}
}

func TestLoadIndexFixtures(t *testing.T) {
	tests := []struct {
		file     string
		versions map[string][]string
		resolve  map[string]string // "chart range" -> version
	}{
		{file: "index-chartmuseum.yaml",
			versions: map[string][]string{"webapp": {"1.5.0-beta.1", "1.4.2", "1.3.0"}, "worker": {"0.9.0"}},
			resolve:  map[string]string{"webapp *": "1.4.2", "webapp >=1.5.0-0": "1.5.0-beta.1", "worker ~0.9": "0.9.0"}},
		{file: "index.json",
			versions: map[string][]string{"webapp": {"1.4.2", "1.3.0"}},
			resolve:  map[string]string{"webapp <1.4": "1.3.0"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data := mustRead(t, filepath.Join("..", "..", "..", "testdata", "helm", tt.file))
			got, err := LoadIndex(data)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(versions(got), tt.versions) {
				t.Errorf("versions = %v, want %v", versions(got), tt.versions)
			}
			if want := helmLoad(t, data); want == nil || !reflect.DeepEqual(versions(got), versions(want)) {
				t.Errorf("helm loads it differently")
			}
			x := newIndex(sha256Digest(data), got)
			for q, want := range tt.resolve {
				name, rng, _ := strings.Cut(q, " ")
				cv, err := x.Resolve(name, rng)
				if err != nil || cv.Version != want {
					t.Errorf("Resolve(%s, %s) = %v, %v; want %s", name, rng, cv, err, want)
				}
			}
		})
	}
}
