package generator

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/converge-gitops/converge/crds/sourceext/v1beta1"
)

// pathPattern is a parsed spec.pathPattern, "@<alias>/<pattern>": the pattern is literal but for
// captures "{name}", each matching one path segment or part of one (never a '/').
type pathPattern struct {
	alias string
	re    *regexp.Regexp
	names []string
}

var captureName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// parsePathPattern checks the syntax of spec.pathPattern; aliases are the defined ones.
func parsePathPattern(s string, aliases map[string]bool) (*pathPattern, error) {
	rest, ok := strings.CutPrefix(s, "@")
	alias, pattern, slash := strings.Cut(rest, "/")
	if !ok || !slash || alias == "" || pattern == "" {
		return nil, fmt.Errorf("%w: %q: want @alias/path with {captures}", ErrInvalid, s)
	}
	if !aliases[alias] {
		return nil, fmt.Errorf("%w '%s' in %q", ErrUnknownAlias, alias, s)
	}
	p := &pathPattern{alias: alias}
	var re strings.Builder
	re.WriteString("^")
	err := scanTemplate(pattern, func(literal string) { re.WriteString(regexp.QuoteMeta(literal)) }, func(name string) error {
		for _, n := range p.names {
			if n == name {
				return fmt.Errorf("capture {%s} appears twice", name)
			}
		}
		if errs := validation.IsQualifiedName(name); len(errs) > 0 {
			return fmt.Errorf("capture {%s} is not a valid label key: %s", name, strings.Join(errs, "; "))
		}
		p.names = append(p.names, name)
		fmt.Fprintf(&re, "(?P<%s>[^/]+)", name)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrInvalid, s, err)
	}
	re.WriteString("$")
	if p.re, err = regexp.Compile(re.String()); err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrInvalid, s, err)
	}
	return p, nil
}

// scanTemplate splits s into literal text and "{name}" captures, refusing unbalanced braces and
// names that are not [A-Za-z_][A-Za-z0-9_]*.
func scanTemplate(s string, literal func(string), capture func(string) error) error {
	for s != "" {
		open := strings.IndexAny(s, "{}")
		if open < 0 {
			literal(s)
			return nil
		}
		if s[open] == '}' {
			return errors.New("'}' without '{'")
		}
		literal(s[:open])
		end := strings.IndexByte(s[open:], '}')
		if end < 0 {
			return errors.New("'{' without '}'")
		}
		name := s[open+1 : open+end]
		if !captureName.MatchString(name) {
			return fmt.Errorf("capture {%s}: want a name matching [A-Za-z_][A-Za-z0-9_]*", name)
		}
		if err := capture(name); err != nil {
			return err
		}
		s = s[open+end+1:]
	}
	return nil
}

// render replaces the captures of tmpl with values; a capture pathPattern does not define is an error.
func renderTemplate(tmpl string, values map[string]string) (string, error) {
	var b strings.Builder
	err := scanTemplate(tmpl, func(s string) { b.WriteString(s) }, func(name string) error {
		v, ok := values[name]
		if !ok {
			return fmt.Errorf("capture {%s} is not defined by pathPattern", name)
		}
		b.WriteString(v)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrInvalid, tmpl, err)
	}
	return b.String(), nil
}

// renderArtifact instantiates an artifact template: the name with the lowercased captures, from and
// to with the captures as found (source paths keep their case).
func renderArtifact(spec v1beta1.OutputArtifact, lower, raw map[string]string) (v1beta1.OutputArtifact, error) {
	out := spec
	var err error
	if out.Name, err = renderTemplate(spec.Name, lower); err != nil {
		return out, fmt.Errorf("name: %w", err)
	}
	out.Copy = make([]v1beta1.CopyOperation, len(spec.Copy))
	for i, op := range spec.Copy {
		out.Copy[i] = op
		if out.Copy[i].From, err = renderTemplate(op.From, raw); err == nil {
			out.Copy[i].To, err = renderTemplate(op.To, raw)
		}
		if err != nil {
			return out, fmt.Errorf("copy[%d]: %w", i, err)
		}
	}
	return out, nil
}

// planned is one artifact to generate: its spec (rendered when pathPattern is set) and the labels
// its ExternalArtifact gets (the captures).
type planned struct {
	spec   v1beta1.OutputArtifact
	labels map[string]string
	field  string
}

// expand returns the artifacts gen generates: spec.artifacts as they are, or, with spec.pathPattern,
// each artifact template once per folder of the source matching the pattern (in path order), as
// source-watcher documents: captured values are lowercased for names and labels and must be valid
// label values; two folders rendering the same name are an error.
func expand(gen *v1beta1.ArtifactGenerator, sources map[string]Source) ([]planned, error) {
	if gen.Spec.PathPattern == "" {
		out := make([]planned, 0, len(gen.Spec.OutputArtifacts))
		for i, a := range gen.Spec.OutputArtifacts {
			out = append(out, planned{spec: a, field: fmt.Sprintf("artifacts[%d] (%s)", i, a.Name)})
		}
		return out, nil
	}
	id := gen.Namespace + "/" + gen.Name
	fail := func(err error) error { return &Error{Generator: id, Field: "spec.pathPattern", Err: err} }
	p, err := parsePathPattern(gen.Spec.PathPattern, aliasSet(gen))
	if err != nil {
		return nil, fail(err)
	}
	root := sources[p.alias].Dir
	var out []planned
	seen := map[string]string{}
	err = filepath.WalkDir(root, func(full string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() || full == root {
			return nil // links to folders are not followed, as Flux's walk does not
		}
		rel, err := filepath.Rel(root, full)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		m := p.re.FindStringSubmatch(rel)
		if m == nil {
			return nil
		}
		raw, lower := map[string]string{}, map[string]string{}
		for i, name := range p.re.SubexpNames() {
			if i == 0 || name == "" {
				continue
			}
			raw[name], lower[name] = m[i], strings.ToLower(m[i])
			if errs := validation.IsValidLabelValue(lower[name]); len(errs) > 0 {
				return fmt.Errorf("%w: folder '%s': {%s} = %q is not a valid label value: %s", ErrInvalid, rel, name, lower[name], strings.Join(errs, "; "))
			}
		}
		for i, tmpl := range gen.Spec.OutputArtifacts {
			spec, err := renderArtifact(tmpl, lower, raw)
			if err != nil {
				return fmt.Errorf("artifacts[%d] (%s) for folder '%s': %w", i, tmpl.Name, rel, err)
			}
			if errs := validation.IsDNS1123Subdomain(spec.Name); len(errs) > 0 {
				return fmt.Errorf("%w: artifacts[%d] (%s) for folder '%s': name %q is not a valid object name: %s", ErrInvalid, i, tmpl.Name, rel, spec.Name, strings.Join(errs, "; "))
			}
			if prev, dup := seen[spec.Name]; dup {
				return fmt.Errorf("%w artifact name '%s': folders '%s' and '%s' both render it", ErrDuplicate, spec.Name, prev, rel)
			}
			seen[spec.Name] = rel
			out = append(out, planned{spec: spec, labels: lower, field: fmt.Sprintf("artifacts[%d] (%s) for '%s'", i, spec.Name, rel)})
		}
		return nil
	})
	if err != nil {
		return nil, fail(err)
	}
	return out, nil
}

func aliasSet(gen *v1beta1.ArtifactGenerator) map[string]bool {
	out := make(map[string]bool, len(gen.Spec.Sources))
	for _, s := range gen.Spec.Sources {
		out[s.Alias] = true
	}
	return out
}
