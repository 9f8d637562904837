package tree

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/agent"
	"github.com/converge-gitops/converge/engine/inspect"
	"github.com/converge-gitops/converge/engine/kinds"
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

func golden(t *testing.T, name, got string) {
	t.Helper()
	goldenfile.CheckString(t, filepath.Join("../../testdata/golden/commands", name), got)
}

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
	if len(out) != 7 {
		t.Fatalf("fixture has %d objects", len(out))
	}
	return out
}

func TestRenderGolden(t *testing.T) {
	get := inspect.ObjectsGetter(fixture(t)...)
	for _, output := range []string{cmdutil.OutputTable, cmdutil.OutputJSON} {
		ios, _, out, _ := cmdutil.Test()
		opts := &Options{IO: ios, Output: output, Getter: func() (inspect.Getter, error) { return get, nil },
			Ref: inspect.Ref{Kind: kinds.MustByKey("kustomizations"), Namespace: "flux-system", Name: "flux-system"}}
		if err := opts.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		name := "tree.txt"
		if output == cmdutil.OutputJSON {
			name = "tree.json"
			var n inspect.Node
			if err := json.Unmarshal(out.Bytes(), &n); err != nil || len(n.Children) != 4 {
				t.Errorf("-o json does not decode to the tree: %v", err)
			}
		}
		golden(t, name, out.String())
	}
	// --compact keeps the Flux objects only.
	ios, _, out, _ := cmdutil.Test()
	opts := &Options{IO: ios, Output: cmdutil.OutputTable, Compact: true, Getter: func() (inspect.Getter, error) { return get, nil },
		Ref: inspect.Ref{Kind: kinds.MustByKey("kustomizations"), Namespace: "flux-system", Name: "flux-system"}}
	if err := opts.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	golden(t, "tree-compact.txt", out.String())
}

func configMap(ns, name string) *string {
	return sourcetest.Str(fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, namespace: %s}\ndata: {v: x}\n", name, ns))
}

// The real agent applies a Kustomization that applies another: the tree shows both inventories.
func TestTreeLive(t *testing.T) {
	ctx := context.Background()
	const ns = "tree"
	if _, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	child := fmt.Sprintf(`apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: child, namespace: %s}
spec: {interval: 1h, path: ./child, prune: true, sourceRef: {kind: GitRepository, name: repo}}
`, ns)
	repo := sourcetest.StartGitServer(t).NewRepo(t, "tree")
	repo.Commit("first", map[string]*string{
		"root/cm.yaml": configMap(ns, "root-settings"), "root/child.yaml": &child,
		"child/cm.yaml": configMap(ns, "child-settings"),
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
metadata: {name: root, namespace: %s}
spec: {interval: 1h, path: ./root, prune: true, sourceRef: {kind: GitRepository, name: repo}}`, ns))

	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cluster.WriteKubeconfig(kc); err != nil {
		t.Fatal(err)
	}
	want := `Kustomization/tree/root
├── Kustomization/tree/child
│   └── ConfigMap/tree/child-settings
└── ConfigMap/tree/root-settings
`
	var last string
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		ios, _, out, errOut := cmdutil.Test()
		f := cmdutil.NewFactory(ios, cmdutil.BuildInfo{})
		f.Timeout = time.Minute
		cmd := NewCmdTree(f)
		f.KubeFlags.AddFlags(cmd.PersistentFlags())
		cmd.SetArgs([]string{"ks", "root", "-n", ns, "--kubeconfig", kc})
		if err := cmd.ExecuteContext(ctx); err != nil {
			last = err.Error() + errOut.String()
			continue
		}
		if last = out.String(); last == want {
			return
		}
	}
	if !strings.Contains(last, "child-settings") {
		t.Fatalf("tree never showed the nested inventory; last output:\n%s\nwant:\n%s", last, want)
	}
	t.Fatalf("tree:\n%s\nwant:\n%s", last, want)
}

func generator(inventory string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	doc := `{"apiVersion": "source.extensions.fluxcd.io/v1beta1", "kind": "ArtifactGenerator",
"metadata": {"name": "gen", "namespace": "flux-system"}, "status": {` + inventory + `}}`
	if err := json.Unmarshal([]byte(doc), &u.Object); err != nil {
		panic(err)
	}
	return u
}

func TestTreeArtifactGenerator(t *testing.T) {
	two := `"inventory": [{"name": "app-config", "namespace": "flux-system", "digest": "sha256:1"},
{"name": "app-charts", "namespace": "apps", "digest": "sha256:2"}]`
	for _, tc := range []struct {
		name, status, output, golden, err string
		absent                            bool
	}{
		{name: "two artifacts", status: two, output: cmdutil.OutputTable, golden: "tree-artifact-generator.txt"},
		{name: "two artifacts json", status: two, output: cmdutil.OutputJSON, golden: "tree-artifact-generator.json"},
		{name: "no inventory", output: cmdutil.OutputTable, golden: "tree-artifact-generator-empty.txt"},
		{name: "entry without name", status: `"inventory": [{"namespace": "flux-system"}]`, output: cmdutil.OutputTable,
			err: "ArtifactGenerator/flux-system/gen: status.inventory[0]: name is empty"},
		{name: "not found", absent: true, output: cmdutil.OutputTable, err: "ArtifactGenerator flux-system/gen not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var objs []*unstructured.Unstructured
			if !tc.absent {
				objs = append(objs, generator(tc.status))
			}
			get := inspect.ObjectsGetter(objs...)
			ios, _, out, _ := cmdutil.Test()
			opts := &Options{IO: ios, Output: tc.output, Generator: true, Getter: func() (inspect.Getter, error) { return get, nil },
				Ref: inspect.Ref{Kind: kinds.MustByKey("artifactgenerators"), Namespace: "flux-system", Name: "gen"}}
			err := opts.Run(context.Background())
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, out.String())
		})
	}
}
