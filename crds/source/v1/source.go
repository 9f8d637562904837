package v1

import (
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/converge-gitops/converge/crds/meta"
)

// SourceIndexKey is the field index key under which consumers index objects by the source they reference.
const SourceIndexKey string = ".metadata.source"

// Source is implemented by every kind of this group: an object that produces an artifact on an interval.
// +k8s:deepcopy-gen=false
type Source interface {
	runtime.Object
	// GetRequeueAfter is the delay until the next reconciliation.
	GetRequeueAfter() time.Duration
	// GetArtifact is the artifact recorded in status, or nil.
	GetArtifact() *meta.Artifact
}

// AccessFrom is an access control list granting cross-namespace access to a source by namespace labels.
type AccessFrom struct {
	// NamespaceSelectors lists the selectors; a namespace matching any of them is allowed.
	// +required
	NamespaceSelectors []NamespaceSelector `json:"namespaceSelectors"`
}

// NamespaceSelector selects namespaces by labels; an empty selector matches every namespace.
type NamespaceSelector struct {
	// MatchLabels are label key/value pairs that must all be present on the namespace.
	// +optional
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
}

var (
	_ Source = &GitRepository{}
	_ Source = &HelmRepository{}
	_ Source = &HelmChart{}
	_ Source = &Bucket{}
	_ Source = &OCIRepository{}
	_ Source = &ExternalArtifact{}
)
