package generator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/crds/sourceext/v1beta1"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/testenv/goldenfile"
)

const testdata = "../../testdata/generator"

func testSources(t testing.TB) map[string]Source {
	t.Helper()
	out := map[string]Source{}
	for _, alias := range []string{"repo", "other", "chart"} {
		dir, err := filepath.Abs(filepath.Join(testdata, "sources", alias))
		if err != nil {
			t.Fatal(err)
		}
		out[alias] = Source{Dir: dir, Revision: "main@sha1:" + strings.Repeat(alias[:1], 40)}
	}
	s := out["other"]
	s.OriginRevision = "v1.0.0@sha1:" + strings.Repeat("f", 40)
	out["other"] = s
	// HelmChart sources come as the chart archive.
	archive, err := filepath.Abs(filepath.Join(testdata, "sources", "repo", "charts", "podinfo-1.0.0.tgz"))
	if err != nil {
		t.Fatal(err)
	}
	out["packaged"] = Source{Archive: archive, Revision: "1.0.0"}
	out["broken"] = Source{Archive: filepath.Join(out["repo"].Dir, "config.yaml"), Revision: "0.0.1"}
	return out
}

func readGenerator(t testing.TB, file string) *v1beta1.ArtifactGenerator {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	gen := &v1beta1.ArtifactGenerator{}
	if err := yaml.UnmarshalStrict(data, gen); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return gen
}

// render lists an artifact's files with their content, for golden files.
func render(t testing.TB, arts []Artifact) string {
	t.Helper()
	var b strings.Builder
	for _, a := range arts {
		rev := a.Revision
		if rev == "latest@"+a.Digest {
			rev = "latest@<digest>"
		}
		fmt.Fprintf(&b, "=== artifact %s revision %s\n", a.Name, rev)
		keys := make([]string, 0, len(a.Metadata))
		for k := range a.Metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "metadata %s=%s\n", k, a.Metadata[k])
		}
		keys = keys[:0]
		for k := range a.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "label %s=%s\n", k, a.Labels[k])
		}
		b.WriteString(listTree(t, a.Dir))
	}
	return b.String()
}

func listTree(t testing.TB, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			if entries, _ := os.ReadDir(p); len(entries) == 0 {
				fmt.Fprintf(&b, "--- %s/ (empty)\n", rel)
			}
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			fmt.Fprintf(&b, "--- %s -> %s\n", rel, target)
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if bytes.IndexByte(data, 0) >= 0 || !strings.HasSuffix(string(data), "\n") {
				fmt.Fprintf(&b, "--- %s (%d bytes)\n", rel, len(data))
			} else {
				fmt.Fprintf(&b, "--- %s\n%s", rel, data)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestGenerateGolden runs every testdata/generator/copy/<case>/generator.yaml against the sources in
// testdata/generator/sources and compares the generated files (or the error) with golden.txt.
func TestGenerateGolden(t *testing.T) {
	cases, err := filepath.Glob(filepath.Join(testdata, "copy", "*", "generator.yaml"))
	if err != nil || len(cases) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	sources := testSources(t)
	for _, file := range cases {
		dir := filepath.Dir(file)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			gen := readGenerator(t, file)
			arts, err := Generate(context.Background(), gen, sources, t.TempDir())
			var got string
			if err != nil {
				var ge *Error
				if !errors.As(err, &ge) {
					t.Errorf("error %T is not an *Error", err)
				}
				got = "error: " + err.Error() + "\n"
			} else {
				got = render(t, arts)
			}
			if strings.HasPrefix(filepath.Base(dir), "err-") != (err != nil) {
				t.Errorf("error = %v; cases named err-* must fail, the others succeed", err)
			}
			golden := filepath.Join(dir, "golden.txt")
			goldenfile.CheckString(t, golden, got)
		})
	}
}

