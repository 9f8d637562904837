package generator

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/crds/sourceext/v1beta1"
	"github.com/converge-gitops/converge/engine/source"
)

// op is a parsed copy operation.
type op struct {
	alias    string
	pattern  string // slash-separated, relative to the source root; "." for the root
	glob     bool
	dest     string // slash-separated, relative to the artifact root; "." for the root
	destDir  bool   // "to" ends with '/': the destination is a folder
	exclude  []string
	strategy string
}

// parseOp checks the syntax of a copy operation; aliases, when not nil, are the defined ones.
func parseOp(c v1beta1.CopyOperation, aliases map[string]bool) (*op, error) {
	rest, ok := strings.CutPrefix(c.From, "@")
	alias, pattern, slash := strings.Cut(rest, "/")
	if !ok || !slash || alias == "" {
		return nil, fmt.Errorf("%w: from %q: want @alias/path", ErrInvalid, c.From)
	}
	if aliases != nil && !aliases[alias] {
		return nil, fmt.Errorf("%w '%s' in from %q", ErrUnknownAlias, alias, c.From)
	}
	p := &op{alias: alias, glob: strings.ContainsAny(pattern, "*?["), strategy: c.GetStrategy()}
	var err error
	if p.pattern, err = cleanRel(pattern); err != nil {
		return nil, fmt.Errorf("from %q: %w", c.From, err)
	}
	if p.glob {
		if err := validGlob(p.pattern); err != nil {
			return nil, fmt.Errorf("%w: from %q: %v", ErrInvalid, c.From, err)
		}
	}
	to, ok := strings.CutPrefix(c.To, "@artifact/")
	if !ok {
		return nil, fmt.Errorf("%w: to %q: want @artifact/path", ErrInvalid, c.To)
	}
	if p.dest, err = cleanRel(to); err != nil {
		return nil, fmt.Errorf("to %q: %w", c.To, err)
	}
	p.destDir = to == "" || strings.HasSuffix(to, "/")
	for _, x := range c.Exclude {
		if err := validGlob(x); err != nil {
			return nil, fmt.Errorf("%w: exclude %q: %v", ErrInvalid, x, err)
		}
	}
	p.exclude = c.Exclude
	switch p.strategy {
	case v1beta1.OverwriteStrategy, v1beta1.MergeStrategy, v1beta1.ExtractStrategy:
	default:
		return nil, fmt.Errorf("%w: strategy %q is not one of Overwrite, Merge, Extract", ErrInvalid, c.Strategy)
	}
	return p, nil
}

// cleanRel cleans a slash-separated relative path, refusing absolute paths and ".." elements.
func cleanRel(p string) (string, error) {
	if strings.ContainsRune(p, 0) || strings.Contains(p, "\\") {
		return "", fmt.Errorf("%w: %q holds a NUL or a backslash", ErrInvalid, p)
	}
	if strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("%w: %q is absolute", ErrEscape, p)
	}
	for _, elem := range strings.Split(p, "/") {
		if elem == ".." {
			return "", fmt.Errorf("%w: %q holds \"..\"", ErrEscape, p)
		}
	}
	return path.Clean("./" + p), nil
}

// run applies the operation from the source folder srcDir into the artifact being built.
func (p *op) run(ctx context.Context, srcDir string, staging *os.Root) error {
	src, err := os.OpenRoot(srcDir)
	if err != nil {
		return fmt.Errorf("opening source '%s': %w", p.alias, err)
	}
	defer src.Close()
	c := &copier{ctx: ctx, op: p, src: src, dst: staging}
	if !p.glob {
		return c.single()
	}
	return c.globbed()
}

type copier struct {
	ctx context.Context
	op  *op
	src *os.Root
	dst *os.Root
}

