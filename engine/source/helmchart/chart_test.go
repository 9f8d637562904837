package helmchart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	repo "helm.sh/helm/v4/pkg/repo/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source"
)

func chartRef(name string) source.Ref { return refOf(sourcev1.HelmChartKind, testNS, name) }

// repoWithCharts serves podinfo 1.0.0, 1.1.0, 1.2.0-rc.1, 2.0.0 and 2.1.0, with values-prod.yaml in
// every chart.
func repoWithCharts(t *testing.T, user, pass string) *chartRepoServer {
	rs := newRepoServer(t, user, pass, nil)
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0-rc.1", "2.0.0", "2.1.0"} {
		rs.addChart("podinfo", v, map[string]string{
			"values-prod.yaml": "replicaCount: 3\nprod: true\nimage:\n  tag: prod\n",
		})
	}
	rs.index("")
	return rs
}

func TestFetchChartFromRepositoryResolvesRange(t *testing.T) {
	rs := repoWithCharts(t, "", "")
	repoObj := helmRepo("podinfo", rs.URL())
	f := newFetcher(t, secretMap{}, repoObj)
	repoArt, err := f.FetchRepository(context.Background(), repoObj)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ version, want string }{
		{"", "2.1.0"},
		{"*", "2.1.0"},
		{"1.x", "1.1.0"},
		{">=1.0.0-0 <2.0.0", "1.2.0-rc.1"},
		{"~1.0", "1.0.0"},
		{"2.0.0", "2.0.0"},
		{"1.2.0-rc.1", "1.2.0-rc.1"},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			obj := helmChart("podinfo", "podinfo", tt.version, sourcev1.HelmRepositoryKind, "podinfo")
			a, err := f.FetchChart(context.Background(), obj)
			if err != nil {
				t.Fatal(err)
			}
			if a.Revision != tt.want || a.Chart.Version != tt.want || a.Name != "podinfo" {
				t.Fatalf("revision %s, chart %s %s; want %s", a.Revision, a.Chart.Name, a.Chart.Version, tt.want)
			}
			if a.Packaged || a.Reason() != sourcev1.ChartPullSucceededReason {
				t.Errorf("packaged = %v, reason %s; want pulled", a.Packaged, a.Reason())
			}
			if want := "pulled 'podinfo' chart with version '" + tt.want + "'"; a.Message() != want {
				t.Errorf("message = %q, want %q", a.Message(), want)
			}
			if a.SourceRevision != repoArt.Revision {
				t.Errorf("source revision = %s, want %s", a.SourceRevision, repoArt.Revision)
			}
			// Pulled as served, byte for byte.
			served, err := os.ReadFile(filepath.Join(rs.dir, "podinfo-"+tt.want+".tgz"))
			if err != nil {
				t.Fatal(err)
			}
			stored, err := os.ReadFile(a.File)
			if err != nil || !bytes.Equal(served, stored) {
				t.Errorf("stored chart differs from the served one (%v)", err)
			}
			if filepath.Base(a.File) != "podinfo-"+tt.want+".tgz" || filepath.Dir(a.File) != a.Dir {
				t.Errorf("file = %s", a.File)
			}
		})
	}
	// Every HelmChart resolved against the index parsed once, when the HelmRepository was fetched.
	if st := f.Indexes.Stats(); st.Loads != 1 || st.Hits < len(tests) {
		t.Errorf("index cache: %+v, want 1 load and %d hits", st, len(tests))
	}
}

