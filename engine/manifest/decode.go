package manifest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	kjson "sigs.k8s.io/json"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/crds"
	"github.com/converge-gitops/converge/crds/convert"
)

// Object is one decoded document.
type Object struct {
	// File and Line locate the document (Line is where its content starts).
	File string
	Line int
	// Unstructured is the object as written, with CRD defaults applied for Flux kinds.
	Unstructured *unstructured.Unstructured
	// Typed is set for Flux kinds: the object converted to its kind's storage version.
	Typed runtime.Object
	// Warnings are what converge's own schema rejects but the cluster may accept (see Decoder.WithCRDs):
	// an enum value of a pass-through kind whose CRD converge was not given.
	Warnings []*Error
}

// Error is a decoding error located in a file.
type Error struct {
	File      string
	Line      int
	Kind      string
	Namespace string
	Name      string
	// Field is the JSON path of the offending field, e.g. "spec.ref.branch"; empty for document errors.
	Field  string
	Detail string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Kind != "" {
		b.WriteString(e.Kind)
		if e.Name != "" {
			b.WriteString(" ")
			if e.Namespace != "" {
				b.WriteString(e.Namespace + "/")
			}
			b.WriteString(e.Name)
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Detail)
	return b.String()
}

// Decoder decodes manifests. It is safe for concurrent use.
type Decoder struct {
	scheme  *runtime.Scheme
	schemas map[schema.GroupVersionKind]*crdSchema
	// given holds the kinds whose schema came from WithCRDs: the schema the cluster applies, so every
	// violation is an error.
	given map[schema.GroupVersionKind]string
}

// NewDecoder returns a decoder that knows every Flux kind converge serves.
func NewDecoder() (*Decoder, error) {
	defs, err := crds.CustomResourceDefinitions()
	if err != nil {
		return nil, err
	}
	schemas, err := newSchemas(defs)
	if err != nil {
		return nil, err
	}
	return &Decoder{scheme: crds.NewScheme(), schemas: schemas}, nil
}

// WithCRDs returns a decoder that validates the Flux kinds defined by defs against defs rather than
// converge's own schemas: give it the CRDs the cluster will apply (those of the cluster, then those of
// the tree being built, which apply replaces them with). Every served version of a CRD replaces
// converge's schema for that version; CRDs of kinds converge does not decode are ignored. source names
// where defs came from, for messages ("cluster", "build output of Kustomization flux-system/infra").
// Objects of a kind given here get errors for every violation, never warnings.
func (d *Decoder) WithCRDs(source string, defs []*apiextensionsv1.CustomResourceDefinition) (*Decoder, error) {
	if len(defs) == 0 {
		return d, nil
	}
	add, err := newSchemas(defs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	out := &Decoder{scheme: d.scheme, schemas: maps.Clone(d.schemas), given: maps.Clone(d.given)}
	if out.given == nil {
		out.given = map[schema.GroupVersionKind]string{}
	}
	for gvk, s := range add {
		if _, ok := d.schemas[gvk]; !ok {
			continue
		}
		out.schemas[gvk] = s
		out.given[gvk] = source
	}
	return out, nil
}

// IsPassThrough reports whether gvk is a Flux kind that build, diff and apply only apply, never act on
// (notifications and image automation): converge cannot know that the cluster runs the same schema for
// it, so without its CRD (WithCRDs) an enum value converge's schema lacks is a warning, not an error.
func IsPassThrough(gvk schema.GroupVersionKind) bool {
	switch gvk.Group {
	case "notification.toolkit.fluxcd.io", "image.toolkit.fluxcd.io":
		return true
	}
	return false
}

// IsFluxKind reports whether gvk is a Flux kind this decoder validates.
func (d *Decoder) IsFluxKind(gvk schema.GroupVersionKind) bool {
	_, ok := d.schemas[gvk]
	return ok
}

// Decode decodes every document of data, read from file. It returns the objects that decoded cleanly
// and, joined, an *Error for every problem found; callers must not act on a stream with errors.
func (d *Decoder) Decode(ctx context.Context, file string, data []byte) ([]Object, error) {
	var objs []Object
	var errs []error
	for _, doc := range SplitDocuments(data) {
		obj, docErrs := d.decodeDocument(ctx, file, doc)
		if len(docErrs) > 0 {
			errs = append(errs, docErrs...)
			continue
		}
		objs = append(objs, obj)
	}
	return objs, errors.Join(errs...)
}

var yamlLineRE = regexp.MustCompile(`line (\d+): `)

// yamlError locates a YAML parser error, whose line numbers count from the document's start.
func yamlError(loc *Error, doc Document, err error) error {
	msg := err.Error()
	for _, p := range []string{"error converting YAML to JSON: ", "yaml: ", "unmarshal errors:\n"} {
		msg = strings.TrimPrefix(strings.TrimSpace(msg), p)
	}
	e := *loc
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		e.Line = doc.Line + n - 1
		msg = strings.Replace(msg, m[0], "", 1)
	}
	e.Detail = "invalid YAML: " + strings.TrimSpace(msg)
	return &e
}

func (d *Decoder) decodeDocument(ctx context.Context, file string, doc Document) (Object, []error) {
	loc := &Error{File: file, Line: doc.Line}
	fail := func(fieldPath, detail string, node *yaml.Node) []error {
		e := *loc
		e.Field, e.Detail = fieldPath, detail
		if l := lineOf(node, fieldPath); l > 0 {
			e.Line = doc.Line + l - 1
		}
		return []error{&e}
	}

	var node yaml.Node
	if err := yaml.Unmarshal(doc.Data, &node); err != nil {
		return Object{}, []error{yamlError(loc, doc, err)}
	}
	jsonData, err := sigsyaml.YAMLToJSONStrict(doc.Data)
	if err != nil {
		return Object{}, []error{yamlError(loc, doc, err)}
	}
	var content map[string]any
	if err := json.Unmarshal(jsonData, &content); err != nil {
		return Object{}, fail("", "a Kubernetes object must be a YAML mapping", &node)
	}
	u := &unstructured.Unstructured{Object: content}
	loc.Kind, loc.Namespace, loc.Name = stringAt(content, "kind"), u.GetNamespace(), u.GetName()
	for _, f := range []string{"apiVersion", "kind"} {
		if s, ok := content[f].(string); !ok || s == "" {
			return Object{}, fail(f, "required field is missing", &node)
		}
	}
	if _, err := schema.ParseGroupVersion(u.GetAPIVersion()); err != nil {
		return Object{}, fail("apiVersion", err.Error(), &node)
	}
	if md, ok := content["metadata"]; ok {
		if _, isMap := md.(map[string]any); !isMap {
			return Object{}, fail("metadata", "must be a mapping", &node)
		}
	}
	gvk := u.GroupVersionKind()
	if IsFluxGroup(gvk.Group) {
		// An older Flux version is converted to the served one, or refused (versions.go).
		upgraded, _, err := d.upgradeContent(content)
		if err != nil {
			return Object{}, fail("apiVersion", err.Error(), &node)
		}
		if upgraded["apiVersion"] != content["apiVersion"] {
			content, u = upgraded, &unstructured.Unstructured{Object: upgraded}
			gvk = u.GroupVersionKind()
			if jsonData, err = json.Marshal(content); err != nil {
				return Object{}, fail("", err.Error(), &node)
			}
		}
	}
	sch, flux := d.schemas[gvk]
	if !flux {
		if errs := validateName(u); len(errs) > 0 {
			out := make([]error, 0, len(errs))
			for _, fe := range errs {
				out = append(out, d.fieldError(loc, doc, &node, fe))
			}
			return Object{}, out
		}
		return Object{File: file, Line: doc.Line, Unstructured: u}, nil
	}

	typed, err := d.scheme.New(gvk)
	if err != nil {
		return Object{}, fail("", fmt.Sprintf("no Go type for %s", gvk), &node)
	}
	// Strict decoding finds unknown and duplicate fields and wrong types; the CRD schema finds the rest
	// (required fields, enums, patterns, CEL rules) exactly as the API server would.
	var out []error
	reported := map[string]bool{}
	strictErrs, fatal := kjson.UnmarshalStrict(jsonData, typed)
	for _, se := range strictErrs {
		out = append(out, jsonError(loc, doc, &node, se))
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(fatal, &typeErr) {
		out = append(out, jsonError(loc, doc, &node, fatal))
		fatal = nil
	}
	for _, e := range out {
		reported[e.(*Error).Field] = true
	}
	errs := validateName(u)
	if !sch.namespaced && u.GetNamespace() != "" {
		errs = append(errs, field.Forbidden(field.NewPath("metadata", "namespace"), "the kind is cluster-scoped"))
	}
	var warnings []*Error
	crdSource, given := d.given[gvk]
	for _, fe := range append(errs, sch.defaultAndValidate(ctx, content)...) {
		if reported[strings.TrimPrefix(fe.Field, "<nil>.")] {
			continue
		}
		e := d.fieldError(loc, doc, &node, fe)
		if fe.Type == field.ErrorTypeNotSupported && !given && IsPassThrough(gvk) {
			e.Detail += " in converge's schema; the cluster's CRD may allow it (not validated: no CRD for " + gvk.Kind + " in the tree or the cluster)"
			warnings = append(warnings, e)
			continue
		}
		if given && IsPassThrough(gvk) && fe.Type == field.ErrorTypeNotSupported {
			e.Detail += " (schema of the CRD in " + crdSource + ")"
		}
		out = append(out, e)
	}
	if len(out) == 0 && fatal != nil {
		out = append(out, jsonError(loc, doc, &node, fatal))
	}
	if len(out) > 0 {
		sort.SliceStable(out, func(i, j int) bool { return out[i].(*Error).Line < out[j].(*Error).Line })
		return Object{}, out
	}
	// Re-read the defaulted content into a fresh object, then convert it to the storage version.
	typed, _ = d.scheme.New(gvk)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(content, typed); err != nil {
		return Object{}, fail("", err.Error(), &node)
	}
	typed.GetObjectKind().SetGroupVersionKind(gvk)
	stored, err := convert.ToStorage(typed)
	if err != nil {
		return Object{}, fail("", err.Error(), &node)
	}
	return Object{File: file, Line: doc.Line, Unstructured: u, Typed: stored, Warnings: warnings}, nil
}

func validateName(u *unstructured.Unstructured) field.ErrorList {
	var errs field.ErrorList
	name := u.GetName()
	p := field.NewPath("metadata", "name")
	switch {
	case name == "" && u.GetGenerateName() == "":
		errs = append(errs, field.Required(p, "every object needs a name"))
	case name != "":
		for _, msg := range validation.IsDNS1123Subdomain(name) {
			errs = append(errs, field.Invalid(p, name, msg))
		}
	}
	if ns := u.GetNamespace(); ns != "" {
		for _, msg := range validation.IsDNS1123Label(ns) {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "namespace"), ns, msg))
		}
	}
	return errs
}

