package get

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/inspect"
	"github.com/converge-gitops/converge/engine/kinds"
	"github.com/converge-gitops/converge/engine/testenv"
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

func TestGet(t *testing.T) {
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.ServiceAccountConfig(context.Background(), "flux-system", "default"); err != nil {
		t.Fatal(err) // creates the namespace
	}
	create(t, dyn, kinds.MustByKey("kustomizations"), `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec: {interval: 5m, prune: true, suspend: true, sourceRef: {kind: GitRepository, name: flux-system}}
`, `lastAppliedRevision: main@sha1:abc
conditions:
- {type: Ready, status: "True", reason: ReconciliationSucceeded, message: "Applied revision: main@sha1:abc", lastTransitionTime: "2026-11-23T00:00:00Z", observedGeneration: 1}
`)
	create(t, dyn, kinds.MustByKey("git"), `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: flux-system, namespace: flux-system}
spec: {interval: 1m, url: "https://git.example.com/fleet"}
`, "")
	create(t, dyn, kinds.MustByKey("artifactgenerators"), `apiVersion: source.extensions.fluxcd.io/v1beta1
kind: ArtifactGenerator
metadata: {name: slices, namespace: flux-system}
spec:
  sources: [{alias: repo, kind: GitRepository, name: flux-system}]
  artifacts: [{name: apps, copy: [{from: "@repo/apps/**", to: "@artifact/"}]}]
`, `conditions:
- {type: Ready, status: "True", reason: Succeeded, message: "reconciliation succeeded, generated 1 artifact(s)", lastTransitionTime: "2026-11-23T00:00:00Z", observedGeneration: 1}
`)

	create(t, dyn, kinds.MustByKey("alerts"), `apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: on-call, namespace: flux-system, labels: {team: ops, sharding.fluxcd.io/key: shard-a}}
spec: {providerRef: {name: slack}, eventSources: [{kind: Kustomization, name: "*"}]}
`, "")

	tests := []struct {
		name    string
		args    []string
		want    []string
		wantErr string
	}{
		{"kustomizations", []string{"ks"}, []string{"NAME   REVISION        SUSPENDED   READY   MESSAGE", "apps   main@sha1:abc   true        True    Applied revision: main@sha1:abc"}, ""},
		{"one by name", []string{"kustomization", "apps"}, []string{"NAME   REVISION", "apps   main@sha1:abc"}, ""},
		{"name not found", []string{"ks", "nope"}, nil, "Kustomization object 'nope' not found in namespace flux-system"},
		{"no header", []string{"ks", "--no-header"}, []string{"apps   main@sha1:abc   true   True   Applied revision: main@sha1:abc\n"}, ""},
		{"label selector", []string{"alerts", "-l", "team=ops"}, []string{"on-call"}, ""},
		{"label selector, negated", []string{"alerts", "-l", "team!=ops", "--no-header"}, nil, ""},
		{"bad label selector", []string{"alerts", "-l", "=ops"}, nil, "--label-selector"},
		{"status selector, negated", []string{"ks", "--status-selector", "ready!=false", "--no-header"}, []string{"apps   main@sha1:abc"}, ""},
		// get all prints a table per kind that has objects, in Flux's order, each followed by an empty line.
		{"all, a table per kind", []string{"all"}, []string{
			"NAME                        REVISION   SUSPENDED   READY     MESSAGE\ngitrepository/flux-system              false       Unknown   waiting to be reconciled\n\n" +
				"NAME                 REVISION        SUSPENDED   READY   MESSAGE\nkustomization/apps   main@sha1:abc   true        True    Applied revision: main@sha1:abc\n\n" +
				"NAME            REVISION   SUSPENDED   READY     MESSAGE\nalert/on-call              false       Unknown   waiting to be reconciled\n\n"}, ""},
		{"watch all refused", []string{"all", "--watch"}, nil, "--watch follows one kind"},
		{"all namespaces", []string{"all", "-A"}, []string{"NAMESPACE", "flux-system   gitrepository/flux-system", "Unknown   waiting to be reconciled", "kustomization/apps"}, ""},
		{"alerts json", []string{"alerts", "-o", "json"}, []string{`"name": "on-call"`}, ""},
		{"sources json", []string{"sources", "git", "-o", "json"}, []string{`"kind": "GitRepository"`, `"ready": "Unknown"`}, ""},
		{"artifact generators", []string{"artifactgenerators"}, []string{"slices", "True    reconciliation succeeded, generated 1 artifact(s)"}, ""},
		{"artifact generators, Flux's path", []string{"artifacts", "generators"}, []string{"slices", "True    reconciliation succeeded, generated 1 artifact(s)"}, ""},
		{"artifact generator, Flux's aliases", []string{"artifact", "generator", "slices"}, []string{"slices"}, ""},
		{"empty namespace", []string{"hr", "-n", "nowhere"}, nil, ""},
		// --show-shard (converge's): the sharding.fluxcd.io/key label as a column and a JSON field;
		// without it, Flux's columns.
		{"no shard column by default", []string{"alerts"}, []string{"NAME      REVISION   SUSPENDED   READY     MESSAGE\non-call              false"}, ""},
		{"show shard", []string{"alerts", "--show-shard"}, []string{"NAME      SHARD     REVISION   SUSPENDED   READY     MESSAGE\non-call   shard-a              false"}, ""},
		{"show shard, unsharded", []string{"ks", "--show-shard", "--no-header"}, []string{"apps      main@sha1:abc   true"}, ""},
		{"show shard json", []string{"alerts", "--show-shard", "-o", "json"}, []string{`"shard": "shard-a"`}, ""},
		{"image policies, none", []string{"images", "policy", "-n", "nowhere"}, nil, ""},
	}
	kc := t.TempDir() + "/kubeconfig"
	if err := cluster.WriteKubeconfig(kc); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, out, errOut := cmdutil.Test()
			f := cmdutil.NewFactory(ios, cmdutil.BuildInfo{})
			cmd := NewCmdGet(f)
			f.KubeFlags.AddFlags(cmd.PersistentFlags())
			cmd.SetArgs(append(tt.args, "--kubeconfig", kc))
			cmd.SilenceUsage, cmd.SilenceErrors = true, true
			err := cmd.ExecuteContext(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v: %s", err, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if slices.Contains(tt.args, "json") && !slices.Contains(tt.args, "--show-shard") && strings.Contains(out.String(), `"shard"`) {
				t.Errorf("a shard field without --show-shard:\n%s", out)
			}
			if tt.want == nil && !strings.Contains(errOut.String(), "no objects found in namespace") {
				t.Errorf("stderr %q", errOut)
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
	if !strings.Contains(out.String(), "bad    ") || strings.Contains(out.String(), "good") {
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
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[3], "bad    ") || !strings.HasSuffix(lines[3], "false       True    fixed now") {
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
