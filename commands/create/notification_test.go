package create

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/testenv/goldenfile"
)

// checkGolden compares out with the golden file p (rewritten with go test -update).
func checkGolden(t *testing.T, p, out string) {
	t.Helper()
	goldenfile.CheckString(t, p, out)
}

func runCreate(t *testing.T, namespace string, args ...string) (string, string, int) {
	t.Helper()
	ios, _, out, errOut := cmdutil.Test()
	f := cmdutil.NewFactory(ios, cmdutil.BuildInfo{})
	if namespace != "" {
		*f.KubeFlags.Namespace = namespace
	}
	cmd := NewCmdCreate(f)
	cmd.SetArgs(args)
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	err := cmd.Execute()
	return out.String(), errOut.String(), cmdutil.ExitCode(err, errOut)
}

func TestCreateNotificationExport(t *testing.T) {
	tests := []struct {
		golden    string
		namespace string
		args      []string
	}{
		{"alert-provider-slack.yaml", "", []string{"alert-provider", "slack", "--type", "slack", "--channel", "general", "--username", "flux",
			"--secret-ref", "slack-url", "--export"}},
		{"alert-provider-github.yaml", "apps", []string{"alert-provider", "github", "--type", "github", "--address", "https://github.com/org/fleet",
			"--secret-ref", "github-token", "--cert-secret-ref", "ca", "--timeout-per-request", "30s", "--label", "team=platform", "--export"}},
		{"alert.yaml", "", []string{"alert", "on-call", "--provider-ref", "slack", "--event-severity", "error",
			"--event-source", "Kustomization/*", "--event-source", "HelmRelease/web.apps", "--inclusion", ".*failed.*",
			"--exclusion", "^Dependencies", "--event-metadata", "cluster=prod", "--summary", "prod cluster", "--export"}},
		{"receiver.yaml", "", []string{"receiver", "github", "--type", "github", "--event", "ping", "--event", "push",
			"--secret-ref", "webhook-token", "--resource", "GitRepository/flux-system", "--resource", "Kustomization/apps.apps", "--export"}},
		{"receiver-generic-oidc.yaml", "", []string{"receiver", "ci", "--type", "generic-oidc", "--oidc-issuer-url", "https://token.actions.githubusercontent.com",
			"--oidc-validation", "claims.repository_owner == 'my-org'", "--oidc-validation", "claims.ref == 'refs/heads/main'",
			"--resource", "GitRepository/flux-system", "--export"}},
		{"receiver-cdevents.yaml", "", []string{"receiver", "cd", "--type", "cdevents", "--event", "dev.cdevents.change.merged.0.2.0",
			"--secret-ref", "webhook-token", "--resource", "GitRepository/flux-system", "--export"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			out, errOut, code := runCreate(t, tt.namespace, tt.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			checkGolden(t, filepath.Join("..", "..", "testdata", "notify", "create", tt.golden), out)
		})
	}
}

func TestCreateNotificationUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"alert", "a", "--event-source", "Kustomization/*"}, "--provider-ref is required"},
		{[]string{"alert", "a", "--provider-ref", "p"}, "--event-source"},
		{[]string{"alert", "a", "--provider-ref", "p", "--event-source", "Kustomization"}, "want Kind/name"},
		{[]string{"alert", "a", "--provider-ref", "p", "--event-source", "Kustomization/x", "--event-severity", "warn"}, "want info or error"},
		{[]string{"alert-provider", "p", "--address", "https://x"}, "--type is required"},
		{[]string{"alert-provider", "p", "--type", "slack"}, "--address or --secret-ref"},
		{[]string{"receiver", "r", "--type", "gcs", "--secret-ref", "s", "--resource", "GitRepository/x"}, `--type "gcs"`},
		{[]string{"receiver", "r", "--type", "generic-oidc", "--secret-ref", "s", "--oidc-issuer-url", "https://i", "--oidc-validation", "true",
			"--resource", "GitRepository/x"}, "--secret-ref cannot be set"},
		{[]string{"receiver", "r", "--type", "generic-oidc", "--oidc-validation", "true", "--resource", "GitRepository/x"}, "--oidc-issuer-url is required"},
		{[]string{"receiver", "r", "--type", "generic-oidc", "--oidc-issuer-url", "https://i", "--resource", "GitRepository/x"}, "at least one --oidc-validation"},
		{[]string{"receiver", "r", "--type", "generic-oidc", "--oidc-issuer-url", "token.actions.githubusercontent.com", "--oidc-validation", "true",
			"--resource", "GitRepository/x"}, "want an http(s) URL"},
		{[]string{"receiver", "r", "--type", "github", "--secret-ref", "s", "--oidc-issuer-url", "https://i", "--resource", "GitRepository/x"}, "for --type generic-oidc only"},
		{[]string{"receiver", "r", "--type", "github", "--resource", "GitRepository/x"}, "--secret-ref is required"},
		{[]string{"receiver", "r", "--type", "github", "--secret-ref", "s"}, "--resource"},
	} {
		_, errOut, code := runCreate(t, "", append(tt.args, "--export")...)
		if code < 2 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tt.args, code, errOut, tt.want)
		}
	}
}

