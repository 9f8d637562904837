package source

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Defaults of ExtractOptions, against decompression bombs.
const (
	// DefaultExtractMaxBytes caps the total size of the entries of one archive: 1 GiB.
	DefaultExtractMaxBytes int64 = 1 << 30
	// DefaultExtractMaxEntries caps the number of entries of one archive.
	DefaultExtractMaxEntries = 100_000
	// maxLinkHops bounds symlink chains while checking where a link resolves, as the kernel does.
	maxLinkHops = 40
)

// Why an archive entry is refused; test with errors.Is on the error of ExtractTar / ExtractTarGz.
var (
	// ErrUnsafePath: the entry's name is absolute, contains "..", or crosses a non-folder.
	ErrUnsafePath = errors.New("path escapes the destination folder")
	// ErrUnsafeLink: a symbolic or hard link is absolute or resolves outside the destination folder.
	ErrUnsafeLink = errors.New("link target escapes the destination folder")
	// ErrUnsupportedEntry: devices, FIFOs and other special entries are never extracted.
	ErrUnsupportedEntry = errors.New("unsupported entry type")
	// ErrExtractLimit: the archive holds more bytes or entries than ExtractOptions allow.
	ErrExtractLimit = errors.New("extraction limit exceeded")
)

// ExtractOptions bound and shape an extraction. The zero value applies the defaults.
type ExtractOptions struct {
	// MaxBytes caps the summed sizes of all entries: DefaultExtractMaxBytes when 0, no cap when negative.
	MaxBytes int64
	// MaxEntries caps the number of entries: DefaultExtractMaxEntries when 0, no cap when negative.
	MaxEntries int
	// SkipSymlinks leaves symbolic links out instead of creating them (Flux does so for OCI layers).
	SkipSymlinks bool
}

// ArchiveEntryError is an archive entry that was refused or could not be written.
type ArchiveEntryError struct {
	// Entry is the entry's name as written in the archive.
	Entry string
	Err   error
}

func (e *ArchiveEntryError) Error() string {
	return fmt.Sprintf("archive entry %q: %v", e.Entry, e.Err)
}
func (e *ArchiveEntryError) Unwrap() error { return e.Err }

// ExtractTarGz extracts a gzip-compressed tarball into dir (created when missing); see ExtractTar.
func ExtractTarGz(r io.Reader, dir string, opts ExtractOptions) error {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("reading gzip stream: %w", err)
	}
	defer gz.Close()
	return ExtractTar(gz, dir, opts)
}

// ExtractTar extracts a tar stream into dir (created when missing), writing nothing outside it: entries with
// absolute names or ".." elements, links that are absolute or resolve outside dir (also through other
// links), devices and FIFOs are refused, and opts caps the total size and entry count. Regular files get
// mode 0644 or 0755, folders 0755; owners and times are not restored. Hard links are extracted as copies
// of a regular file that came earlier in the archive. Symbolic links are created after every other entry,
// so no file is ever written through one. On error, dir may hold part of the archive and must be discarded;
// links that were refused are not left behind.
func ExtractTar(r io.Reader, dir string, opts ExtractOptions) error {
	if dir == "" {
		return errors.New("extracting an archive: no destination folder")
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	if root, err = filepath.EvalSymlinks(root); err != nil {
		return err
	}
	x := &extractor{root: root, opts: opts, files: map[string]int64{}, dirs: map[string]bool{}}
	if x.opts.MaxBytes == 0 {
		x.opts.MaxBytes = DefaultExtractMaxBytes
	}
	if x.opts.MaxEntries == 0 {
		x.opts.MaxEntries = DefaultExtractMaxEntries
	}
	tr := tar.NewReader(r)
	last := ""
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if last != "" {
				return fmt.Errorf("reading tar stream after entry %q: %w", last, err)
			}
			return fmt.Errorf("reading tar stream: %w", err)
		}
		last = hdr.Name
		if err := x.entry(tr, hdr); err != nil {
			return &ArchiveEntryError{Entry: hdr.Name, Err: err}
		}
	}
	return x.createLinks()
}

type extractor struct {
	root    string
	opts    ExtractOptions
	entries int
	bytes   int64
	files   map[string]int64 // regular files written so far (clean relative path -> size), for hard links
	dirs    map[string]bool  // folders known to be real folders (clean relative path)
	links   []pendingLink
}

type pendingLink struct {
	entry, rel, target string
}

