package v1beta2

import (
	"github.com/converge-gitops/converge/crds/meta"
)

// GitSpec holds the Git settings of an ImageUpdateAutomation.
type GitSpec struct {
	// Checkout overrides the reference cloned; the GitRepository's spec.ref when unset.
	// +optional
	Checkout *GitCheckoutSpec `json:"checkout,omitempty"`

	// Commit describes the commits the automation makes.
	// +required
	Commit CommitSpec `json:"commit"`

	// Push describes where commits go; the checked-out branch when unset.
	// +optional
	Push *PushSpec `json:"push,omitempty"`
}

// HasRefspec reports whether a push refspec is configured.
func (gs GitSpec) HasRefspec() bool {
	return gs.Push != nil && gs.Push.Refspec != ""
}

// GitCheckoutSpec selects the reference to clone.
type GitCheckoutSpec struct {
	// Reference is the branch, tag, semver, ref name or commit to clone.
	// +required
	Reference GitRepositoryRef `json:"ref"`
}

// GitRepositoryRef is a Git reference, with the same fields as source.toolkit.fluxcd.io/v1
// GitRepository spec.ref.
type GitRepositoryRef struct {
	// Branch to check out; 'master' when no other field is set.
	// +optional
	Branch string `json:"branch,omitempty"`

	// Tag to check out; wins over Branch.
	// +optional
	Tag string `json:"tag,omitempty"`

	// SemVer is a tag range; the highest matching tag is checked out. Wins over Tag.
	// +optional
	SemVer string `json:"semver,omitempty"`

	// Name is a full reference such as 'refs/heads/main' or 'refs/pull/1/head'; wins over
	// Branch, Tag and SemVer.
	// +optional
	Name string `json:"name,omitempty"`

	// Commit SHA to check out; wins over everything else, and may be combined with Branch.
	// +optional
	Commit string `json:"commit,omitempty"`
}

// CommitSpec describes the commits made by the automation.
type CommitSpec struct {
	// Author of the commits; an email is required.
	// +required
	Author CommitUser `json:"author"`

	// SigningKey signs commits with an OpenPGP key.
	// +optional
	SigningKey *SigningKey `json:"signingKey,omitempty"`

	// MessageTemplate is a Go template for the commit message, rendered with the changes made
	// (the old 'Updated' field is gone; 'Changed' replaces it).
	// +optional
	MessageTemplate string `json:"messageTemplate,omitempty"`

	// MessageTemplateValues are extra values available to the message template.
	// +optional
	MessageTemplateValues map[string]string `json:"messageTemplateValues,omitempty"`
}

// CommitUser identifies a commit author.
type CommitUser struct {
	// Name of the author.
	// +optional
	Name string `json:"name,omitempty"`

	// Email of the author.
	// +required
	Email string `json:"email"`
}

// SigningKey references the Secret holding an OpenPGP signing key.
type SigningKey struct {
	// SecretRef names a Secret, in the automation's namespace, with the armored keypair under
	// 'git.asc' and an optional 'passphrase'.
	// +required
	SecretRef meta.LocalObjectReference `json:"secretRef,omitempty"`
}

// PushSpec says where commits are pushed.
type PushSpec struct {
	// Branch receives the commits; it is created from the checkout branch when missing.
	// +optional
	Branch string `json:"branch,omitempty"`

	// Refspec is an additional Git refspec to push, alongside Branch when both are set.
	// +optional
	Refspec string `json:"refspec,omitempty"`

	// Options are git push options sent to the server.
	// +optional
	Options map[string]string `json:"options,omitempty"`
}
