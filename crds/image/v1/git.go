package v1

import (
	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
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
	Reference sourcev1.GitRepositoryRef `json:"ref"`
}

// CommitSpec describes the commits made by the automation.
type CommitSpec struct {
	// Author of the commits; an email is required.
	// +required
	Author CommitUser `json:"author"`

	// SigningKey signs commits with an OpenPGP or SSH key.
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

// SigningKey references the Secret holding the key commits are signed with.
type SigningKey struct {
	// SecretRef names a Secret in the automation's namespace. For type gpg it holds the armored
	// keypair under 'git.asc' and an optional 'passphrase'; for type ssh the private key under
	// 'identity' and an optional 'password' (the GitRepository SSH Secret layout).
	// +required
	SecretRef meta.LocalObjectReference `json:"secretRef"`

	// Type is the key format in the Secret: gpg (when empty) or ssh.
	// +optional
	Type SigningKeyType `json:"type,omitempty"`
}

// GetType returns the signing key type, gpg when unset.
func (in *SigningKey) GetType() SigningKeyType {
	if in.Type == "" {
		return SigningKeyTypeGPG
	}
	return in.Type
}

// SigningKeyType is the format of a commit signing key.
// +kubebuilder:validation:Enum=gpg;ssh
type SigningKeyType string

// Signing key types.
const (
	// SigningKeyTypeGPG is an OpenPGP key under 'git.asc'.
	SigningKeyTypeGPG SigningKeyType = "gpg"
	// SigningKeyTypeSSH is an SSH private key under 'identity' (ed25519, ECDSA P-256/384/521, or
	// RSA of at least 2048 bits).
	SigningKeyTypeSSH SigningKeyType = "ssh"
)

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
