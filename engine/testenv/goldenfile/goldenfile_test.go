package goldenfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a testing.TB that records failures instead of failing the test.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, format)
}
func (r *recorder) Fatal(args ...any) { r.TB.Fatal(args...) }

func TestCheck(t *testing.T) {
	if Update() {
		t.Skip("compares, never rewrites")
	}
	dir := t.TempDir()
	same := filepath.Join(dir, "same.txt")
	if err := os.WriteFile(same, []byte("a\nb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, got string
		fails           string
	}{
		{"equal", same, "a\nb\n", ""},
		{"different", same, "a\nc\n", "differs"},
		{"missing", filepath.Join(dir, "missing.txt"), "a\n", "writes it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{TB: t}
			CheckString(r, tc.path, tc.got)
			switch {
			case tc.fails == "" && len(r.errors) > 0:
				t.Errorf("unexpected failure: %v", r.errors)
			case tc.fails != "" && (len(r.errors) != 1 || !strings.Contains(r.errors[0], tc.fails)):
				t.Errorf("failures %v, want one containing %q", r.errors, tc.fails)
			}
		})
	}
}
