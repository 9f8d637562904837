package get

import (
	"context"
	"os"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/inspect"
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
	create(t, dyn, inspect.Kinds["kustomizations"], `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec: {interval: 5m, prune: true, suspend: true, sourceRef: {kind: GitRepository, name: flux-system}}
`, `lastAppliedRevision: main@sha1:abc
conditions:
- {type: Ready, status: "True", reason: ReconciliationSucceeded, message: "Applied revision: main@sha1:abc", lastTransitionTime: "2026-11-23T00:00:00Z", observedGeneration: 1}
`)
	create(t, dyn, inspect.Kinds["git"], `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: flux-system, namespace: flux-system}
spec: {interval: 1m, url: "https://git.example.com/fleet"}
`, "")

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"kustomizations", []string{"ks"}, []string{"NAME   REVISION        SUSPENDED   READY   MESSAGE", "apps   main@sha1:abc   true        True    Applied revision: main@sha1:abc"}},
		{"all namespaces", []string{"all", "-A"}, []string{"NAMESPACE", "flux-system   gitrepository/flux-system", "Unknown   waiting to be reconciled", "kustomization/apps"}},
		{"sources json", []string{"sources", "git", "-o", "json"}, []string{`"kind": "GitRepository"`, `"ready": "Unknown"`}},
		{"empty namespace", []string{"hr", "-n", "nowhere"}, nil},
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
			if err := cmd.ExecuteContext(context.Background()); err != nil {
				t.Fatalf("%v: %s", err, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if tt.want == nil && !strings.Contains(errOut.String(), "no objects found in namespace nowhere") {
				t.Errorf("stderr %q", errOut)
			}
		})
	}
}
