package source

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/converge-gitops/converge/crds/meta"
)

// Ref names a source object.
type Ref struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

func (r Ref) String() string { return fmt.Sprintf("%s/%s/%s", r.Kind, r.Namespace, r.Name) }

// Artifact is the result of a fetch: a folder of files with Flux's revision string and a digest.
type Artifact struct {
	// Source is the object the artifact was fetched for.
	Source Ref `json:"source"`
	// Revision is the source revision in Flux's format, e.g. "main@sha1:<40 hex>",
	// "v1.0.0@sha256:<hex>" (OCI), "sha256:<hex>" (Bucket), a chart version (HelmChart).
	Revision string `json:"revision"`
	// Digest is "sha256:<hex>" of the artifact's canonical tarball (see Store.Commit).
	Digest string `json:"digest"`
	// Size is the tarball's size in bytes.
	Size int64 `json:"size"`
	// Dir is the folder holding the artifact's files. It is shared and must be treated as read-only.
	Dir string `json:"dir"`
	// Archive is the path of the canonical tarball (tar.gz) of Dir.
	Archive string `json:"archive"`
	// LastUpdateTime is when the artifact was first stored.
	LastUpdateTime time.Time `json:"lastUpdateTime"`
	// Metadata carries upstream metadata, e.g. OCI annotations.
	Metadata map[string]string `json:"metadata,omitempty"`
	// Local is true for an artifact taken from a local folder or work tree instead of being fetched.
	Local bool `json:"local,omitempty"`
	// Verified is the message of the SourceVerified condition when spec.verify verified this fetch
	// ("" without spec.verify). It is not stored with the artifact: each fetch verifies anew.
	Verified string `json:"verified,omitempty"`
}

// FluxArtifact returns the artifact as Flux's status.artifact, with url built from baseURL.
func (a *Artifact) FluxArtifact(baseURL string) *meta.Artifact {
	size := a.Size
	path := fmt.Sprintf("%s/%s/%s/%s.tar.gz", lowerKind(a.Source.Kind), a.Source.Namespace, a.Source.Name, trimAlgo(a.Digest))
	return &meta.Artifact{
		Path:           path,
		URL:            baseURL + "/" + path,
		Revision:       a.Revision,
		Digest:         a.Digest,
		LastUpdateTime: metav1Time(a.LastUpdateTime),
		Size:           &size,
		Metadata:       a.Metadata,
	}
}

// Secrets returns Secrets by namespace and name: from the cluster in agent mode, from the cluster or local
// files in push mode. A missing Secret is an error wrapping apierrors' NotFound.
type Secrets interface {
	GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
}

// ConfigMaps returns ConfigMaps the same way.
type ConfigMaps interface {
	GetConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
}

// FetchError is a failed fetch. Previous holds the last good artifact of the same source, if any, so
// callers keep serving it.
type FetchError struct {
	Source   Ref
	Reason   string // a Flux condition reason, e.g. GitOperationFailed, AuthenticationFailed
	Err      error
	Previous *Artifact
	// Unverified says the failure is spec.verify's: the signature did not verify or could not be
	// checked. Callers report it as SourceVerified=False with Reason.
	Unverified bool
}

func (e *FetchError) Error() string { return fmt.Sprintf("%s: %v", e.Source, e.Err) }
func (e *FetchError) Unwrap() error { return e.Err }
