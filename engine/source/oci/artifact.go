package oci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/source"
)

// GenericProvider is the only registry provider the artifact commands log in with; the cloud providers
// (aws, azure, gcp) of `flux push artifact --provider` need their SDKs' credential chains, which converge
// does not carry.
const GenericProvider = sourcev1.GenericOCIProvider

// Registry says how the artifact operations reach a registry, as the flags of Flux's artifact commands do.
type Registry struct {
	// Creds are "<username>[:<password>]" (a value without a colon is a registry token), as --creds.
	Creds string
	// Provider is "generic" (or empty); any cloud provider is refused with an error saying so.
	Provider string
	// DockerConfig is a docker config.json's content with the credentials; when empty (and no Creds) the
	// default docker keychain applies: $DOCKER_CONFIG/config.json or ~/.docker/config.json, with its
	// credential helpers, as `docker login` writes it.
	DockerConfig []byte
	// Insecure allows plain HTTP.
	Insecure bool
	// Transport carries the requests (TLS settings, proxies); nil means the default.
	Transport http.RoundTripper
}

// CheckProvider refuses a provider other than generic (or empty), naming it.
func CheckProvider(provider string) error {
	switch provider {
	case "", GenericProvider:
		return nil
	case sourcev1.AmazonOCIProvider, sourcev1.AzureOCIProvider, sourcev1.GoogleOCIProvider:
		return fmt.Errorf("provider %q: logging in with cloud provider credentials is not supported by converge; "+
			"use --creds or the docker config (docker login, or the cloud CLI's docker credential helper)", provider)
	default:
		return fmt.Errorf("source OCI provider %q is not supported, must be one of: generic, aws, azure, gcp", provider)
	}
}

func (r Registry) keychain() (authn.Keychain, error) {
	if err := CheckProvider(r.Provider); err != nil {
		return nil, err
	}
	switch {
	case r.Creds != "":
		user, pass, ok := strings.Cut(r.Creds, ":")
		cfg := authn.AuthConfig{RegistryToken: r.Creds}
		if ok {
			cfg = authn.AuthConfig{Username: user, Password: pass}
		}
		return staticKeychain{authn.FromConfig(cfg)}, nil
	case len(r.DockerConfig) > 0:
		return ParseDockerConfig(r.DockerConfig)
	default:
		return authn.DefaultKeychain, nil
	}
}

type staticKeychain struct{ a authn.Authenticator }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.a, nil }

func (r Registry) options(ctx context.Context) ([]remote.Option, error) {
	kc, err := r.keychain()
	if err != nil {
		return nil, err
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc), remote.WithUserAgent(userAgent)}
	if r.Transport != nil {
		opts = append(opts, remote.WithTransport(r.Transport))
	}
	return opts, nil
}

func (r Registry) nameOptions() []name.Option {
	if r.Insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}

// ParseArtifactURL checks an "oci://<registry>/<repository>[:tag|@digest]" address as Flux's artifact
// commands do and returns it without the oci:// prefix.
func ParseArtifactURL(ociURL string) (string, error) {
	if !strings.HasPrefix(ociURL, sourcev1.OCIRepositoryPrefix) {
		return "", errors.New("URL must be in format 'oci://<domain>/<org>/<repo>'")
	}
	u := strings.TrimPrefix(ociURL, sourcev1.OCIRepositoryPrefix)
	if _, err := name.ParseReference(u); err != nil {
		return "", fmt.Errorf("'%s' invalid URL: %w", ociURL, err)
	}
	return u, nil
}

