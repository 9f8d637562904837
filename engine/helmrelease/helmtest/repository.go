package helmtest

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	"sigs.k8s.io/yaml"
)

// Repository is a real Helm chart repository on loopback: an index.yaml listing the published charts
// and their packaged archives, which it counts the downloads of.
type Repository struct {
	URL string

	mu       sync.Mutex
	index    []byte
	archives map[string][]byte // file name -> archive
	fetched  atomic.Int64
}

// NewRepository starts an empty repository, stopped when the test ends.
func NewRepository(t testing.TB) *Repository {
	t.Helper()
	r := &Repository{archives: map[string][]byte{}}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	r.Publish(t, "", nil)
	return r
}

// Publish replaces the index with the chart name's versions (version -> packaged archive).
func (r *Repository) Publish(t testing.TB, name string, versions map[string][]byte) {
	t.Helper()
	idx := repo.NewIndexFile()
	archives := map[string][]byte{}
	for v, archive := range versions {
		file := name + "-" + v + ".tgz"
		if err := idx.MustAdd(&chart.Metadata{APIVersion: "v2", Name: name, Version: v}, file, r.URL, fmt.Sprintf("%x", sha256.Sum256(archive))); err != nil {
			t.Fatal(err)
		}
		archives[file] = archive
	}
	idx.SortEntries()
	data, err := yaml.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.index, r.archives = data, archives
	r.mu.Unlock()
}

// Downloads is how many chart archives were served.
func (r *Repository) Downloads() int { return int(r.fetched.Load()) }

func (r *Repository) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	index, archive := r.index, r.archives[strings.TrimPrefix(req.URL.Path, "/")]
	r.mu.Unlock()
	switch {
	case req.URL.Path == "/index.yaml":
		_, _ = w.Write(index)
	case archive != nil:
		r.fetched.Add(1)
		_, _ = w.Write(archive)
	default:
		http.NotFound(w, req)
	}
}
