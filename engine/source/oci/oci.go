package oci

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	corev1 "k8s.io/api/core/v1"

	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/cloud"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/verify"
)

// Flux's OCI artifact format.
const (
	// ConfigMediaType is the media type of the config blob of an artifact made by `flux push artifact`.
	ConfigMediaType = "application/vnd.cncf.flux.config.v1+json"
	// ContentMediaType is the media type of its single layer, a tar.gz of the pushed folder.
	ContentMediaType = "application/vnd.cncf.flux.content.v1.tar+gzip"

	// CreatedAnnotation is when the artifact was built (RFC 3339).
	CreatedAnnotation = "org.opencontainers.image.created"
	// SourceAnnotation is the URL of the source the artifact was built from, e.g. a Git repository.
	SourceAnnotation = "org.opencontainers.image.source"
	// RevisionAnnotation is the source revision, e.g. "main@sha1:<commit>".
	RevisionAnnotation = "org.opencontainers.image.revision"

	// CopiedLayerFile is the file holding the layer, unchanged, in the artifact of an OCIRepository whose
	// layerSelector.operation is "copy" (Flux serves that blob itself as the artifact).
	CopiedLayerFile = "layer.tgz"

	userAgent = "converge"
)

// Fetcher fetches OCIRepository artifacts into a Store.
type Fetcher struct {
	Store   *source.Store
	Secrets source.Secrets
	// Transport is the base of every registry connection; each fetch clones it and applies the object's
	// TLS and proxy settings. Nil means go-containerregistry's default transport.
	Transport *http.Transport
	// Extract bounds layer extraction (source defaults when zero). Symbolic links in layers are always
	// left out, as Flux does.
	Extract source.ExtractOptions
	// Cloud logs in to registries for spec.provider aws, azure and gcp; nil reads the process
	// environment without caching.
	Cloud *cloud.Identity
}

// fetchState is what the fetcher remembers next to an artifact to decide whether it can be reused:
// Flux rebuilds an unchanged revision when spec.ignore or spec.layerSelector changed.
type fetchState struct {
	Revision  string  `json:"revision"`
	Digest    string  `json:"digest"`
	Ignore    *string `json:"ignore,omitempty"`
	MediaType string  `json:"mediaType,omitempty"`
	Operation string  `json:"operation"`
}

// Fetch resolves obj's reference, and pulls and stores the selected layer unless the stored artifact
// already has the resolved manifest digest (and the same ignore rules and layer selector). The revision
// is "<tag>@sha256:<manifest digest>", or "sha256:<digest>" for a digest reference. Failures are
// *source.FetchError with a Flux reason and the last good artifact.
func (f *Fetcher) Fetch(ctx context.Context, obj *sourcev1.OCIRepository) (*source.Artifact, error) {
	ref := source.Ref{Kind: sourcev1.OCIRepositoryKind, Namespace: obj.Namespace, Name: obj.Name}
	fail := func(reason string, err error) error {
		prev, _ := f.Store.Current(ref)
		return &source.FetchError{Source: ref, Reason: reason, Err: err, Previous: prev, Unverified: reason == sourcev1.VerificationError}
	}
	ctx, cancel := context.WithTimeout(ctx, obj.GetTimeout())
	defer cancel()
	a, reason, err := f.fetch(ctx, ref, obj)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("timeout of %s exceeded: %w", obj.GetTimeout(), err)
		}
		return nil, fail(reason, err)
	}
	return a, nil
}

