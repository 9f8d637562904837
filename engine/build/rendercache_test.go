package build

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"sigs.k8s.io/yaml"
)

// writeFiles writes name → content under root.
func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func configMapDoc(name, value string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\ndata:\n  value: " + value + "\n"
}

// cacheTree is a source: an overlay of a base outside its path, and a folder without a
// kustomization file.
func cacheTree(t *testing.T) string {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"base/kustomization.yaml":    "resources:\n- cm.yaml\n",
		"base/cm.yaml":               configMapDoc("base", "one"),
		"overlay/kustomization.yaml": "resources:\n- ../base\n- own.yaml\n",
		"overlay/own.yaml":           configMapDoc("own", "${greeting:=hello}"),
		"plain/a.yaml":               configMapDoc("a", "a"),
	})
	return root
}

func renderYAML(t *testing.T, res *Result) string {
	t.Helper()
	var out strings.Builder
	for _, o := range res.Objects {
		y, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		out.WriteString("---\n")
		out.Write(y)
	}
	return out.String()
}

// TestRenderCache builds a Kustomization twice through one cache dir, each time with a new Builder (as a
// new process would), after a change; the second build must show the change, and come from the cache
// only when nothing it read changed.
func TestRenderCache(t *testing.T) {
	const overlaySpec = "  path: ./overlay\n  postBuild:\n    substitute:\n      greeting: hi\n"
	tests := []struct {
		name string
		spec string
		// change happens between the builds; it may replace spec or the version.
		change  func(t *testing.T, root string, spec, version *string)
		hit     bool
		want    string // in the second output
		wantNot string // not in the second output
	}{
		{name: "unchanged", spec: overlaySpec, change: func(*testing.T, string, *string, *string) {}, hit: true, want: "value: hi"},
		{name: "file in the path", spec: overlaySpec, change: func(t *testing.T, root string, _, _ *string) {
			writeFiles(t, root, map[string]string{"overlay/own.yaml": configMapDoc("own", "changed")})
		}, want: "value: changed", wantNot: "value: hi"},
		{name: "file referenced outside the path", spec: overlaySpec, change: func(t *testing.T, root string, _, _ *string) {
			writeFiles(t, root, map[string]string{"base/cm.yaml": configMapDoc("base", "two")})
		}, want: "value: two", wantNot: "value: one"},
		{name: "file added to a folder without kustomization file", spec: "  path: ./plain\n", change: func(t *testing.T, root string, _, _ *string) {
			writeFiles(t, root, map[string]string{"plain/b.yaml": configMapDoc("b", "b")})
		}, want: "name: b"},
		{name: "file removed", spec: "  path: ./plain\n", change: func(t *testing.T, root string, _, _ *string) {
			writeFiles(t, root, map[string]string{"plain/b.yaml": configMapDoc("b", "b")})
		}, want: "name: b"},
		{name: "spec field", spec: overlaySpec, change: func(_ *testing.T, _ string, spec, _ *string) {
			*spec = overlaySpec + "  targetNamespace: elsewhere\n"
		}, want: "namespace: elsewhere"},
		{name: "substitution variable", spec: overlaySpec, change: func(_ *testing.T, _ string, spec, _ *string) {
			*spec = strings.Replace(overlaySpec, "greeting: hi", "greeting: bonjour", 1)
		}, hit: true, want: "value: bonjour", wantNot: "value: hi"},
		{name: "version", spec: overlaySpec, change: func(_ *testing.T, _ string, _, version *string) {
			*version = "v2"
		}, want: "value: hi"},
		{name: "corrupt entry", spec: overlaySpec, change: func(t *testing.T, _ string, _, _ *string) {
			// Every entry of the test's cache loses its last byte: it no longer verifies.
			corruptEntries(t)
		}, want: "value: hi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := cacheTree(t)
			cacheDir := t.TempDir()
			t.Setenv("RENDER_CACHE_TEST_DIR", cacheDir)
			spec, version := tt.spec, "v1"
			build := func() (string, *RenderCache) {
				c := &RenderCache{Dir: cacheDir, Version: version}
				b := &Builder{RenderCache: c, Strict: true}
				res, err := b.Build(context.Background(), decodeKustomization(t, ksDoc("cached", spec)), root)
				if err != nil {
					t.Fatal(err)
				}
				return renderYAML(t, res), c
			}
			first, c := build()
			if c.hits.Load() != 0 || c.stores.Load() != 1 {
				t.Fatalf("first build: %d hits, %d stores; want 0 and 1", c.hits.Load(), c.stores.Load())
			}
			if tt.name == "file removed" {
				// The second build below has b.yaml, the third must not.
				tt.change(t, root, &spec, &version)
				if out, _ := build(); !strings.Contains(out, tt.want) {
					t.Fatalf("built without %q:\n%s", tt.want, out)
				}
				if err := os.Remove(filepath.Join(root, "plain/b.yaml")); err != nil {
					t.Fatal(err)
				}
				out, c := build()
				if strings.Contains(out, tt.want) || c.hits.Load() != 1 || out != first {
					t.Fatalf("after removing plain/b.yaml: %d hits (want the first entry again, 1)\n%s", c.hits.Load(), out)
				}
				return
			}
			tt.change(t, root, &spec, &version)
			second, c := build()
			if got := c.hits.Load() == 1; got != tt.hit {
				t.Errorf("second build from the cache: %v, want %v", got, tt.hit)
			}
			if !strings.Contains(second, tt.want) {
				t.Errorf("second build lacks %q:\n%s", tt.want, second)
			}
			if tt.wantNot != "" && strings.Contains(second, tt.wantNot) {
				t.Errorf("second build still has %q:\n%s", tt.wantNot, second)
			}
			// Without a cache, the same inputs build the same output.
			b := &Builder{Strict: true}
			res, err := b.Build(context.Background(), decodeKustomization(t, ksDoc("cached", spec)), root)
			if err != nil {
				t.Fatal(err)
			}
			if uncached := renderYAML(t, res); uncached != second {
				t.Errorf("cached build differs from an uncached one:\n%s\nuncached:\n%s", second, uncached)
			}
		})
	}
}

