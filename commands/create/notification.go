package create

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/crds/meta"
	notificationv1 "github.com/converge-gitops/converge/crds/notification/v1"
	notificationv1beta3 "github.com/converge-gitops/converge/crds/notification/v1beta3"
	"github.com/converge-gitops/converge/engine/notify"
	"github.com/converge-gitops/converge/engine/receiver"
)

// notificationCommands returns `create alert`, `create alert-provider` and `create receiver`.
func notificationCommands(f *cmdutil.Factory) []*cobra.Command {
	return []*cobra.Command{newCmdAlertProvider(f), newCmdAlert(f), newCmdReceiver(f)}
}

func objectMeta(f *cmdutil.Factory, name string, labels []string) (metav1.ObjectMeta, error) {
	om := metav1.ObjectMeta{Name: name, Namespace: f.Namespace()}
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return om, cmdutil.FlagErrorf("--label %q: want key=value", l)
		}
		if om.Labels == nil {
			om.Labels = map[string]string{}
		}
		om.Labels[k] = v
	}
	return om, nil
}

// parseRef parses Kind/name or Kind/name.namespace (Flux's CLI form).
func parseRef(flag, s string) (notificationv1.CrossNamespaceObjectReference, error) {
	kind, rest, ok := strings.Cut(s, "/")
	if !ok || kind == "" || rest == "" {
		return notificationv1.CrossNamespaceObjectReference{}, cmdutil.FlagErrorf("--%s %q: want Kind/name or Kind/name.namespace", flag, s)
	}
	ref := notificationv1.CrossNamespaceObjectReference{Kind: kind, Name: rest}
	if name, ns, ok := strings.Cut(rest, "."); ok && name != "" && ns != "" {
		ref.Name, ref.Namespace = name, ns
	}
	return ref, nil
}

func newCmdAlertProvider(f *cmdutil.Factory) *cobra.Command {
	var typ, channel, username, address, secretRef, certSecretRef, proxy string
	var labels []string
	var timeout metav1.Duration
	cmd := &cobra.Command{
		Use:   "alert-provider NAME",
		Short: "Create or update a Provider: where and how alerts are sent",
		Example: `  converge create alert-provider slack --type slack --channel general --secret-ref slack-url --export
  converge create alert-provider github --type github --address https://github.com/org/fleet --secret-ref github-token`,
		Args: cobra.ExactArgs(1),
		RunE: cmdutil.RunE(f, &createRunner{build: func(args []string) (runtime.Object, error) {
			if typ == "" {
				return nil, cmdutil.FlagErrorf("--type is required")
			}
			if !notify.Supported(typ) {
				return nil, cmdutil.FlagErrorf("--type %q: not a provider type; want one of %s", typ, strings.Join(notify.Types(), ", "))
			}
			if address == "" && secretRef == "" && typ != notificationv1beta3.TelegramProvider {
				return nil, cmdutil.FlagErrorf("--address or --secret-ref (with an address key) is required")
			}
			om, err := objectMeta(f, args[0], labels)
			if err != nil {
				return nil, err
			}
			p := &notificationv1beta3.Provider{
				TypeMeta:   metav1.TypeMeta{APIVersion: notificationv1beta3.GroupVersion.String(), Kind: notificationv1beta3.ProviderKind},
				ObjectMeta: om,
				Spec:       notificationv1beta3.ProviderSpec{Type: typ, Channel: channel, Username: username, Address: address, Proxy: proxy},
			}
			if secretRef != "" {
				p.Spec.SecretRef = &meta.LocalObjectReference{Name: secretRef}
			}
			if certSecretRef != "" {
				p.Spec.CertSecretRef = &meta.LocalObjectReference{Name: certSecretRef}
			}
			if timeout.Duration > 0 {
				p.Spec.Timeout = &timeout
			}
			return p, nil
		}}, false),
	}
	fl := cmd.Flags()
	fl.StringVar(&typ, "type", "", "provider type: "+strings.Join(notify.Types(), ", "))
	_ = cmd.RegisterFlagCompletionFunc("type", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return notify.Types(), cobra.ShellCompDirectiveNoFileComp
	})
	fl.StringVar(&channel, "channel", "", "channel (Slack, Rocket), chat id (Telegram), room id (Matrix, Webex), routing key (PagerDuty), "+
		"stream/topic (Zulip), topic (Google Pub/Sub), subject (NATS), environment (Sentry) or Event Hubs namespace (Azure Event Hub with a JWT)")
	fl.StringVar(&username, "username", "", "the name to post as")
	fl.StringVar(&address, "address", "", "webhook URL, API address or repository URL; the project ID (Google Pub/Sub), server URL (NATS), DSN (Sentry) or connection string (Azure Event Hub)")
	fl.StringVar(&secretRef, "secret-ref", "", "Secret with address, token, username/password or headers")
	fl.StringVar(&certSecretRef, "cert-secret-ref", "", "Secret with the CA (ca.crt) to trust")
	fl.StringVar(&proxy, "proxy", "", "HTTP(S) proxy URL")
	fl.Var(durationFlag{&timeout}, "timeout-per-request", "timeout of each request to the provider (default 15s)")
	fl.StringSliceVar(&labels, "label", nil, "set labels on the resource (label1=value1,label2=value2; repeatable)")
	return cmd
}

