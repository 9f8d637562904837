package stats

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/inspect"
	"github.com/converge-gitops/converge/engine/install"
	"github.com/converge-gitops/converge/engine/kinds"
	"github.com/converge-gitops/converge/engine/kube"
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

// TestStatsShards: --show-shard adds a table of the objects per sharding.fluxcd.io/key, a row per
// installed shard agent even without objects, and says why a rate is unknown: here no agent runs (no
// node), so shard a's Lease names a pod that does not exist and the default agent has no Lease.
func TestStatsShards(t *testing.T) {
	const ns, agents = "stats-shards", "stats-agents"
	for _, doc := range []string{
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: " + ns + "}",
		`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: repo, namespace: ` + ns + `, labels: {sharding.fluxcd.io/key: a}}
spec: {interval: 1m, url: "https://git.example.com/fleet"}`,
		`apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: ` + ns + `, labels: {sharding.fluxcd.io/key: a}}
spec: {interval: 5m, prune: true, suspend: true, sourceRef: {kind: GitRepository, name: repo}}`,
		`apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: infra, namespace: ` + ns + `}
spec: {interval: 5m, prune: true, sourceRef: {kind: GitRepository, name: repo}}`,
	} {
		cluster.ApplyYAML(t, doc)
	}
	objs, err := install.Objects(install.Options{Namespace: agents, Version: "v0.1.0", Shards: []string{"a", "b"}, NoNetworkPolicy: true})
	if err != nil {
		t.Fatal(err)
	}
	clients, err := kube.New(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	var keep []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "Namespace" || o.GetKind() == "Deployment" {
			keep = append(keep, o)
		}
	}
	m := &apply.Manager{Client: clients.Dynamic, Mapper: clients.Mapper}
	if _, err := m.Apply(context.Background(), keep, apply.Options{}); err != nil {
		t.Fatal(err)
	}
	holder := "converge-agent-a-5f7c9-q2x_1"
	if _, err := cluster.Client.CoordinationV1().Leases(agents).Create(context.Background(), &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "converge-agent-a", Namespace: agents},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cluster.WriteKubeconfig(kc); err != nil {
		t.Fatal(err)
	}
	ios, _, out, errOut := cmdutil.Test()
	f := cmdutil.NewFactory(ios, cmdutil.BuildInfo{})
	cmd := NewCmdStats(f)
	f.KubeFlags.AddFlags(cmd.PersistentFlags())
	cmd.SetArgs([]string{"-n", ns, "--show-shard", "--agent-namespace", agents, "--kubeconfig", kc})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("%v: %s", err, errOut)
	}
	goldenfile.CheckString(t, "../../testdata/golden/commands/stats-shards.txt", out.String())
	for _, want := range []string{
		"shard (default): no reconcile rate: Lease " + agents + "/converge-agent: ",
		"shard a: no reconcile rate: pod " + agents + "/converge-agent-a-5f7c9-q2x holding Lease converge-agent-a",
		"shard b: no reconcile rate: Lease " + agents + "/converge-agent-b",
	} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

// TestReconcileRate: the reconciles of every kind and result over the process's uptime.
func TestReconcileRate(t *testing.T) {
	const start = 1_700_000_000
	now := time.Unix(start+120, 0)
	for _, tt := range []struct {
		name, metrics string
		total, perMin float64
		wantErr       string
	}{
		{name: "two kinds", metrics: "# TYPE converge_reconciles_total counter\n" +
			`converge_reconciles_total{kind="Kustomization",result="success"} 90` + "\n" +
			`converge_reconciles_total{kind="GitRepository",result="failure"} 10` + "\n" +
			"# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds 1.7e+09\n", total: 100, perMin: 50},
		{name: "nothing reconciled yet", metrics: "process_start_time_seconds 1.7e+09\n", total: 0, perMin: 0},
		{name: "no start time", metrics: `converge_reconciles_total{kind="Kustomization"} 3` + "\n", wantErr: "no process_start_time_seconds"},
		{name: "started later", metrics: "process_start_time_seconds 1.8e+09\n", wantErr: "process started at"},
		{name: "not metrics", metrics: "<html>", wantErr: "parsing"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			total, perMin, err := inspect.ReconcileRate(tt.metrics, now)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || total != tt.total || perMin != tt.perMin {
				t.Errorf("%v %v %v, want %v %v", total, perMin, err, tt.total, tt.perMin)
			}
		})
	}
}
