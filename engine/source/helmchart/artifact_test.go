package helmchart

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	corev1 "k8s.io/api/core/v1"

	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source"
)

const (
	gitSHA    = "5394cb7f48332b2de7c17dd8b8384bbc84b7e738"
	bucketHex = "4e5cbb7b97d00a8039b8810b90b922f4256fd3bd8f78b934b4892dae13f7ca87"
)

func gitRef(name string) source.Ref    { return refOf(sourcev1.GitRepositoryKind, testNS, name) }
func bucketRef(name string) source.Ref { return refOf(sourcev1.BucketKind, testNS, name) }

// monorepo builds the files of a Git repository: charts/app (a folder chart, 0.1.0), charts/packaged
// (app-0.3.0.tgz), and values files outside the charts.
func monorepo(t testing.TB) func(dir string) {
	return func(dir string) {
		charts := filepath.Join(dir, "charts")
		if err := os.MkdirAll(charts, 0o755); err != nil {
			t.Fatal(err)
		}
		newChart(t, charts, "app", "0.1.0", nil)
		packaged := filepath.Join(charts, "packaged")
		if err := os.MkdirAll(packaged, 0o755); err != nil {
			t.Fatal(err)
		}
		packageInto(t, newChart(t, t.TempDir(), "app", "0.3.0", nil), packaged)
		writeFile(t, filepath.Join(dir, "values", "prod.yaml"), "replicaCount: 5\nimage:\n  tag: v9\nprod: true\n")
		writeFile(t, filepath.Join(dir, "values", "extra.yaml"), "image:\n  pullPolicy: Always\nprod: false\n")
	}
}

