// Package goldenfile compares test output with golden files under testdata/ and rewrites them with
// `go test -update`: the one golden-file helper of every engine and command test.
//
// Not here: what a test renders or how it normalises its output (the test does that before calling
// Check); this package only reads, writes and compares files.
package goldenfile

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/pmezard/go-difflib/difflib"
)

// update is the test binary's -update flag (a flag, as the testing package's own switches).
var update = flag.Bool("update", false, "rewrite the golden files under testdata instead of comparing with them")

// Update reports whether the test runs with -update, for tests that rewrite something other than a
// golden file (a README table) the same way.
func Update() bool { return *update }

// Check compares got with the golden file path (relative to the test's package); with -update it first
// writes got there, creating the folder. A missing file or a difference fails the test with a unified
// diff and the command that accepts the new output.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%v (go test -update writes it)", err)
		return
	}
	if !bytes.Equal(want, got) {
		diff, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{A: difflib.SplitLines(string(want)),
			B: difflib.SplitLines(string(got)), FromFile: path, ToFile: "got", Context: 3})
		t.Errorf("output differs from %s (go test -update accepts it):\n%s", path, diff)
	}
}

// CheckString is Check for text.
func CheckString(t testing.TB, path, got string) {
	t.Helper()
	Check(t, path, []byte(got))
}
