package trace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/agent"
	"github.com/converge-gitops/converge/engine/inspect"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
	"github.com/converge-gitops/converge/engine/testenv"
	"github.com/converge-gitops/converge/engine/testenv/goldenfile"
)

var (
	cluster *testenv.Cluster
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &cluster)) }

func fixture(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	f, err := os.Open("../../testdata/golden/commands/tree-trace-fixture.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewYAMLOrJSONDecoder(f, 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			break
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
	return out
}

func TestParseKind(t *testing.T) {
	for in, want := range map[string]string{
		"apps/v1/Deployment": "apps/v1, Kind=Deployment",
		"v1/ConfigMap":       "/v1, Kind=ConfigMap",
		"kustomize.toolkit.fluxcd.io/v1/Kustomization": "kustomize.toolkit.fluxcd.io/v1, Kind=Kustomization",
		"Deployment": "error",
		"apps/v1/":   "error",
		"a/b/c/Kind": "error",
	} {
		gvk, err := ParseKind(in)
		got := gvk.String()
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("ParseKind(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestRenderGolden(t *testing.T) {
	get := inspect.ObjectsGetter(fixture(t)...)
	ios, _, out, _ := cmdutil.Test()
	opts := &Options{IO: ios, Output: cmdutil.OutputTable, Getter: func() (inspect.Getter, error) { return get, nil },
		Kind: "Deployment", APIVersion: "apps/v1", Namespace: "apps", args: []string{"podinfo"}}
	if err := opts.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := "../../testdata/golden/commands/trace.txt"
	goldenfile.Check(t, p, out.Bytes())
}

// The real agent applies a ConfigMap: trace names its Kustomization, the GitRepository and the revision.
func TestTraceLive(t *testing.T) {
	ctx := context.Background()
	const ns = "traced"
	if _, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	repo := sourcetest.StartGitServer(t).NewRepo(t, "traced")
	rev := "main@sha1:" + repo.Commit("first", map[string]*string{
		"apps/cm.yaml": sourcetest.Str(fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: %s}\n", ns)),
	})
	clients, err := kube.New(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	store, err := source.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Options{Clients: clients, Store: store, DependencyRequeue: time.Second, ShutdownGrace: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	defer func() { cancel(); <-done }()
	cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: repo, namespace: %s}
spec: {interval: 1h, url: %q, ref: {branch: main}}`, ns, repo.URL))
	cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: %s}
spec: {interval: 1h, path: ./apps, prune: true, sourceRef: {kind: GitRepository, name: repo}}`, ns))
	cluster.ApplyYAML(t, fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: unmanaged, namespace: %s}\n", ns))

	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cluster.WriteKubeconfig(kc); err != nil {
		t.Fatal(err)
	}
	trace := func(args ...string) (string, error) {
		ios, _, out, _ := cmdutil.Test()
		f := cmdutil.NewFactory(ios, cmdutil.BuildInfo{})
		f.Timeout = time.Minute
		cmd := NewCmdTrace(f)
		f.KubeFlags.AddFlags(cmd.PersistentFlags())
		cmd.SilenceUsage = true
		cmd.SetArgs(append(args, "-n", ns, "--kubeconfig", kc))
		err := cmd.ExecuteContext(ctx)
		return out.String(), err
	}
	var out string
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		var err error
		if out, err = trace("v1/ConfigMap", "settings"); err == nil && strings.Count(squash(out), "Ready: True") == 2 {
			break
		}
	}
	for _, want := range []string{"Object: ConfigMap/settings", "Kustomization: apps", "Path: ./apps",
		"GitRepository: repo", "URL: " + repo.URL, "Revision: " + rev} {
		if !strings.Contains(squash(out), want) {
			t.Errorf("trace lacks %q:\n%s", want, out)
		}
	}
	_, err = trace("v1/ConfigMap", "unmanaged")
	var nm *inspect.ErrNotManaged
	if !errors.As(err, &nm) {
		t.Errorf("unmanaged ConfigMap: %v", err)
	}
	if _, err = trace("v1/ConfigMap", "absent"); err == nil || !strings.Contains(err.Error(), "ConfigMap traced/absent not found") {
		t.Errorf("absent ConfigMap: %v", err)
	}

	// Flux's argument shapes: resource names and short names through discovery, several objects.
	for _, args := range [][]string{{"configmap", "settings"}, {"cm/settings"}, {"settings", "--kind", "ConfigMap", "--api-version", "v1"},
		{"configmaps.v1.", "settings"}} {
		got, err := trace(args...)
		if err != nil || squash(got) != squash(out) {
			t.Errorf("trace %v: %v\n%s", args, err, got)
		}
	}
	got, err := trace("cm/settings", "cm/unmanaged")
	if !errors.As(err, &nm) || !strings.Contains(squash(got), "Object: ConfigMap/settings") || !strings.Contains(squash(got), "---\nObject: ConfigMap/unmanaged") {
		t.Errorf("two objects: %v\n%s", err, got)
	}
	got, err = trace("configmap", "settings", "unmanaged")
	if !errors.As(err, &nm) || strings.Count(got, "Object:") != 2 {
		t.Errorf("two names: %v\n%s", err, got)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"settings", "--kind", "ConfigMap"}, "--kind and --api-version go together"},
		{[]string{"cm"}, "either <resource>/<name> or <resource> <name> is required"},
		{[]string{"cm/settings", "unmanaged"}, "mixed arguments"},
		{[]string{"nosuchtype", "x"}, `resource type "nosuchtype"`},
		{[]string{"cm/x", "--kind", "ConfigMap", "--api-version", "v1"}, "every argument is a name"},
	} {
		if _, err := trace(tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("trace %v: error %v, want %q", tt.args, err, tt.want)
		}
	}
}

// squash collapses the alignment padding.
func squash(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}
