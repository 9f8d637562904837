package source

import (
	"bufio"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
)

// IgnoreFile is the per-folder file of exclusion patterns, as in Flux.
const IgnoreFile = ".sourceignore"

// Version control files are always excluded.
var vcsIgnore = []string{".git/", ".gitignore", ".gitmodules", ".gitattributes"}

// Flux's default exclusions, applied only when neither .sourceignore files nor spec.ignore give rules.
var defaultIgnore = []string{
	// binary and archive extensions
	"*.jpg", "*.jpeg", "*.gif", "*.png", "*.wmv", "*.flv", "*.tar.gz", "*.zip",
	// CI configuration
	".github/", ".circleci/", ".travis.yml", ".gitlab-ci.yml", "appveyor.yml", ".drone.yml",
	"cloudbuild.yaml", "codeship-services.yml", "codeship-steps.yml",
	// tooling
	"**/.goreleaser.yml", "**/.sops.yaml", "**/.flux.yaml",
}

// Ignore decides which files of a source are left out of its artifact.
type Ignore struct {
	m gitignore.Matcher
}

// LoadIgnore builds the rules for the files under dir as Flux does: version-control files always; then
// every .sourceignore below dir (scoped to its folder) and spec (the object's spec.ignore); and, only
// when those give no rule at all and withDefaults is set, Flux's default exclusions (images, archives,
// CI configuration).
func LoadIgnore(dir string, spec *string, withDefaults bool) (*Ignore, error) {
	var ps []gitignore.Pattern
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.IsDir() || d.Name() != IgnoreFile || !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(dir, filepath.Dir(p))
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		ps = append(ps, readPatterns(f, splitPath(rel))...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if spec != nil {
		ps = append(ps, readPatterns(strings.NewReader(*spec), nil)...)
	}
	base := vcsIgnore
	if len(ps) == 0 && withDefaults {
		base = append(append([]string{}, vcsIgnore...), defaultIgnore...)
	}
	all := make([]gitignore.Pattern, 0, len(base)+len(ps))
	for _, p := range base {
		all = append(all, gitignore.ParsePattern(p, nil))
	}
	return &Ignore{m: gitignore.NewMatcher(append(all, ps...))}, nil
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

func splitPath(rel string) []string {
	rel = filepath.ToSlash(rel)
	if rel == "." || rel == "" {
		return nil
	}
	return strings.Split(rel, "/")
}

// Match reports whether the path rel (slash or OS separated, relative to the source root) is excluded.
func (i *Ignore) Match(rel string, isDir bool) bool {
	return i.m.Match(splitPath(rel), isDir)
}

// Prune deletes the excluded files and folders under dir, in place.
func (i *Ignore) Prune(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if i.Match(rel, d.IsDir()) {
			if err := os.RemoveAll(p); err != nil {
				return err
			}
			if d.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
}
