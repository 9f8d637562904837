package get

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/inspect"
	"github.com/converge-gitops/converge/engine/kinds"
	"github.com/converge-gitops/converge/engine/testenv"
	"github.com/converge-gitops/converge/engine/testenv/goldenfile"
)

var cluster *testenv.Cluster

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &cluster)) }

func create(t *testing.T, dyn dynamic.Interface, kind inspect.Kind, doc, status string) {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	created, err := dyn.Resource(kind.Resource).Namespace(u.GetNamespace()).Create(ctx, u, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if status == "" {
		return
	}
	var st map[string]any
	if err := yaml.Unmarshal([]byte(status), &st); err != nil {
		t.Fatal(err)
	}
	created.Object["status"] = st
	if _, err := dyn.Resource(kind.Resource).Namespace(u.GetNamespace()).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// loadFixture creates the objects of testdata/get/objects.yaml, each with the status the file gives it.
func loadFixture(t *testing.T, dyn dynamic.Interface) {
	t.Helper()
	b, err := os.ReadFile("../../testdata/get/objects.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(b), "\n---\n") {
		cluster.ApplyYAML(t, doc)
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		status, ok := u.Object["status"]
		if !ok {
			continue
		}
		k, ok := kinds.Named(u.GetKind())
		if !ok {
			t.Fatalf("%s: not in the kinds registry", u.GetKind())
		}
		patch, err := json.Marshal(map[string]any{"status": status})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dyn.Resource(k.Resource).Namespace(u.GetNamespace()).Patch(context.Background(), u.GetName(),
			types.MergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
			t.Fatalf("%s/%s status: %v", u.GetKind(), u.GetName(), err)
		}
	}
}

// TestGet lists the fixture's objects of every kind. The goldens are this command's output, checked to
// be byte for byte what Flux 2.9's `flux get` prints for the same objects and flags; exit codes and
// error messages are Flux's too (1 for a missing object and for a kind without objects).
func TestGet(t *testing.T) {
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	loadFixture(t, dyn)
	tests := []struct {
		name   string
		args   []string
		golden string   // file under testdata/golden/commands/get
		want   []string // or: substrings of the output
		code   int
		stderr string
	}{
		{name: "git repositories", args: []string{"sources", "git"}, golden: "sources-git.txt"},
		{name: "git repositories, all namespaces", args: []string{"sources", "git", "-A"}, golden: "sources-git-A.txt"},
		{name: "helm repositories, OCI shown ready", args: []string{"sources", "helm"}, golden: "sources-helm.txt"},
		{name: "oci repositories", args: []string{"sources", "oci"}, golden: "sources-oci.txt"},
		{name: "buckets", args: []string{"sources", "bucket"}, golden: "sources-bucket.txt"},
		{name: "helm charts, revision not shortened", args: []string{"sources", "chart"}, golden: "sources-chart.txt"},
		{name: "external artifacts", args: []string{"sources", "external"}, golden: "sources-external.txt"},
		{name: "all sources", args: []string{"sources", "all"}, golden: "sources-all.txt"},
		{name: "kustomizations", args: []string{"kustomizations"}, golden: "ks.txt"},
		{name: "kustomizations, all namespaces", args: []string{"ks", "-A"}, golden: "ks-A.txt"},
		{name: "kustomizations, source", args: []string{"ks", "--show-source"}, golden: "ks-source.txt"},
		{name: "kustomizations, source, all namespaces", args: []string{"ks", "--show-source", "-A"}, golden: "ks-source-A.txt"},
		{name: "helmreleases, chart version of the latest release", args: []string{"helmreleases"}, golden: "hr.txt"},
		{name: "helmreleases, source", args: []string{"hr", "--show-source"}, golden: "hr-source.txt"},
		{name: "alerts", args: []string{"alerts"}, golden: "alerts.txt"},
		{name: "alert providers", args: []string{"alert-providers"}, golden: "providers.txt"},
		{name: "receivers", args: []string{"receivers"}, golden: "receivers.txt"},
		{name: "image repositories", args: []string{"images", "repository"}, golden: "img-repo.txt"},
		{name: "image policies", args: []string{"images", "policy"}, golden: "img-policy.txt"},
		{name: "image update automations", args: []string{"images", "update"}, golden: "img-update.txt"},
		{name: "all image objects", args: []string{"images", "all"}, golden: "img-all.txt"},
		{name: "artifact generators, suspended by annotation", args: []string{"artifacts", "generators"}, golden: "gen.txt"},
		{name: "all", args: []string{"all"}, golden: "all.txt"},
		{name: "all, all namespaces", args: []string{"all", "-A"}, golden: "all-A.txt"},
		{name: "all, all namespaces, no header", args: []string{"all", "-A", "--no-header"}, golden: "all-A-noheader.txt"},
		{name: "no header", args: []string{"ks", "--no-header"}, golden: "ks-noheader.txt"},
		{name: "status selector", args: []string{"ks", "-A", "--status-selector", "ready=false"}, golden: "ks-ready-false.txt"},
		{name: "status selector, negated", args: []string{"ks", "-A", "--status-selector", "ready!=true"}, golden: "ks-ready-nottrue.txt"},
		{name: "status selector, other condition", args: []string{"ks", "--status-selector", "healthy=false"}, golden: "ks-healthy.txt"},
		{name: "status selector, nothing selected: the header", args: []string{"alerts", "--status-selector", "ready=false"}, golden: "alerts-ready-false.txt"},
		{name: "one by name", args: []string{"sources", "git", "podinfo"}, golden: "git-name.txt"},
		{name: "name not found", args: []string{"sources", "git", "nope"}, code: 1,
			stderr: "✗ GitRepository object 'nope' not found in \"flux-system\" namespace\n"},
		{name: "no objects of the kind", args: []string{"sources", "git", "-n", "default"}, code: 1,
			stderr: "✗ no GitRepository objects found in \"default\" namespace\n"},
		{name: "no objects in any namespace", args: []string{"hr", "-A", "-l", "nothing=here"}, code: 1,
			stderr: "✗ no HelmRelease objects found in any namespace\n"},
		{name: "all, no objects: nothing printed", args: []string{"all", "-n", "default"}, golden: "empty.txt"},
		{name: "label selector", args: []string{"alerts", "-l", "team=ops"}, want: []string{"on-call", "\n"}},
		{name: "label selector, negated", args: []string{"alerts", "-l", "team!=ops", "--no-header"}, want: []string{"releases"}},
		{name: "bad label selector", args: []string{"alerts", "-l", "=ops"}, code: 1, stderr: "--label-selector"},
		{name: "bad status selector", args: []string{"ks", "--status-selector", "ready"}, code: 1, stderr: "want <condition type>=<status>"},
		{name: "watch all refused", args: []string{"all", "--watch"}, code: 1, stderr: "--watch follows one kind"},
		{name: "sources json", args: []string{"sources", "git", "-o", "json"}, want: []string{`"kind": "GitRepository"`, `"ready": "Unknown"`}},
		{name: "artifact generators", args: []string{"artifactgenerators"}, want: []string{"slices  \tFalse    \tTrue"}},
		{name: "artifact generator, Flux's aliases", args: []string{"artifact", "generator", "slices"}, want: []string{"slices"}},
		// --show-shard (converge's): the sharding.fluxcd.io/key label as a column and a JSON field;
		// without it, Flux's columns.
		{name: "show shard", args: []string{"alerts", "--show-shard"}, want: []string{"NAME    \tSHARD  \tSUSPENDED", "on-call \tshard-a\tTrue", "releases\t       \tFalse"}},
		{name: "show shard json", args: []string{"alerts", "--show-shard", "-o", "json"}, want: []string{`"shard": "shard-a"`}},
	}
	kc := t.TempDir() + "/kubeconfig"
	if err := cluster.WriteKubeconfig(kc); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, out, errOut := cmdutil.Test()
			f := cmdutil.NewFactory(ios, cmdutil.BuildInfo{})
			cmd := newCmdGet(f, &Options{TZ: time.UTC})
			f.KubeFlags.AddFlags(cmd.PersistentFlags())
			cmd.SetArgs(append(tt.args, "--kubeconfig", kc))
			cmd.SilenceUsage, cmd.SilenceErrors = true, true
			code := cmdutil.ExitCodeFor(nil, cmd.ExecuteContext(context.Background()), errOut)
			if code != tt.code {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, tt.code, errOut)
			}
			if tt.stderr != "" && !strings.Contains(errOut.String(), tt.stderr) {
				t.Errorf("stderr %q, want %q", errOut, tt.stderr)
			}
			if tt.golden != "" {
				goldenfile.CheckString(t, filepath.Join("../../testdata/golden/commands/get", tt.golden), out.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if slices.Contains(tt.args, "json") && !slices.Contains(tt.args, "--show-shard") && strings.Contains(out.String(), `"shard"`) {
				t.Errorf("a shard field without --show-shard:\n%s", out)
			}
		})
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestStatusSelectorWatchAndCompletion(t *testing.T) {
	ctx := context.Background()
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	const ns = "selected"
	if _, err := cluster.ServiceAccountConfig(ctx, ns, "default"); err != nil {
		t.Fatal(err) // creates the namespace
	}
	ks := kinds.MustByKey("kustomizations")
	for _, k := range []struct{ name, ready, msg string }{{"good", "True", "Applied revision: main@sha1:1"}, {"bad", "False", "kustomization path not found"}} {
		create(t, dyn, ks, fmt.Sprintf(`apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: %s, namespace: %s}
spec: {interval: 5m, prune: true, sourceRef: {kind: GitRepository, name: repo}}
`, k.name, ns), fmt.Sprintf(`conditions:
- {type: Ready, status: %q, reason: X, message: %q, lastTransitionTime: "2026-11-23T00:00:00Z", observedGeneration: 1}
`, k.ready, k.msg))
	}
	kc := t.TempDir() + "/kubeconfig"
	if err := cluster.WriteKubeconfig(kc); err != nil {
		t.Fatal(err)
	}
	newCmd := func(out, errOut io.Writer) (*cobra.Command, *cmdutil.Factory) {
		ios := &cmdutil.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut}
		f := cmdutil.NewFactory(ios, cmdutil.BuildInfo{})
		cmd := NewCmdGet(f)
		f.KubeFlags.AddFlags(cmd.PersistentFlags())
		cmd.SilenceUsage = true
		return cmd, f
	}

	out, errOut := &syncBuffer{}, &syncBuffer{}
	cmd, _ := newCmd(out, errOut)
	cmd.SetArgs([]string{"ks", "-n", ns, "--status-selector", "ready=false", "--kubeconfig", kc})
	if err := cmd.ExecuteContext(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "\nbad \t") || strings.Contains(out.String(), "good") {
		t.Errorf("--status-selector ready=false:\n%s", out)
	}
	cmd, _ = newCmd(out, errOut)
	cmd.SetArgs([]string{"ks", "--status-selector", "ready", "--kubeconfig", kc})
	if err := cmd.ExecuteContext(ctx); err == nil || !strings.Contains(err.Error(), "want <condition type>=<status> or") {
		t.Errorf("bad selector: %v", err)
	}

	// --watch prints the table, then a row per change, until interrupted.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out = &syncBuffer{}
	cmd, _ = newCmd(out, errOut)
	cmd.SetArgs([]string{"ks", "-n", ns, "--watch", "--kubeconfig", kc})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(wctx) }()
	for !strings.Contains(out.String(), "good") {
		time.Sleep(50 * time.Millisecond)
	}
	u, err := dyn.Resource(ks.Resource).Namespace(ns).Get(ctx, "bad", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_ = unstructured.SetNestedSlice(u.Object, []any{map[string]any{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded",
		"message": "fixed now", "lastTransitionTime": "2026-11-23T01:00:00Z", "observedGeneration": int64(1)}}, "status", "conditions")
	if _, err := dyn.Resource(ks.Resource).Namespace(ns).UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), "fixed now") && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[3], "bad    ") || !strings.HasSuffix(lines[3], "False       True    fixed now") {
		t.Errorf("watch output:\n%s", out)
	}

	// Object names complete through the API.
	root := &cobra.Command{Use: "converge"}
	ios, _, compOut, _ := cmdutil.Test()
	f := cmdutil.NewFactory(ios, cmdutil.BuildInfo{})
	f.KubeFlags.AddFlags(root.PersistentFlags())
	root.SetOut(compOut)
	cmdutil.AddKindCommands(f, root, kinds.Select(func(k kinds.Kind) bool { return k.Reconcilable }), func(kinds.Kind) *cobra.Command {
		return &cobra.Command{Use: "NAME", RunE: func(*cobra.Command, []string) error { return nil }}
	})
	root.SetArgs([]string{"__complete", "kustomization", "-n", ns, "--kubeconfig", kc, ""})
	if err := root.ExecuteContext(ctx); err != nil {
		t.Fatal(err)
	}
	if got := compOut.String(); !strings.HasPrefix(got, "bad\ngood\n:4\n") {
		t.Errorf("completion = %q", got)
	}

	// Commands taking several names complete those not given yet.
	root = &cobra.Command{Use: "converge"}
	ios, _, compOut, _ = cmdutil.Test()
	f = cmdutil.NewFactory(ios, cmdutil.BuildInfo{})
	f.KubeFlags.AddFlags(root.PersistentFlags())
	root.SetOut(compOut)
	cmdutil.AddKindCommands(f, root, kinds.Select(func(k kinds.Kind) bool { return k.Suspendable }), func(kind kinds.Kind) *cobra.Command {
		return &cobra.Command{Use: "[NAME...]", ValidArgsFunction: cmdutil.CompleteManyNames(f, kind), RunE: func(*cobra.Command, []string) error { return nil }}
	})
	root.SetArgs([]string{"__complete", "ks", "bad", "-n", ns, "--kubeconfig", kc, ""})
	if err := root.ExecuteContext(ctx); err != nil {
		t.Fatal(err)
	}
	if got := compOut.String(); !strings.HasPrefix(got, "good\n:4\n") {
		t.Errorf("completion after one name = %q", got)
	}
}
