package image

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"

	imagev1 "github.com/converge-gitops/converge/crds/image/v1"
)

// markerKey is the key of a setter marker: `# {"$imagepolicy": "namespace:name[:field]"}`.
const markerKey = "$imagepolicy"

// Marker fields: which part of the elected image a marker sets.
const (
	FieldImage  = ""       // name:tag[@digest]
	FieldTag    = "tag"    // the tag
	FieldName   = "name"   // the image name
	FieldDigest = "digest" // the digest
)

// Marker is a parsed `$imagepolicy` comment.
type Marker struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Field     string `json:"field,omitempty"`
}

// Setter renders the marker as it is written, namespace:name[:field].
func (m Marker) Setter() string {
	s := m.Namespace + ":" + m.Name
	if m.Field != "" {
		s += ":" + m.Field
	}
	return s
}

// ParseMarker parses a YAML comment ("# {...}"). ok is false when the comment is no marker; err is set
// when it is one but malformed.
func ParseMarker(comment string) (m Marker, ok bool, err error) {
	text := strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(comment), "#"))
	if !strings.HasPrefix(text, "{") || !strings.Contains(text, markerKey) {
		return Marker{}, false, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &obj); err != nil {
		return Marker{}, false, nil // some other JSON-looking comment
	}
	raw, found := obj[markerKey]
	if !found {
		return Marker{}, false, nil
	}
	var value string
	if err := json.Unmarshal(raw, &value); err != nil {
		return Marker{}, true, fmt.Errorf("%s must be a string \"namespace:name[:field]\"", markerKey)
	}
	parts := strings.Split(value, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return Marker{}, true, fmt.Errorf("%s %q: want \"namespace:name\" or \"namespace:name:tag|name|digest\"", markerKey, value)
	}
	m = Marker{Namespace: parts[0], Name: parts[1]}
	if len(parts) == 3 {
		switch parts[2] {
		case FieldTag, FieldName, FieldDigest:
			m.Field = parts[2]
		default:
			return Marker{}, true, fmt.Errorf("%s %q: unknown field %q (want tag, name or digest)", markerKey, value, parts[2])
		}
	}
	return m, true, nil
}

// Value returns the text a marker with field sets for ref; false when ref lacks its name or tag. As Flux
// does, a digest marker is set to "" when the policy reports no digest (digestReflectionPolicy Never).
func Value(ref imagev1.ImageRef, field string) (string, bool) {
	switch field {
	case FieldTag:
		return ref.Tag, ref.Tag != ""
	case FieldName:
		return ref.Name, ref.Name != ""
	case FieldDigest:
		return ref.Digest, true
	}
	return ref.String(), ref.Name != "" && ref.Tag != ""
}

// ObjectIdentifier names the object a change was made in; it has no name in e.g. a kustomization.yaml.
type ObjectIdentifier struct {
	Name, Namespace, APIVersion, Kind string
}

// GetAPIVersion, GetKind, GetName and GetNamespace are the accessors of kyaml's ResourceIdentifier,
// which Flux's templates may call.
func (o ObjectIdentifier) GetAPIVersion() string { return o.APIVersion }

// GetKind returns the object's kind.
func (o ObjectIdentifier) GetKind() string { return o.Kind }

// GetName returns the object's name.
func (o ObjectIdentifier) GetName() string { return o.Name }

// GetNamespace returns the object's namespace.
func (o ObjectIdentifier) GetNamespace() string { return o.Namespace }

// String renders the identifier as Kind/namespace/name.
func (o ObjectIdentifier) String() string {
	s := o.Kind
	if o.Namespace != "" {
		s += "/" + o.Namespace
	}
	if o.Name != "" {
		s += "/" + o.Name
	}
	return s
}

// Change is one value rewritten by a marker. OldValue, NewValue and Setter are the names Flux's commit
// message templates use.
type Change struct {
	File     string           `json:"file"`
	Line     int              `json:"line"`
	Object   ObjectIdentifier `json:"object"`
	OldValue string           `json:"oldValue"`
	NewValue string           `json:"newValue"`
	Setter   string           `json:"setter"`
}

// ObjectChanges holds the changes made to each object.
type ObjectChanges map[ObjectIdentifier][]Change

// Result holds the changes of an update, file -> object -> changes, the shape Flux gives commit
// message templates as .Changed.
type Result struct {
	FileChanges map[string]ObjectChanges
}

// Changes returns the distinct changes as Flux's templates see them: one per old value, new value and
// setter, whichever files they were made in (the first by file and line).
func (r Result) Changes() []Change {
	type key struct{ old, new, setter string }
	seen := map[key]bool{}
	var out []Change
	for _, c := range r.All() {
		k := key{c.OldValue, c.NewValue, c.Setter}
		if !seen[k] {
			seen[k] = true
			out = append(out, c)
		}
	}
	return out
}

