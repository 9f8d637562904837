package sopsdoc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/getsops/sops/v3/cmd/sops/formats"
	"github.com/getsops/sops/v3/shamir"
	"go.yaml.in/yaml/v3"
	"gopkg.in/ini.v1"
)

// Parse reads a SOPS-encrypted document of the given format (binary documents are JSON at rest).
func Parse(data []byte, format formats.Format) (doc *Document, err error) {
	defer func() {
		// The YAML and INI parsers are third-party code: a panic on malformed input is an error here.
		if r := recover(); r != nil {
			doc, err = nil, fmt.Errorf("malformed document: %v", r)
		}
	}()
	var branches []Branch
	flat, belowTop, escaped := false, false, false
	switch format {
	case formats.Yaml:
		branches, err = loadYAML(data)
	case formats.Dotenv:
		branches, err = loadDotenv(data)
		flat = true
	case formats.Ini:
		branches, err = loadINI(data)
		belowTop, escaped = true, true
	default:
		branches, err = loadJSON(data)
	}
	if err != nil {
		return nil, err
	}
	branches, md, err := extractMetadata(branches, flat, belowTop, escaped)
	if err != nil {
		return nil, err
	}
	return &Document{Branches: branches, Metadata: md, Format: format}, nil
}

// Emit writes the (decrypted) document in format as the sops CLI writes plain documents: YAML indented
// by 4, JSON without indentation, binary as the data value alone.
func (d *Document) Emit(format formats.Format) (out []byte, err error) {
	defer func() {
		// The YAML emitter panics on some input (a comment that is not UTF-8): an error here.
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("cannot write the document: %v", r)
		}
	}()
	switch format {
	case formats.Yaml:
		return emitYAML(d.Branches)
	case formats.Json:
		if len(d.Branches) == 0 {
			return nil, errors.New("no document to write as JSON")
		}
		out, err := encodeJSON(d.Branches[0])
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if err := json.Indent(&buf, out, "", ""); err != nil {
			return nil, err
		}
		buf.WriteByte('\n')
		return buf.Bytes(), nil
	case formats.Dotenv:
		return emitDotenv(d.Branches)
	case formats.Ini:
		return emitINI(d.Branches)
	}
	if len(d.Branches) != 1 {
		return nil, errors.New("a binary document has exactly one branch")
	}
	for _, it := range d.Branches[0] {
		if it.Key == "data" {
			s, ok := it.Value.(string)
			if !ok {
				return nil, errors.New("the data of a binary document is not a string")
			}
			return []byte(s), nil
		}
	}
	return nil, errors.New("a binary document without data")
}

func combineShares(parts [][]byte) (key []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			key, err = nil, fmt.Errorf("malformed shares: %v", r)
		}
	}()
	return shamir.Combine(parts)
}

// --- YAML

func loadYAML(in []byte) ([]Branch, error) {
	if len(in) > 0 {
		// Decoding into a map refuses duplicate keys, which decoding into nodes does not.
		if err := yaml.NewDecoder(bytes.NewReader(in)).Decode(map[string]any{}); err != nil {
			return nil, fmt.Errorf("not valid YAML: %w", err)
		}
	}
	var out []Branch
	d := yaml.NewDecoder(bytes.NewReader(in))
	for {
		var doc yaml.Node
		err := d.Decode(&doc)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("not valid YAML: %w", err)
		}
		b, err := yamlToBranch(&doc, Branch{}, false)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
}

func commentItems(comment string, b Branch, inline bool) Branch {
	for _, line := range strings.Split(comment, "\n") {
		if line != "" {
			b = append(b, Item{Key: Comment{Value: line[1:], Inline: inline}})
		}
	}
	return b
}

func commentValues(comment string, l []any, inline bool) []any {
	for _, line := range strings.Split(comment, "\n") {
		if line != "" {
			l = append(l, Comment{Value: line[1:], Inline: inline})
		}
	}
	return l
}

