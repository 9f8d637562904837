package v1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/converge-gitops/converge/crds/meta"
)

const (
	// OCIRepositoryKind is the kind name of OCIRepository.
	OCIRepositoryKind = "OCIRepository"

	// OCIRepositoryPrefix is the scheme prefix of OCIRepository URLs.
	OCIRepositoryPrefix = "oci://"

	// GenericOCIProvider authenticates with static credentials, for any OCI registry.
	GenericOCIProvider string = "generic"
	// AmazonOCIProvider authenticates to ECR with AWS workload identity.
	AmazonOCIProvider string = "aws"
	// GoogleOCIProvider authenticates to GAR/GCR with GCP workload identity.
	GoogleOCIProvider string = "gcp"
	// AzureOCIProvider authenticates to ACR with Azure identities.
	AzureOCIProvider string = "azure"

	// OCILayerExtract unpacks the selected layer (a tarball) into the artifact (the default).
	OCILayerExtract = "extract"
	// OCILayerCopy stores the selected layer as-is, still compressed.
	OCILayerCopy = "copy"

	// DefaultOCITag is the tag pulled when spec.ref selects nothing.
	DefaultOCITag = "latest"
)

// OCIRepositorySpec is the desired state of an OCIRepository.
type OCIRepositorySpec struct {
	// URL of the artifact repository in a container registry, starting with oci://.
	// +kubebuilder:validation:Pattern="^oci://.*$"
	// +required
	URL string `json:"url"`

	// Reference selects the artifact to pull; the "latest" tag when unset.
	// +optional
	Reference *OCIRepositoryRef `json:"ref,omitempty"`

	// LayerSelector picks the layer to use; the first layer when unset.
	// +optional
	LayerSelector *OCILayerSelector `json:"layerSelector,omitempty"`

	// Provider selects registry authentication; "generic" by default.
	// +kubebuilder:validation:Enum=generic;aws;azure;gcp
	// +kubebuilder:default:=generic
	// +optional
	Provider string `json:"provider,omitempty"`

	// SecretRef names a kubernetes.io/dockerconfigjson Secret with registry credentials.
	// +optional
	SecretRef *meta.LocalObjectReference `json:"secretRef,omitempty"`

	// Verify turns on signature verification of the artifact.
	// +optional
	Verify *OCIRepositoryVerification `json:"verify,omitempty"`

	// ServiceAccountName is a ServiceAccount whose image pull secrets (or workload identity) are used.
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// CertSecretRef names a Secret (Opaque or kubernetes.io/tls) with tls.crt/tls.key for client
	// certificate auth and/or ca.crt for a custom CA.
	// +optional
	CertSecretRef *meta.LocalObjectReference `json:"certSecretRef,omitempty"`

	// ProxySecretRef names a Secret holding the proxy settings used to reach the registry.
	// +optional
	ProxySecretRef *meta.LocalObjectReference `json:"proxySecretRef,omitempty"`

	// Interval between checks of the registry for a new artifact.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +required
	Interval metav1.Duration `json:"interval"`

	// Timeout of registry operations such as pulls.
	// +kubebuilder:default="60s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m))+$"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// Ignore replaces the default exclusion patterns (.sourceignore/.gitignore syntax).
	// +optional
	Ignore *string `json:"ignore,omitempty"`

	// Insecure allows a plain-HTTP registry.
	// +optional
	Insecure bool `json:"insecure,omitempty"`

	// Suspend stops reconciliation of this object while true.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// OCIRepositoryRef selects an artifact in the repository. Precedence: Digest, SemVer, Tag.
type OCIRepositoryRef struct {
	// Digest to pull, "sha256:<hex>"; wins over SemVer.
	// +optional
	Digest string `json:"digest,omitempty"`

	// SemVer is a version range; the highest matching tag is pulled. Wins over Tag.
	// +optional
	SemVer string `json:"semver,omitempty"`

	// SemverFilter is a regular expression restricting the tags considered for SemVer.
	// +optional
	SemverFilter string `json:"semverFilter,omitempty"`

	// Tag to pull; "latest" when nothing is set.
	// +optional
	Tag string `json:"tag,omitempty"`
}

// OCILayerSelector picks a layer of the OCI artifact and says what to do with it.
type OCILayerSelector struct {
	// MediaType of the layer; the first layer with this media type is used.
	// +optional
	MediaType string `json:"mediaType,omitempty"`

	// Operation applied to the layer: "extract" (default) unpacks it, "copy" stores it unchanged.
	// +kubebuilder:validation:Enum=extract;copy
	// +optional
	Operation string `json:"operation,omitempty"`
}

// OCIRepositoryStatus is the observed state of an OCIRepository.
type OCIRepositoryStatus struct {
	// ObservedGeneration is the last generation reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions of the object.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// URL is the download link of the latest artifact.
	// +optional
	URL string `json:"url,omitempty"`

	// Artifact produced by the last successful reconciliation.
	// +optional
	Artifact *meta.Artifact `json:"artifact,omitempty"`

	// ObservedIgnore is the ignore spec used for the current artifact.
	// +optional
	ObservedIgnore *string `json:"observedIgnore,omitempty"`

	// ObservedLayerSelector is the layer selector used for the current artifact.
	// +optional
	ObservedLayerSelector *OCILayerSelector `json:"observedLayerSelector,omitempty"`

	meta.ReconcileRequestStatus `json:",inline"`
}

const (
	// OCIPullFailedReason: pulling the artifact failed.
	OCIPullFailedReason string = "OCIArtifactPullFailed"

	// OCILayerOperationFailedReason: extracting or copying the layer failed.
	OCILayerOperationFailedReason string = "OCIArtifactLayerOperationFailed"
)

// GetConditions returns the status conditions.
func (in OCIRepository) GetConditions() []metav1.Condition {
	return in.Status.Conditions
}

// SetConditions replaces the status conditions.
func (in *OCIRepository) SetConditions(conditions []metav1.Condition) {
	in.Status.Conditions = conditions
}

// GetRequeueAfter returns spec.interval.
func (in OCIRepository) GetRequeueAfter() time.Duration {
	return in.Spec.Interval.Duration
}

// GetTimeout returns spec.timeout, or 60s when unset.
func (in OCIRepository) GetTimeout() time.Duration {
	if in.Spec.Timeout != nil {
		return in.Spec.Timeout.Duration
	}
	return 60 * time.Second
}

// GetArtifact returns status.artifact.
func (in *OCIRepository) GetArtifact() *meta.Artifact {
	return in.Status.Artifact
}

// GetProvider returns spec.provider, or "generic" when empty.
func (in *OCIRepository) GetProvider() string {
	if in.Spec.Provider == "" {
		return GenericOCIProvider
	}
	return in.Spec.Provider
}

// GetLayerMediaType returns spec.layerSelector.mediaType, or "" when there is no selector.
func (in *OCIRepository) GetLayerMediaType() string {
	if in.Spec.LayerSelector == nil {
		return ""
	}
	return in.Spec.LayerSelector.MediaType
}

// GetLayerOperation returns spec.layerSelector.operation, or "extract" when unset.
func (in *OCIRepository) GetLayerOperation() string {
	if in.Spec.LayerSelector == nil || in.Spec.LayerSelector.Operation == "" {
		return OCILayerExtract
	}
	return in.Spec.LayerSelector.Operation
}

// +kubebuilder:storageversion
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=ocirepo,categories=all;fluxcd;fluxcd-sources
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.url`
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].status",description=""
// +kubebuilder:printcolumn:name="Status",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].message",description=""
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description=""
// +kubebuilder:metadata:annotations="kustomize.toolkit.fluxcd.io/substitute=disabled"

// OCIRepository produces an artifact from an OCI artifact stored in a container registry.
type OCIRepository struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec OCIRepositorySpec `json:"spec,omitempty"`
	// +kubebuilder:default={"observedGeneration":-1}
	Status OCIRepositoryStatus `json:"status,omitempty"`
}

// OCIRepositoryList is a list of OCIRepository objects.
// +kubebuilder:object:root=true
type OCIRepositoryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []OCIRepository `json:"items"`
}
