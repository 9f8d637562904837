package v1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/converge-gitops/converge/crds/meta"
)

const (
	// GitRepositoryKind is the kind name of GitRepository.
	GitRepositoryKind = "GitRepository"

	// GitProviderGeneric authenticates with the credentials of spec.secretRef.
	GitProviderGeneric string = "generic"
	// GitProviderAzure authenticates to Azure DevOps with workload identity.
	GitProviderAzure string = "azure"
	// GitProviderGitHub authenticates as a GitHub App.
	GitProviderGitHub string = "github"
	// GitProviderAWS authenticates to AWS CodeCommit with IAM credentials.
	GitProviderAWS string = "aws"

	// DefaultGitBranch is the branch checked out when spec.ref sets nothing.
	DefaultGitBranch = "master"
)

const (
	// IncludeUnavailableCondition (abnormal-true) reports that an included GitRepository
	// is missing or has no artifact yet.
	IncludeUnavailableCondition string = "IncludeUnavailable"
)

// GitVerificationMode names which Git objects get their signatures verified.
type GitVerificationMode string

// Valid reports whether m is one of the canonical modes.
func (m GitVerificationMode) Valid() bool {
	switch m {
	case ModeGitHEAD, ModeGitTag, ModeGitTagAndHEAD:
		return true
	default:
		return false
	}
}

const (
	// ModeGitHEAD verifies the commit at HEAD after checkout.
	ModeGitHEAD GitVerificationMode = "HEAD"
	// ModeGitTag verifies the checked out annotated tag.
	ModeGitTag GitVerificationMode = "Tag"
	// ModeGitTagAndHEAD verifies both the tag and the commit it points at.
	ModeGitTagAndHEAD GitVerificationMode = "TagAndHEAD"
)

// GitRepositorySpec is the desired state of a GitRepository.
// +kubebuilder:validation:XValidation:rule="!has(self.serviceAccountName) || (has(self.provider) && (self.provider == 'azure' || self.provider == 'aws'))",message="serviceAccountName can only be set when provider is 'azure' or 'aws'"
type GitRepositorySpec struct {
	// URL of the repository, over HTTP(S) or SSH.
	// +kubebuilder:validation:Pattern="^(http|https|ssh)://.*$"
	// +required
	URL string `json:"url"`

	// SecretRef names a Secret with the credentials: username/password or bearerToken for HTTPS,
	// identity and known_hosts for SSH.
	// +optional
	SecretRef *meta.LocalObjectReference `json:"secretRef,omitempty"`

	// Provider selects the authentication method; "generic" when empty.
	// +kubebuilder:validation:Enum=generic;aws;azure;github
	// +optional
	Provider string `json:"provider,omitempty"`

	// ServiceAccountName is the ServiceAccount whose identity is used, for the azure and aws providers only.
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

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
	Reference *GitRepositoryRef `json:"ref,omitempty"`

	// Verification turns on commit/tag signature verification.
	// +optional
	Verification *GitRepositoryVerification `json:"verify,omitempty"`

	// ProxySecretRef names a Secret holding the proxy settings used to reach the Git server.
	// +optional
	ProxySecretRef *meta.LocalObjectReference `json:"proxySecretRef,omitempty"`

	// Ignore replaces the default exclusion patterns (.sourceignore/.gitignore syntax).
	// +optional
	Ignore *string `json:"ignore,omitempty"`

	// Suspend stops reconciliation of this object while true.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// RecurseSubmodules also clones every submodule with its default settings.
	// +optional
	RecurseSubmodules bool `json:"recurseSubmodules,omitempty"`

	// Include lists other GitRepositories whose artifacts are copied into this one's artifact.
	// +optional
	Include []GitRepositoryInclude `json:"include,omitempty"`

	// SparseCheckout restricts the checkout (and thus the artifact) to these directories.
	// +optional
	SparseCheckout []string `json:"sparseCheckout,omitempty"`
}

