package stats

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

// The goldens are this command's output, checked to be byte for byte what Flux 2.9's `flux stats` prints
// for the same objects.
func TestStats(t *testing.T) {
	b, err := os.ReadFile("../../testdata/stats/objects.yaml")
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
	git, _ := kinds.Named("GitRepository")
	status := map[string]string{
		"fleet":   `{"status":{"conditions":[{"type":"Ready","status":"False","reason":"GitOperationFailed","message":"x","lastTransitionTime":"2026-11-23T00:00:00Z"}],"artifact":{"path":"a","url":"u","revision":"r","digest":"sha256:00","lastUpdateTime":"2026-11-23T00:00:00Z","size":3481234}}}`,
		"default": `{"status":{"artifact":{"path":"a","url":"u","revision":"r","digest":"sha256:00","lastUpdateTime":"2026-11-23T00:00:00Z","size":900}}}`,
	}
	for ns, name := range map[string]string{"fleet": "fleet", "default": "other"} {
		if _, err := dyn.Resource(git.Resource).Namespace(ns).Patch(context.Background(), name, types.MergePatchType, []byte(status[ns]),
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
		{name: "namespace", args: []string{"-n", "fleet"}, golden: "stats-fleet.txt"},
		{name: "all namespaces", args: []string{"-A"}, golden: "stats-all.txt"},
		{name: "no arguments", args: []string{"x"}, code: 2, stderr: `unknown command "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, out, errOut := cmdutil.Test()
			f := cmdutil.NewFactory(ios, cmdutil.BuildInfo{})
			cmd := NewCmdStats(f)
			f.KubeFlags.AddFlags(cmd.PersistentFlags())
			cmd.SetArgs(append(tt.args, "--kubeconfig", kc))
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
