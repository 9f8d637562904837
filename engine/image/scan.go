package image

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	imagev1 "github.com/converge-gitops/converge/crds/image/v1"
	"github.com/converge-gitops/converge/crds/meta"
	"github.com/converge-gitops/converge/engine/cloud"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/oci"
)

// latestTagsCount is how many tags status.lastScanResult.latestTags samples.
const latestTagsCount = 10

// tagsFile is the file holding the scanned tags inside an ImageRepository's stored artifact.
const tagsFile = "tags.json"

// FailureReason is the reason Flux's image-reflector-controller gives a policy that elects nothing
// (metav1.StatusFailure).
const FailureReason = "Failure"

// InvalidPolicyReason is the reason of an ImagePolicy whose spec.policy or spec.filterTags is invalid.
const InvalidPolicyReason = "InvalidPolicy"

// Error is a failure with the Flux condition reason it maps to. Stalled errors come from the spec alone:
// retrying cannot help until the object changes (Flux marks them Stalled=True).
type Error struct {
	Reason  string
	Stalled bool
	Err     error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func reasonf(reason, format string, args ...any) error {
	return &Error{Reason: reason, Err: fmt.Errorf(format, args...)}
}

func stalledf(reason, format string, args ...any) error {
	return &Error{Reason: reason, Stalled: true, Err: fmt.Errorf(format, args...)}
}

// IsStalled reports whether err comes from the spec alone (see Error).
func IsStalled(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Stalled
}

// ReasonOf returns the condition reason of err: the Error's, or Failed.
func ReasonOf(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Reason != "" {
		return e.Reason
	}
	return meta.FailedReason
}

// Scanner lists the tags of ImageRepositories and keeps them in the artifact store.
type Scanner struct {
	Store *source.Store
	// Secrets resolves secretRef, certSecretRef and proxySecretRef; nil when none may be used.
	Secrets source.Secrets
	Clock   clock.PassiveClock
	// Cloud logs in to registries for spec.provider aws, azure and gcp; nil reads the process
	// environment without caching.
	Cloud *cloud.Identity
	// Transport is the base of every registry connection (cloned per scan); nil means
	// go-containerregistry's default transport.
	Transport *http.Transport
}

// ScanResult is the outcome of one scan.
type ScanResult struct {
	// CanonicalImageName is the repository with the implied registry and path made explicit.
	CanonicalImageName string `json:"canonicalImageName"`
	// Tags are every tag kept after the exclusion list, sorted.
	Tags       []string  `json:"-"`
	TagCount   int       `json:"tagCount"`
	LatestTags []string  `json:"latestTags,omitempty"`
	Revision   string    `json:"revision"`
	ScanTime   time.Time `json:"scanTime"`
	// Previous is the revision stored before this scan ("" for the first).
	Previous string `json:"previousRevision,omitempty"`
}

// Changed reports whether the scan found a different tag set than the one stored before.
func (r *ScanResult) Changed() bool { return r.Revision != r.Previous }

// StoreRef is the artifact store key of an ImageRepository's tags.
func StoreRef(namespace, name string) source.Ref {
	return source.Ref{Kind: imagev1.ImageRepositoryKind, Namespace: namespace, Name: name}
}

// ParseRepository parses spec.image, which must name a repository without tag or digest.
func ParseRepository(image string, insecure bool) (name.Repository, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	if scheme, _, found := strings.Cut(image, "://"); found {
		return name.Repository{}, stalledf(imagev1.ImageURLInvalidReason, "image '%s' should not include URL scheme; remove '%s://'", image, scheme)
	}
	last := image[strings.LastIndex(image, "/")+1:]
	if strings.ContainsAny(last, ":@") {
		return name.Repository{}, stalledf(imagev1.ImageURLInvalidReason, "image %q must not carry a tag or digest", image)
	}
	repo, err := name.NewRepository(image, opts...)
	if err != nil {
		return name.Repository{}, &Error{Reason: imagev1.ImageURLInvalidReason, Stalled: true, Err: fmt.Errorf("image %q: %w", image, err)}
	}
	return repo, nil
}

// RemoteOptions returns the registry options of repo: credentials from secretRef, TLS from certSecretRef,
// proxy from proxySecretRef.
func (s *Scanner) RemoteOptions(ctx context.Context, repo *imagev1.ImageRepository) ([]remote.Option, error) {
	opts := []remote.Option{remote.WithContext(ctx), remote.WithUserAgent("converge")}
	base := s.Transport
	if base == nil {
		base = remote.DefaultTransport.(*http.Transport)
	}
	tr := base.Clone()
	secret := func(ref *meta.LocalObjectReference, what string) (*corev1.Secret, error) {
		if s.Secrets == nil {
			return nil, reasonf(imagev1.AuthenticationFailedReason, "%s %q: no access to Secrets", what, ref.Name)
		}
		sec, err := s.Secrets.GetSecret(ctx, repo.Namespace, ref.Name)
		if err != nil {
			return nil, &Error{Reason: imagev1.AuthenticationFailedReason, Err: fmt.Errorf("%s: %w", what, err)}
		}
		return sec, nil
	}
	if ref := repo.Spec.SecretRef; ref != nil {
		sec, err := secret(ref, "secretRef")
		if err != nil {
			return nil, err
		}
		data := sec.Data
		raw := data[".dockerconfigjson"]
		if raw == nil {
			raw = data[".dockercfg"]
		}
		if raw == nil {
			return nil, reasonf(imagev1.AuthenticationFailedReason, "secretRef %s/%s has no .dockerconfigjson", repo.Namespace, ref.Name)
		}
		cfg, err := oci.ParseDockerConfig(raw)
		if err != nil {
			return nil, &Error{Reason: imagev1.AuthenticationFailedReason, Err: fmt.Errorf("secretRef %s/%s: %w", repo.Namespace, ref.Name, err)}
		}
		opts = append(opts, remote.WithAuthFromKeychain(cfg))
	} else if p := repo.GetProvider(); cloud.IsCloudProvider(p) {
		if repo.Spec.ServiceAccountName != "" {
			return nil, stalledf(imagev1.AuthenticationFailedReason, "spec.serviceAccountName with provider %q (object-level workload identity) "+
				"is not supported yet: remove it to use the controller's own workload identity", p)
		}
		r, err := ParseRepository(repo.Spec.Image, repo.Spec.Insecure)
		if err != nil {
			return nil, err
		}
		if err := cloud.CheckRegistry(p, r.RegistryStr()); err != nil {
			return nil, &Error{Reason: imagev1.AuthenticationFailedReason, Stalled: true, Err: fmt.Errorf("spec.provider: %w", err)}
		}
		opts = append(opts, remote.WithAuthFromKeychain(s.Cloud.Keychain(ctx, p)))
	} else if p != imagev1.GenericProvider {
		return nil, stalledf(imagev1.AuthenticationFailedReason, "spec.provider %q is not supported, must be one of: generic, aws, azure, gcp", p)
	} else {
		opts = append(opts, remote.WithAuth(authn.Anonymous))
	}
	if ref := repo.Spec.CertSecretRef; ref != nil {
		sec, err := secret(ref, "certSecretRef")
		if err != nil {
			return nil, err
		}
		tlsCfg, err := source.TLSConfigFromSecret(sec)
		if err != nil {
			return nil, &Error{Reason: imagev1.AuthenticationFailedReason, Err: fmt.Errorf("certSecretRef: %w", err)}
		}
		tr.TLSClientConfig = tlsCfg
	}
	if ref := repo.Spec.ProxySecretRef; ref != nil {
		sec, err := secret(ref, "proxySecretRef")
		if err != nil {
			return nil, err
		}
		u, err := source.ProxyURLFromSecret(sec)
		if err != nil {
			return nil, &Error{Reason: imagev1.AuthenticationFailedReason, Err: fmt.Errorf("proxySecretRef: %w", err)}
		}
		tr.Proxy = http.ProxyURL(u)
	}
	return append(opts, remote.WithTransport(tr)), nil
}

// Scan lists the tags of repo's image, drops those matching the exclusion list and stores the rest as the
// repository's artifact.
func (s *Scanner) Scan(ctx context.Context, repo *imagev1.ImageRepository) (*ScanResult, error) {
	id := repo.Namespace + "/" + repo.Name
	ref, err := ParseRepository(repo.Spec.Image, repo.Spec.Insecure)
	if err != nil {
		return nil, fmt.Errorf("ImageRepository %s: %w", id, err)
	}
	exclusions, err := compileExclusions(repo.GetExclusionList())
	if err != nil {
		return nil, &Error{Reason: imagev1.ReadOperationFailedReason, Err: fmt.Errorf("ImageRepository %s: %w", id, err)}
	}
	ctx, cancel := context.WithTimeout(ctx, repo.GetTimeout())
	defer cancel()
	opts, err := s.RemoteOptions(ctx, repo)
	if err != nil {
		return nil, fmt.Errorf("ImageRepository %s: %w", id, err)
	}
	all, err := remote.List(ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("ImageRepository %s: listing the tags of %s: %w", id, ref.Name(), classify(err))
	}
	tags := make([]string, 0, len(all))
	for _, t := range all {
		if !slices.ContainsFunc(exclusions, func(re *regexp.Regexp) bool { return re.MatchString(t) }) {
			tags = append(tags, t)
		}
	}
	slices.Sort(tags)
	tags = slices.Compact(tags)
	latest := LatestTags(tags)
	if len(latest) == 0 {
		latest = nil
	}
	res := &ScanResult{CanonicalImageName: ref.Name(), Tags: tags, TagCount: len(tags), Revision: tagsRevision(tags),
		ScanTime: s.now(), LatestTags: latest}
	prev, err := s.Store.Current(StoreRef(repo.Namespace, repo.Name))
	if err != nil {
		return nil, fmt.Errorf("ImageRepository %s: %w", id, err)
	}
	if prev != nil {
		res.Previous = prev.Revision
	}
	if res.Changed() {
		if err := s.storeTags(repo.Namespace, repo.Name, res.Revision, tags); err != nil {
			return nil, &Error{Reason: imagev1.ReadOperationFailedReason, Err: fmt.Errorf("ImageRepository %s: storing tags: %w", id, err)}
		}
	}
	return res, nil
}

// classify gives a registry error its condition reason: as in Flux, every failed scan is
// ReadOperationFailed, a refused login included (AuthenticationFailed is for unusable credentials).
// A certificate of an unknown authority gets a hint to certSecretRef.
func classify(err error) error {
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &unknown) || strings.Contains(err.Error(), "certificate signed by unknown authority") {
		err = fmt.Errorf("%w (the registry's certificate is not trusted: set spec.certSecretRef to a Secret with its CA as ca.crt)", err)
	}
	return &Error{Reason: imagev1.ReadOperationFailedReason, Err: err}
}

