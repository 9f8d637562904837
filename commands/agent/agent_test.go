package agent

import (
	"context"
	"strings"
	"testing"

	"github.com/converge-gitops/converge/commands/cmdutil"
)

// Bad flags are refused before the agent touches the cluster (no kubeconfig is needed to see it).
func TestAgentFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--concurrent", "0"}, "--concurrent must be at least 1"},
		{[]string{"--log-format", "xml"}, `--log-format "xml": want json or text`},
		{[]string{"--log-level", "loud"}, `--log-level "loud": want debug, info, warn or error`},
		{[]string{"--feature-gates", "AdditiveCELDependencyCheck=maybe"}, "--feature-gates AdditiveCELDependencyCheck=maybe: the value must be true or false"},
		{[]string{"--leader-election-renew-deadline", "20s"}, "lease duration > renew deadline > retry period > 0"},
		{[]string{"--interval-jitter-percentage", "100"}, "--interval-jitter-percentage must be in [0, 100)"},
		{[]string{"extra"}, `unknown command "extra"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			ios, _, _, _ := cmdutil.Test()
			cmd := NewCmdAgent(cmdutil.NewFactory(ios, cmdutil.BuildInfo{}))
			cmd.SetArgs(tt.args)
			cmd.SilenceUsage, cmd.SilenceErrors = true, true
			err := cmd.ExecuteContext(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestFeatureGates(t *testing.T) {
	o := &Options{FeatureGates: map[string]string{"AdditiveCELDependencyCheck": "true", "CacheSecretsAndConfigMaps": "false"}}
	if err := (&Options{FeatureGates: o.FeatureGates, Workers: 1, LogFormat: "json", LogLevel: "info"}).Validate(); err != nil {
		t.Fatal(err)
	}
	if !o.featureGate("AdditiveCELDependencyCheck") || o.featureGate("CacheSecretsAndConfigMaps") || o.featureGate("Unset") {
		t.Errorf("gates read wrong: %v", o.FeatureGates)
	}
}