// All returns every change, ordered by file and line.
func (r Result) All() []Change {
	var out []Change
	for _, objs := range r.FileChanges {
		for _, cs := range objs {
			out = append(out, cs...)
		}
	}
	slices.SortFunc(out, func(a, b Change) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		return a.Line - b.Line
	})
	return out
}

// Objects returns the changes per object, whichever file the object is in.
func (r Result) Objects() ObjectChanges {
	out := ObjectChanges{}
	for _, objs := range r.FileChanges {
		for id, cs := range objs {
			out[id] = append(out[id], cs...)
		}
	}
	return out
}

// Files returns the changed files, sorted.
func (r Result) Files() []string {
	out := make([]string, 0, len(r.FileChanges))
	for f := range r.FileChanges {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

func (r *Result) add(c Change) {
	if r.FileChanges == nil {
		r.FileChanges = map[string]ObjectChanges{}
	}
	if r.FileChanges[c.File] == nil {
		r.FileChanges[c.File] = ObjectChanges{}
	}
	r.FileChanges[c.File][c.Object] = append(r.FileChanges[c.File][c.Object], c)
}

// MarkerError is a marker that could not be applied: malformed, or naming a policy that does not exist.
type MarkerError struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Setter string `json:"setter,omitempty"`
	Err    error  `json:"-"`
}

func (e *MarkerError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }
func (e *MarkerError) Unwrap() error { return e.Err }

// Policies maps "namespace/name" of an ImagePolicy to its elected image.
type Policies map[string]imagev1.ImageRef

// UpdateOptions configure UpdateFiles.
type UpdateOptions struct {
	// DryRun computes the changes without writing files.
	DryRun bool
	// Known, when set, says whether a policy exists though it is absent from Policies (not selected, or no
	// latest image yet): its markers are skipped silently instead of being reported as missing.
	Known func(namespace, name string) bool
}

// UpdateFiles rewrites the values marked with `$imagepolicy` comments in the YAML files under root
// (root itself may be a file) from policies. Only the marked values change: every other byte of a file
// is kept. File names in the result are relative to base, with forward slashes. Markers that cannot be
// applied are returned as MarkerErrors, after the other markers were applied.
func UpdateFiles(base, root string, policies Policies, opts UpdateOptions) (Result, []*MarkerError, error) {
	var res Result
	var problems []*MarkerError
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		// As Flux: YAML files, and kustomize's extension-less Kustomization files.
		if ext := filepath.Ext(p); ext != ".yaml" && ext != ".yml" && d.Name() != "Kustomization" || !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !bytes.Contains(data, []byte(`"`+markerKey+`"`)) {
			return nil
		}
		rel, err := filepath.Rel(base, p)
		if err != nil {
			rel = p
		}
		rel = filepath.ToSlash(rel)
		out, changes, errs := UpdateYAML(rel, data, policies, opts.Known)
		problems = append(problems, errs...)
		if len(changes) == 0 {
			return nil
		}
		for _, c := range changes {
			res.add(c)
		}
		if opts.DryRun {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(p, out, info.Mode().Perm())
	})
	return res, problems, err
}

// UpdateYAML rewrites the marked values of one YAML stream (file names the file in changes and errors).
// It returns the new content, the changes, and the markers it could not apply.
func UpdateYAML(file string, data []byte, policies Policies, known func(namespace, name string) bool) ([]byte, []Change, []*MarkerError) {
	var changes []Change
	var problems []*MarkerError
	lines := splitLines(data)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			problems = append(problems, &MarkerError{File: file, Line: yamlErrorLine(err), Err: fmt.Errorf("parsing YAML: %w", err)})
			break
		}
		obj := identify(&doc)
		walk(&doc, func(n *yaml.Node) {
			if n.Kind != yaml.ScalarNode || n.LineComment == "" {
				return
			}
			m, ok, err := ParseMarker(n.LineComment)
			if !ok {
				return
			}
			if err != nil {
				problems = append(problems, &MarkerError{File: file, Line: n.Line, Err: err})
				return
			}
			ref, found := policies[m.Namespace+"/"+m.Name]
			if !found {
				if known == nil || !known(m.Namespace, m.Name) {
					problems = append(problems, &MarkerError{File: file, Line: n.Line, Setter: m.Setter(),
						Err: fmt.Errorf("marker %q names ImagePolicy %s/%s, which does not exist", m.Setter(), m.Namespace, m.Name)})
				}
				return
			}
			value, ok := Value(ref, m.Field)
			if !ok || value == n.Value {
				return
			}
			if err := replaceScalar(lines, n, value); err != nil {
				problems = append(problems, &MarkerError{File: file, Line: n.Line, Setter: m.Setter(), Err: err})
				return
			}
			changes = append(changes, Change{File: file, Line: n.Line, Object: obj, OldValue: n.Value, NewValue: value, Setter: m.Setter()})
		})
	}
	if len(changes) == 0 {
		return data, nil, problems
	}
	return bytes.Join(lines, nil), changes, problems
}

// splitLines splits data after each newline, keeping the newlines, so joining gives data back.
func splitLines(data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			out = append(out, data)
			break
		}
		out = append(out, data[:i+1])
		data = data[i+1:]
	}
	return out
}