func compileExclusions(list []string) ([]*regexp.Regexp, error) {
	out := make([]*regexp.Regexp, 0, len(list))
	for _, p := range list {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("exclusionList: invalid regular expression %q: %w", p, err)
		}
		out = append(out, re)
	}
	return out, nil
}

// LatestTags returns Flux's sample of tags: the first ten in descending lexical (byte) order.
func LatestTags(tags []string) []string {
	s := slices.Clone(tags)
	slices.Sort(s)
	slices.Reverse(s)
	if len(s) > latestTagsCount {
		s = s[:latestTagsCount]
	}
	return s
}

// tagsRevision is the checksum of Flux's file tag storage: sha256 over the tags one a line, in
// descending order (the order Flux stores them in).
func tagsRevision(tags []string) string {
	desc := slices.Clone(tags)
	slices.Sort(desc)
	slices.Reverse(desc)
	h := sha256.New()
	for _, t := range desc {
		h.Write([]byte(t))
		h.Write([]byte{'\n'})
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func (s *Scanner) storeTags(namespace, name, revision string, tags []string) error {
	dir, err := s.Store.TempDir("imagetags-*")
	if err != nil {
		return err
	}
	data, err := json.Marshal(tags)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, tagsFile), data, 0o644); err != nil {
		_ = os.RemoveAll(dir)
		return err
	}
	_, err = s.Store.Commit(StoreRef(namespace, name), revision, dir, nil)
	return err
}