func yamlValue(n *yaml.Node, commentsHandled bool, depth int) (any, error) {
	if depth > 10000 {
		return nil, errors.New("YAML nested too deeply")
	}
	switch n.Kind {
	case yaml.SequenceNode:
		var out []any
		if !commentsHandled {
			out = commentValues(n.HeadComment, out, false)
			out = commentValues(n.LineComment, out, false)
		}
		for _, it := range n.Content {
			out = commentValues(it.HeadComment, out, false)
			out = commentValues(it.LineComment, out, true)
			v, err := yamlValue(it, true, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			out = commentValues(it.FootComment, out, false)
		}
		if !commentsHandled {
			out = commentValues(n.FootComment, out, false)
		}
		return out, nil
	case yaml.MappingNode:
		return yamlToBranchDepth(n, Branch{}, commentsHandled, depth+1)
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, err
		}
		return v, nil
	case yaml.AliasNode:
		return yamlValue(n.Alias, false, depth+1)
	}
	return nil, nil
}

func yamlToBranch(n *yaml.Node, b Branch, commentsHandled bool) (Branch, error) {
	return yamlToBranchDepth(n, b, commentsHandled, 0)
}

func yamlToBranchDepth(n *yaml.Node, b Branch, commentsHandled bool, depth int) (Branch, error) {
	if depth > 10000 {
		return nil, errors.New("YAML nested too deeply")
	}
	var err error
	if !commentsHandled {
		b = commentItems(n.HeadComment, b, false)
		b = commentItems(n.LineComment, b, false)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, it := range n.Content {
			if b, err = yamlToBranchDepth(it, b, false, depth+1); err != nil {
				return nil, err
			}
		}
	case yaml.SequenceNode:
		return nil, errors.New("a YAML document that is a sequence is not supported")
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, value := n.Content[i], n.Content[i+1]
			b = commentItems(key.HeadComment, b, false)
			b = commentItems(key.LineComment, b, false)
			scalar := value.Kind == yaml.ScalarNode || value.Kind == yaml.AliasNode
			if scalar {
				b = commentItems(value.HeadComment, b, false)
				b = commentItems(value.LineComment, b, true)
			}
			var k any
			if err := key.Decode(&k); err != nil {
				return nil, err
			}
			v, err := yamlValue(value, scalar, depth+1)
			if err != nil {
				return nil, err
			}
			b = append(b, Item{Key: k, Value: v})
			if scalar {
				b = commentItems(value.FootComment, b, false)
			}
			b = commentItems(key.FootComment, b, false)
		}
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return b, nil // an empty document
		}
		return nil, errors.New("a YAML document that is a single value is not supported")
	case yaml.AliasNode:
		if b, err = yamlToBranchDepth(n.Alias, b, false, depth+1); err != nil {
			return nil, err
		}
	}
	if !commentsHandled {
		b = commentItems(n.FootComment, b, false)
	}
	return b, nil
}

func addComments(dst *string, comments []string, head bool) {
	if len(comments) == 0 {
		return
	}
	c := "#" + strings.Join(comments, "\n#")
	switch {
	case *dst == "":
		*dst = c
	case head:
		*dst = c + "\n" + *dst
	default:
		*dst += "\n" + c
	}
}

func yamlNode(v any) (*yaml.Node, error) {
	switch v := v.(type) {
	case Branch:
		n := &yaml.Node{Kind: yaml.MappingNode}
		return n, yamlMapping(v, n)
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		return n, yamlSequence(v, n)
	}
	n := &yaml.Node{}
	return n, n.Encode(v)
}

func yamlSequence(in []any, n *yaml.Node) error {
	var head, inline []string
	beginning := true
	for _, it := range in {
		if c, ok := it.(Comment); ok {
			if c.Inline {
				inline = append(inline, c.Value)
			} else {
				head = append(head, c.Value)
			}
			continue
		}
		if beginning {
			addComments(&n.HeadComment, head, true)
			head, beginning = nil, false
		}
		item, err := yamlNode(it)
		if err != nil {
			return err
		}
		addComments(&item.HeadComment, head, true)
		addComments(&item.LineComment, inline, false)
		head, inline = nil, nil
		n.Content = append(n.Content, item)
	}
	head = append(head, inline...)
	if beginning {
		addComments(&n.HeadComment, head, true)
	} else {
		addComments(&n.Content[len(n.Content)-1].FootComment, head, false)
	}
	return nil
}