func (f *Fetcher) fetch(ctx context.Context, ref source.Ref, obj *sourcev1.OCIRepository) (*source.Artifact, string, error) {
	spec := obj.Spec
	repo, err := parseRepository(spec.URL, spec.Insecure)
	if err != nil {
		return nil, sourcev1.URLInvalidReason, fmt.Errorf("URL validation failed for %q: %w", spec.URL, err)
	}
	opts, err := f.remoteOptions(ctx, obj)
	if err != nil {
		return nil, sourcev1.AuthenticationFailedReason, err
	}

	unlock, err := f.Store.Lock(ctx, "oci/"+ref.String())
	if err != nil {
		return nil, sourcev1.AcquireLockFailedReason, fmt.Errorf("locking the artifact store: %w", err)
	}
	defer unlock()

	target, err := resolveReference(repo, spec.Reference, opts)
	if err != nil {
		return nil, registryReason(err, sourcev1.ReadOperationFailedReason), fmt.Errorf("determining the artifact tag for %q: %w", spec.URL, explain(err))
	}
	revision, digest, err := resolveRevision(target, opts)
	if err != nil {
		return nil, registryReason(err, sourcev1.OCIPullFailedReason), fmt.Errorf("determining the artifact digest of %s: %w", target, explain(err))
	}

	// Verify before anything is stored or reused: a source that asks for verification never yields an
	// unverified artifact.
	verified := ""
	if v := spec.Verify; v != nil {
		p := verify.Policy{Field: "spec.verify", Provider: v.Provider, Namespace: obj.Namespace,
			MatchOIDCIdentity: v.MatchOIDCIdentity, Clock: f.Store.Clock}
		if v.SecretRef != nil {
			p.SecretRef = v.SecretRef.Name
		}
		if v.TrustedRootSecretRef != nil {
			p.TrustedRootSecretRef = v.TrustedRootSecretRef.Name
		}
		if verified, err = verify.OCI(ctx, p, f.Secrets, repo.Digest(digest.String()), opts...); err != nil {
			return nil, sourcev1.VerificationError, err
		}
	}
	withVerified := func(a *source.Artifact) *source.Artifact {
		if verified == "" {
			return a
		}
		c := *a
		c.Verified = verified
		return &c
	}

	state := fetchState{Revision: revision, Ignore: spec.Ignore, MediaType: obj.GetLayerMediaType(), Operation: obj.GetLayerOperation()}
	statePath, err := f.statePath(ref)
	if err != nil {
		return nil, sourcev1.CacheOperationFailedReason, err
	}
	if cur, _ := f.Store.Current(ref); cur != nil && cur.Revision == revision {
		if prev, ok := readState(statePath); ok && prev.Digest == cur.Digest && sameConfig(prev, state) {
			return withVerified(cur), "", nil
		}
	}

	img, err := remote.Image(repo.Digest(digest.String()), opts...)
	if err != nil {
		return nil, registryReason(err, sourcev1.OCIPullFailedReason), fmt.Errorf("pulling artifact %s: %w", target, explain(err))
	}
	manifest, err := img.Manifest()
	if err != nil {
		return nil, sourcev1.OCILayerOperationFailedReason, fmt.Errorf("parsing the manifest of %s: %w", target, err)
	}
	layer, err := selectLayer(img, obj.GetLayerMediaType())
	if err != nil {
		return nil, sourcev1.OCILayerOperationFailedReason, fmt.Errorf("artifact %s: %w", target, err)
	}

	dir, err := f.Store.TempDir("oci-")
	if err != nil {
		return nil, sourcev1.DirCreationFailedReason, err
	}
	committed := false
	defer func() {
		if !committed {
			_ = os.RemoveAll(dir)
		}
	}()
	if err := f.writeLayer(layer, dir, obj); err != nil {
		return nil, sourcev1.OCILayerOperationFailedReason, fmt.Errorf("artifact %s: %w", target, err)
	}
	a, err := f.Store.Commit(ref, revision, dir, manifest.Annotations)
	if err != nil {
		return nil, sourcev1.ArchiveOperationFailedReason, err
	}
	committed = true
	state.Digest = a.Digest
	if err := writeState(statePath, state); err != nil {
		return nil, sourcev1.CacheOperationFailedReason, err
	}
	return withVerified(a), "", nil
}