// single copies a path without glob characters: cp semantics.
func (c *copier) single() error {
	p := c.op
	fi, err := c.src.Stat(p.pattern)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: '%s' does not exist in source '%s'", ErrNoMatch, p.pattern, p.alias)
	}
	if err != nil {
		return sourceErr(p.pattern, err)
	}
	if fi.IsDir() {
		if p.strategy == v1beta1.ExtractStrategy {
			return fmt.Errorf("%w: strategy Extract takes tarballs, '%s' is a folder", ErrInvalid, p.pattern)
		}
		// cp -r dir dest: the folder lands in dest under its own name ("." copies the contents).
		return c.copyDir(p.pattern, path.Join(p.dest, path.Base(p.pattern)), p.pattern)
	}
	if excluded(p.pattern, ".", p.exclude) {
		return nil
	}
	if p.strategy == v1beta1.ExtractStrategy {
		if !isTarball(p.pattern) {
			return fmt.Errorf("%w: strategy Extract takes .tar.gz or .tgz files, got '%s'", ErrInvalid, p.pattern)
		}
		return c.extract(p.pattern, p.dest)
	}
	dest := p.dest
	if p.destDir {
		dest = path.Join(dest, path.Base(p.pattern))
	} else if fi, err := c.dst.Stat(dest); err == nil && fi.IsDir() {
		dest = path.Join(dest, path.Base(p.pattern))
	}
	return c.copyFile(p.pattern, dest)
}

// globbed copies every match of a glob. A pattern "prefix/**" copies the contents of prefix into the
// destination; any other pattern keeps each match's path from the source root. A matching folder is
// copied whole.
func (c *copier) globbed() error {
	p := c.op
	base := literalPrefix(p.pattern)
	fi, err := c.src.Stat(base)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: no files match pattern '%s' in source '%s'", ErrNoMatch, p.pattern, p.alias)
	}
	if err != nil {
		return sourceErr(base, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: no files match pattern '%s' in source '%s'", ErrNoMatch, p.pattern, p.alias)
	}
	stripPrefix, strip := strings.CutSuffix(p.pattern, "/**")
	if strip && containsGlob(stripPrefix) {
		strip = false
	}
	segments := strings.Split(p.pattern, "/")
	deep := strings.Contains(p.pattern, "**")
	matched, copied := 0, 0
	err = fs.WalkDir(c.src.FS(), base, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return sourceErr(name, err)
		}
		if cerr := c.ctx.Err(); cerr != nil {
			return cerr
		}
		if name == base {
			return nil
		}
		isDir := d.IsDir()
		if !match(p.pattern, name) {
			if isDir && (!deep && strings.Count(name, "/")+1 >= len(segments) || excluded(name, base, p.exclude)) {
				return fs.SkipDir
			}
			return nil
		}
		matched++
		if excluded(name, base, p.exclude) {
			if isDir {
				return fs.SkipDir
			}
			return nil
		}
		dest := path.Join(p.dest, name)
		if strip {
			if rel, ok := strings.CutPrefix(name, stripPrefix+"/"); ok {
				dest = path.Join(p.dest, rel)
			}
		}
		if p.strategy == v1beta1.ExtractStrategy {
			if isDir || !isTarball(name) {
				return nil // Extract skips what is not a tarball
			}
			copied++
			return c.extract(name, p.dest)
		}
		copied++
		if isDir {
			if err := c.copyDir(name, dest, base); err != nil {
				return err
			}
			return fs.SkipDir
		}
		return c.copyFile(name, dest)
	})
	if err != nil {
		return err
	}
	switch {
	case matched == 0:
		return fmt.Errorf("%w: no files match pattern '%s' in source '%s'", ErrNoMatch, p.pattern, p.alias)
	case copied == 0 && p.strategy != v1beta1.ExtractStrategy:
		return fmt.Errorf("%w: all files matching pattern '%s' in source '%s' were excluded", ErrNoMatch, p.pattern, p.alias)
	}
	return nil
}

// copyDir copies the folder from (source-relative) to dest (artifact-relative), skipping excluded
// paths; excludeBase is the second root exclusion patterns are matched from.
func (c *copier) copyDir(from, dest, excludeBase string) error {
	if err := c.mkdirAll(dest); err != nil {
		return err
	}
	return fs.WalkDir(c.src.FS(), from, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return sourceErr(name, err)
		}
		if cerr := c.ctx.Err(); cerr != nil {
			return cerr
		}
		if name == from {
			return nil
		}
		if excluded(name, excludeBase, c.op.exclude) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		rel := strings.TrimPrefix(name, from+"/")
		if from == "." {
			rel = name
		}
		target := path.Join(dest, rel)
		if d.IsDir() {
			return c.mkdirAll(target)
		}
		return c.copyFile(name, target)
	})
}

