package diff

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/driver"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/source/git"
	"github.com/converge-gitops/converge/engine/testenv"
	"github.com/converge-gitops/converge/engine/workspace"
)

var cluster *testenv.Cluster

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &cluster)) }

func driverOptions(root string) driver.Options {
	return driver.Options{Workspace: workspace.Options{Path: filepath.Join(root, "clusters/demo"), Root: root},
		Clock: clock.RealClock{}, Revision: func(*git.WorkTree) string { return "main@sha1:0123456789012345678901234567890123456789" },
		Clients: func() (*kube.Clients, error) { return kube.New(cluster.Config) }}
}

func runDiff(t *testing.T, root string, output string) (string, string, int) {
	t.Helper()
	ios, _, out, errOut := cmdutil.Test()
	opts := &Options{IO: ios, Options: driverOptions(root), Output: output}
	opts.Workspace.CacheDir = t.TempDir()
	code := cmdutil.ExitCode(opts.Run(context.Background()), errOut)
	return out.String(), errOut.String(), code
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDiff(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS("../../testdata/example")); err != nil {
		t.Fatal(err)
	}

	// Before anything is applied, everything is to be created.
	out, errOut, code := runDiff(t, root, cmdutil.OutputTable)
	if code != 1 || !strings.Contains(out, "+ Deployment/demo/podinfo created (Kustomization flux-system/apps)") {
		t.Fatalf("new tree: exit %d\n%s\n%s", code, out, errOut)
	}

	aopts := driverOptions(root)
	aopts.Workspace.CacheDir = t.TempDir()
	if _, err := applyTree(ctx, aopts); err != nil {
		t.Fatalf("apply: %v", err)
	}
	_, errOut, code = runDiff(t, root, cmdutil.OutputTable)
	if code != 0 || !strings.Contains(errOut, "no changes") {
		t.Fatalf("after apply: exit %d\n%s", code, errOut)
	}

	// Drift by another writer, a changed file, a new Secret and a removed object.
	patch := []byte(`{"spec":{"replicas":3}}`)
	if _, err := cluster.Client.AppsV1().Deployments("demo").Patch(ctx, "podinfo", types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "apps/podinfo/secret.yaml"), "apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\nstringData:\n  token: hunter2\n")
	write(t, filepath.Join(root, "apps/podinfo/kustomization.yaml"), "resources:\n  - deployment.yaml\n  - secret.yaml\n")
	out, errOut, code = runDiff(t, root, cmdutil.OutputJSON)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	var res struct {
		Changes []struct{ Subject, Action, Diff string }
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range res.Changes {
		got[c.Subject+" "+c.Action] = c.Diff
	}
	if d, ok := got["Deployment/demo/podinfo changed"]; !ok || !strings.Contains(d, "-  replicas: 3") || !strings.Contains(d, "+  replicas: 0") {
		t.Errorf("drift not shown: %v", got)
	}
	if d, ok := got["Secret/demo/token created"]; !ok || strings.Contains(d, "hunter2") || !strings.Contains(d, "token: '***'") {
		t.Errorf("new Secret not shown masked: %q", d)
	}
	if _, ok := got["Service/demo/podinfo deleted"]; !ok {
		t.Errorf("pruned Service not shown: %v", got)
	}
	if len(got) != 3 {
		t.Errorf("unexpected changes: %v", got)
	}
	if _, err := cluster.Client.CoreV1().Secrets("demo").Get(ctx, "token", metav1.GetOptions{}); err == nil {
		t.Error("diff wrote the Secret")
	}

	// A broken build is an error (exit 2), not a change.
	write(t, filepath.Join(root, "apps/podinfo/deployment.yaml"), "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: podinfo\nspec:\n  replicas: ${nope}\n")
	_, errOut, code = runDiff(t, root, cmdutil.OutputTable)
	if code != 2 || !strings.Contains(errOut, `variable "nope" is not set`) {
		t.Fatalf("broken build: exit %d\n%s", code, errOut)
	}
}