func yamlErrorLine(err error) int {
	var n int
	if _, scanErr := fmt.Sscanf(err.Error(), "yaml: line %d:", &n); scanErr == nil {
		return n
	}
	return 0
}

// walk calls fn on n and every node below it except mapping keys: as in Flux, a marker is read from a
// value's comment only (in "key: # marker" the comment is on the key and the value is null).
func walk(n *yaml.Node, fn func(*yaml.Node)) {
	fn(n)
	for i, c := range n.Content {
		if n.Kind == yaml.MappingNode && i%2 == 0 {
			continue
		}
		walk(c, fn)
	}
}

// identify returns the apiVersion, kind and metadata name and namespace of a document.
func identify(doc *yaml.Node) ObjectIdentifier {
	var id ObjectIdentifier
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	get := func(m *yaml.Node, key string) *yaml.Node {
		if m == nil || m.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == key {
				return m.Content[i+1]
			}
		}
		return nil
	}
	str := func(n *yaml.Node) string {
		if n == nil || n.Kind != yaml.ScalarNode {
			return ""
		}
		return n.Value
	}
	id.APIVersion, id.Kind = str(get(root, "apiVersion")), str(get(root, "kind"))
	md := get(root, "metadata")
	id.Name, id.Namespace = str(get(md, "name")), str(get(md, "namespace"))
	return id
}

// replaceScalar replaces the text of the one-line scalar n in lines with value, in n's quoting style.
func replaceScalar(lines [][]byte, n *yaml.Node, value string) error {
	if n.Line < 1 || n.Line > len(lines) {
		return fmt.Errorf("value at line %d is outside the file", n.Line)
	}
	line := lines[n.Line-1]
	start := runeOffset(line, n.Column-1)
	if start < 0 {
		return fmt.Errorf("cannot locate the value at column %d", n.Column)
	}
	rest := line[start:]
	var end int
	var repl string
	switch n.Style {
	case 0:
		if !bytes.HasPrefix(rest, []byte(n.Value)) {
			return fmt.Errorf("the value %q does not fit on one line: only one-line values can be set", n.Value)
		}
		end, repl = len(n.Value), value
		if n.ShortTag() == "!!str" && needsQuotes(value) {
			repl = strconv.Quote(value)
		}
	case yaml.DoubleQuotedStyle:
		end = quotedEnd(rest, '"')
		repl = strconv.Quote(value)
	case yaml.SingleQuotedStyle:
		end = quotedEnd(rest, '\'')
		repl = "'" + strings.ReplaceAll(value, "'", "''") + "'"
	default:
		return fmt.Errorf("the value %q is a block scalar: only plain or quoted one-line values can be set", n.Value)
	}
	if end < 0 {
		return fmt.Errorf("the quoted value %q does not end on its line", n.Value)
	}
	out := make([]byte, 0, len(line)+len(repl))
	out = append(out, line[:start]...)
	out = append(out, repl...)
	out = append(out, rest[end:]...)
	lines[n.Line-1] = out
	return nil
}

// runeOffset returns the byte offset of the col-th rune (0-based) of line, -1 past its end.
func runeOffset(line []byte, col int) int {
	off := 0
	for i := 0; i < col; i++ {
		if off >= len(line) {
			return -1
		}
		_, size := utf8.DecodeRune(line[off:])
		off += size
	}
	if off > len(line) {
		return -1
	}
	return off
}

// quotedEnd returns the length of the quoted scalar at the start of s (quotes included), -1 if unclosed.
func quotedEnd(s []byte, q byte) int {
	if len(s) == 0 || s[0] != q {
		return -1
	}
	for i := 1; i < len(s); i++ {
		switch {
		case q == '"' && s[i] == '\\':
			i++
		case s[i] == q && q == '\'' && i+1 < len(s) && s[i+1] == '\'':
			i++
		case s[i] == q:
			return i + 1
		}
	}
	return -1
}

// needsQuotes reports whether value cannot be written as a plain scalar that reads back as the same
// string.
func needsQuotes(value string) bool {
	if value == "" || strings.ContainsAny(value, "#\n\r\t\"'{}[],&*!|>%@`") && !isImageRef(value) {
		return true
	}
	if strings.Contains(value, ": ") || strings.HasPrefix(value, "-") || strings.HasPrefix(value, "?") ||
		strings.HasSuffix(value, ":") || strings.Contains(value, " #") || strings.TrimSpace(value) != value {
		return true
	}
	var v any
	if err := yaml.Unmarshal([]byte(value), &v); err != nil {
		return true
	}
	s, ok := v.(string)
	return !ok || s != value
}

// isImageRef allows '@' in name:tag@sha256:... references, which read back as strings when plain.
func isImageRef(value string) bool {
	return !strings.ContainsAny(value, "#\n\r\t\"'{}[],&*!|>%`") && !strings.HasPrefix(value, "@")
}