// writeLayer extracts the layer into dir and applies the ignore rules, or copies it unchanged.
func (f *Fetcher) writeLayer(layer v1.Layer, dir string, obj *sourcev1.OCIRepository) error {
	blob, err := layer.Compressed()
	if err != nil {
		return fmt.Errorf("reading the layer: %w", explain(err))
	}
	defer blob.Close()
	switch op := obj.GetLayerOperation(); op {
	case sourcev1.OCILayerExtract:
		opts := f.Extract
		opts.SkipSymlinks = true
		if err := source.ExtractTarGz(blob, dir, opts); err != nil {
			return fmt.Errorf("extracting the layer: %w", err)
		}
		// Read to the end, so that the blob's digest and size are verified.
		if _, err := io.Copy(io.Discard, blob); err != nil {
			return fmt.Errorf("reading the layer: %w", err)
		}
		if err := pruneIgnored(dir, obj.Spec.Ignore); err != nil {
			return fmt.Errorf("applying ignore rules: %w", err)
		}
	case sourcev1.OCILayerCopy:
		out, err := os.OpenFile(filepath.Join(dir, CopiedLayerFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		_, err = io.Copy(out, blob)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("copying the layer: %w", err)
		}
	default:
		return fmt.Errorf("unsupported layer operation %q", op)
	}
	return nil
}

// selectLayer returns the first layer with mediaType, or the first layer when mediaType is empty.
func selectLayer(img v1.Image, mediaType string) (v1.Layer, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("parsing the layers: %w", err)
	}
	if len(layers) == 0 {
		return nil, errors.New("no layers found in the artifact")
	}
	if mediaType == "" {
		return layers[0], nil
	}
	var seen []string
	for i, l := range layers {
		mt, err := l.MediaType()
		if err != nil {
			return nil, fmt.Errorf("media type of layer %d: %w", i, err)
		}
		if string(mt) == mediaType {
			return l, nil
		}
		seen = append(seen, string(mt))
	}
	return nil, fmt.Errorf("no layer with media type %q (layers: %s)", mediaType, strings.Join(seen, ", "))
}

// parseRepository checks an oci:// URL that names a repository without tag or digest.
func parseRepository(rawURL string, insecure bool) (name.Repository, error) {
	const format = "URL must be in format 'oci://<domain>/<org>/<repo>'"
	if !strings.HasPrefix(rawURL, sourcev1.OCIRepositoryPrefix) {
		return name.Repository{}, errors.New(format)
	}
	u := strings.TrimPrefix(rawURL, sourcev1.OCIRepositoryPrefix)
	_, path, ok := strings.Cut(u, "/")
	switch {
	case !ok || path == "":
		return name.Repository{}, errors.New(format)
	case strings.Contains(path, "@"):
		_, digest, _ := strings.Cut(path, "@")
		return name.Repository{}, fmt.Errorf("URL must not contain a digest; remove '@%s' and use spec.ref.digest", digest)
	case strings.Contains(path, ":"):
		_, tag, _ := strings.Cut(path, ":")
		return name.Repository{}, fmt.Errorf("URL must not contain a tag; remove ':%s'", tag)
	}
	var nopts []name.Option
	if insecure {
		nopts = append(nopts, name.Insecure)
	}
	return name.NewRepository(u, nopts...)
}

// resolveReference picks what to pull, with Flux's precedence: digest, then semver, then tag, else
// "latest".
func resolveReference(repo name.Repository, r *sourcev1.OCIRepositoryRef, opts []remote.Option) (name.Reference, error) {
	switch {
	case r != nil && r.Digest != "":
		d, err := name.NewDigest(repo.Name()+"@"+r.Digest, name.WeakValidation)
		if err != nil {
			return nil, fmt.Errorf("invalid digest %q: %w", r.Digest, err)
		}
		return d, nil
	case r != nil && r.SemVer != "":
		return tagBySemver(repo, r.SemVer, r.SemverFilter, opts)
	case r != nil && r.Tag != "":
		return repo.Tag(r.Tag), nil
	default:
		return repo.Tag(sourcev1.DefaultOCITag), nil
	}
}