func TestFetchChartErrors(t *testing.T) {
	rs := repoWithCharts(t, "", "")
	repoObj := helmRepo("podinfo", rs.URL())
	unfetched := helmRepo("unfetched", rs.URL())
	f := newFetcher(t, secretMap{}, repoObj, unfetched)
	if _, err := f.FetchRepository(context.Background(), repoObj); err != nil {
		t.Fatal(err)
	}
	// A chart listed in the index whose archive is gone.
	if err := os.Remove(filepath.Join(rs.dir, "podinfo-1.0.0.tgz")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, chart, version, source, kind, reason string
		want                                       []string
		is                                         error
	}{
		{name: "chart not found", chart: "podinf", source: "podinfo", reason: ReasonInvalidChartReference,
			want: []string{"no chart named 'podinf'", "similar: podinfo"}, is: repo.ErrNoChartName},
		{name: "no version in range", chart: "podinfo", version: "3.x", source: "podinfo", reason: ReasonInvalidChartReference,
			want: []string{"no 'podinfo' chart with version matching '3.x'", "available: 2.1.0, 2.0.0, 1.2.0-rc.1, 1.1.0, 1.0.0"}, is: repo.ErrNoChartVersion},
		{name: "invalid range", chart: "podinfo", version: "not a range", source: "podinfo", reason: ReasonInvalidChartReference, want: []string{"invalid version range"}},
		{name: "invalid chart name", chart: "Pod_Info", source: "podinfo", reason: ReasonInvalidChartReference, want: []string{"invalid chart name"}},
		{name: "archive missing", chart: "podinfo", version: "1.0.0", source: "podinfo", reason: ReasonChartPullError, want: []string{"404 Not Found", "podinfo-1.0.0.tgz"}},
		{name: "repository without artifact", chart: "podinfo", source: "unfetched", reason: ReasonNoSourceArtifact, want: []string{"no artifact available for HelmRepository source 'unfetched'"}},
		{name: "repository not found", chart: "podinfo", source: "absent", reason: ReasonSourceUnavailable, want: []string{"failed to get source", "absent"}},
		{name: "unsupported source kind", chart: "podinfo", source: "x", kind: "OCIRepository", reason: ReasonUnsupportedSourceKind, want: []string{"unsupported source kind 'OCIRepository'"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind := tt.kind
			if kind == "" {
				kind = sourcev1.HelmRepositoryKind
			}
			_, err := f.FetchChart(context.Background(), helmChart("app", tt.chart, tt.version, kind, tt.source))
			fetchErr(t, err, chartRef("app"), tt.reason, tt.want...)
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(err, %v) = false", tt.is)
			}
		})
	}
}

func TestFetchChartCredentials(t *testing.T) {
	// The index lives on one server; the charts on another host (a different port is a different host).
	charts := repoWithCharts(t, "", "")
	indexSrv := newRepoServer(t, "flux", "s3cret", nil)
	if err := os.WriteFile(filepath.Join(indexSrv.dir, IndexFile), charts.index(charts.URL()), 0o644); err != nil {
		t.Fatal(err)
	}
	privateCharts := repoWithCharts(t, "flux", "s3cret")
	privateIndexSrv := newRepoServer(t, "flux", "s3cret", nil)
	if err := os.WriteFile(filepath.Join(privateIndexSrv.dir, IndexFile), privateCharts.index(privateCharts.URL()), 0o644); err != nil {
		t.Fatal(err)
	}
	sameHost := repoWithCharts(t, "flux", "s3cret")

	secrets := secretMap{}
	secrets.add("creds", corev1.SecretTypeOpaque, map[string]string{"username": "flux", "password": "s3cret"})
	tests := []struct {
		name            string
		index, charts   *chartRepoServer
		passCredentials bool
		reason          string
		chartsSawAuth   bool
	}{
		{name: "same host gets credentials", index: sameHost, charts: sameHost, chartsSawAuth: true},
		{name: "other host without passCredentials gets none", index: indexSrv, charts: charts},
		{name: "other host with passCredentials gets them", index: indexSrv, charts: charts, passCredentials: true, chartsSawAuth: true},
		{name: "private other host without passCredentials", index: privateIndexSrv, charts: privateCharts, reason: sourcev1.AuthenticationFailedReason},
		{name: "private other host with passCredentials", index: privateIndexSrv, charts: privateCharts, passCredentials: true, chartsSawAuth: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.charts.mu.Lock()
			tt.charts.log = nil
			tt.charts.mu.Unlock()
			repoObj := helmRepo("creds", tt.index.URL())
			repoObj.Spec.SecretRef = &meta.LocalObjectReference{Name: "creds"}
			repoObj.Spec.PassCredentials = tt.passCredentials
			f := newFetcher(t, secrets, repoObj)
			if _, err := f.FetchRepository(context.Background(), repoObj); err != nil {
				t.Fatal(err)
			}
			a, err := f.FetchChart(context.Background(), helmChart("app", "podinfo", "1.x", sourcev1.HelmRepositoryKind, "creds"))
			if tt.reason != "" {
				fetchErr(t, err, chartRef("app"), tt.reason, "401 Unauthorized")
			} else if err != nil {
				t.Fatal(err)
			} else if a.Revision != "1.1.0" {
				t.Errorf("revision = %s", a.Revision)
			}
			sawAuth := false
			for _, r := range tt.charts.requests() {
				if strings.HasSuffix(r.path, ".tgz") && r.auth {
					sawAuth = true
				}
			}
			if sawAuth != tt.chartsSawAuth {
				t.Errorf("chart server received credentials: %v, want %v", sawAuth, tt.chartsSawAuth)
			}
		})
	}
}