// TestGenerateErrors checks the sentinel each failure wraps, and that the message names the generator
// and the entry.
func TestGenerateErrors(t *testing.T) {
	sources := testSources(t)
	for _, tc := range []struct {
		name, field string
		want        error
	}{
		{"err-unknown-alias", "artifacts[0] (out): copy[1]", ErrUnknownAlias},
		{"err-unknown-revision-alias", "artifacts[0] (out)", ErrUnknownAlias},
		{"err-no-match", "artifacts[0] (out): copy[0]", ErrNoMatch},
		{"err-missing-file", "artifacts[0] (out): copy[0]", ErrNoMatch},
		{"err-all-excluded", "artifacts[1] (out): copy[0]", ErrNoMatch},
		{"err-dotdot-from", "artifacts[0] (out): copy[0]", ErrEscape},
		{"err-dotdot-to", "artifacts[0] (out): copy[0]", ErrEscape},
		{"err-absolute-to", "artifacts[0] (out): copy[0]", ErrEscape},
		{"err-duplicate-name", "artifacts[1] (out)", ErrDuplicate},
		{"err-bad-glob", "artifacts[0] (out): copy[0]", ErrInvalid},
		{"err-extract-folder", "artifacts[0] (out): copy[0]", ErrInvalid},
		{"err-extract-not-tarball", "artifacts[0] (out): copy[0]", ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gen := readGenerator(t, filepath.Join(testdata, "copy", tc.name, "generator.yaml"))
			_, err := Generate(context.Background(), gen, sources, t.TempDir())
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "ArtifactGenerator apps/gen: "+tc.field) {
				t.Errorf("error %q does not start with the generator and %q", msg, tc.field)
			}
		})
	}
	t.Run("duplicate alias", func(t *testing.T) {
		gen := readGenerator(t, filepath.Join(testdata, "copy", "file-to-file", "generator.yaml"))
		gen.Spec.Sources = append(gen.Spec.Sources, v1beta1.SourceReference{Alias: "repo", Kind: "Bucket", Name: "b"})
		err := Validate(gen)
		if !errors.Is(err, ErrDuplicate) || !strings.Contains(err.Error(), "sources[3] (repo)") {
			t.Errorf("error = %v", err)
		}
	})
	t.Run("source not provided", func(t *testing.T) {
		gen := readGenerator(t, filepath.Join(testdata, "copy", "file-to-file", "generator.yaml"))
		partial := map[string]Source{"repo": sources["repo"]}
		if _, err := Generate(context.Background(), gen, partial, t.TempDir()); err == nil || !strings.Contains(err.Error(), "sources[1] (other)") {
			t.Errorf("error = %v", err)
		}
	})
}

