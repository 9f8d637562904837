// Package trigger implements `converge trigger receiver`: a call of a Receiver's webhook from outside
// the cluster, as `flux trigger receiver`.
package trigger

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/kinds"
	"github.com/converge-gitops/converge/engine/receiver"
)

// OIDCTokenEnv is the environment variable a generic-oidc token is read from when no flag gives one.
const OIDCTokenEnv = "FLUX_TRIGGER_RECEIVER_OIDC_TOKEN"

// Options are the inputs of `trigger receiver`.
type Options struct {
	IO           *cmdutil.IOStreams
	Getenv       func(string) string
	URL          string
	Type         string
	Token        string
	OIDCProvider string
	OIDCToken    string
	OIDCAudience string
	Payload      string
	Retries      int
	RetryDelay   time.Duration
	trigger      receiver.Trigger
}

// NewCmdTrigger returns `trigger` with its receiver subcommand.
func NewCmdTrigger(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "trigger", Short: "Trigger Flux objects from outside the cluster"}
	o := &Options{}
	kind, _ := kinds.Named("Receiver")
	c := &cobra.Command{
		Use:   "receiver NAME",
		Short: "Call the webhook of a Receiver",
		Long: `Trigger receiver posts a payload to a Receiver's webhook: <url>/hook/<sha256(token+name+namespace)>,
signed as its type needs (generic: no signature; generic-hmac: X-Signature; generic-oidc: a bearer OIDC
token from --oidc-token, $FLUX_TRIGGER_RECEIVER_OIDC_TOKEN or the GitHub/Forgejo Actions token endpoint).
It needs no access to the cluster. Connection errors and 404, 408, 429, 500, 502-504 answers are retried.`,
		Example: `  # Call a generic Receiver
  converge trigger receiver my-receiver --token=my-token --url=https://flux-webhook.example.com

  # Call a generic-hmac Receiver with a payload
  converge trigger receiver my-receiver -n apps --type=generic-hmac --token=my-token \
    --url=https://flux-webhook.example.com --payload='{"image":"ghcr.io/org/app:v1.0.0"}'

  # Call a generic-oidc Receiver from a GitHub Actions job (permissions: id-token: write)
  converge trigger receiver my-receiver --type=generic-oidc --oidc-provider=github --url=https://flux-webhook.example.com`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: cmdutil.CompleteNames(f, kind),
		RunE:              cmdutil.RunE(f, o, true),
	}
	fl := c.Flags()
	fl.StringVar(&o.Token, "token", "", "the Receiver's token (every type but generic-oidc, which takes none)")
	fl.StringVar(&o.URL, "url", "", "the base URL of the webhook server, possibly with a base path")
	fl.StringVar(&o.Type, "type", "generic", "the Receiver type, one of: "+strings.Join(receiver.TriggerTypes(), ", "))
	fl.StringVar(&o.OIDCProvider, "oidc-provider", "", "fetch the OIDC token from this Actions provider, one of: github, forgejo (generic-oidc only)")
	fl.StringVar(&o.OIDCToken, "oidc-token", "", "the OIDC token (generic-oidc only; default $"+OIDCTokenEnv+")")
	fl.StringVar(&o.OIDCAudience, "oidc-audience", "", "the audience of the fetched OIDC token (with --oidc-provider; default "+receiver.DefaultOIDCAudience+")")
	fl.StringVar(&o.Payload, "payload", "{}", "the JSON payload of the request")
	fl.IntVar(&o.Retries, "retries", 10, "retries on connection errors and retryable statuses; 0 for none")
	fl.DurationVar(&o.RetryDelay, "retry-delay", 10*time.Second, "the delay between retries")
	cmd.AddCommand(c)
	return cmd
}

// Complete builds the request from the flags, the namespace and the environment.
func (o *Options) Complete(f *cmdutil.Factory, _ *cobra.Command, args []string) error {
	if o.IO == nil {
		o.IO = f.IO
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	o.trigger = receiver.Trigger{URL: o.URL, Namespace: f.Namespace(), Name: args[0], Type: o.Type, Token: o.Token,
		Payload: []byte(o.Payload), OIDCToken: o.OIDCToken, OIDCAudience: o.OIDCAudience,
		Retries: o.Retries, RetryDelay: o.RetryDelay, Clock: f.Clock, UserAgent: "converge/" + f.Build.Version}
	if o.Type == "generic-oidc" && o.OIDCProvider == "" && o.OIDCToken == "" {
		o.trigger.OIDCToken = o.Getenv(OIDCTokenEnv)
	}
	if o.OIDCProvider != "" {
		o.trigger.OIDCRequestURL, o.trigger.OIDCRequestToken = o.Getenv("ACTIONS_ID_TOKEN_REQUEST_URL"), o.Getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
	}
	return nil
}

// Validate refuses a missing URL, an unknown type and flags that do not fit the type.
func (o *Options) Validate() error {
	if o.URL == "" {
		return cmdutil.FlagErrorf("--url is required")
	}
	if o.Retries < 0 || o.RetryDelay < 0 {
		return cmdutil.FlagErrorf("--retries and --retry-delay must not be negative")
	}
	if err := receiver.ValidateTrigger(o.Type, o.Token, o.OIDCProvider, o.OIDCToken, o.OIDCAudience); err != nil {
		return &cmdutil.FlagError{Err: err}
	}
	if o.Type == "generic-oidc" && o.OIDCProvider == "" && o.trigger.OIDCToken == "" {
		return cmdutil.FlagErrorf("no OIDC token provided: set --oidc-provider, --oidc-token or the %s environment variable", OIDCTokenEnv)
	}
	return nil
}

// Run sends the request and reports each retry.
func (o *Options) Run(ctx context.Context) error {
	st := o.IO.ErrStyles()
	ref := o.trigger.Namespace + "/" + o.trigger.Name
	fmt.Fprintln(o.IO.ErrOut, st.ActionLine("triggering Receiver "+ref))
	o.trigger.OnRetry = func(err error, attempt int) {
		fmt.Fprintln(o.IO.ErrOut, st.WaitingLine(fmt.Sprintf("%v; retrying in %s (%d/%d)", err, o.RetryDelay, attempt, o.Retries)))
	}
	if err := o.trigger.Run(ctx); err != nil {
		return err
	}
	fmt.Fprintln(o.IO.ErrOut, st.SuccessLine("Receiver "+ref+" triggered"))
	return nil
}