func TestFetchChartWrongPasswordForChart(t *testing.T) {
	// The index artifact was fetched with the right password; the password then changed.
	rs := repoWithCharts(t, "flux", "s3cret")
	secrets := secretMap{}
	secrets.add("creds", corev1.SecretTypeOpaque, map[string]string{"username": "flux", "password": "s3cret"})
	repoObj := helmRepo("private", rs.URL())
	repoObj.Spec.SecretRef = &meta.LocalObjectReference{Name: "creds"}
	f := newFetcher(t, secrets, repoObj)
	if _, err := f.FetchRepository(context.Background(), repoObj); err != nil {
		t.Fatal(err)
	}
	secrets.add("creds", corev1.SecretTypeOpaque, map[string]string{"username": "flux", "password": "old"})
	_, err := f.FetchChart(context.Background(), helmChart("app", "podinfo", "*", sourcev1.HelmRepositoryKind, "private"))
	fetchErr(t, err, chartRef("app"), sourcev1.AuthenticationFailedReason, "failed to authenticate with the Helm repository", "401")
	if !errors.Is(err, ErrUnauthorized) {
		t.Errorf("error does not wrap ErrUnauthorized: %v", err)
	}
}

func TestFetchChartFromRepositoryWithValuesFiles(t *testing.T) {
	rs := repoWithCharts(t, "", "")
	repoObj := helmRepo("podinfo", rs.URL())
	f := newFetcher(t, secretMap{}, repoObj)
	if _, err := f.FetchRepository(context.Background(), repoObj); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		valuesFiles   []string
		ignoreMissing bool
		generation    int64
		wantVersion   string
		wantUsed      []string
		wantObserved  []string
		wantPackaged  bool
		reason        string
		check         func(t *testing.T, vals map[string]any)
	}{
		{name: "values.yaml alone changes nothing", valuesFiles: []string{"values.yaml"}, generation: 4, wantVersion: "2.1.0"},
		{name: "merged in order", valuesFiles: []string{"values.yaml", "values-prod.yaml"}, generation: 2, wantVersion: "2.1.0+2",
			wantUsed: []string{"values.yaml", "values-prod.yaml"}, wantPackaged: true, check: func(t *testing.T, v map[string]any) {
				img := v["image"].(map[string]any)
				if v["replicaCount"] != float64(3) || v["prod"] != true || img["tag"] != "prod" || img["repository"] != "nginx" {
					t.Errorf("values = %v", v)
				}
			}},
		{name: "only the listed file", valuesFiles: []string{"values-prod.yaml"}, generation: 3, wantVersion: "2.1.0+3",
			wantUsed: []string{"values-prod.yaml"}, wantPackaged: true, check: func(t *testing.T, v map[string]any) {
				if _, ok := v["service"]; ok || v["prod"] != true {
					t.Errorf("values.yaml was merged although not listed: %v", v)
				}
			}},
		{name: "missing file ignored", valuesFiles: []string{"values.yaml", "missing.yaml", "values-prod.yaml"}, ignoreMissing: true, generation: 5, wantVersion: "2.1.0+5",
			wantUsed: []string{"values.yaml", "values-prod.yaml"}, wantObserved: []string{"values.yaml", "values-prod.yaml"}, wantPackaged: true},
		{name: "missing file fails", valuesFiles: []string{"values.yaml", "missing.yaml"}, generation: 6, reason: ReasonValuesFilesError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := helmChart("values", "podinfo", "*", sourcev1.HelmRepositoryKind, "podinfo")
			obj.Generation = tt.generation
			obj.Spec.ValuesFiles = tt.valuesFiles
			obj.Spec.IgnoreMissingValuesFiles = tt.ignoreMissing
			a, err := f.FetchChart(context.Background(), obj)
			if tt.reason != "" {
				fetchErr(t, err, chartRef("values"), tt.reason, "missing.yaml")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Revision != tt.wantVersion || a.Packaged != tt.wantPackaged {
				t.Fatalf("revision %s packaged %v; want %s %v", a.Revision, a.Packaged, tt.wantVersion, tt.wantPackaged)
			}
			if !reflect.DeepEqual(a.ValuesFiles, tt.wantUsed) || !reflect.DeepEqual(a.ObservedValuesFiles, tt.wantObserved) {
				t.Errorf("values files %v observed %v; want %v %v", a.ValuesFiles, a.ObservedValuesFiles, tt.wantUsed, tt.wantObserved)
			}
			c := loadStoredChart(t, a)
			if c.Metadata.Version != tt.wantVersion || a.Chart.Version != tt.wantVersion {
				t.Errorf("packaged chart version %s / metadata %s, want %s", c.Metadata.Version, a.Chart.Version, tt.wantVersion)
			}
			if tt.check != nil {
				tt.check(t, c.Values)
			}
		})
	}
}

