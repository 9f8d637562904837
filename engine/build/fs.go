package build

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// confinedFS is the filesystem kustomize builds on: reads are confined to the source root (symlinks
// included), and writes go to an in-memory overlay so shared artifacts are never modified.
type confinedFS struct {
	root    string
	disk    filesys.FileSystem
	overlay map[string][]byte
	// mounts are the fetched remote bases' repositories, readable beside the source root.
	mounts []string
}

// mount makes dir (a fetched remote base's repository) readable.
func (f *confinedFS) mount(dir string) error {
	resolved, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	f.mounts = append(f.mounts, resolved)
	return nil
}

// allowed reports whether the resolved path p is in the source root or a mounted repository.
func (f *confinedFS) allowed(p string) bool {
	if within(f.root, p) {
		return true
	}
	for _, m := range f.mounts {
		if within(m, p) {
			return true
		}
	}
	return false
}

func newConfinedFS(root string) (*confinedFS, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if resolved, err := filepath.EvalSymlinks(abs); err == nil {
		abs = resolved
	}
	return &confinedFS{root: abs, disk: filesys.MakeFsOnDisk(), overlay: map[string][]byte{}}, nil
}

var errReadOnly = errors.New("the source is read-only during a build")

// MaxFileSize bounds one file a build reads (a manifest, a patch, a generator's input), so that a huge
// file is a clear error instead of the memory it would take.
const MaxFileSize = 64 << 20

// ErrFileTooLarge: a file of the build is over MaxFileSize.
var ErrFileTooLarge = errors.New("file too large")

// check returns the cleaned absolute form of path, or an error when it (or its resolved symlinks)
// leaves the source root.
func (f *confinedFS) check(path string) (string, error) {
	abs, _, err := f.resolve(path)
	return abs, err
}

// resolve returns the cleaned absolute form of path and its form with symlinks resolved (the key of
// the overlay), or an error when it leaves the source root.
func (f *confinedFS) resolve(path string) (string, string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", "", err
	}
	resolved := abs
	// Resolve the longest existing prefix, so that a missing file under a symlinked folder is judged too.
	for p := abs; ; p = filepath.Dir(p) {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			rest, _ := filepath.Rel(p, abs)
			resolved = filepath.Join(r, rest)
			break
		}
		if p == filepath.Dir(p) {
			break
		}
	}
	if !f.allowed(resolved) {
		return "", "", fmt.Errorf("%s is outside the source root: files outside the source cannot be referenced", path)
	}
	return abs, resolved, nil
}

// lookup checks path and returns its cleaned absolute form and, when it is a generated file, its
// overlay content.
func (f *confinedFS) lookup(path string) (abs string, data []byte, generated bool, err error) {
	abs, resolved, err := f.resolve(path)
	if err != nil {
		return "", nil, false, err
	}
	data, generated = f.overlay[resolved]
	return abs, data, generated, nil
}

func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func (f *confinedFS) Create(path string) (filesys.File, error) { return nil, errReadOnly }
func (f *confinedFS) Mkdir(path string) error                  { return errReadOnly }
func (f *confinedFS) MkdirAll(path string) error               { return errReadOnly }
func (f *confinedFS) RemoveAll(path string) error              { return errReadOnly }

func (f *confinedFS) Open(path string) (filesys.File, error) {
	abs, _, gen, err := f.lookup(path)
	if err != nil {
		return nil, err
	}
	if gen {
		return nil, fmt.Errorf("open %s: generated files can only be read whole", path)
	}
	return f.disk.Open(abs)
}

func (f *confinedFS) IsDir(path string) bool {
	abs, _, gen, err := f.lookup(path)
	if err != nil || gen {
		return false
	}
	return f.disk.IsDir(abs)
}

func (f *confinedFS) ReadDir(path string) ([]string, error) {
	_, resolved, err := f.resolve(path)
	if err != nil {
		return nil, err
	}
	names, err := f.disk.ReadDir(resolved)
	if err != nil {
		return nil, err
	}
	for p := range f.overlay {
		if filepath.Dir(p) == resolved {
			names = append(names, filepath.Base(p))
		}
	}
	sort.Strings(names)
	return dedupe(names), nil
}

func dedupe(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func (f *confinedFS) CleanedAbs(path string) (filesys.ConfirmedDir, string, error) {
	abs, _, gen, err := f.lookup(path)
	if err != nil {
		return "", "", err
	}
	if gen {
		return filesys.ConfirmedDir(filepath.Dir(abs)), filepath.Base(abs), nil
	}
	return f.disk.CleanedAbs(abs)
}

func (f *confinedFS) Exists(path string) bool {
	abs, _, gen, err := f.lookup(path)
	if err != nil {
		return false
	}
	if gen {
		return true
	}
	return f.disk.Exists(abs)
}

func (f *confinedFS) Glob(pattern string) ([]string, error) {
	matches, err := f.disk.Glob(pattern)
	if err != nil {
		return nil, err
	}
	out := matches[:0]
	for _, m := range matches {
		if _, err := f.check(m); err == nil {
			out = append(out, m)
		}
	}
	return out, nil
}

func (f *confinedFS) ReadFile(path string) ([]byte, error) {
	abs, data, gen, err := f.lookup(path)
	if err != nil {
		return nil, err
	}
	if gen {
		return data, nil
	}
	if st, err := os.Stat(abs); err == nil && st.Mode().IsRegular() && st.Size() > MaxFileSize {
		return nil, fmt.Errorf("%s: %w: %d bytes, over the limit of %d bytes for one file of a build", relTo(f.root, abs), ErrFileTooLarge, st.Size(), MaxFileSize)
	}
	return f.disk.ReadFile(abs)
}

// WriteFile puts data in the overlay, under the path with symlinks resolved so that kustomize finds it
// whichever way it names the folder.
func (f *confinedFS) WriteFile(path string, data []byte) error {
	_, resolved, err := f.resolve(path)
	if err != nil {
		return fmt.Errorf("%s is outside the source root", path)
	}
	f.overlay[resolved] = data
	return nil
}

func (f *confinedFS) Walk(path string, walkFn filepath.WalkFunc) error {
	abs, err := f.check(path)
	if err != nil {
		return err
	}
	return filepath.Walk(abs, func(p string, info os.FileInfo, err error) error {
		if err == nil {
			if _, cerr := f.check(p); cerr != nil {
				// Said out loud, never skipped: a link out of the source is an error of the build.
				return walkFn(p, info, fmt.Errorf("%s is a symbolic link out of the source root: files outside the source cannot be referenced",
					filepath.ToSlash(filepath.Join(filepath.Base(abs), relTo(abs, p)))))
			}
		}
		return walkFn(p, info, err)
	})
}
