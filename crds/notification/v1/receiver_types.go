package v1

import (
	"crypto/sha256"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/converge-gitops/converge/crds/meta"
)

// Receiver kind name, webhook path prefix and the supported receiver types.
const (
	ReceiverKind        string = "Receiver"
	ReceiverWebhookPath string = "/hook/"
	GenericReceiver     string = "generic"
	GenericHMACReceiver string = "generic-hmac"
	GenericOIDCReceiver string = "generic-oidc"
	GitHubReceiver      string = "github"
	GitLabReceiver      string = "gitlab"
	BitbucketReceiver   string = "bitbucket"
	HarborReceiver      string = "harbor"
	DockerHubReceiver   string = "dockerhub"
	QuayReceiver        string = "quay"
	GCRReceiver         string = "gcr"
	NexusReceiver       string = "nexus"
	ACRReceiver         string = "acr"
	CDEventsReceiver    string = "cdevents"
)

// DefaultOIDCAudience is the token audience a generic-oidc Receiver expects when none is set.
const DefaultOIDCAudience string = "notification-controller"

// ReceiverSpec is the desired state of a Receiver.
// +kubebuilder:validation:XValidation:rule="self.type != 'generic-oidc' || (has(self.oidcProviders) && size(self.oidcProviders) > 0)",message="generic-oidc receivers must define at least one oidcProvider"
// +kubebuilder:validation:XValidation:rule="self.type == 'generic-oidc' || !has(self.oidcProviders) || size(self.oidcProviders) == 0",message="oidcProviders can only be set when type is generic-oidc"
// +kubebuilder:validation:XValidation:rule="self.type != 'generic-oidc' || !has(self.secretRef)",message="secretRef cannot be set when type is generic-oidc"
// +kubebuilder:validation:XValidation:rule="self.type == 'generic-oidc' || has(self.secretRef)",message="secretRef is required when type is not generic-oidc"
type ReceiverSpec struct {
	// Type of the webhook sender; selects request authentication and payload decoding.
	// +kubebuilder:validation:Enum=generic;generic-hmac;generic-oidc;github;gitlab;bitbucket;harbor;dockerhub;quay;gcr;nexus;acr;cdevents
	// +required
	Type string `json:"type"`

	// Interval at which the Receiver is reconciled against its Secret.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +kubebuilder:default:="10m"
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`

	// Events lists the sender event types to act on (e.g. 'push'); empty means all.
	// +optional
	Events []string `json:"events,omitempty"`

	// Resources are the objects asked to reconcile when a valid webhook arrives.
	// +required
	Resources []ReceiverResource `json:"resources"`

	// ResourceFilter is a boolean CEL expression (variables res, req and, for generic-oidc,
	// claims) deciding per resource whether a reconcile is requested.
	// +optional
	ResourceFilter string `json:"resourceFilter,omitempty"`

	// SecretRef names the Secret holding the 'token' key (plus 'email' and 'audience' for gcr);
	// required for every type except generic-oidc, which must not set it.
	// +optional
	SecretRef *meta.LocalObjectReference `json:"secretRef,omitempty"`

	// OIDCProviders are the token issuers accepted by a generic-oidc Receiver.
	// +listType=map
	// +listMapKey=issuerURL
	// +optional
	OIDCProviders []OIDCProvider `json:"oidcProviders,omitempty"`

	// Suspend stops the handling of incoming webhooks for this Receiver.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// ReceiverResource is a reference to notify, with an optional per-resource CEL filter.
type ReceiverResource struct {
	CrossNamespaceObjectReference `json:",inline"`

	// Filter is a boolean CEL expression, evaluated in addition to spec.resourceFilter,
	// for each object this reference matches.
	// +optional
	Filter string `json:"filter,omitempty"`
}

// OIDCProvider configures one OIDC issuer trusted by a generic-oidc Receiver.
type OIDCProvider struct {
	// IssuerURL is the issuer used for discovery; it must equal the token's 'iss' claim.
	// +kubebuilder:validation:Pattern="^https?://"
	// +required
	IssuerURL string `json:"issuerURL"`

	// Audience is the expected 'aud' claim; 'notification-controller' when empty.
	// +optional
	Audience string `json:"audience,omitempty"`

	// Variables are named CEL expressions over the claims, exposed as 'vars.<name>' in order.
	// +optional
	Variables []OIDCVariable `json:"variables,omitempty"`

	// Validations are CEL expressions that must all hold for a request to be accepted.
	// +kubebuilder:validation:MinItems=1
	// +required
	Validations []OIDCValidation `json:"validations"`
}

// GetAudience returns the configured audience or DefaultOIDCAudience.
func (in *OIDCProvider) GetAudience() string {
	if in.Audience != "" {
		return in.Audience
	}
	return DefaultOIDCAudience
}

// OIDCVariable is a named CEL expression evaluated against the OIDC token claims.
type OIDCVariable struct {
	// Name of the variable; must be a valid CEL identifier.
	// +required
	Name string `json:"name"`

	// Expression computing the variable's value.
	// +required
	Expression string `json:"expression"`
}

// OIDCValidation is a boolean CEL expression with the message reported when it fails.
type OIDCValidation struct {
	// Expression to evaluate; must return a boolean.
	// +required
	Expression string `json:"expression"`

	// Message returned to the caller when the expression is false.
	// +required
	Message string `json:"message"`
}

// ReceiverStatus is the observed state of a Receiver.
type ReceiverStatus struct {
	meta.ReconcileRequestStatus `json:",inline"`

	// Conditions of the Receiver.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// WebhookPath is the generated path, '/hook/' followed by sha256(token+name+namespace).
	// +optional
	WebhookPath string `json:"webhookPath,omitempty"`

	// ObservedGeneration is the last generation reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:storageversion
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=all;fluxcd;fluxcd-notifications
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description=""
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].status",description=""
// +kubebuilder:printcolumn:name="Status",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].message",description=""
// +kubebuilder:metadata:annotations="kustomize.toolkit.fluxcd.io/substitute=disabled"

// Receiver exposes a webhook endpoint that triggers reconciliation of Flux objects.
type Receiver struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ReceiverSpec `json:"spec,omitempty"`
	// +kubebuilder:default:={"observedGeneration":-1}
	Status ReceiverStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ReceiverList is a list of Receivers.
type ReceiverList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Receiver `json:"items"`
}

// GetConditions returns the Receiver's status conditions.
func (in *Receiver) GetConditions() []metav1.Condition {
	return in.Status.Conditions
}

// SetConditions replaces the Receiver's status conditions.
func (in *Receiver) SetConditions(conditions []metav1.Condition) {
	in.Status.Conditions = conditions
}

// GetInterval returns spec.interval, 10m when unset.
func (in *Receiver) GetInterval() time.Duration {
	if in.Spec.Interval != nil {
		return in.Spec.Interval.Duration
	}
	return 10 * time.Minute
}

// GetRequeueAfter returns the period between reconciliations.
func (in *Receiver) GetRequeueAfter() time.Duration {
	return in.GetInterval()
}

// GetWebhookPath returns the webhook path derived from the token, name and namespace.
func (in *Receiver) GetWebhookPath(token string) string {
	sum := sha256.Sum256([]byte(token + in.GetName() + in.GetNamespace()))
	return fmt.Sprintf("%s%x", ReceiverWebhookPath, sum)
}
