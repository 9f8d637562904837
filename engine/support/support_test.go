package support

import (
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/converge-gitops/converge/crds"
	"github.com/converge-gitops/converge/engine/testenv/goldenfile"
)

// specFields returns, by kind, the JSON paths of every spec field of the storage version of every kind
// the CRDs serve, recursively: a struct of converge's own is walked into, anything else (Kubernetes
// types, maps, scalars) is a field.
func specFields(t *testing.T) map[string][]string {
	t.Helper()
	defs, err := crds.CustomResourceDefinitions()
	if err != nil {
		t.Fatal(err)
	}
	scheme := crds.NewScheme()
	out := map[string][]string{}
	for _, d := range defs {
		for _, v := range d.Spec.Versions {
			if !v.Storage || !v.Served {
				continue
			}
			obj, err := scheme.New(schema.GroupVersionKind{Group: d.Spec.Group, Version: v.Name, Kind: d.Spec.Names.Kind})
			if err != nil {
				t.Fatal(err)
			}
			spec, ok := reflect.TypeOf(obj).Elem().FieldByName("Spec")
			if !ok {
				t.Fatalf("%s has no Spec", d.Spec.Names.Kind)
			}
			walk(spec.Type, "spec", map[reflect.Type]bool{}, func(p string) { out[d.Spec.Names.Kind] = append(out[d.Spec.Names.Kind], p) })
		}
	}
	return out
}

func walk(t reflect.Type, path string, seen map[reflect.Type]bool, leaf func(string)) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || !strings.HasPrefix(t.PkgPath(), "github.com/converge-gitops/converge/") || seen[t] {
		leaf(path)
		return
	}
	seen[t] = true
	defer delete(seen, t)
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case f.Anonymous && name == "":
			walk(f.Type, path, seen, leaf)
		case name != "" && name != "-":
			walk(f.Type, path+"."+name, seen, leaf)
		}
	}
}

// covers reports whether the listed path p covers field (equal, or a parent of it).
func covers(p, field string) bool {
	return field == p || strings.HasPrefix(field, p+".")
}

// audit returns what is wrong with the lists for the given fields: a field in neither list or in both,
// and a listed path that is no field.
func audit(fields, read map[string][]string, unsupported []Field) []string {
	var problems []string
	for kind, paths := range fields {
		for _, f := range paths {
			r, u := false, false
			for _, p := range read[kind] {
				r = r || covers(p, f)
			}
			for _, x := range unsupported {
				u = u || x.Kind == kind && covers(x.Path, f)
			}
			switch {
			case !r && !u:
				problems = append(problems, fmt.Sprintf("%s %s: listed neither as read nor as unsupported", kind, f))
			case r && u:
				problems = append(problems, fmt.Sprintf("%s %s: listed both as read and as unsupported", kind, f))
			}
		}
	}
	listed := func(kind, p, list string) {
		for _, f := range fields[kind] {
			if covers(p, f) {
				return
			}
		}
		problems = append(problems, fmt.Sprintf("%s %s (%s): no such field", kind, p, list))
	}
	for kind, paths := range read {
		for _, p := range paths {
			listed(kind, p, "read")
		}
	}
	for _, x := range unsupported {
		listed(x.Kind, x.Path, "unsupported")
		if x.Happens == "" {
			problems = append(problems, fmt.Sprintf("%s %s: unsupported without saying what happens", x.Kind, x.Path))
		}
	}
	sort.Strings(problems)
	return problems
}

// TestEverySpecFieldIsAccountedFor: every spec field of every served kind is either read by the engine
// or listed as unsupported, and the lists name only real fields.
func TestEverySpecFieldIsAccountedFor(t *testing.T) {
	fields := specFields(t)
	if len(fields) < 15 || len(fields["HelmRelease"]) < 50 {
		t.Fatalf("the walk found too little: %d kinds, %d HelmRelease fields", len(fields), len(fields["HelmRelease"]))
	}
	for _, p := range audit(fields, Read(), Unsupported()) {
		t.Error(p)
	}
}

// TestAuditFails: the audit finds each kind of mistake, so the test above can fail.
func TestAuditFails(t *testing.T) {
	fields := map[string][]string{"HelmRelease": {"spec.a", "spec.b.c", "spec.b.d"}}
	tests := []struct {
		name        string
		read        map[string][]string
		unsupported []Field
		want        []string
	}{
		{"all accounted for", map[string][]string{"HelmRelease": {"spec.a", "spec.b.c"}},
			[]Field{{Kind: "HelmRelease", Path: "spec.b.d", Happens: "ignored"}}, nil},
		{"a parent covers its fields", map[string][]string{"HelmRelease": {"spec.a", "spec.b"}}, nil, nil},
		{"a field forgotten", map[string][]string{"HelmRelease": {"spec.a", "spec.b.c"}}, nil,
			[]string{"HelmRelease spec.b.d: listed neither as read nor as unsupported"}},
		{"a field in both lists", map[string][]string{"HelmRelease": {"spec.a", "spec.b"}},
			[]Field{{Kind: "HelmRelease", Path: "spec.b.d", Happens: "ignored"}},
			[]string{"HelmRelease spec.b.d: listed both as read and as unsupported"}},
		{"a stale entry", map[string][]string{"HelmRelease": {"spec.a", "spec.b", "spec.gone"}}, nil,
			[]string{"HelmRelease spec.gone (read): no such field"}},
		{"a field of another kind", map[string][]string{"HelmRelease": {"spec.a", "spec.b"}},
			[]Field{{Kind: "Kustomization", Path: "spec.a", Happens: "ignored"}},
			[]string{"Kustomization spec.a (unsupported): no such field"}},
		{"silence about what happens", map[string][]string{"HelmRelease": {"spec.a", "spec.b.c"}},
			[]Field{{Kind: "HelmRelease", Path: "spec.b.d"}},
			[]string{"HelmRelease spec.b.d: unsupported without saying what happens"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := audit(fields, tt.read, tt.unsupported)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestREADMETable: the README's "Not supported yet" table is Table(), so it stays true.
func TestREADMETable(t *testing.T) {
	const file = "../../README.md"
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- begin: not supported yet (engine/support, go test -update) -->\n", "<!-- end: not supported yet -->\n"
	text := string(data)
	i, j := strings.Index(text, begin), strings.Index(text, end)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the markers %q and %q", file, begin, end)
	}
	want := Table()
	if got := text[i+len(begin) : j]; got != want {
		if goldenfile.Update() {
			if err := os.WriteFile(file, []byte(text[:i+len(begin)]+want+text[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("the README's table is out of date (go test ./engine/support -update):\n%s", want)
	}
}
