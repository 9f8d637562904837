package image

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	imagev1 "github.com/converge-gitops/converge/crds/image/v1"
	"github.com/converge-gitops/converge/engine/testenv/goldenfile"
)

const goldenDir = "../../testdata/image/setters"

func testPolicies() Policies {
	return Policies{
		"flux-system/podinfo":  {Name: "registry.example/org/podinfo", Tag: "1.2.3"},
		"flux-system/sidecar":  {Name: "registry.example/org/sidecar", Tag: "0.2"},
		"flux-system/digested": {Name: "registry.example/org/app", Tag: "2.1.0", Digest: "sha256:" + strings.Repeat("ab", 32)},
		"flux-system/numbered": {Name: "registry.example/org/numbered", Tag: "42"},
	}
}

// TestUpdateYAMLGoldens rewrites every testdata/image/setters/*.in.yaml and compares the file and the
// reported changes and errors with the goldens.
func TestUpdateYAMLGoldens(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join(goldenDir, "*.in.yaml"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no inputs: %v", err)
	}
	for _, in := range inputs {
		base := strings.TrimSuffix(in, ".in.yaml")
		t.Run(filepath.Base(base), func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			out, changes, problems := UpdateYAML(filepath.Base(in), data, testPolicies(), nil)
			goldenfile.Check(t, base+".out.yaml", out)
			var report bytes.Buffer
			for _, c := range changes {
				fmt.Fprintf(&report, "change %s:%d %s %q -> %q (%s)\n", c.File, c.Line, c.Object, c.OldValue, c.NewValue, c.Setter)
			}
			for _, p := range problems {
				fmt.Fprintf(&report, "error %s\n", p)
			}
			goldenfile.Check(t, base+".report.txt", report.Bytes())

			// Outside the changed lines every byte is kept.
			inLines, outLines := splitLines(data), splitLines(out)
			if len(inLines) != len(outLines) {
				t.Fatalf("line count changed: %d -> %d", len(inLines), len(outLines))
			}
			changed := map[int]bool{}
			for _, c := range changes {
				changed[c.Line] = true
			}
			for i := range inLines {
				if !changed[i+1] && !bytes.Equal(inLines[i], outLines[i]) {
					t.Errorf("line %d changed without a change reported:\n%s%s", i+1, inLines[i], outLines[i])
				}
			}
			// Rewriting again changes nothing: the markers now hold the elected values.
			if _, again, _ := UpdateYAML(filepath.Base(in), out, testPolicies(), nil); len(again) != 0 {
				t.Errorf("second update changed %d values: %+v", len(again), again)
			}
		})
	}
}

func TestUpdateFilesWritesOnlyChangedFiles(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"apps/deploy.yaml":    "image: registry.example/org/podinfo:1.0.0 # {\"$imagepolicy\": \"flux-system:podinfo\"}\n",
		"apps/same.yml":       "image: registry.example/org/podinfo:1.2.3 # {\"$imagepolicy\": \"flux-system:podinfo\"}\n",
		"apps/notes.txt":      "image: x:1 # {\"$imagepolicy\": \"flux-system:podinfo\"}\n",
		"other/outside.yaml":  "image: registry.example/org/podinfo:1.0.0 # {\"$imagepolicy\": \"flux-system:podinfo\"}\n",
		".git/config.yaml":    "image: registry.example/org/podinfo:1.0.0 # {\"$imagepolicy\": \"flux-system:podinfo\"}\n",
		"other/Kustomization": "images:\n- name: podinfo\n  newTag: 1.0.0 # {\"$imagepolicy\": \"flux-system:podinfo:tag\"}\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, problems, err := UpdateFiles(dir, filepath.Join(dir, "apps"), testPolicies(), UpdateOptions{})
	if err != nil || len(problems) != 0 {
		t.Fatalf("err %v problems %v", err, problems)
	}
	if got := res.Files(); len(got) != 1 || got[0] != "apps/deploy.yaml" {
		t.Fatalf("changed files %v, want [apps/deploy.yaml]", got)
	}
	for name, content := range files {
		data, _ := os.ReadFile(filepath.Join(dir, name))
		want := content
		if name == "apps/deploy.yaml" {
			want = strings.Replace(content, "1.0.0", "1.2.3", 1)
		}
		if string(data) != want {
			t.Errorf("%s = %q, want %q", name, data, want)
		}
	}
	// A dry run reports without writing.
	os.WriteFile(filepath.Join(dir, "apps/deploy.yaml"), []byte(files["apps/deploy.yaml"]), 0o644)
	res, _, _ = UpdateFiles(dir, dir, testPolicies(), UpdateOptions{DryRun: true})
	if n := len(res.All()); n != 3 {
		t.Errorf("dry run: %d changes, want 3 (apps/deploy.yaml, other/Kustomization, other/outside.yaml): %+v", n, res.All())
	}
	// Templates see them as Flux's Result.Changes does: the same old value, new value and setter once.
	if cs := res.Changes(); len(cs) != 2 || cs[0].File != "apps/deploy.yaml" || cs[1].File != "other/Kustomization" {
		t.Errorf("distinct changes %+v, want those of apps/deploy.yaml and other/Kustomization", cs)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "apps/deploy.yaml")); string(data) != files["apps/deploy.yaml"] {
		t.Errorf("dry run wrote the file")
	}
}

