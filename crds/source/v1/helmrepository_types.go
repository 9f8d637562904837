package v1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/converge-gitops/converge/crds/meta"
)

const (
	// HelmRepositoryKind is the kind name of HelmRepository.
	HelmRepositoryKind = "HelmRepository"
	// HelmRepositoryURLIndexKey is a field index key for HelmRepositories by spec.url.
	HelmRepositoryURLIndexKey = ".metadata.helmRepositoryURL"
	// HelmRepositoryTypeDefault is a classic HTTP(S) Helm repository with an index.yaml (the default).
	HelmRepositoryTypeDefault = "default"
	// HelmRepositoryTypeOCI is a Helm repository in an OCI registry (URL starts with oci://).
	HelmRepositoryTypeOCI = "oci"
)

// HelmRepositorySpec is the desired state of a HelmRepository.
type HelmRepositorySpec struct {
	// URL of the repository: http(s):// for index-based repositories, oci:// for registries.
	// +kubebuilder:validation:Pattern="^(http|https|oci)://.*$"
	// +required
	URL string `json:"url"`

	// SecretRef names a Secret with credentials (username/password for basic auth; the legacy
	// certFile/keyFile/caFile keys are deprecated in favour of certSecretRef).
	// +optional
	SecretRef *meta.LocalObjectReference `json:"secretRef,omitempty"`

	// CertSecretRef names a Secret (Opaque or kubernetes.io/tls) with tls.crt/tls.key for client
	// certificate auth and/or ca.crt for a custom CA; it wins over TLS data in secretRef.
	// +optional
	CertSecretRef *meta.LocalObjectReference `json:"certSecretRef,omitempty"`

	// PassCredentials sends the secretRef credentials also to hosts other than the URL's host
	// (chart URLs in the index may point elsewhere). Use with care.
	// +optional
	PassCredentials bool `json:"passCredentials,omitempty"`

	// Interval between index fetches.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Interval metav1.Duration `json:"interval,omitempty"`

	// Insecure allows plain-HTTP registries; only used when type is "oci".
	// +optional
	Insecure bool `json:"insecure,omitempty"`

	// Timeout of the index fetch, and of OCI pulls done by HelmCharts using this repository; 60s when unset.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m))+$"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// Suspend stops reconciliation of this object while true.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// AccessFrom is an ACL for cross-namespace references (provisional, not enforced by Flux).
	// +optional
	AccessFrom *AccessFrom `json:"accessFrom,omitempty"`

	// Type of repository: "default" (HTTP index) or "oci" (URL must start with oci://).
	// +kubebuilder:validation:Enum=default;oci
	// +optional
	Type string `json:"type,omitempty"`

	// Provider selects registry authentication for type "oci"; "generic" by default.
	// +kubebuilder:validation:Enum=generic;aws;azure;gcp
	// +kubebuilder:default:=generic
	// +optional
	Provider string `json:"provider,omitempty"`
}

// HelmRepositoryStatus is the observed state of a HelmRepository.
type HelmRepositoryStatus struct {
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

	meta.ReconcileRequestStatus `json:",inline"`
}

const (
	// IndexationFailedReason: fetching or loading the repository index failed.
	IndexationFailedReason string = "IndexationFailed"
)

// GetConditions returns the status conditions.
func (in HelmRepository) GetConditions() []metav1.Condition {
	return in.Status.Conditions
}

// SetConditions replaces the status conditions.
func (in *HelmRepository) SetConditions(conditions []metav1.Condition) {
	in.Status.Conditions = conditions
}

// GetRequeueAfter returns spec.interval, or one minute when it is unset.
func (in HelmRepository) GetRequeueAfter() time.Duration {
	if in.Spec.Interval.Duration != 0 {
		return in.Spec.Interval.Duration
	}
	return time.Minute
}

// GetTimeout returns spec.timeout, or one minute when it is unset.
func (in HelmRepository) GetTimeout() time.Duration {
	if in.Spec.Timeout != nil {
		return in.Spec.Timeout.Duration
	}
	return time.Minute
}

// GetArtifact returns status.artifact.
func (in *HelmRepository) GetArtifact() *meta.Artifact {
	return in.Status.Artifact
}

// IsOCI reports whether this repository is an OCI registry (spec.type "oci").
func (in *HelmRepository) IsOCI() bool {
	return in.Spec.Type == HelmRepositoryTypeOCI
}

// +kubebuilder:storageversion
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=helmrepo,categories=all;fluxcd;fluxcd-sources
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.url`
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description=""
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].status",description=""
// +kubebuilder:printcolumn:name="Status",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].message",description=""
// +kubebuilder:metadata:annotations="kustomize.toolkit.fluxcd.io/substitute=disabled"

// HelmRepository produces an artifact from a Helm repository index, or stands for an OCI chart registry.
type HelmRepository struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec HelmRepositorySpec `json:"spec,omitempty"`
	// +kubebuilder:default={"observedGeneration":-1}
	Status HelmRepositoryStatus `json:"status,omitempty"`
}

// HelmRepositoryList is a list of HelmRepository objects.
// +kubebuilder:object:root=true
type HelmRepositoryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []HelmRepository `json:"items"`
}
