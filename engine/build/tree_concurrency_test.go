package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"k8s.io/apimachinery/pkg/runtime"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	"github.com/converge-gitops/converge/engine/helmrelease"
	"github.com/converge-gitops/converge/engine/manifest"
)

// meetingCharts returns a one-template chart once `want` resolutions are in flight together (or fails
// after a timeout: the tree did not run them in parallel), and records the most ever in flight.
type meetingCharts struct {
	want int

	mu       sync.Mutex
	inFlight int
	max      int
	met      chan struct{}
	closed   bool
}

func (m *meetingCharts) ResolveChart(ctx context.Context, hr *helmv2.HelmRelease, _ map[string]runtime.Object) (*chart.Chart, string, error) {
	m.mu.Lock()
	m.inFlight++
	m.max = max(m.max, m.inFlight)
	if m.inFlight == m.want && !m.closed {
		m.closed = true
		close(m.met)
	}
	m.mu.Unlock()
	defer func() { m.mu.Lock(); m.inFlight--; m.mu.Unlock() }()
	select {
	case <-m.met:
	case <-time.After(20 * time.Second):
		return nil, "", fmt.Errorf("%d chart resolutions never ran together", m.want)
	}
	return &chart.Chart{
		Metadata:  &chart.Metadata{APIVersion: "v2", Name: "c", Version: "0.1.0"},
		Templates: []*common.File{{Name: "templates/cm.yaml", Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n")}},
	}, "", nil
}

// TestBuildTreeConcurrency: a tree whose tasks schedule children and HelmReleases from inside the
// build (three levels) completes at every concurrency, 1 included, works on `Concurrency` tasks at
// once and never more.
func TestBuildTreeConcurrency(t *testing.T) {
	root := t.TempDir()
	write := func(p, content string) {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ks := func(name, path string) string {
		return fmt.Sprintf("---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: %s\n  namespace: flux-system\n"+
			"spec:\n  interval: 1m\n  prune: true\n  path: %s\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n", name, path)
	}
	hr := func(name string) string {
		return fmt.Sprintf("---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: %s\n  namespace: flux-system\n"+
			"spec:\n  interval: 1m\n  chart:\n    spec:\n      chart: c\n      sourceRef:\n        kind: HelmRepository\n        name: r\n", name)
	}
	const apps = 6
	var top string
	for i := range apps {
		top += ks(fmt.Sprintf("app-%d", i), fmt.Sprintf("./apps/%d", i))
		write(fmt.Sprintf("apps/%d/release.yaml", i), hr(fmt.Sprintf("release-%d", i))+ks(fmt.Sprintf("leaf-%d", i), fmt.Sprintf("./leaves/%d", i)))
		write(fmt.Sprintf("leaves/%d/cm.yaml", i), fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leaf-%d\n  namespace: default\n", i))
	}
	write("clusters/c/apps.yaml", top)
	dec, err := manifest.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	for _, conc := range []int{1, 2, 4} {
		t.Run(fmt.Sprint(conc), func(t *testing.T) {
			charts := &meetingCharts{want: conc, met: make(chan struct{})}
			b := &Builder{Strict: true}
			b.Helm = &helmrelease.Renderer{KustomizeLock: b.KustomizeLock()}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			done := make(chan struct{})
			var tree *Tree
			go func() {
				defer close(done)
				tree, err = b.BuildTree(ctx, dec, TreeOptions{Root: root, Path: "clusters/c", Charts: charts, Concurrency: conc})
			}()
			select {
			case <-done:
			case <-time.After(90 * time.Second):
				t.Fatal("the tree build deadlocked")
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := tree.Err(); err != nil {
				t.Fatal(err)
			}
			if want := 1 + 2*apps + apps; len(tree.Nodes) != want {
				t.Errorf("%d nodes, want %d", len(tree.Nodes), want)
			}
			if charts.max != conc {
				t.Errorf("at most %d chart resolutions in flight, want exactly %d", charts.max, conc)
			}
		})
	}
}
