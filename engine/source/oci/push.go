package oci

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"k8s.io/utils/clock"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
)

// DefaultPushIgnore is what `flux push artifact` leaves out unless told otherwise (its --ignore-paths
// default): version-control files and binary or archive extensions.
var DefaultPushIgnore = []string{
	".git/", ".gitignore", ".gitmodules", ".gitattributes",
	"*.jpg", "*.jpeg", "*.gif", "*.png", "*.wmv", "*.flv", "*.tar.gz", "*.zip",
}

// PushOptions describe an artifact to package and push.
type PushOptions struct {
	// URL is the destination "oci://<registry>/<repository>:<tag>" (the oci:// prefix may be left out;
	// the tag defaults to "latest").
	URL string
	// Path is the folder to package, or a single file.
	Path string
	// Source and Revision become the org.opencontainers.image.source and .revision annotations, e.g. a Git
	// URL and "main@sha1:<commit>". Both are required, as with `flux push artifact --source --revision`.
	Source, Revision string
	// Annotations are added to the manifest; they win over the standard ones.
	Annotations map[string]string
	// Created is the org.opencontainers.image.created annotation; Clock's time (UTC) when zero.
	Created time.Time
	// Ignore lists .gitignore-style patterns, relative to Path, left out of the layer; nil means
	// DefaultPushIgnore, an empty non-nil slice leaves nothing out. Symbolic links are always left out.
	Ignore []string
	// Insecure allows a plain-HTTP registry.
	Insecure bool
	// DockerConfig is a docker config.json with the registry credentials (the content of a
	// kubernetes.io/dockerconfigjson Secret's .dockerconfigjson); anonymous when empty.
	DockerConfig []byte
	// Transport carries the registry requests (for TLS settings and proxies); nil means the default.
	Transport http.RoundTripper
	// Clock gives Created when that is zero.
	Clock clock.PassiveClock
}

// Push packages opts.Path the way `flux push artifact` does — one tar.gz layer of media type
// ContentMediaType, a config of ConfigMediaType, and the created/source/revision annotations on the OCI
// manifest — pushes it, and returns the manifest digest ("sha256:<hex>"). OCIRepository fetches it with
// the default layer selector.
func Push(ctx context.Context, opts PushOptions) (string, error) {
	switch {
	case opts.Source == "":
		return "", errors.New("push: the source annotation (PushOptions.Source) is required")
	case opts.Revision == "":
		return "", errors.New("push: the revision annotation (PushOptions.Revision) is required")
	}
	ref, err := parsePushReference(opts.URL, opts.Insecure)
	if err != nil {
		return "", err
	}
	ignore := opts.Ignore
	if ignore == nil {
		ignore = DefaultPushIgnore
	}
	tmp, err := os.CreateTemp("", "converge-push-*.tar.gz")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	err = writeLayerTarGz(tmp, opts.Path, ignore)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("push: packaging %s: %w", opts.Path, err)
	}
	layer, err := tarball.LayerFromFile(tmp.Name(), tarball.WithMediaType(ContentMediaType))
	if err != nil {
		return "", fmt.Errorf("push: %w", err)
	}

	created := opts.Created
	if created.IsZero() {
		created = opts.Clock.Now()
	}
	annotations := map[string]string{
		CreatedAnnotation:  created.UTC().Format(time.RFC3339),
		SourceAnnotation:   opts.Source,
		RevisionAnnotation: opts.Revision,
	}
	for k, v := range opts.Annotations {
		annotations[k] = v
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, ConfigMediaType)
	img = mutate.Annotations(img, annotations).(v1.Image)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer})
	if err != nil {
		return "", fmt.Errorf("push: %w", err)
	}

	var keychain authn.Keychain = authn.NewMultiKeychain()
	if len(opts.DockerConfig) > 0 {
		if keychain, err = ParseDockerConfig(opts.DockerConfig); err != nil {
			return "", fmt.Errorf("push: %w", err)
		}
	}
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(keychain), remote.WithUserAgent(userAgent)}
	if opts.Transport != nil {
		ropts = append(ropts, remote.WithTransport(opts.Transport))
	}
	if err := remote.Write(ref, img, ropts...); err != nil {
		return "", fmt.Errorf("push: pushing to %s: %w", ref, explain(err))
	}
	digest, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("push: %w", err)
	}
	return digest.String(), nil
}

func parsePushReference(rawURL string, insecure bool) (name.Reference, error) {
	u := strings.TrimPrefix(rawURL, sourcev1.OCIRepositoryPrefix)
	var nopts []name.Option
	if insecure {
		nopts = append(nopts, name.Insecure)
	}
	ref, err := name.ParseReference(u, nopts...)
	if err != nil {
		return nil, fmt.Errorf("push: invalid URL %q: %w", rawURL, err)
	}
	if _, isDigest := ref.(name.Digest); isDigest {
		return nil, fmt.Errorf("push: URL %q names a digest; give a tag", rawURL)
	}
	return ref, nil
}

// writeLayerTarGz writes the folder (or single file) at root as a reproducible tar.gz: sorted entries,
// folders and regular files only, zero owners and times, modes 0755 for folders and executables and 0644
// otherwise; paths matching ignore are left out.
func writeLayerTarGz(w io.Writer, root string, ignore []string) error {
	fi, err := os.Stat(root)
	if err != nil {
		return err
	}
	var ps []gitignore.Pattern
	for _, p := range ignore {
		if p = strings.TrimSpace(p); p != "" && !strings.HasPrefix(p, "#") {
			ps = append(ps, gitignore.ParsePattern(p, nil))
		}
	}
	m := gitignore.NewMatcher(ps)
	type item struct {
		rel string // slash-separated, relative to the archive root
		abs string
		fi  fs.FileInfo
	}
	var items []item
	if fi.Mode().IsRegular() {
		items = append(items, item{rel: filepath.Base(root), abs: root, fi: fi})
	} else {
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || p == root {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			rel = filepath.ToSlash(rel)
			if !d.IsDir() && !d.Type().IsRegular() {
				return nil // symlinks and special files are left out, as Flux does
			}
			if m.Match(strings.Split(rel, "/"), d.IsDir()) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			items = append(items, item{rel: rel, abs: p, fi: info})
			return nil
		})
		if err != nil {
			return err
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].rel < items[j].rel })

	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	for _, it := range items {
		hdr := &tar.Header{Name: it.rel, ModTime: time.Unix(0, 0).UTC(), Format: tar.FormatPAX}
		if it.fi.IsDir() {
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, it.rel+"/", 0o755
		} else {
			hdr.Typeflag, hdr.Size, hdr.Mode = tar.TypeReg, it.fi.Size(), 0o644
			if it.fi.Mode()&0o111 != 0 {
				hdr.Mode = 0o755
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		f, err := os.Open(it.abs)
		if err != nil {
			return err
		}
		_, err = io.Copy(tw, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}
