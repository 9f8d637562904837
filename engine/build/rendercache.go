package build

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// RenderCacheEnv names the environment variable that moves the render cache to another folder, or
// turns it off with "off".
const RenderCacheEnv = "CONVERGE_RENDER_CACHE"

// DefaultRenderCacheBytes bounds the render cache's size on disk unless RenderCache.MaxBytes says
// otherwise.
const DefaultRenderCacheBytes = 256 << 20

// renderFormat names the layout of an entry; a new layout changes every key.
const renderFormat = "converge-render-1"

// RenderCache keeps kustomize's output on disk so that an unchanged Kustomization is not built again
// by the next process. An entry is found by what is known before kustomize runs (the converge build,
// the source root, the Kustomization's folder and the kustomization file Flux's spec produced there),
// and it is served only when every answer the file system gave the build that stored it (each file's
// content, each folder's listing, each existence check, in order) is still the same: the files under
// the path and everything they reference, whatever the reference. Substitution, SOPS decryption and
// labelling run after kustomize, on every build, so their inputs never need to be in the key. Builds
// that decrypted SOPS files before kustomize and outputs holding a Secret are never stored.
//
// Entries are written to a temporary file and renamed, so concurrent processes see a whole entry or
// none; each carries its own checksum, and an entry that does not verify is a miss. A nil
// *RenderCache caches nothing.
type RenderCache struct {
	// Dir holds the entries.
	Dir string
	// Version identifies the program building (RenderCacheVersion): entries of another never match.
	Version string
	// MaxBytes bounds the entries' total size (DefaultRenderCacheBytes when 0); the least recently
	// used are removed once per process, after the first write.
	MaxBytes int64
	// Now is the clock for entries' last use (time.Now when nil).
	Now func() time.Time

	trim sync.Once
	// hits and stores count for tests what the cache served and kept.
	hits, stores atomic.Int64
}

// DefaultRenderCache returns the cache under the user's cache folder (converge/render), the folder
// CONVERGE_RENDER_CACHE names instead, or nil when it says "off" or no cache folder can be had.
func DefaultRenderCache(version string) *RenderCache {
	dir := os.Getenv(RenderCacheEnv)
	switch dir {
	case "off":
		return nil
	case "":
		base, err := os.UserCacheDir()
		if err != nil {
			return nil
		}
		dir = filepath.Join(base, "converge", "render")
	}
	return &RenderCache{Dir: dir, Version: RenderCacheVersion(version)}
}

// RenderCacheVersion identifies this program for the render cache: version, the module versions
// linked in, and the executable's size and modification time, so that a rebuilt binary (a "dev" one
// included) never reads what another build stored.
func RenderCacheVersion(version string) string {
	parts := []string{version}
	if bi, ok := debug.ReadBuildInfo(); ok {
		parts = append(parts, bi.GoVersion, bi.Main.Version, bi.Main.Sum)
		for _, d := range bi.Deps {
			parts = append(parts, d.Path+"@"+d.Version+d.Sum)
		}
		for _, s := range bi.Settings {
			parts = append(parts, s.Key+"="+s.Value)
		}
	}
	if exe, err := os.Executable(); err == nil {
		if st, err := os.Stat(exe); err == nil {
			parts = append(parts, exe, strconv.FormatInt(st.Size(), 10), strconv.FormatInt(st.ModTime().UnixNano(), 10))
		}
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, "\n")))
	return hex.EncodeToString(sum[:])
}

// observation is one question the build asked the file system and a digest of the answer.
type observation struct {
	Op     string `json:"op"`
	Path   string `json:"path"`
	Answer string `json:"answer"`
}

// renderEntry is what the cache stores for one key.
type renderEntry struct {
	Observed []observation `json:"observed"`
	Texts    []string      `json:"texts"`
	// Objects are the texts' objects as JSON, quicker to decode than YAML.
	Objects []json.RawMessage `json:"objects"`
}

// key returns the entry name for a build of dir under fs's root with fs's overlay as it is now.
func (c *RenderCache) key(fs *confinedFS, dir string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00", renderFormat, c.Version, fs.root, dir)
	paths := make([]string, 0, len(fs.overlay))
	for p := range fs.overlay {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(fs.overlay[p]))
		h.Write(fs.overlay[p])
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (c *RenderCache) path(key string) string { return filepath.Join(c.Dir, key[:2], key) }

func (c *RenderCache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// load returns the objects and texts stored under key when every observation still holds on fs.
func (c *RenderCache) load(fs *confinedFS, key string) ([]*unstructured.Unstructured, []string, bool) {
	p := c.path(key)
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, nil, false
	}
	sum, payload, ok := bytes.Cut(data, []byte("\n"))
	if !ok {
		return nil, nil, false
	}
	got := sha256.Sum256(payload)
	if hex.EncodeToString(got[:]) != string(sum) {
		return nil, nil, false
	}
	var e renderEntry
	if err := json.Unmarshal(payload, &e); err != nil {
		return nil, nil, false
	}
	for _, o := range e.Observed {
		if answer(fs, o.Op, o.Path) != o.Answer {
			return nil, nil, false
		}
	}
	if len(e.Objects) != len(e.Texts) {
		return nil, nil, false
	}
	objs := make([]*unstructured.Unstructured, len(e.Objects))
	for i, j := range e.Objects {
		obj, err := objectFromJSON(j)
		if err != nil {
			return nil, nil, false
		}
		objs[i] = obj
	}
	// Mark it used for trimming; at most once an hour, as it costs a write.
	if st, err := os.Stat(p); err == nil && c.now().Sub(st.ModTime()) > time.Hour {
		_ = os.Chtimes(p, c.now(), c.now())
	}
	c.hits.Add(1)
	return objs, e.Texts, true
}

// store writes an entry for key atomically (a temporary file renamed over it), then trims the cache
// once per process. Errors are returned for tests; the build goes on without the cache.
func (c *RenderCache) store(key string, observed []observation, objs []*unstructured.Unstructured, texts []string) error {
	e := renderEntry{Observed: observed, Texts: texts, Objects: make([]json.RawMessage, len(objs))}
	for i, o := range objs {
		j, err := o.MarshalJSON()
		if err != nil {
			return err
		}
		e.Objects[i] = j
	}
	payload, err := json.Marshal(e)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(payload)
	p := c.path(key)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-"+key[:8]+"-*")
	if err != nil {
		return err
	}
	_, werr := fmt.Fprintf(tmp, "%s\n", hex.EncodeToString(sum[:]))
	if werr == nil {
		_, werr = tmp.Write(payload)
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), p)
	}
	if werr != nil {
		_ = os.Remove(tmp.Name())
		return werr
	}
	c.stores.Add(1)
	var terr error
	c.trim.Do(func() { terr = c.trimToSize() })
	return terr
}

