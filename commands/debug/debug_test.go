package debug

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/kinds"
	"github.com/converge-gitops/converge/engine/testenv"
	"github.com/converge-gitops/converge/engine/testenv/goldenfile"
)

var cluster *testenv.Cluster

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &cluster)) }

// The goldens are this command's output, which was checked to be byte for byte what Flux 2.9's
// `flux debug` prints for the same objects.
func TestDebug(t *testing.T) {
	b, err := os.ReadFile("../../testdata/debug/objects.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(b), "\n---\n") {
		cluster.ApplyYAML(t, doc)
	}
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]string{
		"Kustomization": `{"status":{"observedGeneration":1,"lastAppliedRevision":"main@sha1:abc","conditions":[{"type":"Ready","status":"True","reason":"ReconciliationSucceeded","message":"Applied revision: main@sha1:abc","lastTransitionTime":"2026-11-23T00:00:00Z","observedGeneration":1}],"history":[{"digest":"sha256:1234","firstReconciled":"2026-11-23T00:00:00Z","lastReconciled":"2026-11-23T01:00:00Z","lastReconciledDuration":"2.5s","lastReconciledStatus":"ReconciliationSucceeded","totalReconciliations":3,"metadata":{"revision":"main@sha1:abc"}}],"inventory":{"entries":[{"id":"fleet_app__ConfigMap","v":"v1"}]}}}`,
		"HelmRelease":   `{"status":{"observedGeneration":1,"lastAttemptedRevision":"6.5.0","conditions":[{"type":"Ready","status":"True","reason":"InstallSucceeded","message":"ok","lastTransitionTime":"2026-11-23T00:00:00Z"}],"history":[{"apiVersion":"helm.toolkit.fluxcd.io/v2","name":"podinfo","namespace":"fleet","version":1,"status":"deployed","chartName":"podinfo","chartVersion":"6.5.0","configDigest":"sha256:abcd","digest":"sha256:ef01","firstDeployed":"2026-11-23T00:00:00Z","lastDeployed":"2026-11-23T00:00:00Z"}]}}`,
	}
	for kind, name := range map[string]string{"Kustomization": "apps", "HelmRelease": "podinfo"} {
		k, _ := kinds.Named(kind)
		if _, err := dyn.Resource(k.Resource).Namespace("fleet").Patch(context.Background(), name, types.MergePatchType, []byte(status[kind]),
			metav1.PatchOptions{}, "status"); err != nil {
			t.Fatal(err)
		}
	}
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cluster.WriteKubeconfig(kc); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		golden string
		stderr string
	}{
		{name: "ks vars", args: []string{"ks", "apps", "--show-vars"}, golden: "debug-ks-vars.env"},
		{name: "ks status", args: []string{"kustomization", "apps", "--show-status"}, golden: "debug-ks-status.yaml"},
		{name: "ks history", args: []string{"ks", "apps", "--show-history"}, golden: "debug-ks-history.yaml"},
		{name: "ks empty history", args: []string{"ks", "plain", "--show-history"}, golden: "debug-ks-history-empty.yaml"},
		{name: "ks without postBuild", args: []string{"ks", "plain", "--show-vars"}, code: 2, stderr: "no post build substitutions found"},
		{name: "ks no flag", args: []string{"ks", "apps"}, code: 2, stderr: "exactly one of --show-status, --show-vars, or --show-history must be set"},
		{name: "ks two flags", args: []string{"ks", "apps", "--show-vars", "--show-status"}, code: 2, stderr: "exactly one of"},
		{name: "ks missing", args: []string{"ks", "nope", "--show-status"}, code: 2, stderr: `"nope" not found`},
		{name: "hr values", args: []string{"hr", "podinfo", "--show-values"}, golden: "debug-hr-values.yaml"},
		{name: "hr status", args: []string{"helmrelease", "podinfo", "--show-status"}, golden: "debug-hr-status.yaml"},
		{name: "hr history", args: []string{"hr", "podinfo", "--show-history"}, golden: "debug-hr-history.yaml"},
		{name: "hr no flag", args: []string{"hr", "podinfo"}, code: 2, stderr: "exactly one of --show-status, --show-values, or --show-history must be set"},
		{name: "hr has no --show-vars", args: []string{"hr", "podinfo", "--show-vars"}, code: 2, stderr: "unknown flag: --show-vars"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, out, errOut := cmdutil.Test()
			f := cmdutil.NewFactory(ios, cmdutil.BuildInfo{})
			cmd := NewCmdDebug(f)
			f.KubeFlags.AddFlags(cmd.PersistentFlags())
			cmd.SetArgs(append(tt.args, "-n", "fleet", "--kubeconfig", kc))
			cmd.SilenceErrors, cmd.SilenceUsage = true, true
			code := cmdutil.ExitCode(cmd.ExecuteContext(context.Background()), errOut)
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, errOut)
			}
			if !strings.Contains(errOut.String(), tt.stderr) {
				t.Errorf("stderr %q lacks %q", errOut, tt.stderr)
			}
			if tt.golden != "" {
				goldenfile.CheckString(t, filepath.Join("../../testdata/golden/commands", tt.golden), out.String())
			}
		})
	}
}
