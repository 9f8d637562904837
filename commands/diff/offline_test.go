package diff

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/converge-gitops/converge/commands/cmdutil"
)

func runGit(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func runOfflineDiff(t *testing.T, root, base, output string) (string, string, int) {
	t.Helper()
	ios, _, out, errOut := cmdutil.Test()
	opts := &Options{Apply: applyOptions(ios, root), Output: output, Base: base}
	opts.Apply.Build.Root = ""
	opts.Apply.Build.CacheDir = t.TempDir()
	code := cmdutil.ExitCode(Run(context.Background(), opts), errOut)
	return out.String(), errOut.String(), code
}

func TestOfflineDiffAgainstABaseRevision(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS("../../testdata/example")); err != nil {
		t.Fatal(err)
	}
	runGit(t, root, "init", "-q")
	runGit(t, root, "add", ".")
	runGit(t, root, "commit", "-q", "-m", "base")

	_, errOut, code := runOfflineDiff(t, root, "HEAD", cmdutil.OutputTable)
	if code != 0 || !strings.Contains(errOut, "no changes") {
		t.Fatalf("unchanged work tree: exit %d\n%s", code, errOut)
	}

	write(t, filepath.Join(root, "clusters/demo/apps.yaml"), strings.Replace(mustRead(t, filepath.Join(root, "clusters/demo/apps.yaml")), `replicas: "0"`, `replicas: "2"`, 1))
	if err := os.Remove(filepath.Join(root, "infrastructure/namespaces.yaml")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "infrastructure/other.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n  namespace: default\ndata:\n  a: b\n")
	out, errOut, code := runOfflineDiff(t, root, "HEAD", cmdutil.OutputJSON)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, errOut)
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
	for _, want := range []string{"Deployment/demo/podinfo changed", "Namespace/demo deleted", "ServiceAccount/demo/deployer deleted", "ConfigMap/default/other created", "Kustomization/flux-system/apps changed"} {
		if _, ok := got[want]; !ok {
			t.Errorf("missing %q in %v", want, got)
		}
	}
	if d := got["Deployment/demo/podinfo changed"]; !strings.Contains(d, "-  replicas: 0") || !strings.Contains(d, "+  replicas: 2") {
		t.Errorf("deployment diff:\n%s", d)
	}

	_, errOut, code = runOfflineDiff(t, root, "no-such-ref", cmdutil.OutputTable)
	if code != 2 || !strings.Contains(errOut, "no-such-ref") {
		t.Fatalf("bad base: exit %d\n%s", code, errOut)
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
