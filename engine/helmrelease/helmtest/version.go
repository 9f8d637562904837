package helmtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// PackageVersion packages the test chart name (ChartDir) with its Chart.yaml version set to version,
// for tests that publish several versions of one chart.
func PackageVersion(t testing.TB, name, version string) []byte {
	t.Helper()
	src := ChartDir(name)
	dir := filepath.Join(t.TempDir(), name)
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if rel == "Chart.yaml" {
			lines := strings.Split(string(data), "\n")
			found := false
			for i, l := range lines {
				if strings.HasPrefix(l, "version:") {
					lines[i], found = "version: "+version, true
				}
			}
			if !found {
				t.Fatalf("%s has no version line", p)
			}
			data = []byte(strings.Join(lines, "\n"))
		}
		return os.WriteFile(filepath.Join(dir, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return Package(t, dir, nil)
}