// GitRepositoryInclude names a GitRepository in the same namespace whose artifact content is
// copied into the including artifact, and where.
type GitRepositoryInclude struct {
	// GitRepositoryRef is the GitRepository to include.
	// +required
	GitRepositoryRef meta.LocalObjectReference `json:"repository"`

	// FromPath is the directory of the included artifact to copy; its root when empty.
	// +optional
	FromPath string `json:"fromPath,omitempty"`

	// ToPath is the destination directory; the included repository's name when empty.
	// +optional
	ToPath string `json:"toPath,omitempty"`
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

// GitRepositoryRef selects what to check out. Precedence, highest first:
// Commit, Name, SemVer, Tag, Branch.
type GitRepositoryRef struct {
	// Branch to check out; "master" when no other field is set.
	// +optional
	Branch string `json:"branch,omitempty"`

	// Tag to check out; wins over Branch.
	// +optional
	Tag string `json:"tag,omitempty"`

	// SemVer is a version range matched against tags; wins over Tag.
	// +optional
	SemVer string `json:"semver,omitempty"`

	// Name is a full Git reference such as "refs/heads/main" or "refs/pull/1/head";
	// wins over Branch, Tag and SemVer.
	// +optional
	Name string `json:"name,omitempty"`

	// Commit SHA to check out; wins over everything. With Branch set, the branch is
	// shallow-cloned and must contain the commit.
	// +optional
	Commit string `json:"commit,omitempty"`
}

// IsZero reports whether no reference field is set.
func (in *GitRepositoryRef) IsZero() bool {
	return in == nil || (in.Branch == "" && in.Tag == "" && in.SemVer == "" && in.Name == "" && in.Commit == "")
}

// GitRepositoryVerification configures signature verification of Git objects.
type GitRepositoryVerification struct {
	// Mode selects what to verify. "head" is an accepted legacy spelling of "HEAD".
	// +kubebuilder:validation:Enum=head;HEAD;Tag;TagAndHEAD
	// +optional
	// +kubebuilder:default:=HEAD
	Mode GitVerificationMode `json:"mode,omitempty"`

	// SecretRef names a Secret with trusted public keys: PGP keys under *.asc keys,
	// SSH keys under *.sshpub keys.
	// +required
	SecretRef meta.LocalObjectReference `json:"secretRef"`
}

// GitRepositoryStatus is the observed state of a GitRepository.
type GitRepositoryStatus struct {
	// ObservedGeneration is the last generation reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions of the object.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Artifact produced by the last successful reconciliation.
	// +optional
	Artifact *meta.Artifact `json:"artifact,omitempty"`

	// IncludedArtifacts are the artifacts of spec.include last included successfully.
	// +optional
	IncludedArtifacts []*meta.Artifact `json:"includedArtifacts,omitempty"`

	// ObservedIgnore is the ignore spec used for the current artifact.
	// +optional
	ObservedIgnore *string `json:"observedIgnore,omitempty"`

	// ObservedRecurseSubmodules is the submodule setting used for the current artifact.
	// +optional
	ObservedRecurseSubmodules bool `json:"observedRecurseSubmodules,omitempty"`

	// ObservedInclude is the include list used for the current artifact.
	// +optional
	ObservedInclude []GitRepositoryInclude `json:"observedInclude,omitempty"`

	// ObservedSparseCheckout is the sparse checkout list used for the current artifact.
	// +optional
	ObservedSparseCheckout []string `json:"observedSparseCheckout,omitempty"`

	// SourceVerificationMode is the verification mode last applied.
	// +optional
	SourceVerificationMode *GitVerificationMode `json:"sourceVerificationMode,omitempty"`

	meta.ReconcileRequestStatus `json:",inline"`
}

const (
	// GitOperationSucceedReason: a Git operation (clone, checkout...) succeeded.
	GitOperationSucceedReason string = "GitOperationSucceeded"

	// GitOperationFailedReason: a Git operation (clone, checkout...) failed.
	GitOperationFailedReason string = "GitOperationFailed"
)

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

// GetTimeout returns spec.timeout, or 60s when unset.
func (in GitRepository) GetTimeout() time.Duration {
	if in.Spec.Timeout != nil {
		return in.Spec.Timeout.Duration
	}
	return 60 * time.Second
}

// GetArtifact returns status.artifact.
func (in *GitRepository) GetArtifact() *meta.Artifact {
	return in.Status.Artifact
}

// GetProvider returns spec.provider, or "generic" when empty.
func (in *GitRepository) GetProvider() string {
	if in.Spec.Provider == "" {
		return GitProviderGeneric
	}
	return in.Spec.Provider
}

// GetReference returns a copy of spec.ref, with Branch set to DefaultGitBranch when no field is set.
func (in *GitRepository) GetReference() GitRepositoryRef {
	if in.Spec.Reference.IsZero() {
		return GitRepositoryRef{Branch: DefaultGitBranch}
	}
	return *in.Spec.Reference
}

// GetMode returns the verification mode, falling back to HEAD for empty, legacy "head" or unknown values.
func (v *GitRepositoryVerification) GetMode() GitVerificationMode {
	if v.Mode.Valid() {
		return v.Mode
	}
	return ModeGitHEAD
}

// VerifyHEAD reports whether the mode includes verifying the HEAD commit.
func (v *GitRepositoryVerification) VerifyHEAD() bool {
	return v.GetMode() == ModeGitHEAD || v.GetMode() == ModeGitTagAndHEAD
}

// VerifyTag reports whether the mode includes verifying the tag.
func (v *GitRepositoryVerification) VerifyTag() bool {
	return v.GetMode() == ModeGitTag || v.GetMode() == ModeGitTagAndHEAD
}

// +kubebuilder:storageversion
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=gitrepo,categories=all;fluxcd;fluxcd-sources
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.url`
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description=""
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].status",description=""
// +kubebuilder:printcolumn:name="Status",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].message",description=""
// +kubebuilder:metadata:annotations="kustomize.toolkit.fluxcd.io/substitute=disabled"

// GitRepository produces an artifact from a Git repository revision.
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
