package logs

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/testenv"
	"github.com/converge-gitops/converge/engine/testenv/goldenfile"
)

var (
	cluster *testenv.Cluster
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &cluster)) }

const fixture = "../../testdata/golden/commands/logs-fixture.jsonl"

// The local control plane has no kubelet to serve pod logs: the agent's pods are real objects found
// through the API, their logs the fixture.
func TestLogs(t *testing.T) {
	ctx := context.Background()
	const ns = "converge-logs"
	if _, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct{ name, app string }{{"converge-agent-0", "converge-agent"}, {"other", "podinfo"}} {
		_, err := cluster.Client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: ns, Labels: map[string]string{"app": p.app}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "ghcr.io/converge-gitops/converge:v0.1.0"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cluster.WriteKubeconfig(kc); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, []string, error) {
		ios, _, out, _ := cmdutil.Test()
		f := cmdutil.NewFactory(ios, cmdutil.BuildInfo{})
		f.Timeout = time.Minute
		var opened []string
		cmd := newCmd(f, &Options{IO: ios, OpenLogs: func(_ context.Context, _ kubernetes.Interface, pod *corev1.Pod, o *corev1.PodLogOptions) (io.ReadCloser, error) {
			opened = append(opened, pod.Name+"/"+o.Container)
			if o.SinceTime != nil {
				opened = append(opened, "since "+o.SinceTime.UTC().Format(time.RFC3339))
			}
			return os.Open(fixture)
		}})
		f.KubeFlags.AddFlags(cmd.PersistentFlags())
		cmd.SilenceUsage = true
		cmd.SetArgs(append(args, "--agent-namespace", ns, "--kubeconfig", kc))
		err := cmd.ExecuteContext(ctx)
		return out.String(), opened, err
	}
	tests := []struct {
		name   string
		args   []string
		golden string
	}{
		{"default namespace filter", nil, "logs-flux-system.txt"},
		{"errors anywhere", []string{"-A", "--level", "error"}, "logs-errors.txt"},
		{"one kustomization", []string{"-n", "team-a", "--kind", "Kustomization", "--name", "apps"}, "logs-team-a-apps.txt"},
		{"json lines", []string{"-A", "--kind", "gitrepository", "-o", "json"}, "logs-git.jsonl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, opened, err := run(tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(opened, ",") != "converge-agent-0/agent" {
				t.Errorf("opened the logs of %v, want the agent's pod only", opened)
			}
			p := filepath.Join("../../testdata/golden/commands", tt.golden)
			goldenfile.CheckString(t, p, out)
		})
	}
	if _, _, err := run("--level", "fatal"); err == nil || !strings.Contains(err.Error(), `--level "fatal"`) {
		t.Errorf("bad level: %v", err)
	}
	// --since-time reads the lines after an instant, as Flux's flag does; not with --since.
	if _, opened, err := run("--since-time", "2026-12-07T19:00:00+01:00"); err != nil || strings.Join(opened, ",") != "converge-agent-0/agent,since 2026-12-07T18:00:00Z" {
		t.Errorf("--since-time: %v %v", opened, err)
	}
	for args, want := range map[string]string{"--since-time=yesterday": `--since-time "yesterday": want an RFC 3339 time`,
		"--since-time=2026-12-07T18:00:00Z --since=5m": "only one of --since and --since-time"} {
		if _, _, err := run(strings.Fields(args)...); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", args, err)
		}
	}
	ios, _, _, _ := cmdutil.Test()
	f := cmdutil.NewFactory(ios, cmdutil.BuildInfo{})
	cmd := NewCmdLogs(f)
	f.KubeFlags.AddFlags(cmd.PersistentFlags())
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs([]string{"--agent-namespace", "nowhere", "--kubeconfig", kc})
	if err := cmd.ExecuteContext(ctx); err == nil || !strings.Contains(err.Error(), "no agent pods (label app=converge-agent) in namespace nowhere") {
		t.Errorf("no pods: %v", err)
	}
}