func (d *Decoder) fieldError(loc *Error, doc Document, node *yaml.Node, fe *field.Error) *Error {
	e := *loc
	e.Field = strings.TrimPrefix(fe.Field, "<nil>.")
	e.Detail = fieldDetail(fe)
	if l := lineOf(node, e.Field); l > 0 {
		e.Line = doc.Line + l - 1
	}
	return &e
}

func fieldDetail(fe *field.Error) string {
	s := fe.ErrorBody()
	// The schema validator repeats the path inside its messages ("spec.x in body should ...").
	s = strings.ReplaceAll(s, fe.Field+" in body ", "")
	return s
}

var jsonFieldRE = regexp.MustCompile(`(?:unknown field|duplicate field) "([^"]+)"`)

func jsonError(loc *Error, doc Document, node *yaml.Node, err error) error {
	e := *loc
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr):
		e.Field = typeErr.Field
		e.Detail = fmt.Sprintf("expected %s, got %s", goTypeName(typeErr.Type.String()), typeErr.Value)
	case jsonFieldRE.MatchString(err.Error()):
		m := jsonFieldRE.FindStringSubmatch(err.Error())
		e.Field = m[1]
		if strings.HasPrefix(m[0], "unknown") {
			e.Detail = "unknown field"
		} else {
			e.Detail = "duplicate field"
		}
	default:
		e.Detail = strings.TrimPrefix(err.Error(), "json: ")
	}
	if l := lineOf(node, e.Field); l > 0 {
		e.Line = doc.Line + l - 1
	}
	return &e
}

