package v1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/converge-gitops/converge/crds/meta"
)

// ImageRepositoryKind is the ImageRepository kind name.
const ImageRepositoryKind = "ImageRepository"

// DefaultExclusionList is the tag exclusion list used when spec.exclusionList is empty.
var DefaultExclusionList = []string{"^.*\\.sig$"}

// Registry authentication providers accepted in ImageRepository spec.provider.
const (
	GenericProvider = "generic"
	AWSProvider     = "aws"
	AzureProvider   = "azure"
	GCPProvider     = "gcp"
)

// ImageRepositorySpec is the desired state of an ImageRepository: which image to scan and how.
type ImageRepositorySpec struct {
	// Image is the image repository to scan, e.g. 'ghcr.io/org/app'.
	// +required
	Image string `json:"image,omitempty"`

	// Interval between tag scans.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +required
	Interval metav1.Duration `json:"interval,omitempty"`

	// Timeout bounds one scan; the interval when unset.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m))+$"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// SecretRef names a docker-registry Secret with registry credentials.
	// +optional
	SecretRef *meta.LocalObjectReference `json:"secretRef,omitempty"`

	// ProxySecretRef names a Secret with the proxy configuration for registry traffic.
	// +optional
	ProxySecretRef *meta.LocalObjectReference `json:"proxySecretRef,omitempty"`

	// ServiceAccountName is a ServiceAccount whose image pull secrets are used for authentication.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// CertSecretRef names a Secret with 'ca.crt' and/or 'tls.crt' + 'tls.key' for registry TLS
	// (type Opaque or kubernetes.io/tls).
	// +optional
	CertSecretRef *meta.LocalObjectReference `json:"certSecretRef,omitempty"`

	// Suspend stops further scans; a running scan is not interrupted.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// AccessFrom lets ImagePolicies in other namespaces reference this ImageRepository.
	// +optional
	AccessFrom *AccessFrom `json:"accessFrom,omitempty"`

	// ExclusionList holds regular expressions; matching tags are not stored.
	// +kubebuilder:default:={"^.*\\.sig$"}
	// +kubebuilder:validation:MaxItems:=25
	// +optional
	ExclusionList []string `json:"exclusionList,omitempty"`

	// Provider selects the registry authentication method: generic, aws, azure or gcp.
	// +kubebuilder:validation:Enum=generic;aws;azure;gcp
	// +kubebuilder:default:=generic
	// +optional
	Provider string `json:"provider,omitempty"`

	// Insecure allows plain-HTTP registries.
	// +optional
	Insecure bool `json:"insecure,omitempty"`
}

// ScanResult summarises the last tag scan.
type ScanResult struct {
	// Revision is a stable hash of the scanned tag set.
	// +optional
	Revision string `json:"revision"`

	// TagCount is the number of tags found.
	// +required
	TagCount int `json:"tagCount"`

	// ScanTime is when the scan ran.
	// +optional
	ScanTime metav1.Time `json:"scanTime"`

	// LatestTags is a sample of the tags: the first ten in descending alphabetical order.
	// +optional
	LatestTags []string `json:"latestTags,omitempty"`
}

// ImageRepositoryStatus is the observed state of an ImageRepository.
type ImageRepositoryStatus struct {
	// Conditions of the ImageRepository.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the last generation reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// CanonicalImageName is spec.image with the implied registry and path filled in,
	// e.g. 'docker.io/library/alpine' for 'alpine'.
	// +optional
	CanonicalImageName string `json:"canonicalImageName,omitempty"`

	// LastScanResult describes the last successful scan.
	// +optional
	LastScanResult *ScanResult `json:"lastScanResult,omitempty"`

	// ObservedExclusionList is the exclusion list the last scan result was computed with.
	ObservedExclusionList []string `json:"observedExclusionList,omitempty"`

	meta.ReconcileRequestStatus `json:",inline"`
}

// +kubebuilder:storageversion
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=imgrepo;imagerepo,categories=all;fluxcd;fluxcd-images
// +kubebuilder:printcolumn:name="Image",type="string",JSONPath=".spec.image"
// +kubebuilder:printcolumn:name="Tags",type=string,JSONPath=`.status.lastScanResult.tagCount`
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].status",description=""
// +kubebuilder:printcolumn:name="Status",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].message",description=""
// +kubebuilder:printcolumn:name="Last scan",type=string,JSONPath=`.status.lastScanResult.scanTime`,priority=1
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description=""

// ImageRepository scans a container image repository for tags.
type ImageRepository struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ImageRepositorySpec `json:"spec,omitempty"`
	// +kubebuilder:default={"observedGeneration":-1}
	Status ImageRepositoryStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ImageRepositoryList is a list of ImageRepositories.
type ImageRepositoryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ImageRepository `json:"items"`
}

// GetConditions returns the ImageRepository's status conditions.
func (in *ImageRepository) GetConditions() []metav1.Condition {
	return in.Status.Conditions
}

// SetConditions replaces the ImageRepository's status conditions.
func (in *ImageRepository) SetConditions(conditions []metav1.Condition) {
	in.Status.Conditions = conditions
}

// GetRequeueAfter returns the scan interval.
func (in *ImageRepository) GetRequeueAfter() time.Duration {
	return in.Spec.Interval.Duration
}

// GetTimeout returns spec.timeout, else the interval, never less than one second.
func (in *ImageRepository) GetTimeout() time.Duration {
	d := in.Spec.Interval.Duration
	if in.Spec.Timeout != nil {
		d = in.Spec.Timeout.Duration
	}
	if d < time.Second {
		return time.Second
	}
	return d
}

// GetExclusionList returns spec.exclusionList, or DefaultExclusionList when empty.
func (in *ImageRepository) GetExclusionList() []string {
	if len(in.Spec.ExclusionList) > 0 {
		return in.Spec.ExclusionList
	}
	return append([]string(nil), DefaultExclusionList...)
}

// GetProvider returns spec.provider, 'generic' when unset.
func (in *ImageRepository) GetProvider() string {
	if in.Spec.Provider != "" {
		return in.Spec.Provider
	}
	return GenericProvider
}
