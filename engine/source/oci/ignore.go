package oci

import (
	"bufio"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/format/gitignore"

	"github.com/converge-gitops/converge/engine/source"
)

// vcsPatterns are excluded from every artifact, whatever the other rules say first.
var vcsPatterns = []string{".git/", ".gitignore", ".gitmodules", ".gitattributes"}

// pruneIgnored deletes the files of an extracted layer that Flux leaves out of an OCIRepository artifact:
// when the layer has no .sourceignore and spec.ignore is unset, Flux's default exclusions; otherwise the
// version-control files, then the .sourceignore files (each scoped to its folder), then spec.ignore. (Given
// any rule of its own, an artifact replaces the default exclusions rather than adding to them.)
func pruneIgnored(dir string, spec *string) error {
	var ps []gitignore.Pattern
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.IsDir() || d.Name() != source.IgnoreFile || !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(dir, filepath.Dir(p))
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		ps = append(ps, readPatterns(f, splitRel(rel))...)
		return nil
	})
	if err != nil {
		return err
	}
	if spec != nil {
		ps = append(ps, readPatterns(strings.NewReader(*spec), nil)...)
	}
	if len(ps) == 0 {
		ign, err := source.LoadIgnore(dir, nil, true)
		if err != nil {
			return err
		}
		return ign.Prune(dir)
	}
	all := make([]gitignore.Pattern, 0, len(vcsPatterns)+len(ps))
	for _, p := range vcsPatterns {
		all = append(all, gitignore.ParsePattern(p, nil))
	}
	return prune(dir, gitignore.NewMatcher(append(all, ps...)))
}

func readPatterns(r io.Reader, domain []string) []gitignore.Pattern {
	var ps []gitignore.Pattern
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		ps = append(ps, gitignore.ParsePattern(line, domain))
	}
	return ps
}

func splitRel(rel string) []string {
	rel = filepath.ToSlash(rel)
	if rel == "." || rel == "" {
		return nil
	}
	return strings.Split(rel, "/")
}

// prune deletes what m matches under dir; an excluded folder goes with everything in it.
func prune(dir string, m gitignore.Matcher) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if !m.Match(splitRel(rel), d.IsDir()) {
			return nil
		}
		if err := os.RemoveAll(p); err != nil {
			return err
		}
		if d.IsDir() {
			return filepath.SkipDir
		}
		return nil
	})
}