func writeFile(t testing.TB, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFetchChartFromSourceArtifact(t *testing.T) {
	f := newFetcher(t, secretMap{})
	commitFolder(t, f.Store, gitRef("mono"), "main@sha1:"+gitSHA, monorepo(t))
	commitFolder(t, f.Store, bucketRef("mono"), "sha256:"+bucketHex, monorepo(t))
	packagedBytes := func() []byte {
		cur, _ := f.Store.Current(gitRef("mono"))
		b, err := os.ReadFile(filepath.Join(cur.Dir, "charts", "packaged", "app-0.3.0.tgz"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}()

	tests := []struct {
		name          string
		kind          string
		chartPath     string
		strategy      string
		valuesFiles   []string
		ignoreMissing bool
		wantVersion   string
		wantPackaged  bool
		wantUsed      []string
		check         func(t *testing.T, c *chart.Chart, a *ChartArtifact)
	}{
		{name: "folder", kind: sourcev1.GitRepositoryKind, chartPath: "charts/app", wantVersion: "0.1.0", wantPackaged: true,
			check: func(t *testing.T, c *chart.Chart, _ *ChartArtifact) {
				if c.Values["replicaCount"] != float64(1) {
					t.Errorf("default values changed: %v", c.Values)
				}
			}},
		{name: "folder with values files", kind: sourcev1.GitRepositoryKind, chartPath: "./charts/app/", valuesFiles: []string{"values/prod.yaml", "values/extra.yaml"},
			wantVersion: "0.1.0+1", wantPackaged: true, wantUsed: []string{"values/prod.yaml", "values/extra.yaml"},
			check: func(t *testing.T, c *chart.Chart, _ *ChartArtifact) {
				img := c.Values["image"].(map[string]any)
				if c.Values["replicaCount"] != float64(5) || c.Values["prod"] != false || img["tag"] != "v9" || img["pullPolicy"] != "Always" {
					t.Errorf("merged values = %v", c.Values)
				}
				if _, ok := c.Values["service"]; ok {
					t.Error("the chart's values.yaml was merged although not listed")
				}
			}},
		{name: "revision strategy", kind: sourcev1.GitRepositoryKind, chartPath: "charts/app", strategy: sourcev1.ReconcileStrategyRevision,
			wantVersion: "0.1.0+" + gitSHA[:12], wantPackaged: true},
		{name: "revision strategy with values files", kind: sourcev1.GitRepositoryKind, chartPath: "charts/app", strategy: sourcev1.ReconcileStrategyRevision,
			valuesFiles: []string{"values/prod.yaml"}, wantVersion: "0.1.0+" + gitSHA[:12] + ".1", wantPackaged: true, wantUsed: []string{"values/prod.yaml"}},
		{name: "bucket revision strategy", kind: sourcev1.BucketKind, chartPath: "charts/app", strategy: sourcev1.ReconcileStrategyRevision,
			wantVersion: "0.1.0+" + bucketHex[:12], wantPackaged: true},
		{name: "packaged chart as is", kind: sourcev1.GitRepositoryKind, chartPath: "charts/packaged/app-0.3.0.tgz", wantVersion: "0.3.0",
			check: func(t *testing.T, _ *chart.Chart, a *ChartArtifact) {
				if b, _ := os.ReadFile(a.File); !bytes.Equal(b, packagedBytes) {
					t.Error("packaged chart was not stored as is")
				}
			}},
		{name: "packaged chart with values files", kind: sourcev1.BucketKind, chartPath: "charts/packaged/app-0.3.0.tgz", valuesFiles: []string{"values/prod.yaml"},
			wantVersion: "0.3.0+1", wantPackaged: true, wantUsed: []string{"values/prod.yaml"}},
		{name: "missing values file ignored", kind: sourcev1.GitRepositoryKind, chartPath: "charts/app", valuesFiles: []string{"values/none.yaml", "values/prod.yaml"},
			ignoreMissing: true, wantVersion: "0.1.0+1", wantPackaged: true, wantUsed: []string{"values/prod.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := helmChart("app", tt.chartPath, "", tt.kind, "mono")
			obj.Spec.ReconcileStrategy = tt.strategy
			obj.Spec.ValuesFiles = tt.valuesFiles
			obj.Spec.IgnoreMissingValuesFiles = tt.ignoreMissing
			a, err := f.FetchChart(context.Background(), obj)
			if err != nil {
				t.Fatal(err)
			}
			if a.Revision != tt.wantVersion || a.Packaged != tt.wantPackaged || a.Name != "app" {
				t.Fatalf("revision %s packaged %v name %s; want %s %v app", a.Revision, a.Packaged, a.Name, tt.wantVersion, tt.wantPackaged)
			}
			if !reflect.DeepEqual(a.ValuesFiles, tt.wantUsed) {
				t.Errorf("values files = %v, want %v", a.ValuesFiles, tt.wantUsed)
			}
			if tt.ignoreMissing != (a.ObservedValuesFiles != nil) {
				t.Errorf("observed values files = %v with ignoreMissingValuesFiles %v", a.ObservedValuesFiles, tt.ignoreMissing)
			}
			wantSource := "main@sha1:" + gitSHA
			if tt.kind == sourcev1.BucketKind {
				wantSource = "sha256:" + bucketHex
			}
			if a.SourceRevision != wantSource {
				t.Errorf("source revision = %s", a.SourceRevision)
			}
			if filepath.Base(a.File) != "app-"+tt.wantVersion+".tgz" {
				t.Errorf("file = %s", a.File)
			}
			c := loadStoredChart(t, a)
			if c.Metadata.Version != tt.wantVersion || a.Chart.Version != tt.wantVersion {
				t.Errorf("chart version %s, metadata %s; want %s", c.Metadata.Version, a.Chart.Version, tt.wantVersion)
			}
			if tt.check != nil {
				tt.check(t, c, a)
			}
		})
	}
}

func TestFetchChartFromSourceArtifactErrors(t *testing.T) {
	f := newFetcher(t, secretMap{})
	commitFolder(t, f.Store, gitRef("mono"), "main@sha1:"+gitSHA, func(dir string) {
		monorepo(t)(dir)
		charts := filepath.Join(dir, "charts")
		newChart(t, charts, "leaky", "0.1.0", nil)
		if err := os.Symlink("/etc/hostname", filepath.Join(charts, "leaky", "templates", "hostname.txt")); err != nil {
			t.Fatal(err)
		}
		newChart(t, charts, "badversion", "0.1.0", nil)
		writeFile(t, filepath.Join(charts, "badversion", "Chart.yaml"), "apiVersion: v2\nname: badversion\nversion: one\n")
		newChart(t, charts, "novalues", "0.1.0", nil)
		if err := os.Remove(filepath.Join(charts, "novalues", "values.yaml")); err != nil {
			t.Fatal(err)
		}
		newChart(t, charts, "baddep", "0.1.0", nil)
		writeFile(t, filepath.Join(charts, "baddep", "Chart.yaml"), "apiVersion: v2\nname: baddep\nversion: 0.1.0\ndependencies:\n- name: app\n  version: 9.x\n  repository: file://../app\n")
	})
	tests := []struct {
		name, chartPath, source, reason string
		valuesFiles                     []string
		want                            []string
	}{
		{name: "no chart at path", chartPath: "charts/none", source: "mono", reason: ReasonInvalidChartReference, want: []string{"no chart at 'charts/none'", gitSHA}},
		{name: "path climbing out stays inside", chartPath: "../../../../etc", source: "mono", reason: ReasonInvalidChartReference, want: []string{"no chart at"}},
		{name: "symlink leaving the source", chartPath: "charts/leaky", source: "mono", reason: ReasonChartPackageError, want: []string{"hostname.txt", "outside the source root"}},
		{name: "version not SemVer", chartPath: "charts/badversion", source: "mono", reason: ReasonInvalidChartReference, want: []string{`"one" is invalid`}},
		{name: "values file missing", chartPath: "charts/app", source: "mono", valuesFiles: []string{"values/none.yaml"}, reason: ReasonValuesFilesError, want: []string{"no values file found at path 'values/none.yaml'"}},
		{name: "values file escaping", chartPath: "charts/app", source: "mono", valuesFiles: []string{"../../../../etc/hostname"}, reason: ReasonValuesFilesError, want: []string{"no values file found"}},
		{name: "values files on a chart without values.yaml", chartPath: "charts/novalues", source: "mono", valuesFiles: []string{"values/prod.yaml"}, reason: ReasonValuesFilesError, want: []string{"failed to locate values file"}},
		{name: "dependency out of range", chartPath: "charts/baddep", source: "mono", reason: ReasonDependencyBuildError, want: []string{"can't get a valid version for constraint '9.x'"}},
		{name: "source without artifact", chartPath: "charts/app", source: "never-fetched", reason: ReasonNoSourceArtifact, want: []string{"no artifact available for GitRepository source 'never-fetched'"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := helmChart("broken", tt.chartPath, "", sourcev1.GitRepositoryKind, tt.source)
			obj.Spec.ValuesFiles = tt.valuesFiles
			_, err := f.FetchChart(context.Background(), obj)
			fetchErr(t, err, chartRef("broken"), tt.reason, tt.want...)
		})
	}
}

func TestFetchChartReconcileStrategy(t *testing.T) {
	f := newFetcher(t, secretMap{})
	build := func(replicas string) func(string) {
		return func(dir string) {
			newChart(t, dir, "app", "0.1.0", map[string]string{"values.yaml": "replicaCount: " + replicas + "\n"})
		}
	}
	commitFolder(t, f.Store, gitRef("repo"), "main@sha1:"+gitSHA, build("1"))
	byVersion := helmChart("by-version", "app", "", sourcev1.GitRepositoryKind, "repo")
	byRevision := helmChart("by-revision", "app", "", sourcev1.GitRepositoryKind, "repo")
	byRevision.Spec.ReconcileStrategy = sourcev1.ReconcileStrategyRevision
	v1, err := f.FetchChart(context.Background(), byVersion)
	if err != nil {
		t.Fatal(err)
	}
	r1, err := f.FetchChart(context.Background(), byRevision)
	if err != nil {
		t.Fatal(err)
	}

	// Packaging is reproducible: the same chart packaged for another HelmChart has the same digest.
	twin := helmChart("twin", "app", "", sourcev1.GitRepositoryKind, "repo")
	tw, err := f.FetchChart(context.Background(), twin)
	if err != nil {
		t.Fatal(err)
	}
	if tw.Digest != v1.Digest {
		t.Errorf("same chart packaged twice: digests %s and %s", tw.Digest, v1.Digest)
	}

	// New commit, same chart version.
	const sha2 = "0123456789abcdef0123456789abcdef01234567"
	commitFolder(t, f.Store, gitRef("repo"), "main@sha1:"+sha2, build("7"))
	v2, err := f.FetchChart(context.Background(), byVersion)
	if err != nil {
		t.Fatal(err)
	}
	if !v2.Reused || v2.Digest != v1.Digest || v2.Revision != "0.1.0" || v2.SourceRevision != "main@sha1:"+sha2 {
		t.Errorf("ChartVersion strategy rebuilt on a new revision: reused %v, %s %s (source %s)", v2.Reused, v2.Revision, v2.Digest, v2.SourceRevision)
	}
	r2, err := f.FetchChart(context.Background(), byRevision)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Reused || r2.Revision != "0.1.0+"+sha2[:12] || r2.Digest == r1.Digest {
		t.Errorf("Revision strategy: reused %v revision %s", r2.Reused, r2.Revision)
	}
	if c := loadStoredChart(t, r2); c.Values["replicaCount"] != float64(7) {
		t.Errorf("rebuilt chart has values %v", c.Values)
	}
}

func TestFetchChartDependencies(t *testing.T) {
	rs := repoWithCharts(t, "", "")
	private := repoWithCharts(t, "flux", "s3cret")
	secrets := secretMap{}
	secrets.add("creds", corev1.SecretTypeOpaque, map[string]string{"username": "flux", "password": "s3cret"})
	privateRepo := helmRepo("private", private.URL())
	privateRepo.Spec.SecretRef = &meta.LocalObjectReference{Name: "creds"}

	f := newFetcher(t, secrets)
	commitFolder(t, f.Store, gitRef("deps"), "main@sha1:"+gitSHA, func(dir string) {
		charts := filepath.Join(dir, "charts")
		newChart(t, charts, "lib", "0.2.1", nil)
		for name, deps := range map[string]string{
			"local":   "- name: lib\n  version: 0.2.x\n  repository: file://../lib\n",
			"aliased": "- name: lib\n  alias: base\n  version: '>=0.2.0'\n  repository: file://../lib\n",
			"remote":  "- name: podinfo\n  version: 1.x\n  repository: " + rs.URL() + "\n",
			"private": "- name: podinfo\n  version: 2.0.0\n  repository: " + private.URL() + "/\n",
			"alias":   "- name: podinfo\n  version: 1.x\n  repository: '@stable'\n",
		} {
			newChart(t, charts, name, "1.0.0", nil)
			writeFile(t, filepath.Join(charts, name, chartutil.ChartfileName), "apiVersion: v2\nname: "+name+"\nversion: 1.0.0\ndependencies:\n"+deps)
		}
		// A dependency already vendored in charts/ is kept as is.
		newChart(t, charts, "vendored", "1.0.0", nil)
		writeFile(t, filepath.Join(charts, "vendored", chartutil.ChartfileName), "apiVersion: v2\nname: vendored\nversion: 1.0.0\ndependencies:\n- name: inner\n  version: 5.0.0\n  repository: https://127.0.0.1:1/unreachable\n")
		newChart(t, filepath.Join(charts, "vendored", "charts"), "inner", "5.0.0", nil)
	})

	tests := []struct {
		name, chartPath string
		byURL           bool
		wantDeps        map[string]string // name -> version
		reason          string
		want            []string
	}{
		{name: "local file dependency", chartPath: "charts/local", wantDeps: map[string]string{"lib": "0.2.1"}},
		{name: "aliased local dependency", chartPath: "charts/aliased", wantDeps: map[string]string{"base": "0.2.1"}},
		{name: "remote dependency", chartPath: "charts/remote", wantDeps: map[string]string{"podinfo": "1.1.0"}},
		{name: "vendored dependency", chartPath: "charts/vendored", wantDeps: map[string]string{"inner": "5.0.0"}},
		{name: "private dependency with the HelmRepository's credentials", chartPath: "charts/private", byURL: true, wantDeps: map[string]string{"podinfo": "2.0.0"}},
		{name: "private dependency without credentials", chartPath: "charts/private", reason: ReasonDependencyBuildError, want: []string{"failed to add remote dependency 'podinfo'", "401"}},
		{name: "repository alias", chartPath: "charts/alias", reason: ReasonDependencyBuildError, want: []string{"aliased repository dependency is not supported"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One HelmChart per case: a chart whose name and version did not change is not rebuilt.
			name := fmt.Sprintf("deps-%d", i)
			f.HelmRepositoryByURL = nil
			if tt.byURL {
				f.HelmRepositoryByURL = func(_ context.Context, ns, url string) (*sourcev1.HelmRepository, error) {
					if ns == testNS && url == mustNormalize(t, private.URL()) {
						return privateRepo.DeepCopy(), nil
					}
					return nil, nil
				}
			}
			a, err := f.FetchChart(context.Background(), helmChart(name, tt.chartPath, "", sourcev1.GitRepositoryKind, "deps"))
			if tt.reason != "" {
				fetchErr(t, err, chartRef(name), tt.reason, tt.want...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, d := range loadStoredChart(t, a).Dependencies() {
				got[d.Name()] = d.Metadata.Version
			}
			if !reflect.DeepEqual(got, tt.wantDeps) {
				t.Errorf("dependencies = %v, want %v", got, tt.wantDeps)
			}
		})
	}
}

func TestRevisionHash(t *testing.T) {
	tests := []struct{ kind, rev, want string }{
		{sourcev1.GitRepositoryKind, "main@sha1:" + gitSHA, gitSHA[:12]},
		{sourcev1.GitRepositoryKind, "feature/x@sha1:" + gitSHA, gitSHA[:12]},
		{sourcev1.GitRepositoryKind, "sha1:" + gitSHA, gitSHA[:12]},
		{sourcev1.GitRepositoryKind, "main/" + gitSHA, gitSHA[:12]},
		{sourcev1.GitRepositoryKind, "feature/branch/" + gitSHA, gitSHA[:12]},
		{sourcev1.GitRepositoryKind, gitSHA, gitSHA[:12]},
		{sourcev1.GitRepositoryKind, "v1@sha256:" + bucketHex, bucketHex[:12]},
		{sourcev1.BucketKind, "sha256:" + bucketHex, bucketHex[:12]},
		{sourcev1.BucketKind, bucketHex, bucketHex[:12]},
		{sourcev1.BucketKind, "sha256:short", "sha256:short"},
		{sourcev1.BucketKind, "", ""},
	}
	for _, tt := range tests {
		if got := revisionHash(tt.kind, tt.rev); got != tt.want {
			t.Errorf("revisionHash(%s, %q) = %q, want %q", tt.kind, tt.rev, got, tt.want)
		}
	}
}

func FuzzRevisionHash(f *testing.F) {
	for _, s := range []string{"main@sha1:" + gitSHA, "sha256:" + bucketHex, "a/b/c", "::", "", "sha256:" + strings.ToUpper(bucketHex)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rev string) {
		for _, kind := range []string{sourcev1.GitRepositoryKind, sourcev1.BucketKind} {
			h := revisionHash(kind, rev)
			if len(h) > 12 {
				t.Fatalf("revisionHash(%s, %q) = %q, longer than 12", kind, rev, h)
			}
			if !strings.Contains(rev, h) {
				t.Fatalf("revisionHash(%s, %q) = %q is not part of the revision", kind, rev, h)
			}
		}
	})
}