func (x *extractor) entry(tr io.Reader, hdr *tar.Header) error {
	x.entries++
	if x.opts.MaxEntries > 0 && x.entries > x.opts.MaxEntries {
		return fmt.Errorf("%w: more than %d entries", ErrExtractLimit, x.opts.MaxEntries)
	}
	if hdr.Size < 0 {
		return fmt.Errorf("negative size %d", hdr.Size)
	}
	// The data of every entry but the header-only kinds is decompressed, if only to be skipped.
	switch hdr.Typeflag {
	case tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		if err := x.charge(hdr.Size); err != nil {
			return err
		}
	}
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	rel, err := cleanEntryPath(hdr.Name)
	if err != nil {
		return err
	}
	if rel == "" {
		if hdr.Typeflag == tar.TypeDir {
			return nil // the destination folder itself
		}
		return fmt.Errorf("%w: the entry names the destination folder itself", ErrUnsafePath)
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.mkdirAll(rel)
	case tar.TypeReg, tar.TypeGNUSparse: // the reader already turns the old TypeRegA into TypeReg
		return x.writeFile(rel, tr, hdr.Mode, hdr.Size)
	case tar.TypeLink:
		return x.hardLink(rel, hdr.Linkname, hdr.Mode)
	case tar.TypeSymlink:
		if x.opts.SkipSymlinks {
			return nil
		}
		if err := checkLinkTarget(rel, hdr.Linkname); err != nil {
			return err
		}
		x.links = append(x.links, pendingLink{entry: hdr.Name, rel: rel, target: hdr.Linkname})
		return nil
	case tar.TypeChar, tar.TypeBlock:
		return fmt.Errorf("%w: device file", ErrUnsupportedEntry)
	case tar.TypeFifo:
		return fmt.Errorf("%w: FIFO", ErrUnsupportedEntry)
	default:
		return fmt.Errorf("%w: type %q", ErrUnsupportedEntry, hdr.Typeflag)
	}
}

func (x *extractor) charge(n int64) error {
	x.bytes += n
	if x.opts.MaxBytes > 0 && (x.bytes > x.opts.MaxBytes || x.bytes < 0) {
		return fmt.Errorf("%w: more than %d bytes", ErrExtractLimit, x.opts.MaxBytes)
	}
	return nil
}

// cleanEntryPath returns the slash-separated path of an entry relative to the destination ("" for the
// destination itself), refusing absolute names and any ".." element.
func cleanEntryPath(name string) (string, error) {
	switch {
	case name == "":
		return "", fmt.Errorf("%w: empty name", ErrUnsafePath)
	case strings.ContainsRune(name, 0):
		return "", fmt.Errorf("%w: NUL in name", ErrUnsafePath)
	case path.IsAbs(name) || filepath.IsAbs(name) || filepath.VolumeName(name) != "":
		return "", fmt.Errorf("%w: absolute name", ErrUnsafePath)
	}
	for _, elem := range strings.Split(name, "/") {
		if elem == ".." {
			return "", fmt.Errorf("%w: \"..\" in name", ErrUnsafePath)
		}
	}
	clean := path.Clean(name)
	if clean == "." {
		return "", nil
	}
	return clean, nil
}

// checkLinkTarget refuses absolute symlink targets and targets that leave the destination when read as
// plain paths; createLinks later checks where each link really resolves, links included.
func checkLinkTarget(rel, target string) error {
	switch {
	case target == "":
		return fmt.Errorf("%w: empty target", ErrUnsafeLink)
	case strings.ContainsRune(target, 0):
		return fmt.Errorf("%w: NUL in target", ErrUnsafeLink)
	case path.IsAbs(target) || filepath.IsAbs(target) || filepath.VolumeName(target) != "":
		return fmt.Errorf("%w: absolute target %q", ErrUnsafeLink, target)
	}
	joined := path.Join(path.Dir(rel), target)
	if joined == ".." || strings.HasPrefix(joined, "../") {
		return fmt.Errorf("%w: target %q", ErrUnsafeLink, target)
	}
	return nil
}

func (x *extractor) abs(rel string) string { return filepath.Join(x.root, filepath.FromSlash(rel)) }

// mkdirAll creates the folders of rel one by one, refusing to pass through anything but a real folder.
// Folders once checked are remembered: entries never turn a folder into anything else, and links are only
// created where nothing exists.
func (x *extractor) mkdirAll(rel string) error {
	if x.dirs[rel] {
		return nil
	}
	cur, curRel := x.root, ""
	for _, elem := range strings.Split(rel, "/") {
		cur, curRel = filepath.Join(cur, elem), path.Join(curRel, elem)
		if x.dirs[curRel] {
			continue
		}
		fi, err := os.Lstat(cur)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := os.Mkdir(cur, 0o755); err != nil {
				return err
			}
		case err != nil:
			return err
		case !fi.IsDir():
			return fmt.Errorf("%w: %q is not a folder", ErrUnsafePath, curRel)
		}
		x.dirs[curRel] = true
	}
	return nil
}