func newCmdAlert(f *cmdutil.Factory) *cobra.Command {
	var providerRef, severity, summary string
	var sources, inclusion, exclusion, labels, metadata []string
	cmd := &cobra.Command{
		Use:   "alert NAME",
		Short: "Create or update an Alert: which events go to a Provider",
		Example: `  converge create alert on-call --provider-ref slack --event-severity error \
    --event-source 'Kustomization/*' --event-source 'HelmRelease/*.apps' --export`,
		Args: cobra.ExactArgs(1),
		RunE: cmdutil.RunE(f, &createRunner{build: func(args []string) (runtime.Object, error) {
			if providerRef == "" {
				return nil, cmdutil.FlagErrorf("--provider-ref is required")
			}
			if len(sources) == 0 {
				return nil, cmdutil.FlagErrorf("at least one --event-source is required")
			}
			if severity != "" && severity != notificationv1beta3.EventSeverityInfo && severity != notificationv1beta3.EventSeverityError {
				return nil, cmdutil.FlagErrorf("--event-severity %q: want info or error", severity)
			}
			om, err := objectMeta(f, args[0], labels)
			if err != nil {
				return nil, err
			}
			a := &notificationv1beta3.Alert{
				TypeMeta:   metav1.TypeMeta{APIVersion: notificationv1beta3.GroupVersion.String(), Kind: notificationv1beta3.AlertKind},
				ObjectMeta: om,
				Spec: notificationv1beta3.AlertSpec{ProviderRef: meta.LocalObjectReference{Name: providerRef}, EventSeverity: severity,
					InclusionList: inclusion, ExclusionList: exclusion, Summary: summary},
			}
			for _, s := range sources {
				ref, err := parseRef("event-source", s)
				if err != nil {
					return nil, err
				}
				a.Spec.EventSources = append(a.Spec.EventSources, ref)
			}
			for _, m := range metadata {
				k, v, ok := strings.Cut(m, "=")
				if !ok || k == "" {
					return nil, cmdutil.FlagErrorf("--event-metadata %q: want key=value", m)
				}
				if a.Spec.EventMetadata == nil {
					a.Spec.EventMetadata = map[string]string{}
				}
				a.Spec.EventMetadata[k] = v
			}
			return a, nil
		}}, false),
	}
	fl := cmd.Flags()
	fl.StringVar(&providerRef, "provider-ref", "", "the Provider (in the same namespace)")
	fl.StringVar(&severity, "event-severity", "", "info (every event) or error (default: the Alert's default, info)")
	fl.StringSliceVar(&sources, "event-source", nil, "Kind/name or Kind/name.namespace, name may be '*' (repeatable, or comma-separated)")
	fl.StringArrayVar(&inclusion, "inclusion", nil, "only messages matching this regex (repeatable)")
	fl.StringArrayVar(&exclusion, "exclusion", nil, "not messages matching this regex (repeatable)")
	fl.StringArrayVar(&metadata, "event-metadata", nil, "key=value added to every notification (repeatable)")
	fl.StringVar(&summary, "summary", "", "summary added to every notification")
	fl.StringSliceVar(&labels, "label", nil, "set labels on the resource (label1=value1,label2=value2; repeatable)")
	return cmd
}

// receiverTypes are the Receiver types `create receiver` accepts, in Flux's order.
const receiverTypes = "generic, generic-hmac, generic-oidc, github, gitlab, bitbucket, harbor, dockerhub, quay, gcr, nexus, acr, cdevents"