// trimToSize removes the least recently used entries (and temporary files older than an hour) until
// the cache holds at most three quarters of MaxBytes, when it holds more than MaxBytes.
func (c *RenderCache) trimToSize() error {
	limit := c.MaxBytes
	if limit <= 0 {
		limit = DefaultRenderCacheBytes
	}
	type entry struct {
		path string
		size int64
		used time.Time
	}
	var entries []entry
	var total int64
	err := filepath.WalkDir(c.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed by another process meanwhile
		}
		if strings.HasPrefix(d.Name(), ".tmp-") {
			if c.now().Sub(info.ModTime()) > time.Hour {
				_ = os.Remove(p)
			}
			return nil
		}
		entries = append(entries, entry{path: p, size: info.Size(), used: info.ModTime()})
		total += info.Size()
		return nil
	})
	if err != nil || total <= limit {
		return err
	}
	slices.SortFunc(entries, func(a, b entry) int { return a.used.Compare(b.used) })
	for _, e := range entries {
		if total <= limit*3/4 {
			break
		}
		if err := os.Remove(e.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		total -= e.size
	}
	return nil
}

// answer asks fs the question op path and returns a digest of the answer (errors included).
func answer(fs filesys.FileSystem, op, path string) string {
	switch op {
	case "read":
		data, err := fs.ReadFile(path)
		return digest(data, err)
	case "exists":
		return strconv.FormatBool(fs.Exists(path))
	case "isdir":
		return strconv.FormatBool(fs.IsDir(path))
	case "readdir":
		names, err := fs.ReadDir(path)
		return digest([]byte(strings.Join(names, "\x00")), err)
	case "glob":
		matches, err := fs.Glob(path)
		return digest([]byte(strings.Join(matches, "\x00")), err)
	case "abs":
		d, f, err := fs.CleanedAbs(path)
		return digest([]byte(string(d)+"\x00"+f), err)
	}
	return "unknown operation " + op // never equal to a recorded answer
}

func digest(data []byte, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// recordingFS is the file system kustomize builds on when the build may be cached: it answers from
// fs and notes every question with a digest of its answer. A question it cannot replay (opening a
// file as a stream, walking, writing) makes the build uncacheable.
type recordingFS struct {
	fs          *confinedFS
	observed    []observation
	uncacheable bool
}

func (r *recordingFS) note(op, path, ans string) {
	r.observed = append(r.observed, observation{Op: op, Path: path, Answer: ans})
}

func (r *recordingFS) Create(path string) (filesys.File, error) {
	r.uncacheable = true
	return r.fs.Create(path)
}

func (r *recordingFS) Mkdir(path string) error {
	r.uncacheable = true
	return r.fs.Mkdir(path)
}

func (r *recordingFS) MkdirAll(path string) error {
	r.uncacheable = true
	return r.fs.MkdirAll(path)
}

func (r *recordingFS) RemoveAll(path string) error {
	r.uncacheable = true
	return r.fs.RemoveAll(path)
}

func (r *recordingFS) Open(path string) (filesys.File, error) {
	r.uncacheable = true
	return r.fs.Open(path)
}

func (r *recordingFS) IsDir(path string) bool {
	ok := r.fs.IsDir(path)
	r.note("isdir", path, strconv.FormatBool(ok))
	return ok
}

func (r *recordingFS) ReadDir(path string) ([]string, error) {
	names, err := r.fs.ReadDir(path)
	r.note("readdir", path, digest([]byte(strings.Join(names, "\x00")), err))
	return names, err
}

func (r *recordingFS) CleanedAbs(path string) (filesys.ConfirmedDir, string, error) {
	d, f, err := r.fs.CleanedAbs(path)
	r.note("abs", path, digest([]byte(string(d)+"\x00"+f), err))
	return d, f, err
}

func (r *recordingFS) Exists(path string) bool {
	ok := r.fs.Exists(path)
	r.note("exists", path, strconv.FormatBool(ok))
	return ok
}

func (r *recordingFS) Glob(pattern string) ([]string, error) {
	matches, err := r.fs.Glob(pattern)
	r.note("glob", pattern, digest([]byte(strings.Join(matches, "\x00")), err))
	return matches, err
}

func (r *recordingFS) ReadFile(path string) ([]byte, error) {
	data, err := r.fs.ReadFile(path)
	r.note("read", path, digest(data, err))
	return data, err
}

func (r *recordingFS) WriteFile(path string, data []byte) error {
	r.uncacheable = true
	return r.fs.WriteFile(path, data)
}

func (r *recordingFS) Walk(path string, walkFn filepath.WalkFunc) error {
	r.uncacheable = true
	return r.fs.Walk(path, walkFn)
}
