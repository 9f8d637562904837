package v1beta1

import (
	"crypto/sha256"
	"fmt"
	"sort"
	"strings"
)

// ObservedSource is the state of one input source, used to compute status.observedSourcesDigest.
type ObservedSource struct {
	// Digest of the source's artifact.
	// +required
	Digest string `json:"digest"`

	// Revision of the source's artifact.
	// +required
	Revision string `json:"revision"`

	// OriginRevision from the artifact's 'org.opencontainers.image.revision' metadata, if any.
	// +optional
	OriginRevision string `json:"originRevision,omitempty"`

	// URL of the source's artifact.
	// +required
	URL string `json:"url"`
}

// String renders the fields that take part in the digest.
func (o ObservedSource) String() string {
	return fmt.Sprintf("digest=%s,revision=%s,url=%s", o.Digest, o.Revision, o.URL)
}

// HashObservedSources returns "sha256:<hex>" over the alias-keyed sources, independent of map order.
// It produces the same value as source-watcher, so digests recorded by Flux stay comparable.
func HashObservedSources(sources map[string]ObservedSource) string {
	parts := make([]string, 0, len(sources))
	for alias, o := range sources {
		parts = append(parts, fmt.Sprintf("%s=[%s]", alias, o.String()))
	}
	sort.Strings(parts)
	return fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(strings.Join(parts, "|"))))
}
