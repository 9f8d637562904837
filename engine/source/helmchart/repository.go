package helmchart

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	repo "helm.sh/helm/v4/pkg/repo/v1"

	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source"
)

// IndexFile is the name of the index inside a HelmRepository artifact.
const IndexFile = "index.yaml"

// FetchRepository fetches a HelmRepository.
//
// Type default: the index.yaml under spec.url is downloaded (basic auth and TLS from the Secrets, the
// server's ETag honoured against a copy kept in the store's cache), validated, and stored as the
// artifact's only file, IndexFile. The revision is "sha256:<hex>" of the index bytes as served.
//
// Type oci: Flux keeps no artifact and no status for such a repository (it is a static object whose
// URL and credentials HelmCharts use). FetchRepository returns a nil artifact and a nil error once the
// URL is oci:// and the credentials can be read, so the caller records nothing, as Flux does.
func (f *Fetcher) FetchRepository(ctx context.Context, obj *sourcev1.HelmRepository) (*source.Artifact, error) {
	ref := refOf(sourcev1.HelmRepositoryKind, obj.Namespace, obj.Name)
	if obj.Spec.Type == sourcev1.HelmRepositoryTypeOCI {
		r, err := f.ociSetup(ctx, obj)
		if err != nil {
			return nil, f.failErr(ref, err)
		}
		r.close()
		return nil, nil
	}
	if strings.HasPrefix(obj.Spec.URL, "oci://") {
		return nil, f.fail(ref, sourcev1.URLInvalidReason, errors.New("invalid Helm repository URL: 'oci' URL scheme cannot be used with 'default' HelmRepository type"))
	}
	u, err := normalizeURL(obj.Spec.URL)
	if err != nil {
		return nil, f.fail(ref, sourcev1.URLInvalidReason, fmt.Errorf("invalid Helm repository URL: %w", err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, f.fail(ref, meta.FailedReason, fmt.Errorf("failed to construct Helm client: scheme %q not supported", u.Scheme))
	}
	creds, err := f.repoCredentials(ctx, obj)
	if err != nil {
		return nil, f.fail(ref, sourcev1.AuthenticationFailedReason, err)
	}
	ctx, cancel := context.WithTimeout(ctx, obj.GetTimeout())
	defer cancel()
	unlock, err := f.Store.Lock(ctx, ref.String())
	if err != nil {
		return nil, f.fail(ref, sourcev1.AcquireLockFailedReason, fmt.Errorf("failed to acquire lock: %w", err))
	}
	defer unlock()

	work, err := f.Store.TempDir("helmrepository-")
	if err != nil {
		return nil, f.fail(ref, sourcev1.DirCreationFailedReason, err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = os.RemoveAll(work)
		}
	}()
	g := f.newHTTPGetter(u, creds, obj.Spec.PassCredentials)
	defer g.close()
	indexPath := filepath.Join(work, IndexFile)
	digest, err := f.downloadIndex(ctx, g, u, indexPath)
	if err != nil {
		return nil, f.fail(ref, meta.FailedReason, fmt.Errorf("failed to fetch Helm repository index: %w", err))
	}
	if cur, _ := f.Store.Current(ref); cur != nil && cur.Revision == digest {
		return cur, nil // the index is unchanged: Flux keeps the artifact without loading the index
	}
	if _, err := f.loadIndex(ctx, digest, indexPath, u.String()); err != nil {
		return nil, f.fail(ref, sourcev1.IndexationFailedReason, fmt.Errorf("failed to load Helm repository from index YAML: %w", err))
	}
	art, err := f.Store.Commit(ref, digest, work, nil)
	if err != nil {
		return nil, f.fail(ref, sourcev1.ArchiveOperationFailedReason, err)
	}
	committed = true
	return art, nil
}

// indexCacheMeta describes the copy of a repository index kept in the store's cache.
type indexCacheMeta struct {
	URL          string `json:"url"`
	Digest       string `json:"digest"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"lastModified,omitempty"`
}

// downloadIndex writes the index of the repository at repoURL to dst and returns its digest. A copy
// and the server's validators are kept in the store's cache; when the server answers 304 Not
// Modified, the cached copy is used (after checking its digest).
func (f *Fetcher) downloadIndex(ctx context.Context, g *httpGetter, repoURL *url.URL, dst string) (string, error) {
	key := repoURL.String()
	cacheDir, err := f.Store.CacheDir("helm-index", key)
	if err != nil {
		return "", err
	}
	unlock, err := f.Store.Lock(ctx, "helm-index:"+key)
	if err != nil {
		return "", err
	}
	defer unlock()
	cachedIndex := filepath.Join(cacheDir, IndexFile)
	metaPath := filepath.Join(cacheDir, "meta.json")

	var cond *conditional
	var cached indexCacheMeta
	if b, err := os.ReadFile(metaPath); err == nil && json.Unmarshal(b, &cached) == nil && cached.URL == key && (cached.ETag != "" || cached.LastModified != "") {
		if _, err := os.Stat(cachedIndex); err == nil {
			cond = &conditional{etag: cached.ETag, lastModified: cached.LastModified}
		}
	}
	for {
		out, err := os.Create(dst)
		if err != nil {
			return "", err
		}
		h := sha256.New()
		res, err := g.get(ctx, indexURL(repoURL), io.MultiWriter(out, h), MaxIndexSize, cond)
		if err != nil {
			out.Close()
			return "", err
		}
		if res.notModified {
			digest, err := copyHashed(out, cachedIndex)
			out.Close()
			if err != nil || digest != cached.Digest {
				cond = nil // the cached copy is damaged: download it whole
				continue
			}
			return digest, nil
		}
		if err := out.Close(); err != nil {
			return "", err
		}
		digest := "sha256:" + hex.EncodeToString(h.Sum(nil))
		// Keep a copy for the next run; a failure here only costs a download next time.
		if res.etag != "" || res.lastModified != "" {
			_ = f.cacheIndexCopy(dst, cacheDir, indexCacheMeta{URL: key, Digest: digest, ETag: res.etag, LastModified: res.lastModified})
		} else {
			_ = os.Remove(metaPath)
		}
		return digest, nil
	}
}

func (f *Fetcher) cacheIndexCopy(src, cacheDir string, m indexCacheMeta) error {
	tmp, err := os.CreateTemp(cacheDir, ".index-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := copyHashed(tmp, src); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(cacheDir, IndexFile)); err != nil {
		return err
	}
	b, _ := json.Marshal(m)
	metaTmp := filepath.Join(cacheDir, ".meta.json.tmp")
	if err := os.WriteFile(metaTmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(metaTmp, filepath.Join(cacheDir, "meta.json"))
}

// copyHashed copies the file src to w and returns "sha256:<hex>" of its content.
func copyHashed(w io.Writer, src string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	var h hash.Hash = sha256.New()
	if _, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(in, MaxIndexSize+1)); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// loadIndex returns the parsed index at p, whose digest is digest: from the Fetcher's in-memory cache,
// else from the parsed copy kept in the store's cache for the repository URL cacheKey (a JSON encoding
// of the loaded index, much faster to decode than the YAML), else by parsing p.
func (f *Fetcher) loadIndex(ctx context.Context, digest, p, cacheKey string) (*Index, error) {
	load := func() (*Index, error) {
		if file := f.readParsedIndex(cacheKey, digest); file != nil {
			return newIndex(digest, file), nil
		}
		b, err := readFileLimit(p, MaxIndexSize)
		if err != nil {
			return nil, err
		}
		file, err := LoadIndex(b)
		if err != nil {
			return nil, err
		}
		f.writeParsedIndex(cacheKey, digest, file)
		return newIndex(digest, file), nil
	}
	if f.Indexes == nil {
		return load()
	}
	return f.Indexes.Get(ctx, digest, load)
}

// parsedIndex is the on-disk form of a loaded index: one per repository URL, for the newest digest.
type parsedIndex struct {
	Digest string          `json:"digest"`
	Index  *repo.IndexFile `json:"index"`
}

const parsedIndexFile = "parsed.json"

func (f *Fetcher) parsedIndexPath(cacheKey string) string {
	if f.Store == nil || cacheKey == "" {
		return ""
	}
	dir, err := f.Store.CacheDir("helm-index", cacheKey)
	if err != nil {
		return ""
	}
	return filepath.Join(dir, parsedIndexFile)
}

// readParsedIndex returns the kept parsed index of digest, or nil.
func (f *Fetcher) readParsedIndex(cacheKey, digest string) *repo.IndexFile {
	p := f.parsedIndexPath(cacheKey)
	if p == "" {
		return nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	var pi parsedIndex
	if json.Unmarshal(b, &pi) != nil || pi.Digest != digest || pi.Index == nil || pi.Index.APIVersion == "" {
		return nil
	}
	if pi.Index.Entries == nil {
		pi.Index.Entries = map[string]repo.ChartVersions{}
	}
	return pi.Index
}

// writeParsedIndex keeps a parsed index for the next process; failures only cost a parse later.
func (f *Fetcher) writeParsedIndex(cacheKey, digest string, file *repo.IndexFile) {
	p := f.parsedIndexPath(cacheKey)
	if p == "" {
		return
	}
	b, err := json.Marshal(parsedIndex{Digest: digest, Index: file})
	if err != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".parsed-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b)
	if cerr := tmp.Close(); werr != nil || cerr != nil {
		_ = os.Remove(tmp.Name())
		return
	}
	if os.Rename(tmp.Name(), p) != nil {
		_ = os.Remove(tmp.Name())
	}
}

// fileDigest returns "sha256:<hex>" of the file at p.
func fileDigest(p string) (string, error) {
	return copyHashed(io.Discard, p)
}