// BuildArtifact writes the folder (or single file) src as a tar.gz at dst, byte for byte as
// `flux build artifact` does, so that its digest equals the layer `flux push artifact` uploads: entries in
// the order of a directory walk (the root as "."), the files' own permissions, no owners, zero times;
// only folders and regular files; paths matching ignore (.gitignore patterns relative to src) left out.
// dst is written through a temporary file beside it and gets mode 0640.
func BuildArtifact(dst, src string, ignore []string) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".converge-artifact-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	err = WriteArtifact(tmp, src, ignore)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o640); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// WriteArtifact writes the tar.gz of BuildArtifact to w.
func WriteArtifact(w io.Writer, src string, ignore []string) error {
	abs, err := filepath.Abs(src)
	if err != nil {
		return err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return fmt.Errorf("invalid path '%s', must point to an existing directory or file: %w", src, err)
	}
	root := abs
	if !fi.IsDir() {
		// A single file is archived from a private folder holding only it, as Flux stages it.
		stage, err := os.MkdirTemp("", "converge-artifact-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(stage)
		if err := copyFile(filepath.Join(stage, fi.Name()), abs, fi.Mode().Perm()); err != nil {
			return err
		}
		root = stage
	}
	var ps []gitignore.Pattern
	for _, line := range strings.Split(strings.Join(ignore, "\n"), "\n") {
		if strings.TrimSpace(line) != "" && !strings.HasPrefix(line, "#") {
			ps = append(ps, gitignore.ParsePattern(line, nil))
		}
	}
	m := gitignore.NewMatcher(ps)

	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	walkErr := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if t := d.Type(); !t.IsRegular() && !t.IsDir() {
			return nil // symbolic links and special files are left out
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		// A matching folder only loses its own entry; what it holds is matched one by one, as in Flux.
		if rel != "." && m.Match(strings.Split(filepath.ToSlash(rel), "/"), d.IsDir()) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}, time.Time{}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		_, err = io.Copy(tw, f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	})
	if err := tw.Close(); walkErr == nil {
		walkErr = err
	}
	if err := gz.Close(); walkErr == nil {
		walkErr = err
	}
	return walkErr
}