func newCmdReceiver(f *cmdutil.Factory) *cobra.Command {
	var typ, secretRef, oidcIssuer, oidcAudience string
	var events, resources, labels, oidcValidations []string
	cmd := &cobra.Command{
		Use:   "receiver NAME",
		Short: "Create or update a Receiver: a webhook that reconciles objects at once",
		Example: `  converge create receiver github --type github --event ping --event push \
    --secret-ref webhook-token --resource GitRepository/flux-system --export
  converge create receiver ci --type generic-oidc --oidc-issuer-url https://token.actions.githubusercontent.com \
    --oidc-validation "claims.repository == 'my-org/fleet'" --resource GitRepository/flux-system --export`,
		Args: cobra.ExactArgs(1),
		RunE: cmdutil.RunE(f, &createRunner{build: func(args []string) (runtime.Object, error) {
			if !receiver.Supported(typ) {
				return nil, cmdutil.FlagErrorf("--type %q: want one of %s", typ, receiverTypes)
			}
			isOIDC := typ == notificationv1.GenericOIDCReceiver
			switch {
			case isOIDC && secretRef != "":
				return nil, cmdutil.FlagErrorf("--secret-ref cannot be set with --type generic-oidc: the caller's OIDC token authenticates the calls")
			case isOIDC && oidcIssuer == "":
				return nil, cmdutil.FlagErrorf("--oidc-issuer-url is required with --type generic-oidc")
			case isOIDC && len(oidcValidations) == 0:
				return nil, cmdutil.FlagErrorf("at least one --oidc-validation is required with --type generic-oidc: without one, anyone who can get a token from the issuer can trigger the Receiver")
			case !isOIDC && (oidcIssuer != "" || oidcAudience != "" || len(oidcValidations) > 0):
				return nil, cmdutil.FlagErrorf("--oidc-issuer-url, --oidc-audience and --oidc-validation are for --type generic-oidc only")
			case !isOIDC && secretRef == "":
				return nil, cmdutil.FlagErrorf("--secret-ref is required")
			}
			if isOIDC && !strings.HasPrefix(oidcIssuer, "https://") && !strings.HasPrefix(oidcIssuer, "http://") {
				return nil, cmdutil.FlagErrorf("--oidc-issuer-url %q: want an http(s) URL", oidcIssuer)
			}
			if len(resources) == 0 {
				return nil, cmdutil.FlagErrorf("at least one --resource is required")
			}
			om, err := objectMeta(f, args[0], labels)
			if err != nil {
				return nil, err
			}
			r := &notificationv1.Receiver{
				TypeMeta:   metav1.TypeMeta{APIVersion: notificationv1.GroupVersion.String(), Kind: notificationv1.ReceiverKind},
				ObjectMeta: om,
				Spec:       notificationv1.ReceiverSpec{Type: typ, Events: events, Resources: []notificationv1.ReceiverResource{}},
			}
			if isOIDC {
				p := notificationv1.OIDCProvider{IssuerURL: oidcIssuer, Audience: oidcAudience}
				for _, v := range oidcValidations {
					p.Validations = append(p.Validations, notificationv1.OIDCValidation{Expression: v, Message: "the token's claims do not satisfy " + v})
				}
				r.Spec.OIDCProviders = []notificationv1.OIDCProvider{p}
			} else {
				r.Spec.SecretRef = &meta.LocalObjectReference{Name: secretRef}
			}
			for _, s := range resources {
				ref, err := parseRef("resource", s)
				if err != nil {
					return nil, err
				}
				r.Spec.Resources = append(r.Spec.Resources, notificationv1.ReceiverResource{CrossNamespaceObjectReference: ref})
			}
			return r, nil
		}}, false),
	}
	fl := cmd.Flags()
	fl.StringVar(&typ, "type", "", "receiver type: "+receiverTypes)
	fl.StringSliceVar(&events, "event", nil, "accepted event (e.g. push); none accepts all (repeatable, or comma-separated)")
	fl.StringSliceVar(&resources, "resource", nil, "object to reconcile: Kind/name or Kind/name.namespace (repeatable, or comma-separated)")
	fl.StringVar(&secretRef, "secret-ref", "", "Secret whose token key authenticates the calls and derives the webhook path (gcr: also the email and audience keys; not for generic-oidc)")
	fl.StringVar(&oidcIssuer, "oidc-issuer-url", "", "generic-oidc: the issuer of the callers' tokens (its discovery document and keys verify them)")
	fl.StringVar(&oidcAudience, "oidc-audience", "", "generic-oidc: the audience the tokens must have (default notification-controller)")
	fl.StringArrayVar(&oidcValidations, "oidc-validation", nil, "generic-oidc: CEL expression over claims that must hold, e.g. \"claims.repository == 'org/repo'\" (repeatable)")
	fl.StringSliceVar(&labels, "label", nil, "set labels on the resource (label1=value1,label2=value2; repeatable)")
	return cmd
}

// durationFlag adapts a metav1.Duration to pflag.
type durationFlag struct{ d *metav1.Duration }

func (f durationFlag) String() string {
	if f.d == nil || f.d.Duration == 0 {
		return ""
	}
	return f.d.Duration.String()
}

func (f durationFlag) Set(s string) error {
	var d metav1.Duration
	if err := d.UnmarshalJSON([]byte(fmt.Sprintf("%q", s))); err != nil {
		return err
	}
	*f.d = d
	return nil
}

func (durationFlag) Type() string { return "duration" }