// tagBySemver lists the repository's tags and returns the highest version within the constraint, among
// the tags matching filter (a regular expression) when set. Tags are versions as Flux reads them: strict
// semver with an optional leading "v".
func tagBySemver(repo name.Repository, constraint, filter string, opts []remote.Option) (name.Reference, error) {
	c, err := semver.NewConstraint(constraint)
	if err != nil {
		return nil, fmt.Errorf("semver %q parse error: %w", constraint, err)
	}
	var match *regexp.Regexp
	if filter != "" {
		if match, err = regexp.Compile(filter); err != nil {
			return nil, fmt.Errorf("semverFilter %q: %w", filter, err)
		}
	}
	tags, err := remote.List(repo, opts...)
	if err != nil {
		return nil, fmt.Errorf("listing the tags of %s: %w", repo, err)
	}
	type candidate struct {
		tag string
		v   *semver.Version
	}
	var found []candidate
	for _, t := range tags {
		if match != nil && !match.MatchString(t) {
			continue
		}
		v, err := parseVersion(t)
		if err != nil || !c.Check(v) {
			continue
		}
		found = append(found, candidate{t, v})
	}
	if len(found) == 0 {
		what := fmt.Sprintf("no tag of %s matches semver %q", repo, constraint)
		if filter != "" {
			what += fmt.Sprintf(" with semverFilter %q", filter)
		}
		return nil, fmt.Errorf("%s (tags: %s)", what, listTags(tags))
	}
	sort.SliceStable(found, func(i, j int) bool {
		if cmp := found[i].v.Compare(found[j].v); cmp != 0 {
			return cmp > 0
		}
		return found[i].tag < found[j].tag
	})
	return repo.Tag(found[0].tag), nil
}

// parseVersion reads a tag as Flux does: strict semver, optionally prefixed with "v".
func parseVersion(tag string) (*semver.Version, error) {
	if _, err := semver.StrictNewVersion(strings.TrimPrefix(tag, "v")); err != nil {
		return nil, err
	}
	return semver.NewVersion(tag)
}

func listTags(tags []string) string {
	const max = 30
	if len(tags) == 0 {
		return "none"
	}
	sorted := append([]string(nil), tags...)
	sort.Strings(sorted)
	if len(sorted) > max {
		return strings.Join(sorted[:max], ", ") + fmt.Sprintf(", and %d more", len(sorted)-max)
	}
	return strings.Join(sorted, ", ")
}

// resolveRevision returns Flux's revision for ref and the manifest digest it stands for.
func resolveRevision(ref name.Reference, opts []remote.Option) (string, v1.Hash, error) {
	switch r := ref.(type) {
	case name.Digest:
		h, err := v1.NewHash(r.DigestStr())
		if err != nil {
			return "", v1.Hash{}, err
		}
		return h.String(), h, nil
	case name.Tag:
		var h v1.Hash
		if desc, err := remote.Head(r, opts...); err == nil {
			h = desc.Digest
		} else {
			got, gerr := remote.Get(r, opts...)
			if gerr != nil {
				return "", v1.Hash{}, gerr
			}
			h = got.Digest
		}
		return r.TagStr() + "@" + h.String(), h, nil
	default:
		return "", v1.Hash{}, fmt.Errorf("unsupported reference type %T", ref)
	}
}

