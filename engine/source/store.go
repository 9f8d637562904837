package source

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
)

// Store is the content-addressed artifact cache shared by commands and the agent. Layout under Root:
//
//	objects/<hex>/          the files of an artifact, immutable once present
//	objects/<hex>.tar.gz    its canonical tarball; <hex> is the tarball's sha256
//	sources/<kind>/<ns>/<name>.json   the current artifact of a source
//	cache/<area>/<key>/     fetchers' own caches (Git object stores, Helm indexes, ...)
//	tmp/                    work folders, on the same filesystem so that commits are renames
//	locks/                  lock files
//
// Several processes may use one Store at once: commits are atomic renames and per-key locks serialise
// fetches of the same source.
//
// Superseded artifacts are garbage-collected as source-controller does with its default
// --artifact-retention-records=2 and --artifact-retention-ttl=1m: each source keeps its current artifact
// and at most one previous one (for readers still using it), the previous one only for Retention.TTL
// after it was superseded. Objects are shared by content, so one is removed only when no source
// references it any more. Delete drops a source and its objects.
type Store struct {
	Root  string
	Clock clock.PassiveClock
	// Retention bounds the superseded artifacts kept; the zero value means Flux's defaults.
	Retention Retention
}

// Retention is how many artifacts a source keeps (the current one included) and how long a superseded
// one stays.
type Retention struct {
	// Records is the most artifacts kept per source, the current one included (default 2; 1 keeps
	// only the current one).
	Records int
	// TTL is how long a superseded artifact is kept (default 1m).
	TTL time.Duration
}

// Flux's source-controller defaults.
const (
	DefaultRetentionRecords = 2
	DefaultRetentionTTL     = time.Minute
)

// DefaultRoot is the store used when --cache-dir is not given.
func DefaultRoot() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "converge", "artifacts")
}

// OpenStore creates the store's folders under root.
func OpenStore(root string) (*Store, error) {
	if root == "" {
		root = DefaultRoot()
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"objects", "sources", "cache", "tmp", "locks"} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o755); err != nil {
			return nil, fmt.Errorf("artifact store %s: %w", abs, err)
		}
	}
	return &Store{Root: abs, Clock: clock.RealClock{}}, nil
}

// TempDir returns a new empty work folder inside the store.
func (s *Store) TempDir(pattern string) (string, error) {
	return os.MkdirTemp(filepath.Join(s.Root, "tmp"), pattern)
}

// CacheDir returns (creating it) a fetcher's persistent cache folder for key within area.
func (s *Store) CacheDir(area, key string) (string, error) {
	sum := sha256.Sum256([]byte(key))
	dir := filepath.Join(s.Root, "cache", area, hex.EncodeToString(sum[:8]))
	return dir, os.MkdirAll(dir, 0o755)
}

// Lock takes an exclusive lock named key, shared across processes, waiting until ctx is done.
func (s *Store) Lock(ctx context.Context, key string) (unlock func(), err error) {
	sum := sha256.Sum256([]byte(key))
	return lockFile(ctx, filepath.Join(s.Root, "locks", hex.EncodeToString(sum[:12])+".lock"))
}

type pointer struct {
	Revision       string            `json:"revision"`
	Digest         string            `json:"digest"`
	Size           int64             `json:"size"`
	LastUpdateTime time.Time         `json:"lastUpdateTime"`
	Metadata       map[string]string `json:"metadata,omitempty"`
	// Previous lists the superseded artifacts still kept, newest first.
	Previous []superseded `json:"previous,omitempty"`
}

type superseded struct {
	Digest string    `json:"digest"`
	Since  time.Time `json:"since"`
}

func (s *Store) pointerPath(ref Ref) string {
	return filepath.Join(s.Root, "sources", strings.ToLower(ref.Kind), ref.Namespace, ref.Name+".json")
}

// Current returns the last artifact committed for ref, or nil when there is none.
func (s *Store) Current(ref Ref) (*Artifact, error) {
	p, err := s.readPointer(s.pointerPath(ref))
	if p == nil || err != nil {
		return nil, err
	}
	a := s.artifact(ref, *p)
	if _, err := os.Stat(a.Dir); err != nil {
		return nil, nil // the objects were cleaned up: treat as never fetched
	}
	return a, nil
}