// StoredTags returns the tags of the last scan of namespace/name kept in the store, with its revision;
// found is false when the repository was never scanned.
func StoredTags(store *source.Store, namespace, name string) (tags []string, revision string, found bool, err error) {
	a, err := store.Current(StoreRef(namespace, name))
	if err != nil || a == nil {
		return nil, "", false, err
	}
	data, err := os.ReadFile(filepath.Join(a.Dir, tagsFile))
	if err != nil {
		return nil, "", false, &Error{Reason: imagev1.ReadOperationFailedReason, Err: fmt.Errorf("reading the stored tags of %s/%s: %w", namespace, name, err)}
	}
	if err := json.Unmarshal(data, &tags); err != nil {
		return nil, "", false, &Error{Reason: imagev1.ReadOperationFailedReason, Err: fmt.Errorf("reading the stored tags of %s/%s: %w", namespace, name, err)}
	}
	return tags, a.Revision, true, nil
}

// Digest resolves the manifest digest of repo's image at tag.
func (s *Scanner) Digest(ctx context.Context, repo *imagev1.ImageRepository, tag string) (string, error) {
	r, err := ParseRepository(repo.Spec.Image, repo.Spec.Insecure)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, repo.GetTimeout())
	defer cancel()
	opts, err := s.RemoteOptions(ctx, repo)
	if err != nil {
		return "", err
	}
	desc, err := remote.Head(r.Tag(tag), opts...)
	if err != nil {
		return "", fmt.Errorf("resolving the digest of %s:%s: %w", r.Name(), tag, classify(err))
	}
	return desc.Digest.String(), nil
}

func (s *Scanner) now() time.Time {
	return s.Clock.Now()
}
