package v1beta2

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
)

const (
	// GitRepositoryKind is the kind name of GitRepository.
	GitRepositoryKind = "GitRepository"

	// GoGitImplementation selects the go-git client (the only one still supported).
	GoGitImplementation = "go-git"
	// LibGit2Implementation selects the removed libgit2 client; treated as go-git.
	LibGit2Implementation = "libgit2"
)

// GitRepositorySpec is the desired state of a GitRepository in v1beta2.
type GitRepositorySpec struct {
	// URL of the repository, over HTTP(S) or SSH.
	// +kubebuilder:validation:Pattern="^(http|https|ssh)://.*$"
	// +required
	URL string `json:"url"`

	// SecretRef names a Secret with the credentials: username/password or bearerToken for HTTPS,
	// identity and known_hosts for SSH.
	// +optional
	SecretRef *meta.LocalObjectReference `json:"secretRef,omitempty"`

	// Interval between checks of the repository for new revisions.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +required
	Interval metav1.Duration `json:"interval"`

	// Timeout of Git operations such as clone.
	// +kubebuilder:default="60s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m))+$"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// Reference picks the Git reference to follow; the master branch when unset.
	// +optional
	Reference *sourcev1.GitRepositoryRef `json:"ref,omitempty"`

	// Verification turns on commit signature verification.
	// +optional
	Verification *GitRepositoryVerification `json:"verify,omitempty"`

	// Ignore replaces the default exclusion patterns (.sourceignore/.gitignore syntax).
	// +optional
	Ignore *string `json:"ignore,omitempty"`

	// Suspend stops reconciliation of this object while true.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// GitImplementation picks the Git client library. Deprecated: only go-git remains.
	// +kubebuilder:validation:Enum=go-git;libgit2
	// +kubebuilder:default:=go-git
	// +optional
	GitImplementation string `json:"gitImplementation,omitempty"`

	// RecurseSubmodules also clones every submodule with its default settings.
	// +optional
	RecurseSubmodules bool `json:"recurseSubmodules,omitempty"`

	// Include lists other GitRepositories whose artifacts are copied into this one's artifact.
	Include []GitRepositoryInclude `json:"include,omitempty"`

	// AccessFrom is an ACL for cross-namespace references (provisional, never enforced; gone in v1).
	// +optional
	AccessFrom *sourcev1.AccessFrom `json:"accessFrom,omitempty"`
}

// GitRepositoryInclude names a GitRepository whose artifact content is copied into the including
// artifact, and where.
type GitRepositoryInclude struct {
	// GitRepositoryRef is the GitRepository to include.
	GitRepositoryRef meta.LocalObjectReference `json:"repository"`

	// FromPath is the directory of the included artifact to copy; its root when empty.
	// +optional
	FromPath string `json:"fromPath"`

	// ToPath is the destination directory; the included repository's name when empty.
	// +optional
	ToPath string `json:"toPath"`
}

// GetFromPath returns FromPath.
func (in *GitRepositoryInclude) GetFromPath() string {
	return in.FromPath
}

// GetToPath returns ToPath, or the included repository's name when it is empty.
func (in *GitRepositoryInclude) GetToPath() string {
	if in.ToPath == "" {
		return in.GitRepositoryRef.Name
	}
	return in.ToPath
}

// GitRepositoryVerification configures commit signature verification in v1beta2.
type GitRepositoryVerification struct {
	// Mode selects what to verify; only "head" exists in v1beta2.
	// +kubebuilder:validation:Enum=head
	Mode string `json:"mode"`

	// SecretRef names a Secret with the trusted public keys.
	SecretRef meta.LocalObjectReference `json:"secretRef"`
}

// GitRepositoryStatus is the observed state of a GitRepository in v1beta2.
type GitRepositoryStatus struct {
	// ObservedGeneration is the last generation reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions of the object.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// URL is a best-effort download link of the latest artifact.
	// +optional
	URL string `json:"url,omitempty"`

	// Artifact produced by the last successful reconciliation.
	// +optional
	Artifact *meta.Artifact `json:"artifact,omitempty"`

	// IncludedArtifacts are the artifacts of spec.include last included successfully.
	// +optional
	IncludedArtifacts []*meta.Artifact `json:"includedArtifacts,omitempty"`

	// ContentConfigChecksum is a legacy "<algo>:<hex>" checksum of the content settings.
	// Deprecated: replaced by the observed* fields.
	// +optional
	ContentConfigChecksum string `json:"contentConfigChecksum,omitempty"`

	// ObservedIgnore is the ignore spec used for the current artifact.
	// +optional
	ObservedIgnore *string `json:"observedIgnore,omitempty"`

	// ObservedRecurseSubmodules is the submodule setting used for the current artifact.
	// +optional
	ObservedRecurseSubmodules bool `json:"observedRecurseSubmodules,omitempty"`

	// ObservedInclude is the include list used for the current artifact.
	// +optional
	ObservedInclude []GitRepositoryInclude `json:"observedInclude,omitempty"`

	meta.ReconcileRequestStatus `json:",inline"`
}

// GetConditions returns the status conditions.
func (in GitRepository) GetConditions() []metav1.Condition {
	return in.Status.Conditions
}

// SetConditions replaces the status conditions.
func (in *GitRepository) SetConditions(conditions []metav1.Condition) {
	in.Status.Conditions = conditions
}

// GetRequeueAfter returns spec.interval.
func (in GitRepository) GetRequeueAfter() time.Duration {
	return in.Spec.Interval.Duration
}

// GetArtifact returns status.artifact.
func (in *GitRepository) GetArtifact() *meta.Artifact {
	return in.Status.Artifact
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=gitrepo,categories=all;fluxcd;fluxcd-sources
// +kubebuilder:subresource:status
// +kubebuilder:deprecatedversion:warning="v1beta2 GitRepository is deprecated, upgrade to v1"
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.url`
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description=""
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].status",description=""
// +kubebuilder:printcolumn:name="Status",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].message",description=""

// GitRepository (v1beta2, deprecated) produces an artifact from a Git repository revision.
type GitRepository struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec GitRepositorySpec `json:"spec,omitempty"`
	// +kubebuilder:default={"observedGeneration":-1}
	Status GitRepositoryStatus `json:"status,omitempty"`
}

// GitRepositoryList is a list of GitRepository objects.
// +kubebuilder:object:root=true
type GitRepositoryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []GitRepository `json:"items"`
}