func yamlMapping(b Branch, n *yaml.Node) error {
	var head, inline []string
	beginning := true
	for _, it := range b {
		if c, ok := it.Key.(Comment); ok {
			if c.Inline {
				inline = append(inline, c.Value)
			} else {
				head = append(head, c.Value)
			}
			continue
		}
		if beginning {
			addComments(&n.HeadComment, head, true)
			head, beginning = nil, false
		}
		key := &yaml.Node{}
		if err := key.Encode(it.Key); err != nil {
			return err
		}
		addComments(&key.HeadComment, head, true)
		value, err := yamlNode(it.Value)
		if err != nil {
			return err
		}
		addComments(&value.LineComment, inline, false)
		head, inline = nil, nil
		n.Content = append(n.Content, key, value)
	}
	head = append(head, inline...)
	if beginning {
		addComments(&n.HeadComment, head, true)
	} else {
		addComments(&n.Content[len(n.Content)-2].FootComment, head, false)
	}
	return nil
}

func emitYAML(branches []Branch) ([]byte, error) {
	var buf bytes.Buffer
	e := yaml.NewEncoder(&buf)
	e.SetIndent(4)
	for _, b := range branches {
		m := &yaml.Node{Kind: yaml.MappingNode}
		if err := yamlMapping(b, m); err != nil {
			return nil, err
		}
		if err := e.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{m}}); err != nil {
			return nil, fmt.Errorf("writing YAML: %w", err)
		}
	}
	if err := e.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// --- JSON

func loadJSON(in []byte) ([]Branch, error) {
	dec := json.NewDecoder(bytes.NewReader(in))
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	b, err := jsonObject(dec, 0)
	if err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	return []Branch{b}, nil
}

func jsonNumber(t any) (any, error) {
	n, ok := t.(json.Number)
	if !ok {
		return t, nil
	}
	if i, err := n.Int64(); err == nil {
		return int(i), nil
	}
	return n.Float64()
}

