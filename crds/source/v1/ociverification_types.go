package v1

import (
	"github.com/converge-gitops/converge/crds/meta"
)

// Signature verification providers.
const (
	// VerificationProviderCosign verifies Sigstore cosign signatures (the default).
	VerificationProviderCosign = "cosign"
	// VerificationProviderNotation verifies Notary Project notation signatures.
	VerificationProviderNotation = "notation"
)

// OCIRepositoryVerification configures signature verification of an OCI artifact.
type OCIRepositoryVerification struct {
	// Provider is the signing technology.
	// +kubebuilder:validation:Enum=cosign;notation
	// +kubebuilder:default:=cosign
	Provider string `json:"provider"`

	// SecretRef names a Secret with the trusted public keys (or notation trust policy and certificates).
	// +optional
	SecretRef *meta.LocalObjectReference `json:"secretRef,omitempty"`

	// MatchOIDCIdentity lists accepted signer identities for cosign keyless signatures; any match verifies.
	// +optional
	MatchOIDCIdentity []OIDCIdentityMatch `json:"matchOIDCIdentity,omitempty"`

	// TrustedRootSecretRef names a Secret with a Sigstore "trusted_root.json" key, for self-hosted
	// Sigstore (custom Fulcio/Rekor).
	// +optional
	TrustedRootSecretRef *meta.LocalObjectReference `json:"trustedRootSecretRef,omitempty"`
}

// HelmChartVerification configures signature verification of an OCI Helm chart.
type HelmChartVerification struct {
	// Provider is the signing technology.
	// +kubebuilder:validation:Enum=cosign;notation
	// +kubebuilder:default:=cosign
	Provider string `json:"provider"`

	// SecretRef names a Secret with the trusted public keys (or notation trust policy and certificates).
	// +optional
	SecretRef *meta.LocalObjectReference `json:"secretRef,omitempty"`

	// MatchOIDCIdentity lists accepted signer identities for cosign keyless signatures; any match verifies.
	// +optional
	MatchOIDCIdentity []OIDCIdentityMatch `json:"matchOIDCIdentity,omitempty"`
}

// OIDCIdentityMatch is a pair of regular expressions matched against the Fulcio certificate of a
// keyless signature.
type OIDCIdentityMatch struct {
	// Issuer is a Go regular expression for the OIDC issuer.
	// +required
	Issuer string `json:"issuer"`
	// Subject is a Go regular expression for the identity subject.
	// +required
	Subject string `json:"subject"`
}
