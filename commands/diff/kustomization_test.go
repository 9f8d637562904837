package diff

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/converge-gitops/converge/commands/cmdutil"
)

// TestDiffKustomization runs `diff kustomization NAME --path DIR` as Flux's: the Kustomization from
// the cluster (or --kustomization-file), the objects from the local folder, exit 0/1/2.
func TestDiffKustomization(t *testing.T) {
	ctx := context.Background()
	const ns = "diffks"
	if _, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ks := `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: web, namespace: diffks}
spec:
  interval: 10m
  path: ./web
  prune: true
  targetNamespace: diffks
  sourceRef: {kind: GitRepository, name: repo}
`
	cluster.ApplyYAML(t, ks)
	// as the Kustomization applied it
	cluster.ApplyYAML(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: same, namespace: diffks, labels: "+
		"{kustomize.toolkit.fluxcd.io/name: web, kustomize.toolkit.fluxcd.io/namespace: diffks}}\ndata: {a: \"1\"}\n")
	dir := t.TempDir()
	web := filepath.Join(dir, "web")
	if err := os.Mkdir(web, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(web, "cms.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: same}\ndata: {a: \"1\"}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: new}\ndata: {b: \"2\"}\n")
	write(t, filepath.Join(dir, "ks.yaml"), ks)
	write(t, filepath.Join(dir, "other.yaml"), strings.Replace(ks, "name: web", "name: other", 1))
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cluster.WriteKubeconfig(kc); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		args      []string
		code      int
		out, errs []string
	}{
		{name: "changes", args: []string{"ks", "web", "--path", web}, code: 1,
			out: []string{"+ ConfigMap/diffks/new created (Kustomization diffks/web)"}, errs: []string{"1 to create, 0 to change, 0 to delete, 1 unchanged"}},
		{name: "from a file, Flux's flags accepted", args: []string{"kustomization", "other", "--path", web, "--kustomization-file", filepath.Join(dir, "other.yaml"), "--progress-bar=false", "--in-memory-build"}, code: 1,
			out: []string{"+ ConfigMap/diffks/new created (Kustomization diffks/other)"}},
		{name: "not in the cluster", args: []string{"ks", "nope", "--path", web}, code: 2, errs: []string{`reading Kustomization diffks/nope from the cluster`, "not found"}},
		{name: "not in the cluster, ignored", args: []string{"ks", "nope", "--path", web, "--ignore-not-found"}, code: 0, errs: []string{"no changes"}},
		{name: "not in the file", args: []string{"ks", "nope", "--path", web, "--kustomization-file", filepath.Join(dir, "ks.yaml")}, code: 2, errs: []string{"defines no Kustomization diffks/nope"}},
		{name: "recursive refused", args: []string{"ks", "web", "-r", "--path", web}, code: 2, errs: []string{"--recursive is not supported"}},
		{name: "json", args: []string{"ks", "web", "--path", web, "-o", "json"}, code: 1, out: []string{`"subject": "ConfigMap/diffks/new"`, `"unchanged": 1`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, out, errOut := cmdutil.Test()
			f := cmdutil.NewFactory(ios, cmdutil.BuildInfo{})
			f.RenderCacheDir = t.TempDir()
			cmd := NewCmdDiff(f)
			f.KubeFlags.AddFlags(cmd.PersistentFlags())
			cmd.SilenceUsage, cmd.SilenceErrors = true, true
			cmd.SetArgs(append(tt.args, "-n", ns, "--kubeconfig", kc, "--cache-dir", t.TempDir()))
			code := cmdutil.ExitCode(cmd.ExecuteContext(ctx), errOut)
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s\n%s", code, tt.code, out, errOut)
			}
			for _, w := range tt.out {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.errs {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
	if _, err := cluster.Client.CoreV1().ConfigMaps(ns).Get(ctx, "new", metav1.GetOptions{}); err == nil {
		t.Error("diff wrote the ConfigMap")
	}
}
