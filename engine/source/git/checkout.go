package git

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// gitlink is a submodule entry of a tree: a path and the commit of the other repository.
type gitlink struct {
	path   string
	commit plumbing.Hash
}

// cleanSparse normalises spec.sparseCheckout to slash-separated relative folders. An entry naming the
// root ("", ".", "/") turns sparse checkout off.
func cleanSparse(dirs []string) ([]string, error) {
	var out []string
	for _, d := range dirs {
		t := strings.Trim(filepath.ToSlash(d), "/")
		if t == "" || t == "." {
			return nil, nil
		}
		if !filepath.IsLocal(t) {
			return nil, fmt.Errorf("spec.sparseCheckout entry %q is not a folder inside the repository", d)
		}
		out = append(out, path.Clean(t))
	}
	return out, nil
}

// sparseState says how a path relates to the sparse folders.
type sparseState int

const (
	sparseSkip    sparseState = iota // outside every folder
	sparseDescend                    // a parent of a folder: only its subfolders on the way count
	sparseInclude                    // inside a folder: everything counts
)

func sparseMatch(sparse []string, p string) sparseState {
	if sparse == nil {
		return sparseInclude
	}
	state := sparseSkip
	for _, d := range sparse {
		switch {
		case p == d || strings.HasPrefix(p, d+"/"):
			return sparseInclude
		case strings.HasPrefix(d, p+"/"):
			state = sparseDescend
		}
	}
	return state
}

// validEntryName refuses tree entry names that could escape the checkout folder or write Git metadata.
func validEntryName(name string) bool {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") {
		return false
	}
	return !strings.EqualFold(name, ".git")
}

// treeWriter writes a commit's files into a folder. Blobs are read on the calling goroutine (go-git's
// storage is not safe for concurrent use) and written by a few goroutines, since creating many small
// files is bound by system calls rather than by the CPU.
type treeWriter struct {
	st     storer.EncodedObjectStorer
	sparse []string
	links  []gitlink
	buf    []byte
	n      int

	jobs chan fileJob
	wg   sync.WaitGroup
	mu   sync.Mutex
	err  error
}

type fileJob struct {
	target string
	data   []byte
	mode   os.FileMode
}

const (
	fileWriters = 4
	// maxQueuedBlob is the largest blob handed to the writers in memory; larger ones are streamed.
	maxQueuedBlob = 1 << 20
)

func (w *treeWriter) start() {
	w.jobs = make(chan fileJob, 256)
	for range fileWriters {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for j := range w.jobs {
				if w.failed() {
					continue
				}
				if err := writeNewFile(j.target, j.data, j.mode); err != nil {
					w.fail(err)
				}
			}
		}()
	}
}

func (w *treeWriter) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

func (w *treeWriter) failed() bool { return w.firstErr() != nil }

func (w *treeWriter) firstErr() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// checkout writes tree into dir and waits for every file to be written.
func (w *treeWriter) checkout(ctx context.Context, tree *object.Tree, dir string, inside bool) error {
	w.start()
	err := w.write(ctx, tree, dir, "", inside)
	close(w.jobs)
	w.wg.Wait()
	if err != nil {
		return err
	}
	return w.err
}

func writeNewFile(target string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// write writes tree (found at rel, "" for the root) into dir/rel. Symbolic links are left out, as Flux
// leaves them out of artifacts; submodules become empty folders and are recorded in w.links.
func (w *treeWriter) write(ctx context.Context, tree *object.Tree, dir, rel string, inside bool) error {
	for _, e := range tree.Entries {
		if !validEntryName(e.Name) {
			continue
		}
		p := e.Name
		if rel != "" {
			p = rel + "/" + e.Name
		}
		in := inside
		if !in {
			switch sparseMatch(w.sparse, p) {
			case sparseSkip:
				continue
			case sparseInclude:
				in = true
			}
		}
		target := filepath.Join(dir, filepath.FromSlash(p))
		switch e.Mode {
		case filemode.Dir:
			sub, err := object.GetTree(w.st, e.Hash)
			if err != nil {
				return fmt.Errorf("%w: reading tree %s: %v", errCorruptCache, p, err)
			}
			if err := os.Mkdir(target, 0o755); err != nil && !os.IsExist(err) {
				return err
			}
			if err := w.write(ctx, sub, dir, p, in); err != nil {
				return err
			}
		case filemode.Regular, filemode.Deprecated, filemode.Executable:
			if !in {
				continue
			}
			if w.n++; w.n%256 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			if err := w.writeBlob(e.Hash, target, e.Mode == filemode.Executable); err != nil {
				return fmt.Errorf("writing %s: %w", p, err)
			}
		case filemode.Submodule:
			if !in {
				continue
			}
			if err := os.Mkdir(target, 0o755); err != nil && !os.IsExist(err) {
				return err
			}
			w.links = append(w.links, gitlink{path: p, commit: e.Hash})
		}
	}
	return nil
}

func (w *treeWriter) writeBlob(h plumbing.Hash, target string, executable bool) error {
	if err := w.firstErr(); err != nil {
		return err
	}
	obj, err := w.st.EncodedObject(plumbing.BlobObject, h)
	if err != nil {
		return fmt.Errorf("%w: reading blob %s: %v", errCorruptCache, h, err)
	}
	r, err := obj.Reader()
	if err != nil {
		return fmt.Errorf("%w: reading blob %s: %v", errCorruptCache, h, err)
	}
	defer r.Close()
	mode := os.FileMode(0o644)
	if executable {
		mode = 0o755
	}
	if obj.Size() <= maxQueuedBlob {
		data := make([]byte, obj.Size())
		if _, err := io.ReadFull(r, data); err != nil {
			return fmt.Errorf("%w: reading blob %s: %v", errCorruptCache, h, err)
		}
		w.jobs <- fileJob{target: target, data: data, mode: mode}
		return nil
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if w.buf == nil {
		w.buf = make([]byte, 64<<10)
	}
	// Only a failure to read the blob says the cache is damaged; a failed write (a full disk) is the
	// work folder's and must not make the fetch drop and download the cache again.
	br := &blobReader{r: r}
	if _, err := io.CopyBuffer(f, br, w.buf); err != nil {
		f.Close()
		if br.err != nil {
			return fmt.Errorf("%w: copying blob %s: %v", errCorruptCache, h, err)
		}
		return err
	}
	return f.Close()
}

// blobReader remembers the error reading a blob, to tell it from an error writing its copy.
type blobReader struct {
	r   io.Reader
	err error
}

func (b *blobReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}