func jsonValue(dec *json.Decoder, t any, depth int) (any, error) {
	if depth > 10000 {
		return nil, errors.New("nested too deeply")
	}
	switch t {
	case json.Delim('{'):
		return jsonObject(dec, depth+1)
	case json.Delim('['):
		var out []any
		for {
			t, err := dec.Token()
			if err != nil {
				return nil, err
			}
			if t == json.Delim(']') {
				return out, nil
			}
			v, err := jsonValue(dec, t, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
	}
	return jsonNumber(t)
}

func jsonObject(dec *json.Decoder, depth int) (Branch, error) {
	var b Branch
	for {
		t, err := dec.Token()
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
		if t == json.Delim('}') {
			return b, nil
		}
		k, ok := t.(string)
		if !ok {
			return nil, fmt.Errorf("expected an object key, got %v", t)
		}
		t, err = dec.Token()
		if err != nil {
			return nil, err
		}
		v, err := jsonValue(dec, t, depth)
		if err != nil {
			return nil, err
		}
		b = append(b, Item{Key: k, Value: v})
	}
}

func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	switch v := v.(type) {
	case Branch:
		buf.WriteByte('{')
		first := true
		for _, it := range v {
			if _, ok := it.Key.(Comment); ok {
				continue
			}
			k, ok := it.Key.(string)
			if !ok {
				return nil, fmt.Errorf("cannot write key %v of type %T in JSON", it.Key, it.Key)
			}
			if !first {
				buf.WriteByte(',')
			}
			first = false
			kb, _ := json.Marshal(k)
			vb, err := encodeJSON(it.Value)
			if err != nil {
				return nil, err
			}
			buf.Write(kb)
			buf.WriteString(": ")
			buf.Write(vb)
		}
		buf.WriteByte('}')
	case []any:
		buf.WriteByte('[')
		first := true
		for _, x := range v {
			if _, ok := x.(Comment); ok {
				continue
			}
			if !first {
				buf.WriteByte(',')
			}
			first = false
			xb, err := encodeJSON(x)
			if err != nil {
				return nil, err
			}
			buf.Write(xb)
		}
		buf.WriteByte(']')
	default:
		return json.Marshal(v)
	}
	return buf.Bytes(), nil
}

// --- dotenv

func loadDotenv(in []byte) ([]Branch, error) {
	var b Branch
	for _, line := range bytes.Split(in, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if line[0] == '#' {
			b = append(b, Item{Key: Comment{Value: string(line[1:])}})
			continue
		}
		k, v, ok := bytes.Cut(line, []byte("="))
		if !ok {
			return nil, errors.New("a dotenv line without '='") // the line may be a secret: not quoted
		}
		b = append(b, Item{Key: string(k), Value: strings.ReplaceAll(string(v), `\n`, "\n")})
	}
	return []Branch{b}, nil
}

func emitDotenv(branches []Branch) ([]byte, error) {
	var buf bytes.Buffer
	if len(branches) == 0 {
		return nil, nil
	}
	for _, it := range branches[0] {
		switch it.Value.(type) {
		case Branch, []any:
			return nil, fmt.Errorf("cannot write a nested value in a dotenv file (key %v)", it.Key)
		}
		if c, ok := it.Key.(Comment); ok {
			fmt.Fprintf(&buf, "#%s\n", c.Value)
			continue
		}
		v, ok := it.Value.(string)
		if ok {
			v = strings.ReplaceAll(v, "\n", `\n`)
		} else {
			v = valToString(it.Value)
		}
		fmt.Fprintf(&buf, "%s=%s\n", it.Key, v)
	}
	return buf.Bytes(), nil
}

// valToString is how SOPS writes a non-string value in dotenv and INI files.
func valToString(v any) string {
	switch v := v.(type) {
	case float64:
		s := strconv.FormatFloat(v, 'G', -1, 64)
		if !strings.ContainsAny(s, ".E") {
			s = strconv.FormatFloat(v, 'f', 1, 64)
		}
		return s
	case bool:
		return strconv.FormatBool(v)
	case time.Time:
		return v.Format(time.RFC3339)
	case fmt.Stringer:
		return v.String()
	}
	return fmt.Sprintf("%v", v)
}

// --- INI

func stripCommentChar(c string) string {
	if strings.HasPrefix(c, ";") {
		return strings.TrimLeft(c, "; ")
	}
	if strings.HasPrefix(c, "#") {
		return strings.TrimLeft(c, "# ")
	}
	return c
}

func loadINI(in []byte) ([]Branch, error) {
	f, err := ini.LoadSources(ini.LoadOptions{AllowNonUniqueSections: true}, in)
	if err != nil {
		return nil, fmt.Errorf("not valid INI: %w", err)
	}
	var b Branch
	for _, s := range f.Sections() {
		var items Branch
		if s.Comment != "" {
			items = append(items, Item{Key: Comment{Value: stripCommentChar(s.Comment)}})
		}
		for _, k := range s.Keys() {
			items = append(items, Item{Key: k.Name(), Value: k.Value()})
			if k.Comment != "" {
				items = append(items, Item{Key: Comment{Value: stripCommentChar(k.Comment)}})
			}
		}
		b = append(b, Item{Key: s.Name(), Value: items})
	}
	return []Branch{b}, nil
}

func emitINI(branches []Branch) ([]byte, error) {
	f := ini.Empty(ini.LoadOptions{AllowNonUniqueSections: true})
	f.DeleteSection(ini.DefaultSection)
	for _, b := range branches {
		for _, it := range b {
			if _, ok := it.Key.(Comment); ok {
				continue
			}
			name, ok := it.Key.(string)
			if !ok {
				return nil, fmt.Errorf("INI section name %v of type %T", it.Key, it.Key)
			}
			s, err := f.NewSection(name)
			if err != nil {
				return nil, fmt.Errorf("INI section %s: %w", name, err)
			}
			items, ok := it.Value.(Branch)
			if !ok {
				return nil, fmt.Errorf("INI section %s: not a mapping", name)
			}
			first := 0
			if len(items) > 0 {
				if c, ok := items[0].Key.(Comment); ok {
					s.Comment, first = c.Value, 1
				}
			}
			var last *ini.Key
			for _, kv := range items[first:] {
				if c, ok := kv.Key.(Comment); ok {
					if last != nil {
						last.Comment = c.Value
					}
					continue
				}
				k, ok := kv.Key.(string)
				if !ok {
					return nil, fmt.Errorf("INI section %s: a key of type %T", name, kv.Key)
				}
				if last, err = s.NewKey(k, valToString(kv.Value)); err != nil {
					return nil, fmt.Errorf("INI section %s: %w", name, err)
				}
			}
		}
	}
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
