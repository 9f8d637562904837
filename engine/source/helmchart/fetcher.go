package helmchart

import (
	"context"
	"errors"
	"net/http"

	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/engine/cloud"
	"github.com/converge-gitops/converge/engine/source"
)

// Fetcher fetches HelmRepository and HelmChart objects into Store.
type Fetcher struct {
	// Store keeps artifacts and the downloaded indexes between runs.
	Store *source.Store
	// Secrets provides the Secrets that secretRef and certSecretRef name.
	Secrets source.Secrets
	// Transport is the base of every HTTP transport (cloned, TLS settings applied per repository);
	// nil means a clone of http.DefaultTransport.
	Transport *http.Transport
	// Indexes caches parsed repository indexes by digest for the life of the Fetcher; nil parses the
	// index at every use.
	Indexes *IndexCache
	// HelmRepository returns the HelmRepository a HelmChart's sourceRef names (required for HelmCharts
	// from a HelmRepository).
	HelmRepository func(ctx context.Context, namespace, name string) (*sourcev1.HelmRepository, error)
	// SourceArtifact returns the current artifact of the source a HelmChart's sourceRef names (kind
	// GitRepository, Bucket, or HelmRepository of type default), nil when it has none. When nil, the
	// artifacts come from Store.Current.
	SourceArtifact func(ctx context.Context, kind, namespace, name string) (*source.Artifact, error)
	// HelmRepositoryByURL returns the HelmRepository in namespace whose normalized spec.url is url, or
	// nil when there is none; its credentials are used for a chart's remote dependencies. When nil,
	// dependencies are fetched without credentials.
	HelmRepositoryByURL func(ctx context.Context, namespace, url string) (*sourcev1.HelmRepository, error)
	// UserAgent is sent with HTTP requests; empty means "converge".
	UserAgent string
	// RegistryConfigDir is where helm's registry client may look for its credentials file; empty means a
	// folder inside the store, so that the user's helm and docker logins are never used.
	RegistryConfigDir string
	// Cloud logs in to OCI registries for spec.provider aws, azure and gcp; nil reads the process
	// environment without caching.
	Cloud *cloud.Identity
}

// New returns a Fetcher with an index cache of 32 entries.
func New(store *source.Store, secrets source.Secrets) *Fetcher {
	return &Fetcher{Store: store, Secrets: secrets, Indexes: NewIndexCache(32)}
}

func (f *Fetcher) userAgent() string {
	if f.UserAgent != "" {
		return f.UserAgent
	}
	return "converge"
}

// fail builds the *source.FetchError for ref, with the last good artifact as Previous.
func (f *Fetcher) fail(ref source.Ref, reason string, err error) error {
	prev, _ := f.Store.Current(ref)
	return &source.FetchError{Source: ref, Reason: reason, Err: err, Previous: prev, Unverified: reason == sourcev1.VerificationError}
}

// reasonError carries a Flux condition reason with an error.
type reasonError struct {
	reason string
	err    error
}

func (e *reasonError) Error() string { return e.err.Error() }
func (e *reasonError) Unwrap() error { return e.err }

func withReason(reason string, err error) error { return &reasonError{reason: reason, err: err} }

// failErr turns err into the *source.FetchError for ref, with the reason err carries (default Failed).
func (f *Fetcher) failErr(ref source.Ref, err error) error {
	var re *reasonError
	if errors.As(err, &re) {
		return f.fail(ref, re.reason, re.err)
	}
	return f.fail(ref, meta.FailedReason, err)
}

func refOf(kind, namespace, name string) source.Ref {
	return source.Ref{Kind: kind, Namespace: namespace, Name: name}
}
