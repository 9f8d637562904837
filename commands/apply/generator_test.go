package apply

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/driver"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/source/git"
	"github.com/converge-gitops/converge/engine/workspace"
)

// TestApplyArtifactGenerator applies a cluster folder whose Kustomizations build from the
// ExternalArtifacts of an ArtifactGenerator in the same folder: each is built from the artifact
// generated from the work tree, in dependsOn order, and the generator itself lands in the cluster for
// the agent.
func TestApplyArtifactGenerator(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	copyTree(t, "../../testdata/generator/monorepo", root)
	// The Flux objects move to their own namespace, so this tree does not prune the other tests' trees
	// (same Kustomization names); the GitRepository it declares is the folder itself.
	files, _ := filepath.Glob(filepath.Join(root, "clusters", "staging", "*", "*.yaml"))
	more, _ := filepath.Glob(filepath.Join(root, "clusters", "staging", "*.yaml"))
	for _, f := range append(files, more...) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(strings.ReplaceAll(string(data), "namespace: flux-system", "namespace: mono-system")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func() (string, int) {
		ios, _, _, errOut := cmdutil.Test()
		opts := &Options{IO: ios, Output: cmdutil.OutputTable, Options: driver.Options{
			Workspace: workspace.Options{Path: filepath.Join(root, "clusters/staging"), Root: root, CacheDir: t.TempDir(),
				LocalSources: []string{"GitRepository/mono-system/flux-system=" + root}},
			Clock: clock.RealClock{}, Revision: func(*git.WorkTree) string { return "main@sha1:0123456789012345678901234567890123456789" },
			Clients: func() (*kube.Clients, error) { return kube.New(cluster.Config) }, InstallCRDs: true}}
		err := opts.Run(ctx)
		return errOut.String(), cmdutil.ExitCode(err, errOut)
	}
	errOut, code := run()
	if code != 0 {
		t.Fatalf("apply failed (%d):\n%s", code, errOut)
	}
	t.Logf("apply:\n%s", errOut)
	if strings.Index(errOut, "Kustomization mono-system/infrastructure reconciled") > strings.Index(errOut, "Kustomization mono-system/apps reconciled") {
		t.Errorf("apps (dependsOn infrastructure) was reconciled first:\n%s", errOut)
	}
	cm, err := cluster.Client.CoreV1().ConfigMaps("mono").Get(ctx, "app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["env"] != "staging" || cm.Data["cluster"] != "staging" {
		t.Errorf("ConfigMap app data = %v", cm.Data)
	}
	if _, err := cluster.Client.CoreV1().ConfigMaps("mono").Get(ctx, "platform", metav1.GetOptions{}); err != nil {
		t.Errorf("infrastructure not applied: %v", err)
	}
	clients, err := kube.New(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	genGVR := schema.GroupVersionResource{Group: "source.extensions.fluxcd.io", Version: "v1beta1", Resource: "artifactgenerators"}
	if _, err := clients.Dynamic.Resource(genGVR).Namespace("mono-system").Get(ctx, "monorepo", metav1.GetOptions{}); err != nil {
		t.Errorf("ArtifactGenerator not applied: %v", err)
	}

	errOut, code = run()
	if code != 0 || !strings.Contains(errOut, "0 created, 0 configured") {
		t.Errorf("second apply was not a no-op (%d):\n%s", code, errOut)
	}
}
