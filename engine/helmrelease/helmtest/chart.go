package helmtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// WriteChart writes files (paths relative to the chart folder, "/"-separated) under parent/name and
// returns the folder.
func WriteChart(t testing.TB, parent, name string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(parent, name)
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// CRD is a namespaced CustomResourceDefinition <plural>.<group> of kind, version v1 with any schema,
// for a chart's crds/ folder.
func CRD(group, kind, plural string, shortNames ...string) []byte {
	short := ""
	if len(shortNames) > 0 {
		short = "\n    shortNames: [" + strings.Join(shortNames, ", ") + "]"
	}
	return []byte(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ` + plural + "." + group + `
spec:
  group: ` + group + `
  names:
    kind: ` + kind + `
    plural: ` + plural + short + `
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
`)
}
