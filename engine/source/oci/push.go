package oci

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

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
	// Created is the org.opencontainers.image.created annotation and the config's created time; Clock's
	// time (UTC) when zero. time.Unix(0, 0) gives reproducible digests (--reproducible).
	Created time.Time
	// Ignore lists .gitignore-style patterns, relative to Path, left out of the layer; nil means
	// DefaultPushIgnore, an empty non-nil slice leaves nothing out. Symbolic links are always left out.
	Ignore []string
	// Insecure allows a plain-HTTP registry.
	Insecure bool
	// Creds are "<username>[:<password>]" (a lone value is a registry token); they win over DockerConfig.
	Creds string
	// Provider is "generic" or empty; cloud providers are refused.
	Provider string
	// DockerConfig is a docker config.json with the registry credentials (the content of a
	// kubernetes.io/dockerconfigjson Secret's .dockerconfigjson); when empty, the default docker keychain
	// ($DOCKER_CONFIG/config.json or ~/.docker/config.json) applies.
	DockerConfig []byte
	// Transport carries the registry requests (for TLS settings and proxies); nil means the default.
	Transport http.RoundTripper
	// Clock gives Created when that is zero.
	Clock clock.PassiveClock
}

// PushResult is what Push uploaded.
type PushResult struct {
	// URL is "oci://<registry>/<repository>@sha256:<hex>".
	URL string `json:"url"`
	// Repository is "<registry>/<repository>".
	Repository string `json:"repository"`
	// Tag is the tag pushed.
	Tag string `json:"tag"`
	// Digest is the manifest digest, "sha256:<hex>".
	Digest string `json:"digest"`
}

// Push packages opts.Path the way `flux push artifact` does — one tar.gz layer of media type
// ContentMediaType built as BuildArtifact builds it, a config of ConfigMediaType with the created time,
// and the created/source/revision annotations on the OCI manifest — and pushes it. With the same files,
// annotations and Created, the digest is the one `flux push artifact` gets. OCIRepository fetches it with
// the default layer selector.
func Push(ctx context.Context, opts PushOptions) (PushResult, error) {
	switch {
	case opts.Source == "":
		return PushResult{}, errors.New("push: the source annotation (PushOptions.Source) is required")
	case opts.Revision == "":
		return PushResult{}, errors.New("push: the revision annotation (PushOptions.Revision) is required")
	}
	ref, err := parsePushReference(opts.URL, opts.Insecure)
	if err != nil {
		return PushResult{}, err
	}
	reg := Registry{Creds: opts.Creds, Provider: opts.Provider, DockerConfig: opts.DockerConfig,
		Insecure: opts.Insecure, Transport: opts.Transport}
	ropts, err := reg.options(ctx)
	if err != nil {
		return PushResult{}, fmt.Errorf("push: %w", err)
	}
	ignore := opts.Ignore
	if ignore == nil {
		ignore = DefaultPushIgnore
	}
	tmp, err := os.CreateTemp("", "converge-push-*.tar.gz")
	if err != nil {
		return PushResult{}, err
	}
	defer os.Remove(tmp.Name())
	err = WriteArtifact(tmp, opts.Path, ignore)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return PushResult{}, fmt.Errorf("push: packaging %s: %w", opts.Path, err)
	}
	layer, err := tarball.LayerFromFile(tmp.Name(), tarball.WithMediaType(ContentMediaType))
	if err != nil {
		return PushResult{}, fmt.Errorf("push: %w", err)
	}

	created := opts.Created
	if created.IsZero() {
		created = opts.Clock.Now()
	}
	created = created.UTC().Truncate(time.Second)
	annotations := map[string]string{
		CreatedAnnotation:  created.Format(time.RFC3339),
		SourceAnnotation:   opts.Source,
		RevisionAnnotation: opts.Revision,
	}
	for k, v := range opts.Annotations {
		annotations[k] = v
	}
	if v := annotations[CreatedAnnotation]; v != created.Format(time.RFC3339) {
		// An annotation given for the created time also sets the config's, as Flux does.
		if created, err = time.Parse(time.RFC3339, v); err != nil {
			return PushResult{}, fmt.Errorf("push: invalid created timestamp %q: %w", v, err)
		}
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, ConfigMediaType)
	cfg, err := img.ConfigFile()
	if err != nil {
		return PushResult{}, fmt.Errorf("push: %w", err)
	}
	cfg.Created = v1.Time{Time: created}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return PushResult{}, fmt.Errorf("push: %w", err)
	}
	img = mutate.Annotations(img, annotations).(v1.Image)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer})
	if err != nil {
		return PushResult{}, fmt.Errorf("push: %w", err)
	}
	if err := remote.Write(ref, img, ropts...); err != nil {
		return PushResult{}, fmt.Errorf("push: pushing to %s: %w", ref, explain(err))
	}
	digest, err := img.Digest()
	if err != nil {
		return PushResult{}, fmt.Errorf("push: %w", err)
	}
	return PushResult{
		URL:        sourcev1.OCIRepositoryPrefix + ref.Context().Digest(digest.String()).String(),
		Repository: ref.Context().Name(),
		Tag:        ref.Identifier(),
		Digest:     digest.String(),
	}, nil
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