// corruptEntries truncates every entry under the test's cache folder by one byte.
func corruptEntries(t *testing.T) {
	t.Helper()
	dir := os.Getenv("RENDER_CACHE_TEST_DIR")
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(p, data[:len(data)-1], 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRenderCacheSkips: Secrets and SOPS-decrypted files are never stored.
func TestRenderCacheSkips(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"app/kustomization.yaml": "resources:\n- s.yaml\n",
		"app/s.yaml":             "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  k: v\n",
	})
	cacheDir := t.TempDir()
	c := &RenderCache{Dir: cacheDir, Version: "v1"}
	b := &Builder{RenderCache: c, Strict: true}
	if _, err := b.Build(context.Background(), decodeKustomization(t, ksDoc("secret", "  path: ./app\n")), root); err != nil {
		t.Fatal(err)
	}
	if n := c.stores.Load(); n != 0 {
		t.Fatalf("%d entries stored for a build with a Secret, want 0", n)
	}
	entries, err := os.ReadDir(cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("cache folder holds %d entries, want none", len(entries))
	}
}

// TestRenderCacheConcurrent: processes (here, builders) storing and loading the same entry at once
// always see a whole entry.
func TestRenderCacheConcurrent(t *testing.T) {
	root := cacheTree(t)
	cacheDir := t.TempDir()
	var wg sync.WaitGroup
	outs := make([]string, 8)
	errs := make([]error, 8)
	for i := range outs {
		wg.Go(func() {
			b := &Builder{RenderCache: &RenderCache{Dir: cacheDir, Version: "v1"}, Strict: true}
			res, err := b.Build(context.Background(), decodeKustomization(t, ksDoc("cached", "  path: ./overlay\n")), root)
			if err != nil {
				errs[i] = err
				return
			}
			outs[i] = renderYAML(t, res)
		})
	}
	wg.Wait()
	for i := range outs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if outs[i] != outs[0] {
			t.Fatalf("build %d differs:\n%s\nfirst:\n%s", i, outs[i], outs[0])
		}
	}
	err := filepath.WalkDir(cacheDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRenderCacheTrim: past MaxBytes, the least recently used entries go.
func TestRenderCacheTrim(t *testing.T) {
	root := cacheTree(t)
	cacheDir := t.TempDir()
	for _, path := range []string{"./base", "./overlay", "./plain"} {
		// A new cache (process) each time: trimming runs once per process.
		c := &RenderCache{Dir: cacheDir, Version: "v1", MaxBytes: 1}
		b := &Builder{RenderCache: c, Strict: true}
		if _, err := b.Build(context.Background(), decodeKustomization(t, ksDoc("trim", "  path: "+path+"\n")), root); err != nil {
			t.Fatal(err)
		}
		if c.stores.Load() != 1 {
			t.Fatalf("%s: %d stores, want 1", path, c.stores.Load())
		}
	}
	var left int
	err := filepath.WalkDir(cacheDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d entries left in a cache bounded to 1 byte, want 0", left)
	}
}

func TestDefaultRenderCache(t *testing.T) {
	t.Setenv(RenderCacheEnv, "off")
	if c := DefaultRenderCache("v1"); c != nil {
		t.Fatalf("%s=off: cache at %s, want none", RenderCacheEnv, c.Dir)
	}
	dir := t.TempDir()
	t.Setenv(RenderCacheEnv, dir)
	if c := DefaultRenderCache("v1"); c == nil || c.Dir != dir {
		t.Fatalf("%s=%s: got %+v", RenderCacheEnv, dir, c)
	}
	if RenderCacheVersion("v1") == RenderCacheVersion("v2") {
		t.Fatal("two versions give the same cache version")
	}
}
