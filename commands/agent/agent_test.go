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
		{[]string{"--shard", "a", "--watch-label-selector", "team=x"}, "--shard and --watch-label-selector: give one (--shard a is --watch-label-selector sharding.fluxcd.io/key=a)"},
		{[]string{"--shard", "a b"}, `--shard "a b": not a label value`},
		{[]string{"--watch-label-selector", "key notin a,b"}, `--watch-label-selector "key notin a,b"`},
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

// --shard is the selector of Flux's sharding label and names its own Lease unless one is given.
func TestShardFlags(t *testing.T) {
	tests := []struct {
		args              []string
		selector, leaseID string
	}{
		{nil, "", "converge-agent"},
		{[]string{"--shard", "a"}, "sharding.fluxcd.io/key=a", "converge-agent-a"},
		{[]string{"--shard", "a", "--leader-election-id", "mine"}, "sharding.fluxcd.io/key=a", "mine"},
		{[]string{"--watch-label-selector", "sharding.fluxcd.io/key notin (a,b)"}, "sharding.fluxcd.io/key notin (a,b)", "converge-agent"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			ios, _, _, _ := cmdutil.Test()
			f := cmdutil.NewFactory(ios, cmdutil.BuildInfo{})
			o := &Options{IO: ios}
			cmd := newCmdAgent(f, o)
			if err := cmd.ParseFlags(tt.args); err != nil {
				t.Fatal(err)
			}
			if err := o.Complete(f, cmd, nil); err != nil {
				t.Fatal(err)
			}
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := o.selector(); got != tt.selector {
				t.Errorf("selector %q, want %q", got, tt.selector)
			}
			if o.LeaseName != tt.leaseID {
				t.Errorf("lease %q, want %q", o.LeaseName, tt.leaseID)
			}
		})
	}
}
