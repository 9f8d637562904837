package source

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

// objects lists the hex digests of the artifact folders in the store.
func objects(t *testing.T, s *Store) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(s.Root, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
			if _, err := os.Stat(filepath.Join(s.Root, "objects", e.Name()+".tar.gz")); err != nil {
				t.Errorf("object %s has no tarball: %v", e.Name(), err)
			}
		} else if !strings.HasSuffix(e.Name(), ".tar.gz") {
			t.Errorf("unexpected file in objects: %s", e.Name())
		} else if _, err := os.Stat(filepath.Join(s.Root, "objects", strings.TrimSuffix(e.Name(), ".tar.gz"))); err != nil {
			t.Errorf("tarball %s without its folder", e.Name())
		}
	}
	sort.Strings(out)
	return out
}

func hexes(arts ...*Artifact) []string {
	out := make([]string, 0, len(arts))
	for _, a := range arts {
		out = append(out, trimAlgo(a.Digest))
	}
	sort.Strings(out)
	return out
}

func commitFiles(t *testing.T, s *Store, ref Ref, rev, content string) *Artifact {
	t.Helper()
	dir, err := s.TempDir("w-")
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"file.yaml": content})
	a, err := s.Commit(ref, rev, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestStoreRetention: a source committing a new revision again and again keeps its current artifact and
// the previous one (Flux's --artifact-retention-records=2), the previous one for the TTL only; an object
// another source still references is never removed; Delete drops a source's objects.
func TestStoreRetention(t *testing.T) {
	for _, tc := range []struct {
		name      string
		retention Retention
		// after three commits a, b, c one second apart, then c again a second later
		wantAfterThree func(a, b, c *Artifact) []string
	}{
		{"defaults", Retention{}, func(a, b, c *Artifact) []string { return hexes(b, c) }},
		{"current only", Retention{Records: 1}, func(a, b, c *Artifact) []string { return hexes(c) }},
		{"three records", Retention{Records: 3}, func(a, b, c *Artifact) []string { return hexes(a, b, c) }},
		{"short ttl", Retention{TTL: 500 * time.Millisecond}, func(a, b, c *Artifact) []string { return hexes(c) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := OpenStore(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			clk := testingclock.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
			s.Clock = clk
			s.Retention = tc.retention
			ref := Ref{Kind: "ExternalArtifact", Namespace: "apps", Name: "gen"}
			a := commitFiles(t, s, ref, "latest@a", "a\n")
			clk.Step(time.Second)
			b := commitFiles(t, s, ref, "latest@b", "b\n")
			clk.Step(time.Second)
			c := commitFiles(t, s, ref, "latest@c", "c\n")
			clk.Step(time.Second)
			commitFiles(t, s, ref, "latest@c", "c\n")
			if got, want := objects(t, s), tc.wantAfterThree(a, b, c); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("after three revisions: objects %v, want %v", got, want)
			}
			if cur, _ := s.Current(ref); cur == nil || cur.Digest != c.Digest {
				t.Fatalf("current = %+v", cur)
			}
		})
	}

	t.Run("many revisions stay bounded; ttl expires the previous one", func(t *testing.T) {
		s, err := OpenStore(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		clk := testingclock.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
		s.Clock = clk
		ref := Ref{Kind: "GitRepository", Namespace: "flux-system", Name: "repo"}
		var last, prev *Artifact
		for i := range 50 {
			prev = last
			last = commitFiles(t, s, ref, "main@sha1:"+string(rune('a'+i%26))+strings.Repeat("x", i), strings.Repeat("line\n", i+1))
			clk.Step(10 * time.Second)
		}
		if got, want := objects(t, s), hexes(prev, last); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("after 50 revisions: objects %v, want the last two %v", got, want)
		}
		// The same revision again, after the TTL: the previous artifact goes, the current one stays
		// with its first LastUpdateTime.
		clk.Step(2 * time.Minute)
		again := commitFiles(t, s, ref, last.Revision, strings.Repeat("line\n", 50))
		if again.Digest != last.Digest || !again.LastUpdateTime.Equal(last.LastUpdateTime) {
			t.Errorf("unchanged commit gave %+v, was %+v", again, last)
		}
		if got, want := objects(t, s), hexes(last); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("after the ttl: objects %v, want %v", got, want)
		}
	})

	t.Run("shared objects and delete", func(t *testing.T) {
		s, err := OpenStore(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		s.Retention = Retention{Records: 1}
		one := Ref{Kind: "GitRepository", Namespace: "a", Name: "one"}
		two := Ref{Kind: "ExternalArtifact", Namespace: "a", Name: "two"}
		shared := commitFiles(t, s, one, "r1", "shared\n")
		commitFiles(t, s, two, "latest@shared", "shared\n")
		own := commitFiles(t, s, one, "r2", "own\n")
		// one moved on, but two still references the shared object.
		if got, want := objects(t, s), hexes(shared, own); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("objects %v, want %v", got, want)
		}
		if cur, _ := s.Current(two); cur == nil || cur.Digest != shared.Digest {
			t.Fatalf("two lost its artifact: %+v", cur)
		}
		if err := s.Delete(two); err != nil {
			t.Fatal(err)
		}
		if got, want := objects(t, s), hexes(own); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("after deleting two: objects %v, want %v", got, want)
		}
		if cur, err := s.Current(two); cur != nil || err != nil {
			t.Errorf("deleted ref: %+v %v", cur, err)
		}
		if err := s.Delete(two); err != nil {
			t.Errorf("deleting twice: %v", err)
		}
		if err := s.Delete(one); err != nil {
			t.Fatal(err)
		}
		if got := objects(t, s); len(got) != 0 {
			t.Errorf("after deleting both: objects %v", got)
		}
	})

	t.Run("sweep removes old unreferenced objects only", func(t *testing.T) {
		s, err := OpenStore(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		ref := Ref{Kind: "Bucket", Namespace: "a", Name: "b"}
		kept := commitFiles(t, s, ref, "r1", "kept\n")
		old := filepath.Join(s.Root, "objects", strings.Repeat("0", 64))
		fresh := filepath.Join(s.Root, "objects", strings.Repeat("1", 64))
		for _, dir := range []string{old, fresh} {
			writeFiles(t, dir, map[string]string{"x": "x\n"})
			if err := os.WriteFile(dir+".tar.gz", []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		past := time.Now().Add(-time.Hour)
		for _, p := range []string{old, old + ".tar.gz", filepath.Join(s.Root, "objects", trimAlgo(kept.Digest)), kept.Archive} {
			if err := os.Chtimes(p, past, past); err != nil {
				t.Fatal(err)
			}
		}
		n, err := s.Sweep()
		if err != nil || n != 1 {
			t.Errorf("Sweep = %d, %v; want 1 removed", n, err)
		}
		want := []string{strings.Repeat("1", 64), trimAlgo(kept.Digest)}
		sort.Strings(want)
		if got := objects(t, s); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("after sweep: objects %v, want %v", got, want)
		}
	})
}

// TestStoreCollectConcurrent: sources committing the same content concurrently while others drop it
// never end with a current artifact whose files were collected.
func TestStoreCollectConcurrent(t *testing.T) {
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s.Retention = Retention{Records: 1}
	done := make(chan error)
	for w := range 6 {
		go func() {
			ref := Ref{Kind: "GitRepository", Namespace: "ns", Name: string(rune('a' + w))}
			for i := range 30 {
				content := "shared\n"
				if i%2 == 1 {
					content = ref.Name + strings.Repeat("!", i) + "\n"
				}
				dir, err := s.TempDir("w-")
				if err == nil {
					err = os.WriteFile(filepath.Join(dir, "f"), []byte(content), 0o644)
				}
				if err == nil {
					_, err = s.Commit(ref, "r"+content, dir, nil)
				}
				if err != nil {
					done <- err
					return
				}
				cur, err := s.Current(ref)
				if err != nil || cur == nil {
					done <- fmt.Errorf("%s commit %d: current %+v, %v: its object was collected", ref, i, cur, err)
					return
				}
			}
			done <- nil
		}()
	}
	for range 6 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	if got := objects(t, s); len(got) > 7 {
		t.Errorf("%d objects left for 6 sources keeping one each", len(got))
	}
}

// A collected object leaves objects/ in one rename (a reader walking it fails instead of seeing it half
// emptied) and nothing is left behind in tmp/.
func TestStoreDeleteLeavesNoTrash(t *testing.T) {
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ref := Ref{Kind: "GitRepository", Namespace: "ns", Name: "gone"}
	art := commitFiles(t, s, ref, "main@sha1:1", "one")
	held, err := os.Open(art.Archive)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := s.Delete(ref); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(art.Dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("artifact folder still there: %v", err)
	}
	if _, err := io.ReadAll(held); err != nil {
		t.Errorf("a tarball being served became unreadable: %v", err)
	}
	left, err := os.ReadDir(filepath.Join(s.Root, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("left in tmp/: %s", e.Name())
	}
}