func TestFetchChartIsNotRebuiltWhenUnchanged(t *testing.T) {
	rs := repoWithCharts(t, "", "")
	repoObj := helmRepo("podinfo", rs.URL())
	f := newFetcher(t, secretMap{}, repoObj)
	if _, err := f.FetchRepository(context.Background(), repoObj); err != nil {
		t.Fatal(err)
	}
	obj := helmChart("app", "podinfo", "1.x", sourcev1.HelmRepositoryKind, "podinfo")
	a1, err := f.FetchChart(context.Background(), obj)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := f.FetchChart(context.Background(), obj)
	if err != nil {
		t.Fatal(err)
	}
	if !a2.Reused || a2.Digest != a1.Digest {
		t.Errorf("second fetch: reused %v digest %s, want the first artifact %s", a2.Reused, a2.Digest, a1.Digest)
	}
	if got := rs.count("/podinfo-1.1.0.tgz", http.StatusOK); got != 1 {
		t.Errorf("chart downloaded %d times, want 1", got)
	}
	// A new generation (spec changed) rebuilds, as Flux forces a build then.
	obj.Generation = 2
	a3, err := f.FetchChart(context.Background(), obj)
	if err != nil {
		t.Fatal(err)
	}
	if a3.Reused {
		t.Error("a new generation reused the stored chart")
	}
	if got := rs.count("/podinfo-1.1.0.tgz", http.StatusOK); got != 2 {
		t.Errorf("chart downloaded %d times, want 2", got)
	}
}