// Every Provider type Flux's v1beta3 API has is accepted with Flux's flags (--type, --channel,
// --username, --address, --secret-ref); the golden file holds one exported Provider per type.
func TestCreateAlertProviderTypes(t *testing.T) {
	tests := [][]string{
		{"azuredevops", "--address", "https://dev.azure.com/org/project/_git/fleet", "--secret-ref", "ado-pat"},
		{"bitbucketserver", "--address", "https://bitbucket.example.com/scm/ops/fleet.git", "--secret-ref", "bb-token"},
		{"githubdispatch", "--address", "https://github.com/org/fleet", "--secret-ref", "github-token"},
		{"githubpullrequestcomment", "--address", "https://github.com/org/fleet", "--secret-ref", "github-token"},
		{"gitlabmergerequestcomment", "--address", "https://gitlab.com/group/fleet", "--secret-ref", "gitlab-token"},
		{"giteapullrequestcomment", "--address", "https://gitea.example.com/org/fleet", "--secret-ref", "gitea-token"},
		{"webex", "--channel", "Y2lzY29zcGFyazovL3VzL1JPT00", "--address", "https://webexapis.com/v1/messages", "--secret-ref", "webex-token"},
		{"grafana", "--address", "https://grafana.example.com/api/annotations", "--secret-ref", "grafana-token"},
		{"datadog", "--address", "https://api.datadoghq.eu", "--secret-ref", "datadog-key"},
		{"sentry", "--channel", "production", "--secret-ref", "sentry-dsn"},
		{"googlepubsub", "--address", "my-project", "--channel", "flux-events", "--secret-ref", "gcp-key"},
		{"azureeventhub", "--secret-ref", "eventhub-connection"},
		{"lark", "--secret-ref", "lark-webhook"},
		{"nats", "--address", "nats://nats.messaging:4222", "--channel", "flux.events", "--secret-ref", "nats-auth"},
		{"zulip", "--address", "https://org.zulipchat.com", "--channel", "ops/flux", "--username", "flux-bot@org.zulipchat.com", "--secret-ref", "zulip-key"},
		{"otel", "--address", "https://otel-collector.monitoring:4318/v1/traces", "--secret-ref", "otel-headers"},
		{"zoom", "--secret-ref", "zoom-webhook"},
		{"incident.io", "--address", "https://api.incident.io/v2/alert_events/http/01H", "--secret-ref", "incidentio-token"},
	}
	var all strings.Builder
	for _, tt := range tests {
		args := append([]string{"alert-provider", strings.ReplaceAll(tt[0], ".", "-"), "--type", tt[0]}, tt[1:]...)
		out, errOut, code := runCreate(t, "", append(args, "--export")...)
		if code != 0 {
			t.Errorf("%s: exit %d: %s", tt[0], code, errOut)
			continue
		}
		all.WriteString(out)
	}
	checkGolden(t, filepath.Join("..", "..", "testdata", "notify", "create", "alert-provider-types.yaml"), all.String())
	_, errOut, code := runCreate(t, "", "alert-provider", "p", "--type", "carrier-pigeon", "--address", "https://x", "--export")
	if code < 2 || !strings.Contains(errOut, `--type "carrier-pigeon": not a provider type`) || !strings.Contains(errOut, "incident.io") {
		t.Errorf("unknown type: exit %d, stderr %q", code, errOut)
	}
}

// TestCreateReceiverTypes: every Receiver type Flux has is accepted (generic-oidc with its own flags).
func TestCreateReceiverTypes(t *testing.T) {
	for _, typ := range strings.Split(receiverTypes, ", ") {
		t.Run(typ, func(t *testing.T) {
			args := []string{"receiver", "r", "--type", typ, "--resource", "ImageRepository/app", "--export"}
			if typ == "generic-oidc" {
				args = append(args, "--oidc-issuer-url", "https://issuer.example.com", "--oidc-validation", "claims.sub == 'ci'")
			} else {
				args = append(args, "--secret-ref", "webhook-token")
			}
			out, errOut, code := runCreate(t, "", args...)
			if code != 0 || !strings.Contains(out, "  type: "+typ+"\n") {
				t.Errorf("exit %d, stderr %q, output:\n%s", code, errOut, out)
			}
		})
	}
}