// remoteOptions builds the registry options of obj: credentials, TLS, proxy and the context.
func (f *Fetcher) remoteOptions(ctx context.Context, obj *sourcev1.OCIRepository) ([]remote.Option, error) {
	spec := obj.Spec
	var keychain authn.Keychain = authn.NewMultiKeychain() // anonymous
	switch {
	case spec.SecretRef != nil:
		secret, err := f.getSecret(ctx, obj.Namespace, spec.SecretRef.Name)
		if err != nil {
			return nil, fmt.Errorf("getting auth secret %s/%s: %w", obj.Namespace, spec.SecretRef.Name, err)
		}
		kc, err := keychainFromSecret(secret)
		if err != nil {
			return nil, err
		}
		keychain = kc
	case spec.ServiceAccountName != "" && cloud.IsCloudProvider(obj.GetProvider()):
		return nil, fmt.Errorf("spec.serviceAccountName with provider %q (object-level workload identity) is not supported yet: "+
			"remove it to use the controller's own workload identity", obj.GetProvider())
	case spec.ServiceAccountName != "":
		return nil, fmt.Errorf("spec.serviceAccountName is not supported yet: use spec.secretRef with a docker-registry Secret")
	case cloud.IsCloudProvider(obj.GetProvider()):
		repo, err := parseRepository(spec.URL, spec.Insecure)
		if err != nil {
			return nil, err
		}
		if err := cloud.CheckRegistry(obj.GetProvider(), repo.RegistryStr()); err != nil {
			return nil, fmt.Errorf("spec.provider: %w", err)
		}
		keychain = f.Cloud.Keychain(ctx, obj.GetProvider())
	case obj.GetProvider() != sourcev1.GenericOCIProvider:
		return nil, fmt.Errorf("spec.provider %q is not supported, must be one of: generic, aws, azure, gcp", obj.GetProvider())
	}

	base := f.Transport
	if base == nil {
		base = remote.DefaultTransport.(*http.Transport)
	}
	t := base.Clone()
	switch {
	case spec.CertSecretRef != nil && spec.CertSecretRef.Name != "":
		secret, err := f.getSecret(ctx, obj.Namespace, spec.CertSecretRef.Name)
		if err != nil {
			return nil, fmt.Errorf("getting TLS secret %s/%s: %w", obj.Namespace, spec.CertSecretRef.Name, err)
		}
		cfg, err := source.TLSConfigFromSecret(secret)
		if err != nil {
			return nil, err
		}
		t.TLSClientConfig = cfg
	case spec.Insecure:
		// As Flux: without a certSecretRef, insecure also skips certificate verification.
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the user asked for it
	}
	if spec.ProxySecretRef != nil {
		secret, err := f.getSecret(ctx, obj.Namespace, spec.ProxySecretRef.Name)
		if err != nil {
			return nil, fmt.Errorf("getting proxy secret %s/%s: %w", obj.Namespace, spec.ProxySecretRef.Name, err)
		}
		u, err := source.ProxyURLFromSecret(secret)
		if err != nil {
			return nil, err
		}
		t.Proxy = http.ProxyURL(u)
	}
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(t),
		remote.WithAuthFromKeychain(keychain),
		remote.WithUserAgent(userAgent),
	}, nil
}

// registryReason names rejected credentials AuthenticationFailed, anything else fallback.
func registryReason(err error, fallback string) string {
	var terr *transport.Error
	if errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden) {
		return sourcev1.AuthenticationFailedReason
	}
	return fallback
}

// explain prefixes registry errors that reject the credentials with "authentication failed".
func explain(err error) error {
	if registryReason(err, "") == sourcev1.AuthenticationFailedReason {
		return fmt.Errorf("authentication failed: %w", err)
	}
	return err
}

func (f *Fetcher) statePath(ref source.Ref) (string, error) {
	dir, err := f.Store.CacheDir("oci", ref.String())
	if err != nil {
		return "", fmt.Errorf("artifact store cache: %w", err)
	}
	return filepath.Join(dir, "state.json"), nil
}

func readState(path string) (fetchState, bool) {
	var s fetchState
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &s) != nil {
		return s, false
	}
	return s, true
}

func writeState(path string, s fetchState) error {
	b, _ := json.Marshal(s)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".state-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
	}
	return err
}

func sameConfig(a, b fetchState) bool {
	if (a.Ignore == nil) != (b.Ignore == nil) || (a.Ignore != nil && *a.Ignore != *b.Ignore) {
		return false
	}
	return a.MediaType == b.MediaType && a.Operation == b.Operation
}

// getSecret reads a Secret through f.Secrets, which a fetcher without one cannot do.
func (f *Fetcher) getSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	if f.Secrets == nil {
		return nil, errors.New("no Secrets source is configured")
	}
	return f.Secrets.GetSecret(ctx, namespace, name)
}