func TestFetchChartFailureKeepsPreviousArtifact(t *testing.T) {
	rs := repoWithCharts(t, "", "")
	repoObj := helmRepo("podinfo", rs.URL())
	f := newFetcher(t, secretMap{}, repoObj)
	if _, err := f.FetchRepository(context.Background(), repoObj); err != nil {
		t.Fatal(err)
	}
	obj := helmChart("app", "podinfo", "1.x", sourcev1.HelmRepositoryKind, "podinfo")
	good, err := f.FetchChart(context.Background(), obj)
	if err != nil {
		t.Fatal(err)
	}
	obj.Spec.Version = "9.x"
	_, err = f.FetchChart(context.Background(), obj)
	fe := fetchErr(t, err, chartRef("app"), ReasonInvalidChartReference, "9.x")
	if fe.Previous == nil || fe.Previous.Digest != good.Digest {
		t.Errorf("Previous = %+v, want %s", fe.Previous, good.Digest)
	}
}

func TestFetchChartsConcurrently(t *testing.T) {
	rs := repoWithCharts(t, "", "")
	repoObj := helmRepo("podinfo", rs.URL())
	store := openStore(t)
	if _, err := New(store, secretMap{}).FetchRepository(context.Background(), repoObj); err != nil {
		t.Fatal(err)
	}
	// A new process: twenty HelmCharts at once share one load of the index.
	f := New(store, secretMap{})
	f.HelmRepository = repoLookup(repoObj)
	ranges := []string{"*", "1.x", "2.0.0", "<2", ">=1.2.0-0 <2"}
	want := []string{"2.1.0", "1.1.0", "2.0.0", "1.1.0", "1.2.0-rc.1"}
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		go func(i int) {
			obj := helmChart(fmt.Sprintf("chart-%d", i), "podinfo", ranges[i%len(ranges)], sourcev1.HelmRepositoryKind, "podinfo")
			a, err := f.FetchChart(context.Background(), obj)
			if err == nil && a.Revision != want[i%len(want)] {
				err = fmt.Errorf("%s: revision %s, want %s", obj.Name, a.Revision, want[i%len(want)])
			}
			errs <- err
		}(i)
	}
	for i := 0; i < 20; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if st := f.Indexes.Stats(); st.Loads != 1 {
		t.Errorf("index loaded %d times, want 1", st.Loads)
	}
}

func TestFetchChartRedirectKeepsCredentialsOnTheHost(t *testing.T) {
	// The repository answers chart downloads with a redirect to another port of the same address.
	charts := repoWithCharts(t, "", "")
	rs := newRepoServer(t, "flux", "s3cret", nil)
	if err := os.WriteFile(filepath.Join(rs.dir, IndexFile), charts.index(rs.URL()+"/redirect"), 0o644); err != nil {
		t.Fatal(err)
	}
	redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, charts.URL()+strings.TrimPrefix(r.URL.Path, "/redirect"), http.StatusFound)
	})
	inner := rs.srv.Config.Handler
	rs.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/redirect/") {
			redirect(w, r)
			return
		}
		inner.ServeHTTP(w, r)
	})
	secrets := secretMap{}
	secrets.add("creds", corev1.SecretTypeOpaque, map[string]string{"username": "flux", "password": "s3cret"})
	for _, pass := range []bool{false, true} {
		t.Run(fmt.Sprintf("passCredentials=%v", pass), func(t *testing.T) {
			charts.mu.Lock()
			charts.log = nil
			charts.mu.Unlock()
			repoObj := helmRepo("redirect", rs.URL())
			repoObj.Spec.SecretRef = &meta.LocalObjectReference{Name: "creds"}
			repoObj.Spec.PassCredentials = pass
			f := newFetcher(t, secrets, repoObj)
			if _, err := f.FetchRepository(context.Background(), repoObj); err != nil {
				t.Fatal(err)
			}
			if _, err := f.FetchChart(context.Background(), helmChart("app", "podinfo", "2.0.0", sourcev1.HelmRepositoryKind, "redirect")); err != nil {
				t.Fatal(err)
			}
			got := charts.requests()
			if len(got) != 1 || got[0].path != "/podinfo-2.0.0.tgz" || got[0].auth != pass {
				t.Errorf("chart server requests = %+v, want one with credentials %v", got, pass)
			}
		})
	}
}
