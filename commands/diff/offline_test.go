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
	opts := &Options{IO: ios, Options: driverOptions(root), Output: output, Base: base}
	opts.Workspace.Root = ""
	opts.Workspace.CacheDir = t.TempDir()
	code := cmdutil.ExitCode(opts.Run(context.Background()), errOut)
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

// offlineEntry is one change of `diff --base -o json`.
type offlineEntry struct {
	Owner, Name, Subject, Action, Side, Reason, Diff string
}

// TestOfflineDiffBuildFailureOnOneSide: a Kustomization that does not build on one side (head, or base)
// is one failed entry naming that side, its objects (and those of the HelmRelease under it) are neither
// created nor deleted, the error lines name the side, the other Kustomizations are still compared, and
// the exit code is 2.
func TestOfflineDiffBuildFailureOnOneSide(t *testing.T) {
	broken := "resources:\n  - deployment.yaml\n  - missing.yaml\n"
	for _, tt := range []struct {
		name       string
		brokenSide string
	}{
		{"head breaks a Kustomization", "head"},
		{"base has a broken Kustomization that head fixes", "base"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			if err := os.CopyFS(root, os.DirFS("../../testdata/example")); err != nil {
				t.Fatal(err)
			}
			kfile := filepath.Join(root, "apps/podinfo/kustomization.yaml")
			good := mustRead(t, kfile)
			if tt.brokenSide == "base" {
				write(t, kfile, broken)
			}
			runGit(t, root, "init", "-q")
			runGit(t, root, "add", ".")
			runGit(t, root, "commit", "-q", "-m", "base")
			if tt.brokenSide == "base" {
				write(t, kfile, good)
			} else {
				write(t, kfile, broken)
			}
			// A change elsewhere is still shown.
			write(t, filepath.Join(root, "infrastructure/other.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n  namespace: default\ndata:\n  a: b\n")

			out, errOut, code := runOfflineDiff(t, root, "HEAD", cmdutil.OutputJSON)
			if code != 2 {
				t.Fatalf("exit %d, want 2\n%s\n%s", code, out, errOut)
			}
			var res struct {
				Changes []offlineEntry
				Errors  []string
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			var failed []offlineEntry
			for _, c := range res.Changes {
				switch {
				case c.Action == "failed":
					failed = append(failed, c)
				case c.Name == "flux-system/apps" || c.Owner == "HelmRelease":
					t.Errorf("an object of the Kustomization that failed on %s is compared: %+v", tt.brokenSide, c)
				}
			}
			if len(failed) != 1 || failed[0].Subject != "Kustomization/flux-system/apps" || failed[0].Side != tt.brokenSide ||
				!strings.HasPrefix(failed[0].Reason, tt.brokenSide+": ") {
				t.Errorf("failed entries %+v, want one for Kustomization flux-system/apps on %s", failed, tt.brokenSide)
			}
			if !hasChange(res.Changes, "ConfigMap/default/other", "created") {
				t.Errorf("the other Kustomization's change is missing: %+v", res.Changes)
			}
			if len(res.Errors) == 0 {
				t.Errorf("no errors in %s", out)
			}
			for _, e := range res.Errors {
				if !strings.HasPrefix(e, tt.brokenSide+": ") || !strings.Contains(e, "missing.yaml") {
					t.Errorf("error %q does not name the side %s and the cause", e, tt.brokenSide)
				}
			}
			for _, line := range strings.Split(strings.TrimSpace(errOut), "\n") {
				if strings.Contains(line, "missing.yaml") && !strings.Contains(line, tt.brokenSide+": ") {
					t.Errorf("error line %q does not name the side %s", line, tt.brokenSide)
				}
			}

			// The table says the same: no creations or deletions from the failed side.
			out, errOut, code = runOfflineDiff(t, root, "HEAD", cmdutil.OutputTable)
			if code != 2 || !strings.Contains(out, "Kustomization/flux-system/apps failed to build on "+tt.brokenSide) ||
				!strings.Contains(errOut, "0 to delete") {
				t.Errorf("table: exit %d\n%s\n%s", code, out, errOut)
			}
		})
	}
}

func hasChange(changes []offlineEntry, subject, action string) bool {
	for _, c := range changes {
		if c.Subject == subject && c.Action == action {
			return true
		}
	}
	return false
}

// TestOfflineDiffHeaders: the diffs of `diff --base` are headed base/… and head/… in the table and
// markdown outputs, and a failed build is named with its side (golden files).
func TestOfflineDiffHeaders(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS("../../testdata/example")); err != nil {
		t.Fatal(err)
	}
	runGit(t, root, "init", "-q")
	runGit(t, root, "add", ".")
	runGit(t, root, "commit", "-q", "-m", "base")
	write(t, filepath.Join(root, "clusters/demo/apps.yaml"), strings.Replace(mustRead(t, filepath.Join(root, "clusters/demo/apps.yaml")), `replicas: "0"`, `replicas: "2"`, 1))
	write(t, filepath.Join(root, "infrastructure/kustomization.yaml"), "resources:\n  - missing.yaml\n")
	for _, tt := range []struct{ output, golden string }{
		{cmdutil.OutputTable, "diff-base.txt"},
		{OutputMarkdown, "diff-base.md"},
	} {
		out, errOut, code := runOfflineDiff(t, root, "HEAD", tt.output)
		if code != 2 {
			t.Errorf("%s: exit %d, want 2\n%s\n%s", tt.output, code, out, errOut)
		}
		checkGolden(t, tt.golden, strings.ReplaceAll(out, root, "<root>"))
	}
}