func (s *Store) artifact(ref Ref, p pointer) *Artifact {
	hexDigest := trimAlgo(p.Digest)
	return &Artifact{
		Source: ref, Revision: p.Revision, Digest: p.Digest, Size: p.Size,
		Dir:            filepath.Join(s.Root, "objects", hexDigest),
		Archive:        filepath.Join(s.Root, "objects", hexDigest+".tar.gz"),
		LastUpdateTime: p.LastUpdateTime, Metadata: p.Metadata,
	}
}

// Commit stores the files of dir as the current artifact of ref at revision. dir must be inside the
// store (see TempDir); it is moved, not copied, and must not be used afterwards. When the content is
// unchanged, the existing artifact (and its LastUpdateTime) is kept.
func (s *Store) Commit(ref Ref, revision, dir string, metadata map[string]string) (*Artifact, error) {
	tmp, err := os.CreateTemp(filepath.Join(s.Root, "tmp"), "archive-*.tar.gz")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	cw := &countingWriter{w: io.MultiWriter(tmp, h)}
	if err := WriteTarGz(cw, dir); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("archiving %s: %w", ref, err)
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	hexDigest := hex.EncodeToString(h.Sum(nil))
	objDir := filepath.Join(s.Root, "objects", hexDigest)
	now := s.Clock.Now().UTC()
	p := pointer{Revision: revision, Digest: "sha256:" + hexDigest, Size: cw.n, LastUpdateTime: now.Truncate(time.Second), Metadata: metadata}
	ptr := s.pointerPath(ref)
	// The rest runs under the store-wide lock so that a collection never removes an object another
	// commit (in this process or another) is about to reference.
	unlock, err := s.gcLock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := os.Rename(dir, objDir); err != nil {
		if _, statErr := os.Stat(objDir); statErr != nil {
			return nil, fmt.Errorf("storing %s: %w", ref, err)
		}
		_ = os.RemoveAll(dir) // same content already stored
	}
	if err := os.Rename(tmp.Name(), objDir+".tar.gz"); err != nil {
		return nil, fmt.Errorf("storing %s: %w", ref, err)
	}
	old, _ := s.readPointer(ptr)
	if old != nil && old.Digest == p.Digest && old.Revision == revision {
		p = *old
	} else if old != nil && old.Digest != p.Digest {
		p.Previous = append([]superseded{{Digest: old.Digest, Since: now}}, old.Previous...)
	} else if old != nil {
		p.Previous = old.Previous
	}
	var dropped []string
	p.Previous, dropped = s.retain(p.Digest, p.Previous, now)
	if old == nil || p.Digest != old.Digest || p.Revision != old.Revision || len(dropped) > 0 {
		b, _ := json.Marshal(p)
		if err := os.MkdirAll(filepath.Dir(ptr), 0o755); err != nil {
			return nil, err
		}
		if err := writeFileAtomic(ptr, b); err != nil {
			return nil, err
		}
	}
	if err := s.collect(dropped); err != nil {
		return nil, fmt.Errorf("storing %s: garbage collection: %w", ref, err)
	}
	return s.artifact(ref, p), nil
}

// Delete forgets the artifacts of ref (a deleted source) and removes the objects no other source
// references. Deleting an unknown ref does nothing.
func (s *Store) Delete(ref Ref) error {
	unlock, err := s.gcLock()
	if err != nil {
		return err
	}
	defer unlock()
	ptr := s.pointerPath(ref)
	p, err := s.readPointer(ptr)
	if p == nil {
		if err == nil {
			return nil
		}
		p = &pointer{} // unreadable: drop the pointer anyway
	}
	if err := os.Remove(ptr); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("deleting %s: %w", ref, err)
	}
	digests := []string{p.Digest}
	for _, prev := range p.Previous {
		digests = append(digests, prev.Digest)
	}
	if err := s.collect(digests); err != nil {
		return fmt.Errorf("deleting %s: %w", ref, err)
	}
	return nil
}

// Sweep removes the objects no source references that are older than the retention TTL (left by
// earlier versions, crashed processes or removed pointers), and returns how many it removed.
func (s *Store) Sweep() (int, error) {
	unlock, err := s.gcLock()
	if err != nil {
		return 0, err
	}
	defer unlock()
	live, err := s.referenced()
	if err != nil {
		return 0, err
	}
	entries, err := os.ReadDir(filepath.Join(s.Root, "objects"))
	if err != nil {
		return 0, err
	}
	cutoff := s.Clock.Now().Add(-s.ttl())
	removed := 0
	for _, e := range entries {
		hexDigest := strings.TrimSuffix(e.Name(), ".tar.gz")
		if live[hexDigest] {
			continue
		}
		if fi, err := e.Info(); err != nil || fi.ModTime().After(cutoff) {
			continue
		}
		if err := s.removeObject(filepath.Join(s.Root, "objects", e.Name())); err != nil {
			return removed, err
		}
		if e.IsDir() {
			removed++
		}
	}
	return removed, nil
}

