package v1beta3

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/converge-gitops/converge/crds/meta"
)

// Provider kind name and the provider type values accepted in spec.type.
const (
	ProviderKind                      string = "Provider"
	GenericProvider                   string = "generic"
	GenericHMACProvider               string = "generic-hmac"
	SlackProvider                     string = "slack"
	GrafanaProvider                   string = "grafana"
	DiscordProvider                   string = "discord"
	MSTeamsProvider                   string = "msteams"
	RocketProvider                    string = "rocket"
	GitHubDispatchProvider            string = "githubdispatch"
	GitHubProvider                    string = "github"
	GitHubPullRequestCommentProvider  string = "githubpullrequestcomment"
	GitLabProvider                    string = "gitlab"
	GitLabMergeRequestCommentProvider string = "gitlabmergerequestcomment"
	GiteaProvider                     string = "gitea"
	GiteaPullRequestCommentProvider   string = "giteapullrequestcomment"
	BitbucketServerProvider           string = "bitbucketserver"
	BitbucketProvider                 string = "bitbucket"
	AzureDevOpsProvider               string = "azuredevops"
	GoogleChatProvider                string = "googlechat"
	GooglePubSubProvider              string = "googlepubsub"
	WebexProvider                     string = "webex"
	SentryProvider                    string = "sentry"
	AzureEventHubProvider             string = "azureeventhub"
	TelegramProvider                  string = "telegram"
	LarkProvider                      string = "lark"
	MatrixProvider                    string = "matrix"
	OpsgenieProvider                  string = "opsgenie"
	AlertManagerProvider              string = "alertmanager"
	PagerDutyProvider                 string = "pagerduty"
	DataDogProvider                   string = "datadog"
	NATSProvider                      string = "nats"
	ZulipProvider                     string = "zulip"
	OTELProvider                      string = "otel"
	ZoomProvider                      string = "zoom"
	IncidentioProvider                string = "incident.io"
)

// ProviderSpec is the desired state of a Provider.
// +kubebuilder:validation:XValidation:rule="self.type == 'github' || self.type == 'gitlab' || self.type == 'gitea' || self.type == 'bitbucketserver' || self.type == 'bitbucket' || self.type == 'azuredevops' || !has(self.commitStatusExpr)", message="spec.commitStatusExpr is only supported for the 'github', 'gitlab', 'gitea', 'bitbucketserver', 'bitbucket', 'azuredevops' provider types"
type ProviderSpec struct {
	// Type selects the notification backend.
	// +kubebuilder:validation:Enum=slack;discord;msteams;rocket;generic;generic-hmac;github;gitlab;gitea;giteapullrequestcomment;bitbucketserver;bitbucket;azuredevops;googlechat;googlepubsub;webex;sentry;azureeventhub;telegram;lark;matrix;opsgenie;alertmanager;grafana;githubdispatch;githubpullrequestcomment;gitlabmergerequestcomment;pagerduty;datadog;nats;zulip;otel;zoom;incident.io
	// +required
	Type string `json:"type"`

	// Interval is kept for compatibility only; v1beta3 Providers are not reconciled periodically.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	// +deprecated
	Interval *metav1.Duration `json:"interval,omitempty"`

	// Channel is the destination channel, room or topic, where the backend has one.
	// +kubebuilder:validation:MaxLength:=2048
	// +optional
	Channel string `json:"channel,omitempty"`

	// Username is the name events are posted under, where the backend allows it.
	// +kubebuilder:validation:MaxLength:=2048
	// +optional
	Username string `json:"username,omitempty"`

	// Address is the backend endpoint: a URL for webhook-style types, or an ID/namespace for others.
	// +kubebuilder:validation:MaxLength:=2048
	// +kubebuilder:validation:Optional
	// +optional
	Address string `json:"address,omitempty"`

	// Timeout bounds each send to the backend; 15s when unset.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m))+$"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// Proxy is an HTTP/S proxy URL. Deprecated in favour of ProxySecretRef.
	// +kubebuilder:validation:Pattern="^(http|https)://.*$"
	// +kubebuilder:validation:MaxLength:=2048
	// +kubebuilder:validation:Optional
	// +optional
	Proxy string `json:"proxy,omitempty"`

	// ProxySecretRef names a Secret with the proxy 'address' and optional 'username'/'password'.
	// +optional
	ProxySecretRef *meta.LocalObjectReference `json:"proxySecretRef,omitempty"`

	// SecretRef names a Secret with the backend credentials (and possibly the address).
	// +optional
	SecretRef *meta.LocalObjectReference `json:"secretRef,omitempty"`

	// ServiceAccountName is used for workload-identity authentication with cloud backends
	// (azureeventhub, azuredevops, googlepubsub); it conflicts with static credentials.
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// CertSecretRef names a Secret with TLS material: 'ca.crt' and/or 'tls.crt' + 'tls.key'
	// (legacy 'caFile', 'certFile', 'keyFile' also read).
	// +optional
	CertSecretRef *meta.LocalObjectReference `json:"certSecretRef,omitempty"`

	// Suspend stops the dispatch of events through this Provider.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// CommitStatusExpr is a CEL expression (variables event, provider, alert) yielding the
	// commit status identifier for git-hosting provider types.
	// +optional
	CommitStatusExpr string `json:"commitStatusExpr,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:storageversion
// +kubebuilder:resource:categories=all;fluxcd;fluxcd-notifications
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description=""
// +kubebuilder:metadata:annotations="kustomize.toolkit.fluxcd.io/substitute=disabled"

// Provider describes where and how notifications are delivered.
type Provider struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ProviderSpec `json:"spec,omitempty"`
}

// +kubebuilder:object:root=true

// ProviderList is a list of Providers.
type ProviderList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Provider `json:"items"`
}

// GetTimeout returns spec.timeout, 15s when unset.
func (in *Provider) GetTimeout() time.Duration {
	if in.Spec.Timeout != nil {
		return in.Spec.Timeout.Duration
	}
	return 15 * time.Second
}

// IsCommitStatusProvider reports whether the type posts commit statuses (and so accepts commitStatusExpr).
func (in *Provider) IsCommitStatusProvider() bool {
	switch in.Spec.Type {
	case GitHubProvider, GitLabProvider, GiteaProvider, BitbucketServerProvider, BitbucketProvider, AzureDevOpsProvider:
		return true
	}
	return false
}