// TestGenerateSymlinks: links inside a source are followed while they stay in it; a link leaving the
// source is refused, whether copied by name, by glob or inside a folder.
func TestGenerateSymlinks(t *testing.T) {
	root := t.TempDir()
	src := filepath.Join(root, "src")
	for _, d := range []string{"src/app", "outside"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		if err := os.WriteFile(filepath.Join(root, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("src/app/cm.yaml", "inside: true\n")
	write("outside/secret.yaml", "secret: true\n")
	if err := os.Symlink("cm.yaml", filepath.Join(src, "app", "alias.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(src, "leaky"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../outside/secret.yaml", filepath.Join(src, "leaky", "secret.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "outside", "secret.yaml"), filepath.Join(src, "absolute.yaml")); err != nil {
		t.Fatal(err)
	}
	sources := map[string]Source{"repo": {Dir: src, Revision: "r"}}
	gen := func(from, to string) *v1beta1.ArtifactGenerator {
		g := &v1beta1.ArtifactGenerator{}
		g.Name, g.Namespace = "links", "apps"
		g.Spec.Sources = []v1beta1.SourceReference{{Alias: "repo", Kind: "GitRepository", Name: "repo"}}
		g.Spec.OutputArtifacts = []v1beta1.OutputArtifact{{Name: "out", Copy: []v1beta1.CopyOperation{{From: from, To: to}}}}
		return g
	}
	arts, err := Generate(context.Background(), gen("@repo/app/**", "@artifact/"), sources, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := listTree(t, arts[0].Dir), "--- alias.yaml\ninside: true\n--- cm.yaml\ninside: true\n"; got != want {
		t.Errorf("inner link: got\n%s\nwant\n%s", got, want)
	}
	// A link to a folder: copied when from names it, not followed when met inside a copied folder or glob.
	clean := t.TempDir()
	if err := os.MkdirAll(filepath.Join(clean, "app"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(clean, "app", "cm.yaml"), []byte("inside: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("app", filepath.Join(clean, "applink")); err != nil {
		t.Fatal(err)
	}
	for from, want := range map[string]string{
		"@repo/applink": "--- applink/cm.yaml\ninside: true\n",
		"@repo/**":      "--- app/cm.yaml\ninside: true\n",
		"@repo/*":       "--- app/cm.yaml\ninside: true\n",
	} {
		arts, err := Generate(context.Background(), gen(from, "@artifact/"), map[string]Source{"repo": {Dir: clean}}, t.TempDir())
		if err != nil {
			t.Fatalf("from %s: %v", from, err)
		}
		if got := listTree(t, arts[0].Dir); got != want {
			t.Errorf("from %s: got\n%s\nwant\n%s", from, got, want)
		}
	}
	for _, from := range []string{"@repo/leaky/secret.yaml", "@repo/leaky/*.yaml", "@repo/leaky", "@repo/**", "@repo/absolute.yaml"} {
		work := t.TempDir()
		_, err := Generate(context.Background(), gen(from, "@artifact/"), sources, work)
		if !errors.Is(err, ErrEscape) {
			t.Errorf("from %s: error = %v, want ErrEscape", from, err)
		}
		filepath.WalkDir(work, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && filepath.Base(p) == "secret.yaml" {
				t.Errorf("from %s: %s was written", from, p)
			}
			return nil
		})
	}
}

// TestGenerateDeterministic: the revision depends on the content only (not on times, work folders or
// the order files were written); a change on one side changes that artifact alone.
func TestGenerateDeterministic(t *testing.T) {
	src := t.TempDir()
	for _, f := range []string{"a/x.yaml", "a/y.yaml", "b/z.yaml"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, f), []byte(f+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gen := readGenerator(t, filepath.Join(testdata, "copy", "decomposition", "generator.yaml"))
	gen.Spec.OutputArtifacts[0].Copy[0].From = "@repo/a/**"
	gen.Spec.OutputArtifacts[1].Copy[0].From = "@repo/b/**"
	sources := map[string]Source{"repo": {Dir: src}, "other": {Dir: src}, "chart": {Dir: src}}
	first, err := Generate(context.Background(), gen, sources, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(first[0].Revision, "latest@sha256:") || len(first[0].Revision) != len("latest@sha256:")+64 {
		t.Fatalf("revision %q", first[0].Revision)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(src, "a", "x.yaml"), later, later); err != nil {
		t.Fatal(err)
	}
	again, err := Generate(context.Background(), gen, sources, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for i := range first {
		if first[i].Revision != again[i].Revision || first[i].Digest != again[i].Digest || first[i].Size != again[i].Size {
			t.Errorf("%s: %s then %s with the same content", first[i].Name, first[i].Revision, again[i].Revision)
		}
	}
	if err := os.WriteFile(filepath.Join(src, "b", "z.yaml"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	changed, err := Generate(context.Background(), gen, sources, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if changed[0].Revision != first[0].Revision {
		t.Errorf("frontend changed without a change on its side")
	}
	if changed[1].Revision == first[1].Revision {
		t.Errorf("backend kept %s after its content changed", first[1].Revision)
	}
	// The tarball is the canonical one of engine/source: extracting it gives the same files.
	data, err := os.ReadFile(changed[1].Archive)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if err := source.ExtractTarGz(bytes.NewReader(data), out, source.ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, want := listTree(t, out), listTree(t, changed[1].Dir); got != want {
		t.Errorf("archive holds\n%s\nfolder holds\n%s", got, want)
	}
	if int64(len(data)) != changed[1].Size {
		t.Errorf("size %d, archive %d bytes", changed[1].Size, len(data))
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"**", "a", true},
		{"**", "a/b/c", true},
		{"a/**", "a/b", true},
		{"a/**", "a/b/c", true},
		{"a/**", "b/c", false},
		{"a/**/*.yaml", "a/x.yaml", true},
		{"a/**/*.yaml", "a/b/c/x.yaml", true},
		{"a/**/*.yaml", "a/b/c/x.json", false},
		{"a/*.yaml", "a/b/x.yaml", false},
		{"*.yaml", "x.yaml", true},
		{"*.yaml", "a/x.yaml", false},
		{"**/testdata/**", "x/testdata/y.yaml", true},
		{"**/testdata/**", "testdata", true},
		{"**/testdata/**", "x/testdatas/y", false},
		{"a/**/b/**/c", "a/x/b/y/z/c", true},
		{"a/**/b/**/c", "a/x/c", false},
		{"?.yaml", "ab.yaml", false},
		{"[ab].yaml", "b.yaml", true},
		{"a/b", "a/b", true},
		{"a/b", "a/b/c", false},
	} {
		if got := match(tc.pattern, tc.name); got != tc.want {
			t.Errorf("match(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

// FuzzCopyPaths feeds arbitrary from/to/exclude values through Generate: it must never panic, never
// write outside its work folder, never read through the link that leaves the source, and the glob
// matcher must agree with plain equality on literal patterns.
func FuzzCopyPaths(f *testing.F) {
	for _, seed := range [][3]string{
		{"**", "", ""}, {"a/**", "out/", "*.md"}, {"a/*.yaml", "x", "**/b/**"}, {"a/b/c.yaml", "c.yaml", ""},
		{"../x", "", ""}, {"a/../../x", "../", ""}, {"link/**", "/abs", ""}, {"**/*.tgz", "t/", ""},
		{"[", "", "["}, {"a/", "a/", "a/**"}, {".", ".", "."}, {"**/**/c.yaml", "../../..", ""},
	} {
		f.Add(seed[0], seed[1], seed[2], false)
	}
	f.Fuzz(func(t *testing.T, from, to, exclude string, extract bool) {
		if !containsGlob(from) {
			if got := match(from, from); !got && validGlob(from) == nil {
				t.Fatalf("literal pattern %q does not match itself", from)
			}
		}
		root := t.TempDir()
		src := filepath.Join(root, "src")
		for p, data := range map[string]string{"src/a/b/c.yaml": "c: 1\n", "src/a/d.md": "d\n", "src/e.yaml": "e: 1\n", "outside/secret": "secret\n"} {
			full := filepath.Join(root, p)
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Symlink("../outside/secret", filepath.Join(src, "link")); err != nil {
			t.Fatal(err)
		}
		work := filepath.Join(root, "work")
		if err := os.Mkdir(work, 0o755); err != nil {
			t.Fatal(err)
		}
		g := &v1beta1.ArtifactGenerator{}
		g.Name, g.Namespace = "fuzz", "default"
		g.Spec.Sources = []v1beta1.SourceReference{{Alias: "src", Kind: "GitRepository", Name: "src"}}
		op := v1beta1.CopyOperation{From: "@src/" + from, To: "@artifact/" + to}
		if exclude != "" {
			op.Exclude = []string{exclude}
		}
		if extract {
			op.Strategy = v1beta1.ExtractStrategy
		}
		g.Spec.OutputArtifacts = []v1beta1.OutputArtifact{{Name: "out", Copy: []v1beta1.CopyOperation{op}}}
		_, _ = Generate(context.Background(), g, map[string]Source{"src": {Dir: src}}, work)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			switch {
			case rel == "." || rel == "src" || rel == "work" || rel == "outside" || rel == "outside/secret":
			case strings.HasPrefix(rel, "src/"):
			case strings.HasPrefix(rel, "work/"):
				if !d.IsDir() && d.Type().IsRegular() {
					if data, _ := os.ReadFile(p); string(data) == "secret\n" {
						t.Errorf("the secret behind the link was copied to %s", rel)
					}
				}
			default:
				t.Errorf("%s written outside the work folder", rel)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for p, want := range map[string]string{"src/a/b/c.yaml": "c: 1\n", "src/e.yaml": "e: 1\n", "outside/secret": "secret\n"} {
			if data, err := os.ReadFile(filepath.Join(root, p)); err != nil || string(data) != want {
				t.Errorf("%s changed: %q, %v", p, data, err)
			}
		}
	})
}

// TestPathPattern: spec.pathPattern as source-watcher documents it: one artifact per template and
// matching folder, captures lowercased in names and labels but kept as found in copy paths; folders
// whose names collide after lowercasing, or are not label values, and malformed templates are errors
// naming spec.pathPattern or the artifact.
func TestPathPattern(t *testing.T) {
	src := t.TempDir()
	for _, f := range []string{
		"apps/Auth/envs/prod/deploy.yaml", "apps/Auth/envs/dev/deploy.yaml", "apps/web/envs/prod/deploy.yaml",
		"apps/web/README.md", "apps/web/envs/prod/nested/extra.yaml", "other/x.yaml",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, f), []byte(f+": true\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("web", filepath.Join(src, "apps", "linked")); err != nil {
		t.Fatal(err)
	}
	from := "@mono/apps/{app}/envs/{env}/**"
	gen := func(pattern string, names ...string) *v1beta1.ArtifactGenerator {
		g := &v1beta1.ArtifactGenerator{}
		g.Name, g.Namespace = "pp", "apps"
		g.Spec.Sources = []v1beta1.SourceReference{{Alias: "mono", Kind: "GitRepository", Name: "mono"}}
		g.Spec.PathPattern = pattern
		for _, n := range names {
			g.Spec.OutputArtifacts = append(g.Spec.OutputArtifacts, v1beta1.OutputArtifact{Name: n,
				Copy: []v1beta1.CopyOperation{{From: from, To: "@artifact/{app}/"}}})
		}
		return g
	}
	sources := map[string]Source{"mono": {Dir: src, Revision: "main@sha1:1"}}
	for _, tc := range []struct {
		name, pattern string
		artifacts     []string
		want          string // artifacts as "name[labels]:files", or the error's start
		err           error
	}{
		{"two captures", "@mono/apps/{app}/envs/{env}", []string{"{app}-{env}"},
			"auth-dev[app=auth,env=dev]:Auth/deploy.yaml auth-prod[app=auth,env=prod]:Auth/deploy.yaml web-prod[app=web,env=prod]:web/deploy.yaml,web/nested/extra.yaml", nil},
		{"no match", "@mono/apps/{app}/envs/{env}/nowhere", []string{"{app}"}, "", nil},
		{"capture in a folder name with a prefix", "@mono/apps/{app}/envs/p{env}", []string{"{app}-p{env}"},
			"auth-prod[app=auth,env=rod]:Auth/deploy.yaml web-prod[app=web,env=rod]:web/deploy.yaml,web/nested/extra.yaml", nil},
		{"collision", "@mono/apps/{app}/envs/{env}", []string{"{app}"},
			"ArtifactGenerator apps/pp: spec.pathPattern: duplicate artifact name 'auth': folders 'apps/Auth/envs/dev' and 'apps/Auth/envs/prod' both render it", ErrDuplicate},
		{"undefined capture", "@mono/apps/{app}/envs/{env}", []string{"{app}-{region}"},
			"ArtifactGenerator apps/pp: artifacts[0] ({app}-{region}): name: invalid spec: \"{app}-{region}\": capture {region} is not defined by pathPattern", ErrInvalid},
		{"stray brace", "@mono/apps/{app}}", []string{"{app}"}, "ArtifactGenerator apps/pp: spec.pathPattern: invalid spec", ErrInvalid},
		{"unclosed brace", "@mono/apps/{app", []string{"x"}, "ArtifactGenerator apps/pp: spec.pathPattern: invalid spec", ErrInvalid},
		{"twice", "@mono/{app}/envs/{app}", []string{"{app}"}, "ArtifactGenerator apps/pp: spec.pathPattern: invalid spec", ErrInvalid},
		{"bad capture name", "@mono/apps/{my-app}", []string{"x"}, "ArtifactGenerator apps/pp: spec.pathPattern: invalid spec", ErrInvalid},
		{"unknown alias", "@nope/apps/{app}", []string{"{app}"}, "ArtifactGenerator apps/pp: spec.pathPattern: unknown source alias 'nope'", ErrUnknownAlias},
		{"template name invalid", "@mono/apps/{app}/envs/{env}", []string{"{app}_{env}"}, "ArtifactGenerator apps/pp: artifacts[0] ({app}_{env}): invalid spec: artifact name \"x_x\"", ErrInvalid},
		{"duplicate templates", "@mono/apps/{app}/envs/{env}", []string{"{app}-{env}", "{app}-{env}"}, "ArtifactGenerator apps/pp: artifacts[1] ({app}-{env}): duplicate", ErrDuplicate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from = "@mono/apps/{app}/envs/{env}/**"
			if strings.Contains(tc.pattern, "p{env}") {
				from = "@mono/apps/{app}/envs/p{env}/**"
			}
			arts, err := Generate(context.Background(), gen(tc.pattern, tc.artifacts...), sources, t.TempDir())
			if tc.err != nil {
				if !errors.Is(err, tc.err) || !strings.HasPrefix(err.Error(), tc.want) {
					t.Fatalf("error = %v\nwant %v starting %q", err, tc.err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range arts {
				var labels, files []string
				for k, v := range a.Labels {
					labels = append(labels, k+"="+v)
				}
				sort.Strings(labels)
				filepath.WalkDir(a.Dir, func(p string, d fs.DirEntry, err error) error {
					if err == nil && !d.IsDir() {
						rel, _ := filepath.Rel(a.Dir, p)
						files = append(files, filepath.ToSlash(rel))
					}
					return nil
				})
				got = append(got, fmt.Sprintf("%s[%s]:%s", a.Name, strings.Join(labels, ","), strings.Join(files, ",")))
			}
			if s := strings.Join(got, " "); s != tc.want {
				t.Errorf("got  %s\nwant %s", s, tc.want)
			}
		})
	}
	// A folder name that is not a label value once captured.
	if err := os.MkdirAll(filepath.Join(src, "apps", ".hidden", "envs", "prod"), 0o755); err != nil {
		t.Fatal(err)
	}
	from = "@mono/apps/{app}/envs/{env}/**"
	_, err := Generate(context.Background(), gen("@mono/apps/{app}/envs/{env}", "{app}-{env}"), sources, t.TempDir())
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `folder 'apps/.hidden/envs/prod': {app} = ".hidden" is not a valid label value`) {
		t.Errorf("error = %v", err)
	}
}