// copyFile copies one file (following links inside the source) to dest, merging YAML with strategy
// Merge when dest exists. Links to folders are skipped.
func (c *copier) copyFile(from, dest string) error {
	fi, err := c.src.Stat(from)
	if err != nil {
		return sourceErr(from, err)
	}
	if fi.IsDir() {
		return nil // a link to a folder: not followed
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: '%s' is not a regular file", ErrInvalid, from)
	}
	if dir := path.Dir(dest); dir != "." {
		if err := c.mkdirAll(dir); err != nil {
			return err
		}
	}
	data, err := c.src.ReadFile(from)
	if err != nil {
		return sourceErr(from, err)
	}
	if c.op.strategy == v1beta1.MergeStrategy {
		if existing, err := c.dst.ReadFile(dest); err == nil {
			merged, err := mergeYAML(existing, data)
			if err != nil {
				return fmt.Errorf("merging '%s' into '%s': %w", from, dest, err)
			}
			data = merged
		}
	}
	perm := fs.FileMode(0o644)
	if fi.Mode()&0o111 != 0 {
		perm = 0o755
	}
	if fi, err := c.dst.Lstat(dest); err == nil {
		if fi.IsDir() {
			return fmt.Errorf("%w: cannot copy '%s' over the folder '%s'", ErrInvalid, from, dest)
		}
		if err := c.dst.Remove(dest); err != nil {
			return artifactErr(dest, err)
		}
	}
	f, err := c.dst.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return artifactErr(dest, err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (c *copier) mkdirAll(dir string) error {
	if dir == "." {
		return nil
	}
	if err := c.dst.MkdirAll(dir, 0o755); err != nil {
		return artifactErr(dir, err)
	}
	return nil
}

// extract unpacks the tarball from into dest with engine/source's safe extraction.
func (c *copier) extract(from, dest string) error {
	f, err := c.src.Open(from)
	if err != nil {
		return sourceErr(from, err)
	}
	defer f.Close()
	if err := c.mkdirAll(dest); err != nil {
		return err
	}
	target := c.dst.Name()
	if dest != "." {
		target = target + "/" + dest
	}
	if err := source.ExtractTarGz(f, target, source.ExtractOptions{}); err != nil {
		if errors.Is(err, source.ErrUnsafePath) || errors.Is(err, source.ErrUnsafeLink) {
			return fmt.Errorf("%w: extracting '%s': %v", ErrEscape, from, err)
		}
		return fmt.Errorf("extracting '%s': %w", from, err)
	}
	return nil
}

// sourceErr names a source path; os.Root's refusal to leave the source (through a link) is ErrEscape.
func sourceErr(name string, err error) error {
	if isEscape(err) {
		return fmt.Errorf("%w the source: '%s' links outside it", ErrEscape, name)
	}
	return fmt.Errorf("reading '%s': %w", name, err)
}

func artifactErr(name string, err error) error {
	if isEscape(err) {
		return fmt.Errorf("%w the artifact: '%s'", ErrEscape, name)
	}
	return fmt.Errorf("writing '%s': %w", name, err)
}

func isEscape(err error) bool {
	return err != nil && strings.Contains(err.Error(), "path escapes from parent")
}

func isTarball(name string) bool {
	lower := strings.ToLower(name)
	return strings.HasSuffix(lower, ".tar.gz") || strings.HasSuffix(lower, ".tgz")
}

// mergeYAML deep-merges the documents of overlay into base as Helm merges values files: maps merge key
// by key, anything else (lists included) is replaced. Several documents in one file merge in order.
func mergeYAML(base, overlay []byte) ([]byte, error) {
	b, err := loadYAML(base)
	if err != nil {
		return nil, err
	}
	o, err := loadYAML(overlay)
	if err != nil {
		return nil, err
	}
	return yaml.Marshal(mergeMaps(b, o))
}

func loadYAML(data []byte) (map[string]any, error) {
	out := map[string]any{}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading YAML: %w", err)
		}
		m := map[string]any{}
		if err := yaml.Unmarshal(doc, &m); err != nil {
			return nil, fmt.Errorf("parsing YAML: %w", err)
		}
		out = mergeMaps(out, m)
	}
}

func mergeMaps(base, overlay map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(overlay))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range overlay {
		if om, ok := v.(map[string]any); ok {
			if bm, ok := out[k].(map[string]any); ok {
				out[k] = mergeMaps(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// writeArchive writes the canonical tarball of dir to file and returns its digest and size.
func writeArchive(dir, file string) (string, int64, error) {
	f, err := os.Create(file)
	if err != nil {
		return "", 0, err
	}
	h := sha256.New()
	cw := &counter{}
	err = source.WriteTarGz(io.MultiWriter(f, h, cw), dir)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), cw.n, nil
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
