package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/converge-gitops/converge/"

// imports returns, for every Go file under dir (the repository root's relative dir), the package
// directory and the module-internal imports of its non-test files.
func imports(t *testing.T, root, dir string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, module) {
				out[filepath.ToSlash(rel)] = append(out[filepath.ToSlash(rel)], strings.TrimPrefix(p, module))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLayout: a command package imports no other command package (only commands/cmdutil), and the
// engine imports no command package.
func TestLayout(t *testing.T) {
	root := filepath.Join("..", "..")
	cmds := imports(t, root, "commands")
	if len(cmds) < 10 {
		t.Fatalf("found %d command packages; is the root right?", len(cmds))
	}
	for pkg, imps := range cmds {
		for _, imp := range imps {
			if strings.HasPrefix(imp, "commands/") && imp != "commands/cmdutil" && imp != pkg {
				t.Errorf("%s imports %s: commands share code through commands/cmdutil only", pkg, imp)
			}
		}
	}
	for pkg, imps := range imports(t, root, "engine") {
		for _, imp := range imps {
			if strings.HasPrefix(imp, "commands/") || strings.HasPrefix(imp, "cmd/") {
				t.Errorf("%s imports %s: the engine never depends on the CLI", pkg, imp)
			}
		}
	}
}