// create opens a new regular file at rel, replacing a file (never following a link) of an earlier entry.
func (x *extractor) create(rel string, mode int64) (*os.File, error) {
	if dir := path.Dir(rel); dir != "." {
		if err := x.mkdirAll(dir); err != nil {
			return nil, err
		}
	}
	perm := fs.FileMode(0o644)
	if mode&0o111 != 0 {
		perm = 0o755
	}
	target := x.abs(rel)
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if !errors.Is(err, fs.ErrExist) {
		return f, err
	}
	// O_EXCL never follows a link; whatever is there is replaced unless it is a folder.
	if fi, err := os.Lstat(target); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("%w: %q is a folder", ErrUnsafePath, rel)
	}
	if err := os.Remove(target); err != nil {
		return nil, err
	}
	return os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
}

func (x *extractor) writeFile(rel string, r io.Reader, mode, size int64) error {
	f, err := x.create(rel, mode)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("short data: %d of %d bytes", n, size)
	}
	x.files[rel] = n
	return nil
}

// hardLink extracts a hard link as a copy of a regular file extracted earlier from the same archive.
func (x *extractor) hardLink(rel, linkname string, mode int64) error {
	target, err := cleanEntryPath(linkname)
	if err != nil || target == "" {
		return fmt.Errorf("%w: hard link to %q", ErrUnsafeLink, linkname)
	}
	size, ok := x.files[target]
	if !ok {
		return fmt.Errorf("%w: hard link to %q, which is not a regular file earlier in the archive", ErrUnsafeLink, linkname)
	}
	if err := x.charge(size); err != nil {
		return err
	}
	if target == rel {
		return nil
	}
	src, err := os.Open(x.abs(target))
	if err != nil {
		return err
	}
	defer src.Close()
	return x.writeFile(rel, src, mode, size)
}

// createLinks creates the symbolic links once every other entry is written, then checks where each one
// really resolves (following links, as the kernel does); on a refusal every link created here is removed.
func (x *extractor) createLinks() error {
	var created []string
	fail := func(entry string, err error) error {
		for _, p := range created {
			_ = os.Remove(p)
		}
		return &ArchiveEntryError{Entry: entry, Err: err}
	}
	for _, l := range x.links {
		if dir := path.Dir(l.rel); dir != "." {
			if err := x.mkdirAll(dir); err != nil {
				return fail(l.entry, err)
			}
		}
		p := x.abs(l.rel)
		if _, err := os.Lstat(p); err == nil {
			return fail(l.entry, fmt.Errorf("%w: %q is also another entry", ErrUnsafePath, l.rel))
		}
		if err := os.Symlink(l.target, p); err != nil {
			return fail(l.entry, err)
		}
		created = append(created, p)
	}
	for _, l := range x.links {
		if err := x.resolvesInside(l.rel, l.target); err != nil {
			return fail(l.entry, err)
		}
	}
	return nil
}

// resolvesInside follows target from the folder of the link at rel the way path resolution does (links
// first, then ".."), and fails when it would leave the destination. Missing elements resolve lexically.
func (x *extractor) resolvesInside(rel, target string) error {
	var stack []string // resolved elements below root
	if dir := path.Dir(rel); dir != "." {
		stack = strings.Split(dir, "/")
	}
	queue := strings.Split(target, "/")
	hops := 0
	for len(queue) > 0 {
		elem := queue[0]
		queue = queue[1:]
		switch elem {
		case "", ".":
			continue
		case "..":
			if len(stack) == 0 {
				return fmt.Errorf("%w: target %q", ErrUnsafeLink, target)
			}
			stack = stack[:len(stack)-1]
			continue
		}
		p := filepath.Join(append([]string{x.root}, append(stack, elem)...)...)
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			stack = append(stack, elem)
			continue
		}
		if hops++; hops > maxLinkHops {
			return fmt.Errorf("%w: too many levels of links resolving %q", ErrUnsafeLink, target)
		}
		next, err := os.Readlink(p)
		if err != nil {
			return err
		}
		if path.IsAbs(next) || filepath.IsAbs(next) {
			return fmt.Errorf("%w: target %q passes through absolute link %q", ErrUnsafeLink, target, next)
		}
		queue = append(strings.Split(next, "/"), queue...)
	}
	return nil
}
