package source

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// entry is one tar entry of a test archive; body is the data of regular files.
type entry struct {
	name, body, link string
	typ              byte
	mode             int64
	size             int64 // overrides len(body) in the header when non-zero
}

func file(name, body string) entry {
	return entry{name: name, body: body, typ: tar.TypeReg, mode: 0o644}
}
func dir(name string) entry { return entry{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, target string) entry {
	return entry{name: name, link: target, typ: tar.TypeSymlink, mode: 0o777}
}
func hardlink(name, target string) entry {
	return entry{name: name, link: target, typ: tar.TypeLink, mode: 0o644}
}

func makeTar(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Format: tar.FormatPAX}
		if e.body != "" {
			hdr.Size = int64(len(e.body))
		}
		if e.size != 0 {
			hdr.Size = e.size
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("writing header %q: %v", e.name, err)
		}
		if e.body != "" {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sandbox is a parent folder holding the extraction destination and a sentinel file beside it, so that
// checkContained can tell whether anything was written outside the destination.
type sandbox struct {
	parent, dest string
	preexisting  map[string]bool // paths under dest that the test itself put there
}

func newSandbox(t testing.TB) sandbox {
	t.Helper()
	parent := t.TempDir()
	if err := os.WriteFile(filepath.Join(parent, "sentinel"), []byte("untouched"), 0o644); err != nil {
		t.Fatal(err)
	}
	return sandbox{parent: parent, dest: filepath.Join(parent, "dest"), preexisting: map[string]bool{}}
}

// checkContained fails when anything besides dest and the untouched sentinel exists in the parent, when
// dest holds anything but files, folders and links, or when a link under dest resolves outside it.
func (s sandbox) checkContained(t testing.TB) {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join(s.parent, "sentinel")); err != nil || string(b) != "untouched" {
		t.Fatalf("sentinel beside the destination changed: %q %v", b, err)
	}
	err := filepath.WalkDir(s.parent, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == s.parent || p == filepath.Join(s.parent, "sentinel") || p == s.dest || s.preexisting[p] {
			return nil
		}
		if !strings.HasPrefix(p, s.dest+string(filepath.Separator)) {
			return fmt.Errorf("written outside the destination: %s", p)
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch m := fi.Mode(); {
		case m.IsDir(), m.IsRegular():
			if m&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
				return fmt.Errorf("special mode bits on %s: %v", p, m)
			}
		case m&fs.ModeSymlink != 0:
			return checkLinkInside(s.dest, p)
		default:
			return fmt.Errorf("special file extracted: %s (%v)", p, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkLinkInside resolves link with the kernel's own resolution; a dangling link is judged lexically.
func checkLinkInside(root, link string) error {
	resolved, err := filepath.EvalSymlinks(link)
	if err == nil {
		if resolved != root && !strings.HasPrefix(resolved, root+string(filepath.Separator)) {
			return fmt.Errorf("link %s resolves outside the destination: %s", link, resolved)
		}
		return nil
	}
	target, err := os.Readlink(link)
	if err != nil {
		return err
	}
	if filepath.IsAbs(target) {
		return fmt.Errorf("absolute link %s -> %s", link, target)
	}
	joined := filepath.Join(filepath.Dir(link), target)
	if joined != root && !strings.HasPrefix(joined, root+string(filepath.Separator)) {
		return fmt.Errorf("dangling link %s points outside the destination: %s", link, target)
	}
	return nil
}

func TestExtractTarGzValid(t *testing.T) {
	archive := gz(t, makeTar(t,
		dir("./"),
		dir("charts/"),
		file("./charts/a.yaml", "a: 1\n"),
		entry{name: "bin/run.sh", body: "#!/bin/sh\n", typ: tar.TypeReg, mode: 0o4755},
		file("deep/er/b.yaml", "b: 2\n"),
		symlink("charts/link.yaml", "a.yaml"),
		symlink("deep/up.yaml", "../charts/a.yaml"),
		symlink("deep/er/self", "."),
		hardlink("copy.yaml", "charts/a.yaml"),
		entry{name: "pax_global_header", typ: tar.TypeXGlobalHeader},
		file("charts/a.yaml", "a: overwritten\n"),
	))
	s := newSandbox(t)
	if err := ExtractTarGz(bytes.NewReader(archive), s.dest, ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	s.checkContained(t)
	want := map[string]string{
		"charts/a.yaml":    "a: overwritten\n",
		"charts/link.yaml": "a: overwritten\n",
		"deep/up.yaml":     "a: overwritten\n",
		"deep/er/b.yaml":   "b: 2\n",
		"copy.yaml":        "a: 1\n",
		"bin/run.sh":       "#!/bin/sh\n",
	}
	for name, content := range want {
		b, err := os.ReadFile(filepath.Join(s.dest, name))
		if err != nil || string(b) != content {
			t.Errorf("%s = %q, %v; want %q", name, b, err, content)
		}
	}
	fi, err := os.Stat(filepath.Join(s.dest, "bin/run.sh"))
	if err != nil || fi.Mode().Perm() != 0o755 || fi.Mode()&fs.ModeSetuid != 0 {
		t.Errorf("bin/run.sh mode = %v, %v; want 0755 without setuid", fi.Mode(), err)
	}
	if fi, err := os.Lstat(filepath.Join(s.dest, "copy.yaml")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("hard link not extracted as a regular file: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(s.dest, "pax_global_header")); err == nil {
		t.Error("a global PAX header was extracted as a file")
	}
}

func TestExtractTarSkipSymlinks(t *testing.T) {
	s := newSandbox(t)
	archive := makeTar(t, file("a.yaml", "a"), symlink("link", "a.yaml"), symlink("abs", "/etc/passwd"))
	if err := ExtractTar(bytes.NewReader(archive), s.dest, ExtractOptions{SkipSymlinks: true}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"link", "abs"} {
		if _, err := os.Lstat(filepath.Join(s.dest, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: want skipped, got %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(s.dest, "a.yaml")); err != nil {
		t.Error(err)
	}
}

// maliciousArchives are every refused form, each with the error it must give and the entry it must name.
var maliciousArchives = []struct {
	name    string
	entries []entry
	opts    ExtractOptions
	prepare func(t testing.TB, s sandbox) // state of the destination before extracting
	wantErr error
	entry   string
}{
	{name: "parent path", entries: []entry{file("../evil", "x")}, wantErr: ErrUnsafePath, entry: "../evil"},
	{name: "parent path inside a name", entries: []entry{file("a/../../evil", "x")}, wantErr: ErrUnsafePath, entry: "a/../../evil"},
	{name: "harmless-looking parent element", entries: []entry{file("a/../b", "x")}, wantErr: ErrUnsafePath, entry: "a/../b"},
	{name: "absolute path", entries: []entry{file("/tmp/evil", "x")}, wantErr: ErrUnsafePath, entry: "/tmp/evil"},
	{name: "file named like the destination", entries: []entry{file(".", "x")}, wantErr: ErrUnsafePath, entry: "."},
	{name: "absolute symlink", entries: []entry{symlink("passwd", "/etc/passwd")}, wantErr: ErrUnsafeLink, entry: "passwd"},
	{name: "relative symlink outside", entries: []entry{symlink("up", "../sentinel")}, wantErr: ErrUnsafeLink, entry: "up"},
	{name: "nested symlink outside", entries: []entry{symlink("a/b/up", "../../../x")}, wantErr: ErrUnsafeLink, entry: "a/b/up"},
	{
		name: "symlink escaping through another symlink",
		// d/up -> .. is the destination itself, so "up/.." from d is the destination's parent.
		entries: []entry{dir("d/"), symlink("d/up", ".."), symlink("d/esc", "up/..")},
		wantErr: ErrUnsafeLink, entry: "d/esc",
	},
	{
		name:    "write through a symlink of the same archive",
		entries: []entry{symlink("d/up", ".."), file("d/up/x/evil", "x")},
		wantErr: ErrUnsafePath, entry: "d/up",
	},
	{name: "symlink loop", entries: []entry{symlink("a", "b"), symlink("b", "a")}, wantErr: ErrUnsafeLink, entry: "a"},
	{
		name:    "write through a symlink already in the destination",
		entries: []entry{file("pre/evil", "x")},
		prepare: func(t testing.TB, s sandbox) {
			if err := os.MkdirAll(s.dest, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(s.parent, filepath.Join(s.dest, "pre")); err != nil {
				t.Fatal(err)
			}
			s.preexisting[filepath.Join(s.dest, "pre")] = true
		},
		wantErr: ErrUnsafePath, entry: "pre/evil",
	},
	{name: "hard link to an absolute path", entries: []entry{hardlink("passwd", "/etc/passwd")}, wantErr: ErrUnsafeLink, entry: "passwd"},
	{name: "hard link outside", entries: []entry{hardlink("s", "../sentinel")}, wantErr: ErrUnsafeLink, entry: "s"},
	{name: "hard link to a file not in the archive", entries: []entry{hardlink("h", "nothere")}, wantErr: ErrUnsafeLink, entry: "h"},
	{name: "hard link to a folder", entries: []entry{dir("d/"), hardlink("h", "d")}, wantErr: ErrUnsafeLink, entry: "h"},
	{name: "character device", entries: []entry{{name: "null", typ: tar.TypeChar, mode: 0o666}}, wantErr: ErrUnsupportedEntry, entry: "null"},
	{name: "block device", entries: []entry{{name: "sda", typ: tar.TypeBlock, mode: 0o660}}, wantErr: ErrUnsupportedEntry, entry: "sda"},
	{name: "FIFO", entries: []entry{{name: "fifo", typ: tar.TypeFifo, mode: 0o644}}, wantErr: ErrUnsupportedEntry, entry: "fifo"},
	{name: "file then folder of the same name", entries: []entry{file("a", "x"), file("a/b", "y")}, wantErr: ErrUnsafePath, entry: "a/b"},
	{name: "folder then file of the same name", entries: []entry{dir("a/"), file("a", "y")}, wantErr: ErrUnsafePath, entry: "a"},
	{
		name:    "too many entries",
		entries: []entry{file("1", "x"), file("2", "x"), file("3", "x"), file("4", "x")},
		opts:    ExtractOptions{MaxEntries: 3}, wantErr: ErrExtractLimit, entry: "4",
	},
	{
		name:    "too many bytes",
		entries: []entry{file("small", strings.Repeat("x", 60)), file("big", strings.Repeat("x", 60))},
		opts:    ExtractOptions{MaxBytes: 100}, wantErr: ErrExtractLimit, entry: "big",
	},
	{
		name:    "bytes through hard link copies",
		entries: []entry{file("f", strings.Repeat("x", 40)), hardlink("h1", "f"), hardlink("h2", "f")},
		opts:    ExtractOptions{MaxBytes: 100}, wantErr: ErrExtractLimit, entry: "h2",
	},
	{
		name: "decompression bomb",
		// 2 MiB of zeros compress to a few KiB.
		entries: []entry{file("zeros", strings.Repeat("\x00", 2<<20))},
		opts:    ExtractOptions{MaxBytes: 1 << 20}, wantErr: ErrExtractLimit, entry: "zeros",
	},
	{
		name:    "data of an unknown entry type",
		entries: []entry{{name: "x", typ: 'X', mode: 0o644, body: strings.Repeat("\x00", 4096)}},
		opts:    ExtractOptions{MaxBytes: 1024}, wantErr: ErrExtractLimit, entry: "x",
	},
}

func TestExtractTarGzRefusesMaliciousArchives(t *testing.T) {
	for _, tc := range maliciousArchives {
		t.Run(tc.name, func(t *testing.T) {
			s := newSandbox(t)
			if tc.prepare != nil {
				tc.prepare(t, s)
			}
			err := ExtractTarGz(bytes.NewReader(gz(t, makeTar(t, tc.entries...))), s.dest, tc.opts)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			var entryErr *ArchiveEntryError
			if !errors.As(err, &entryErr) || entryErr.Entry != tc.entry {
				t.Fatalf("err = %v, want it to name entry %q", err, tc.entry)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.entry)) {
				t.Errorf("message %q does not name the entry", err)
			}
			s.checkContained(t)
			// A refused link must not be left behind, pointing outside.
			_ = filepath.WalkDir(s.dest, func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.Type()&fs.ModeSymlink != 0 && tc.wantErr == ErrUnsafeLink {
					t.Errorf("refused archive left a link behind: %s", p)
				}
				return nil
			})
		})
	}
}

func TestExtractTarGzLimitStopsBeforeWriting(t *testing.T) {
	s := newSandbox(t)
	archive := gz(t, makeTar(t, file("zeros", strings.Repeat("\x00", 4<<20))))
	if len(archive) > 64<<10 {
		t.Fatalf("test archive should be small, is %d bytes", len(archive))
	}
	err := ExtractTarGz(bytes.NewReader(archive), s.dest, ExtractOptions{MaxBytes: 1 << 20})
	if !errors.Is(err, ErrExtractLimit) {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.dest, "zeros")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("an entry over the limit was written: %v", err)
	}
}

func TestExtractTarGzDefaultLimits(t *testing.T) {
	s := newSandbox(t)
	// A header claiming more than the default cap is refused before any data is read: the archive is
	// only that header.
	var buf bytes.Buffer
	if err := tar.NewWriter(&buf).WriteHeader(&tar.Header{Name: "huge", Typeflag: tar.TypeReg, Mode: 0o644, Size: DefaultExtractMaxBytes + 1}); err != nil {
		t.Fatal(err)
	}
	archive := gz(t, buf.Bytes())
	err := ExtractTarGz(bytes.NewReader(archive), s.dest, ExtractOptions{})
	if !errors.Is(err, ErrExtractLimit) {
		t.Fatalf("err = %v", err)
	}
	if err := ExtractTarGz(bytes.NewReader([]byte("not gzip")), s.dest, ExtractOptions{}); err == nil || !strings.Contains(err.Error(), "gzip") {
		t.Errorf("not gzip: err = %v", err)
	}
}

// FuzzExtractTarGz extracts arbitrary input (gzip-compressed first when it is not already) and checks
// that nothing lands outside the destination, that no special file or escaping link exists, and that the
// size cap holds, whether the extraction succeeds or not.
func FuzzExtractTarGz(f *testing.F) {
	f.Add(gz(f, makeTar(f, dir("a/"), file("a/b.yaml", "b: 1\n"), symlink("a/l", "b.yaml"), hardlink("c", "a/b.yaml"))))
	f.Add(makeTar(f, file("plain.yaml", "x"), symlink("d/up", ".."), symlink("d/in", "up/x")))
	for _, tc := range maliciousArchives {
		if tc.name == "decompression bomb" || tc.prepare != nil {
			continue
		}
		f.Add(gz(f, makeTar(f, tc.entries...)))
		f.Add(makeTar(f, tc.entries...))
	}
	const maxBytes = 64 << 10
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
			data = gz(t, data)
		}
		s := newSandbox(t)
		_ = ExtractTarGz(bytes.NewReader(data), s.dest, ExtractOptions{MaxBytes: maxBytes, MaxEntries: 64})
		s.checkContained(t)
		var total int64
		_ = filepath.WalkDir(s.dest, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if fi, err := d.Info(); err == nil {
					total += fi.Size()
				}
			}
			return nil
		})
		if total > maxBytes {
			t.Fatalf("extracted %d bytes, over the %d cap", total, maxBytes)
		}
	})
}

func BenchmarkExtractTarGz(b *testing.B) {
	var entries []entry
	for i := range 500 {
		entries = append(entries, file(path.Join(fmt.Sprintf("d%02d", i%20), fmt.Sprintf("f%03d.yaml", i)), strings.Repeat("key: value\n", 100)))
	}
	archive := gz(b, makeTar(b, entries...))
	b.SetBytes(int64(500 * 1100))
	b.ResetTimer()
	for b.Loop() {
		dest := filepath.Join(b.TempDir(), "dest")
		if err := ExtractTarGz(bytes.NewReader(archive), dest, ExtractOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