func goTypeName(t string) string {
	switch {
	case t == "string" || strings.HasSuffix(t, "Duration") || strings.HasSuffix(t, ".Time"):
		return "a string"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint") || strings.HasPrefix(t, "float"):
		return "a number"
	case t == "bool":
		return "a boolean"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map[") || strings.Contains(t, "."):
		return "a mapping"
	}
	return t
}

func stringAt(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

var pathSegmentRE = regexp.MustCompile(`([^.\[\]]+)|\[(\d+)\]`)

// lineOf returns the 1-based line of the field at the JSON path p within the document node, or of the
// deepest existing parent; 0 when p is empty or nothing matches.
func lineOf(doc *yaml.Node, p string) int {
	if doc == nil || p == "" {
		return 0
	}
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, m := range pathSegmentRE.FindAllStringSubmatch(p, -1) {
		switch {
		case m[1] != "" && n.Kind == yaml.MappingNode:
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == m[1] {
					line, n, found = n.Content[i].Line, n.Content[i+1], true
					break
				}
			}
			if !found {
				return line
			}
		case m[2] != "" && n.Kind == yaml.SequenceNode:
			i, _ := strconv.Atoi(m[2])
			if i >= len(n.Content) {
				return line
			}
			n = n.Content[i]
			line = n.Line
		default:
			return line
		}
	}
	return line
}

// DecodeObject decodes and validates an object that is already parsed (e.g. a build output), returning
// its typed storage version. u must be a Flux kind. Warnings are not returned: a caller that reports
// them (the tree build does, for every object of its output) uses DecodeUnstructured.
func (d *Decoder) DecodeObject(ctx context.Context, file string, u *unstructured.Unstructured) (runtime.Object, error) {
	obj, err := d.DecodeUnstructured(ctx, file, u)
	if err != nil {
		return nil, err
	}
	return obj.Typed, nil
}

// DecodeUnstructured is DecodeObject returning the whole Object, warnings included.
func (d *Decoder) DecodeUnstructured(ctx context.Context, file string, u *unstructured.Unstructured) (Object, error) {
	data, err := sigsyaml.Marshal(u.Object)
	if err != nil {
		return Object{}, err
	}
	name := u.GetKind() + " " + u.GetNamespace() + "/" + u.GetName()
	objs, err := d.Decode(ctx, file, data)
	if err != nil {
		return Object{}, err
	}
	if len(objs) != 1 || objs[0].Typed == nil {
		return Object{}, fmt.Errorf("%s: not a Flux object", name)
	}
	return objs[0], nil
}