func copyFile(dst, src string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// ArtifactInfo describes one artifact in a registry.
type ArtifactInfo struct {
	// URL is "<registry>/<repository>:<tag>" (list) or the address asked for (pull).
	URL string `json:"url"`
	// Digest is the manifest digest, "sha256:<hex>" (list) or "<repository>@sha256:<hex>" (pull).
	Digest string `json:"digest"`
	// Source, Revision and Created come from the manifest's annotations.
	Source   string `json:"source_url,omitempty"`
	Revision string `json:"source_revision,omitempty"`
	Created  string `json:"created,omitempty"`
}

// ListOptions filter the tags ListArtifacts reports.
type ListOptions struct {
	// SemverFilter keeps tags that are versions within this constraint.
	SemverFilter string
	// RegexFilter keeps tags matching this regular expression.
	RegexFilter string
}

// ListArtifacts returns the artifacts tagged in the repository repoURL ("<registry>/<repository>", no
// oci:// prefix) with their digests and source annotations, highest tag first as `flux list artifacts`
// orders them; cosign signatures, attestations and SBOMs (*.sig, *.att, *.sbom) are left out.
func ListArtifacts(ctx context.Context, repoURL string, reg Registry, opts ListOptions) ([]ArtifactInfo, error) {
	ropts, err := reg.options(ctx)
	if err != nil {
		return nil, err
	}
	var constraint *semver.Constraints
	if opts.SemverFilter != "" {
		if constraint, err = semver.NewConstraint(opts.SemverFilter); err != nil {
			return nil, fmt.Errorf("semver '%s' parse error: %w", opts.SemverFilter, err)
		}
	}
	var re *regexp.Regexp
	if opts.RegexFilter != "" {
		if re, err = regexp.Compile(opts.RegexFilter); err != nil {
			return nil, fmt.Errorf("regex '%s' parse error: %w", opts.RegexFilter, err)
		}
	}
	repo, err := name.NewRepository(repoURL, reg.nameOptions()...)
	if err != nil {
		return nil, fmt.Errorf("'%s' invalid repository: %w", repoURL, err)
	}
	tags, err := remote.List(repo, ropts...)
	if err != nil {
		return nil, fmt.Errorf("listing tags failed: %w", explain(err))
	}
	sort.Slice(tags, func(i, j int) bool { return tags[i] > tags[j] })
	out := []ArtifactInfo{}
	for _, tag := range tags {
		if strings.HasSuffix(tag, ".sig") || strings.HasSuffix(tag, ".att") || strings.HasSuffix(tag, ".sbom") {
			continue
		}
		if constraint != nil {
			v, err := parseVersion(tag)
			if err != nil || !constraint.Check(v) {
				continue
			}
		}
		if re != nil && !re.MatchString(tag) {
			continue
		}
		desc, err := remote.Get(repo.Tag(tag), ropts...)
		if err != nil {
			return nil, fmt.Errorf("fetching manifest failed: %w", explain(err))
		}
		m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
		if err != nil {
			return nil, fmt.Errorf("parsing manifest failed: %w", err)
		}
		out = append(out, ArtifactInfo{
			URL: repoURL + ":" + tag, Digest: desc.Digest.String(),
			Source: m.Annotations[SourceAnnotation], Revision: m.Annotations[RevisionAnnotation],
			Created: m.Annotations[CreatedAnnotation],
		})
	}
	return out, nil
}

// TagArtifact adds tag to the artifact at url ("<registry>/<repository>:<tag>|@<digest>") and returns the
// new reference.
func TagArtifact(ctx context.Context, url, tag string, reg Registry) (string, error) {
	ref, err := name.ParseReference(url, reg.nameOptions()...)
	if err != nil {
		return "", fmt.Errorf("invalid URL: %w", err)
	}
	ropts, err := reg.options(ctx)
	if err != nil {
		return "", err
	}
	dst, err := name.NewTag(ref.Context().String()+":"+tag, reg.nameOptions()...)
	if err != nil {
		return "", fmt.Errorf("invalid tag %q: %w", tag, err)
	}
	desc, err := remote.Get(ref, ropts...)
	if err != nil {
		return "", fmt.Errorf("fetching %s: %w", url, explain(err))
	}
	if err := remote.Tag(dst, desc, ropts...); err != nil {
		return "", fmt.Errorf("tagging %s as %s: %w", url, tag, explain(err))
	}
	return dst.Name(), nil
}

// PullArtifact downloads the artifact at url ("<registry>/<repository>:<tag>|@<digest>") and extracts its
// first layer, a tar.gz, into dir (an existing folder), leaving symbolic links out, as `flux pull artifact`
// does.
func PullArtifact(ctx context.Context, url, dir string, reg Registry) (ArtifactInfo, error) {
	ref, err := name.ParseReference(url, reg.nameOptions()...)
	if err != nil {
		return ArtifactInfo{}, fmt.Errorf("invalid URL: %w", err)
	}
	ropts, err := reg.options(ctx)
	if err != nil {
		return ArtifactInfo{}, err
	}
	img, err := remote.Image(ref, ropts...)
	if err != nil {
		return ArtifactInfo{}, fmt.Errorf("pulling %s: %w", url, explain(err))
	}
	digest, err := img.Digest()
	if err != nil {
		return ArtifactInfo{}, fmt.Errorf("parsing digest failed: %w", err)
	}
	m, err := img.Manifest()
	if err != nil {
		return ArtifactInfo{}, fmt.Errorf("parsing manifest failed: %w", err)
	}
	layer, err := selectLayer(img, "")
	if err != nil {
		return ArtifactInfo{}, fmt.Errorf("artifact %s: %w", url, err)
	}
	blob, err := layer.Compressed()
	if err != nil {
		return ArtifactInfo{}, fmt.Errorf("extracting layer failed: %w", explain(err))
	}
	defer blob.Close()
	if err := source.ExtractTarGz(blob, dir, source.ExtractOptions{MaxBytes: -1, SkipSymlinks: true}); err != nil {
		return ArtifactInfo{}, fmt.Errorf("artifact %s: extracting layer: %w", url, err)
	}
	if _, err := io.Copy(io.Discard, blob); err != nil {
		return ArtifactInfo{}, fmt.Errorf("artifact %s: reading layer: %w", url, err)
	}
	return ArtifactInfo{
		URL: url, Digest: ref.Context().Digest(digest.String()).String(),
		Source: m.Annotations[SourceAnnotation], Revision: m.Annotations[RevisionAnnotation],
		Created: m.Annotations[CreatedAnnotation],
	}, nil
}

// ErrArtifactDiffers is returned by DiffArtifact when the local files differ from the artifact's.
var ErrArtifactDiffers = errors.New("the remote artifact contents differs from the local one")

// DiffArtifact builds the folder or file at path as BuildArtifact does and compares it with the first
// layer of the artifact at url: ErrArtifactDiffers when the digests or sizes differ, as `flux diff
// artifact` decides.
func DiffArtifact(ctx context.Context, url, path string, ignore []string, reg Registry) error {
	ref, err := name.ParseReference(url, reg.nameOptions()...)
	if err != nil {
		return fmt.Errorf("invalid URL: %w", err)
	}
	ropts, err := reg.options(ctx)
	if err != nil {
		return err
	}
	h := sha256.New()
	cw := &countingWriter{w: h}
	if err := WriteArtifact(cw, path, ignore); err != nil {
		return fmt.Errorf("building artifact failed: %w", err)
	}
	img, err := remote.Image(ref, ropts...)
	if err != nil {
		return fmt.Errorf("pulling %s: %w", url, explain(err))
	}
	layer, err := selectLayer(img, "")
	if err != nil {
		return fmt.Errorf("artifact %s: %w", url, err)
	}
	d, err := layer.Digest()
	if err != nil {
		return fmt.Errorf("failed to get layer digest: %w", err)
	}
	size, err := layer.Size()
	if err != nil {
		return fmt.Errorf("failed to get layer size: %w", err)
	}
	if hex.EncodeToString(h.Sum(nil)) != d.Hex || cw.n != size {
		return ErrArtifactDiffers
	}
	return nil
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

// StageReader saves r (manifests given on stdin, `--path -`) to a temporary .yaml file, without its
// trailing newlines as Flux saves it, and returns the file's path and a function that removes it.
func StageReader(r io.Reader) (string, func(), error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return "", nil, fmt.Errorf("reading stdin: %w", err)
	}
	f, err := os.CreateTemp("", "converge-stdin-*.yaml")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { _ = os.Remove(f.Name()) }
	_, err = f.Write(bytes.TrimRight(b, "\r\n"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		cleanup()
		return "", nil, err
	}
	return f.Name(), cleanup, nil
}

// ResolveSymlinks copies the folder or file at src into a temporary folder with every symbolic link
// replaced by what it points to (folder links are followed once per chain, so cycles end), and returns
// the path to archive instead of src and a function that removes the copy.
func ResolveSymlinks(src string) (string, func(), error) {
	abs, err := filepath.Abs(src)
	if err != nil {
		return "", nil, err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", nil, err
	}
	tmp, err := os.MkdirTemp("", "converge-artifact-*")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { _ = os.RemoveAll(tmp) }
	if !fi.IsDir() {
		real, err := filepath.EvalSymlinks(abs)
		if err == nil {
			dst := filepath.Join(tmp, filepath.Base(abs))
			err = copyFile(dst, real, fi.Mode().Perm())
		}
		if err != nil {
			cleanup()
			return "", nil, fmt.Errorf("resolving symlinks of %s: %w", src, err)
		}
		return filepath.Join(tmp, filepath.Base(abs)), cleanup, nil
	}
	if err := copyResolved(abs, tmp, map[string]bool{}); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("resolving symlinks of %s: %w", src, err)
	}
	return tmp, cleanup, nil
}

func copyResolved(srcDir, dstDir string, visiting map[string]bool) error {
	real, err := filepath.EvalSymlinks(srcDir)
	if err != nil {
		return err
	}
	if visiting[real] {
		return nil // a link back into a folder being copied: stop the cycle
	}
	visiting[real] = true
	defer delete(visiting, real)
	entries, err := os.ReadDir(srcDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		sp, dp := filepath.Join(srcDir, e.Name()), filepath.Join(dstDir, e.Name())
		rp, err := filepath.EvalSymlinks(sp)
		if err != nil {
			return fmt.Errorf("resolving symlink %s: %w", sp, err)
		}
		ri, err := os.Stat(rp)
		if err != nil {
			return err
		}
		switch {
		case ri.IsDir():
			if err := os.MkdirAll(dp, ri.Mode().Perm()); err != nil {
				return err
			}
			if err := copyResolved(rp, dp, visiting); err != nil {
				return err
			}
		case ri.Mode().IsRegular():
			if err := copyFile(dp, rp, ri.Mode().Perm()); err != nil {
				return err
			}
		}
	}
	return nil
}

// StagePath returns the path to package for a --path flag: stdin (in) saved to a file for "-", a copy
// without symbolic links when resolve is set, else path itself, checked to exist; and a function that
// removes what was staged.
func StagePath(in io.Reader, path string, resolve bool) (string, func(), error) {
	var cleanups []func()
	cleanup := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	if path == "-" {
		p, c, err := StageReader(in)
		if err != nil {
			return "", nil, err
		}
		path, cleanups = p, append(cleanups, c)
	}
	if _, err := os.Stat(path); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("invalid path '%s', must point to an existing directory or file: %w", path, err)
	}
	if resolve {
		p, c, err := ResolveSymlinks(path)
		if err != nil {
			cleanup()
			return "", nil, fmt.Errorf("resolving symlinks failed: %w", err)
		}
		path, cleanups = p, append(cleanups, c)
	}
	return path, cleanup, nil
}
