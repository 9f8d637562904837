package helmtest

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/registry"
)

// ChartDir returns the folder of the test chart name under testdata/helm-release.
func ChartDir(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "helm-release", name)
}

// Package loads the chart folder dir, lets mutate change it (nil: unchanged) and packages it as Helm
// does; it returns the archive.
func Package(t testing.TB, dir string, mutate func(*chart.Chart)) []byte {
	t.Helper()
	c, err := loader.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(c)
	}
	out := t.TempDir()
	p, err := chartutil.Save(c, out)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// Push pushes a packaged chart to ref ("host/repository:tag", plain HTTP) with Helm's registry client,
// as `helm push` does, and returns the manifest digest ("sha256:<hex>").
func Push(t testing.TB, ref string, archive []byte) string {
	t.Helper()
	client, err := registry.NewClient(registry.ClientOptPlainHTTP(), registry.ClientOptWriter(&bytes.Buffer{}),
		registry.ClientOptCredentialsFile(filepath.Join(t.TempDir(), "config.json")))
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.Push(archive, ref)
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return res.Manifest.Digest
}
