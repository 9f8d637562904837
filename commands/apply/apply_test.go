package apply

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/driver"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/reconcile"
	"github.com/converge-gitops/converge/engine/source/git"
	"github.com/converge-gitops/converge/engine/testenv"
	"github.com/converge-gitops/converge/engine/workspace"
)

var cluster *testenv.Cluster

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &cluster)) }

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func runApply(t *testing.T, root string, extra ...string) (string, string, int) {
	t.Helper()
	ios, _, out, errOut := cmdutil.Test()
	opts := &Options{IO: ios, Output: cmdutil.OutputTable, Options: driver.Options{
		Workspace: workspace.Options{Path: filepath.Join(root, "clusters/demo"), Root: root, CacheDir: t.TempDir()},
		Clock:     clock.RealClock{}, Revision: func(*git.WorkTree) string { return "main@sha1:0123456789012345678901234567890123456789" },
		Clients: func() (*kube.Clients, error) { return kube.New(cluster.Config) }}}
	for _, e := range extra {
		switch e {
		case "--install-crds":
			opts.InstallCRDs = true
		case "-o=json":
			opts.Output = cmdutil.OutputJSON
		}
	}
	err := opts.Run(context.Background())
	code := cmdutil.ExitCode(err, errOut)
	return out.String(), errOut.String(), code
}

func TestApplyExampleRepository(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	copyTree(t, "../../testdata/example", root)

	_, errOut, code := runApply(t, root, "--install-crds")
	if code != 0 {
		t.Fatalf("first apply failed (%d):\n%s", code, errOut)
	}
	t.Logf("first apply:\n%s", errOut)
	for _, want := range []string{"Deployment/demo/podinfo created", "✔ 3 Kustomizations and 1 HelmRelease: 9 created", "HelmRelease demo/greeter: [install] succeeded", "► reconciling Kustomization flux-system/apps\n  validating "} {
		if !strings.Contains(errOut, want) {
			t.Errorf("output lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Index(errOut, "Kustomization flux-system/infrastructure reconciled") > strings.Index(errOut, "Kustomization flux-system/apps reconciled") {
		t.Errorf("apps (dependsOn infrastructure) was reconciled first:\n%s", errOut)
	}
	// The HelmRelease's spec.chart has its HelmChart, as the agent makes it, named by status.helmChart.
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	hc, err := dyn.Resource(reconcile.HelmChartsResource).Namespace("flux-system").Get(ctx, "demo-greeter", metav1.GetOptions{})
	if err != nil || hc.GetLabels()[reconcile.HelmChartOwnerNameLabel] != "greeter" {
		t.Fatalf("HelmChart flux-system/demo-greeter: %v %v", err, hc)
	}
	if chart, _, _ := unstructured.NestedString(hc.Object, "spec", "chart"); chart != "./charts/greeter" {
		t.Errorf("HelmChart spec.chart %q", chart)
	}
	hr, err := dyn.Resource(reconcile.HelmReleasesResource).Namespace("demo").Get(ctx, "greeter", metav1.GetOptions{})
	if got, _, _ := unstructured.NestedString(hr.Object, "status", "helmChart"); err != nil || got != "flux-system/demo-greeter" {
		t.Errorf("status.helmChart %q %v", got, err)
	}

	out, errOut, code := runApply(t, root, "-o=json")
	if code != 0 {
		t.Fatalf("second apply failed:\n%s", errOut)
	}
	var results []map[string]any
	if err := json.Unmarshal([]byte(out), &results); err != nil || len(results) != 4 {
		t.Fatalf("json output: %v\n%s", err, out)
	}
	if !strings.Contains(errOut, "0 created, 0 configured, 10 unchanged, 0 deleted") || !strings.Contains(errOut, "release demo/greeter.v1 is up to date") {
		t.Errorf("second apply was not a no-op:\n%s", errOut)
	}

	// Removing a file from Git prunes its objects.
	if err := os.Remove(filepath.Join(root, "apps/podinfo/service.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "apps/podinfo/kustomization.yaml"), []byte("resources:\n  - deployment.yaml\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = runApply(t, root)
	if code != 0 || !strings.Contains(errOut, "Service/demo/podinfo deleted") {
		t.Fatalf("prune (%d):\n%s", code, errOut)
	}
	if _, err := cluster.Client.CoreV1().Services("demo").Get(ctx, "podinfo", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Service not pruned: %v", err)
	}

	// A broken Kustomization fails alone and the exit code says so.
	if err := os.WriteFile(filepath.Join(root, "apps/podinfo/deployment.yaml"), []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: podinfo\nspec:\n  replicas: ${missing}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = runApply(t, root)
	if code != 2 || !strings.Contains(errOut, `variable "missing" is not set`) || !strings.Contains(errOut, "Kustomization flux-system/infrastructure reconciled") {
		t.Fatalf("want apps to fail alone (%d):\n%s", code, errOut)
	}
}