func (s *Store) readPointer(path string) (*pointer, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var p pointer
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("artifact store: %s: %w", path, err)
	}
	return &p, nil
}

func (s *Store) gcLock() (func(), error) {
	return lockFile(context.Background(), filepath.Join(s.Root, "locks", "gc.lock"))
}

func (s *Store) ttl() time.Duration {
	if s.Retention.TTL > 0 {
		return s.Retention.TTL
	}
	return DefaultRetentionTTL
}

// retain applies the retention to the superseded artifacts of a source whose current digest is
// current: it returns those kept and the digests of those dropped.
func (s *Store) retain(current string, previous []superseded, now time.Time) (kept []superseded, dropped []string) {
	records := s.Retention.Records
	if records <= 0 {
		records = DefaultRetentionRecords
	}
	seen := map[string]bool{current: true}
	for _, prev := range previous {
		switch {
		case seen[prev.Digest]:
			continue // the current one again, or listed twice
		case len(kept) >= records-1 || now.Sub(prev.Since) > s.ttl():
			dropped = append(dropped, prev.Digest)
		default:
			kept = append(kept, prev)
		}
		seen[prev.Digest] = true
	}
	return kept, dropped
}

// collect removes the objects of digests that no source references. The caller holds the gc lock.
func (s *Store) collect(digests []string) error {
	if len(digests) == 0 {
		return nil
	}
	live, err := s.referenced()
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range digests {
		hexDigest := trimAlgo(d)
		if hexDigest == "" || live[hexDigest] || strings.ContainsAny(hexDigest, `/\.`) {
			continue
		}
		obj := filepath.Join(s.Root, "objects", hexDigest)
		if err := os.Remove(obj + ".tar.gz"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
		if err := s.removeObject(obj); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeObject removes an object's folder by first renaming it out of objects/: a reader still walking
// it (a build of the artifact being collected) then fails on a missing path instead of silently seeing
// a folder half emptied, which a Kustomization could apply and prune from. A tarball being served stays
// readable through its open file.
func (s *Store) removeObject(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return os.Remove(path)
	}
	trash, err := os.MkdirTemp(filepath.Join(s.Root, "tmp"), "collected-*")
	if err != nil {
		return err
	}
	if err := os.Rename(path, filepath.Join(trash, "object")); err != nil {
		_ = os.Remove(trash)
		return err
	}
	return os.RemoveAll(trash)
}

// referenced returns the hex digests every source pointer references, current and superseded.
func (s *Store) referenced() (map[string]bool, error) {
	live := map[string]bool{}
	err := filepath.WalkDir(filepath.Join(s.Root, "sources"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".json") {
			return nil
		}
		p, err := s.readPointer(path)
		if err != nil || p == nil {
			return err
		}
		live[trimAlgo(p.Digest)] = true
		for _, prev := range p.Previous {
			live[trimAlgo(prev.Digest)] = true
		}
		return nil
	})
	return live, err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), path)
}

// WriteTarGz writes the regular files, folders and symlinks under dir as a reproducible tar.gz: sorted
// entries, zero times and owners, normalised modes, so equal content always has an equal digest.
func WriteTarGz(w io.Writer, dir string) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	tw := tar.NewWriter(gz)
	for _, p := range paths {
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: rel, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		switch {
		case fi.Mode().IsDir():
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, rel+"/", 0o755
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, target, 0o777
		case fi.Mode().IsRegular():
			hdr.Typeflag, hdr.Size, hdr.Mode = tar.TypeReg, fi.Size(), 0o644
			if fi.Mode()&0o111 != 0 {
				hdr.Mode = 0o755
			}
		default:
			continue
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			if err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

func trimAlgo(digest string) string {
	if i := strings.IndexByte(digest, ':'); i >= 0 {
		return digest[i+1:]
	}
	return digest
}

func lowerKind(kind string) string { return strings.ToLower(kind) }

func metav1Time(t time.Time) metav1.Time { return metav1.NewTime(t) }
