package source

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStoreCommitIsContentAddressed(t *testing.T) {
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	clk := testingclock.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	s.Clock = clk
	ref := Ref{Kind: "GitRepository", Namespace: "flux-system", Name: "app"}
	commit := func(files map[string]string, rev string) *Artifact {
		dir, err := s.TempDir("w-")
		if err != nil {
			t.Fatal(err)
		}
		writeFiles(t, dir, files)
		a, err := s.Commit(ref, rev, dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a1 := commit(map[string]string{"a.yaml": "a: 1\n", "sub/b.yaml": "b: 2\n"}, "main@sha1:1")
	clk.Step(time.Hour)
	a2 := commit(map[string]string{"sub/b.yaml": "b: 2\n", "a.yaml": "a: 1\n"}, "main@sha1:1")
	if a1.Digest != a2.Digest || !a2.LastUpdateTime.Equal(a1.LastUpdateTime) {
		t.Errorf("same content, different artifact: %+v %+v", a1, a2)
	}
	a3 := commit(map[string]string{"a.yaml": "a: 2\n"}, "main@sha1:2")
	if a3.Digest == a1.Digest {
		t.Error("different content, same digest")
	}
	cur, err := s.Current(ref)
	if err != nil || cur == nil || cur.Digest != a3.Digest || cur.Revision != "main@sha1:2" {
		t.Fatalf("current = %+v, %v", cur, err)
	}
	if b, err := os.ReadFile(filepath.Join(cur.Dir, "a.yaml")); err != nil || string(b) != "a: 2\n" {
		t.Errorf("artifact files: %q %v", b, err)
	}
	if none, err := s.Current(Ref{Kind: "GitRepository", Namespace: "x", Name: "y"}); none != nil || err != nil {
		t.Errorf("unknown source: %+v %v", none, err)
	}
}

func TestStoreLockSerialises(t *testing.T) {
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	inside, maxInside := 0, 0
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := s.Lock(context.Background(), "same")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			inside++
			maxInside = max(maxInside, inside)
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
			mu.Lock()
			inside--
			mu.Unlock()
			unlock()
		}()
	}
	wg.Wait()
	if maxInside != 1 {
		t.Errorf("%d holders at once", maxInside)
	}
	unlock, _ := s.Lock(context.Background(), "held")
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := s.Lock(ctx, "held"); err == nil {
		t.Error("a held lock was taken twice")
	}
}

func TestIgnoreDefaultsOnlyWithoutRules(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"app.yaml": "x", "logo.png": "x", ".github/ci.yaml": "x", ".git/config": "x"})
	ig, err := LoadIgnore(dir, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := ig.Prune(dir); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"app.yaml": true, "logo.png": false, ".github": false, ".git": false} {
		_, err := os.Stat(filepath.Join(dir, name))
		if got := err == nil; got != want {
			t.Errorf("%s present=%v, want %v", name, got, want)
		}
	}
}

func TestIgnore(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"apps/app.yaml": "x", "apps/logo.png": "x", ".github/workflows/ci.yaml": "x", "docs/readme.md": "x",
		"apps/.sourceignore": "secret.yaml\n", "apps/secret.yaml": "x", "secret.yaml": "x", "keep.png": "x",
		".git/config": "x", "README.md": "x",
	})
	spec := "/docs/\n/*.md\n!keep.png\n"
	ig, err := LoadIgnore(dir, &spec, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := ig.Prune(dir); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"apps/app.yaml": true, "apps/logo.png": true, ".github": true, "docs": false,
		"apps/secret.yaml": false, "secret.yaml": true, "keep.png": true, ".git": false, "README.md": false,
		"apps/.sourceignore": true,
	} {
		_, err := os.Stat(filepath.Join(dir, name))
		if got := err == nil; got != want {
			t.Errorf("%s present=%v, want %v", name, got, want)
		}
	}
}