func TestKnownPoliciesAreSkippedSilently(t *testing.T) {
	data := []byte("image: a:1 # {\"$imagepolicy\": \"ns:not-ready\"}\nother: b:1 # {\"$imagepolicy\": \"ns:gone\"}\n")
	known := func(ns, name string) bool { return ns == "ns" && name == "not-ready" }
	out, changes, problems := UpdateYAML("f.yaml", data, Policies{}, known)
	if len(changes) != 0 || !bytes.Equal(out, data) {
		t.Fatalf("changes %v", changes)
	}
	if len(problems) != 1 || problems[0].Line != 2 || !strings.Contains(problems[0].Error(), "f.yaml:2:") ||
		!strings.Contains(problems[0].Error(), "ns/gone") {
		t.Fatalf("problems %v, want one for ns/gone at f.yaml:2", problems)
	}
}

func TestParseMarker(t *testing.T) {
	tests := []struct {
		comment string
		want    Marker
		ok      bool
		err     string
	}{
		{comment: `# {"$imagepolicy": "flux-system:podinfo"}`, want: Marker{Namespace: "flux-system", Name: "podinfo"}, ok: true},
		{comment: `#{"$imagepolicy":"a:b:tag"}`, want: Marker{Namespace: "a", Name: "b", Field: "tag"}, ok: true},
		{comment: `# {"$imagepolicy": "a:b:name"}`, want: Marker{Namespace: "a", Name: "b", Field: "name"}, ok: true},
		{comment: `# {"$imagepolicy": "a:b:digest"}`, want: Marker{Namespace: "a", Name: "b", Field: "digest"}, ok: true},
		{comment: `# just a comment`},
		{comment: `# {"$setter": "x"}`},
		{comment: `# {"$imagepolicy": broken`},
		{comment: `# {"$imagepolicy": "nons"}`, ok: true, err: "want \"namespace:name\""},
		{comment: `# {"$imagepolicy": "a:b:c:d"}`, ok: true, err: "want \"namespace:name\""},
		{comment: `# {"$imagepolicy": "a::tag"}`, ok: true, err: "want \"namespace:name\""},
		{comment: `# {"$imagepolicy": "a:b:size"}`, ok: true, err: "unknown field"},
		{comment: `# {"$imagepolicy": 3}`, ok: true, err: "must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.comment, func(t *testing.T) {
			m, ok, err := ParseMarker(tt.comment)
			if ok != tt.ok || m != tt.want {
				t.Fatalf("ParseMarker = %+v, %v; want %+v, %v", m, ok, tt.want, tt.ok)
			}
			if (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err = %v, want %q", err, tt.err)
			}
		})
	}
}

func FuzzParseMarker(f *testing.F) {
	for _, s := range []string{`# {"$imagepolicy": "a:b"}`, `# {"$imagepolicy": "a:b:tag"}`, `#{"$imagepolicy":1}`, `# {`, `#`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, comment string) {
		m, ok, err := ParseMarker(comment)
		if !ok && (err != nil || m != (Marker{})) {
			t.Fatalf("not a marker but %+v, %v", m, err)
		}
		if ok && err == nil {
			if m.Namespace == "" || m.Name == "" || strings.Contains(m.Namespace+m.Name, ":") {
				t.Fatalf("bad marker %+v", m)
			}
			again, ok2, err2 := ParseMarker(`# {"$imagepolicy": "` + m.Setter() + `"}`)
			if !ok2 || err2 != nil || again != m {
				t.Fatalf("round trip %+v -> %+v %v", m, again, err2)
			}
		}
	})
}

// FuzzUpdateYAML checks that rewriting never panics, keeps every line it does not report, and that
// the result still holds the new value at the reported line.
func FuzzUpdateYAML(f *testing.F) {
	entries, _ := filepath.Glob(filepath.Join(goldenDir, "*.in.yaml"))
	for _, e := range entries {
		data, _ := os.ReadFile(e)
		f.Add(data)
	}
	f.Add([]byte("a: \"x:1\\\"\" # {\"$imagepolicy\": \"flux-system:podinfo\"}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, changes, _ := UpdateYAML("f.yaml", data, testPolicies(), nil)
		in, got := splitLines(data), splitLines(out)
		if len(in) != len(got) {
			t.Fatalf("line count %d -> %d", len(in), len(got))
		}
		changed := map[int]bool{}
		for _, c := range changes {
			changed[c.Line] = true
			if !bytes.Contains(got[c.Line-1], []byte(strings.Trim(fmt.Sprintf("%q", c.NewValue), `"`))) &&
				!bytes.Contains(got[c.Line-1], []byte(c.NewValue)) {
				t.Fatalf("line %d %q lacks %q", c.Line, got[c.Line-1], c.NewValue)
			}
		}
		for i := range in {
			if !changed[i+1] && !bytes.Equal(in[i], got[i]) {
				t.Fatalf("line %d changed silently", i+1)
			}
		}
	})
}

func TestValue(t *testing.T) {
	ref := imagev1.ImageRef{Name: "r/app", Tag: "1.0", Digest: "sha256:ab"}
	for field, want := range map[string]string{FieldImage: "r/app:1.0@sha256:ab", FieldTag: "1.0", FieldName: "r/app", FieldDigest: "sha256:ab"} {
		if got, ok := Value(ref, field); !ok || got != want {
			t.Errorf("Value(%q) = %q, want %q", field, got, want)
		}
	}
	if got, ok := Value(imagev1.ImageRef{Name: "r/app", Tag: "1"}, FieldDigest); !ok || got != "" {
		t.Errorf("a digest marker without digest: %q %v, want it emptied as Flux does", got, ok)
	}
}
