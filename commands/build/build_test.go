package build

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/converge-gitops/converge/commands/cmdutil"
)

var update = flag.Bool("update", false, "rewrite golden files")

const repo = "../../testdata/build/repo"

func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ios, _, out, errOut := cmdutil.Test()
	f := cmdutil.NewFactory(ios, cmdutil.BuildInfo{})
	cmd := NewCmdBuild(f)
	cmd.SetArgs(append(args, "--cache-dir", t.TempDir()))
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.ExecuteContext(context.Background())
	code := cmdutil.ExitCode(err, errOut)
	return out.String(), errOut.String(), code
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("../../testdata/golden/commands", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (go test -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n%s", name, got)
	}
}

func TestBuildCommand(t *testing.T) {
	vars := "--local-resource=ConfigMap/flux-system/cluster-vars=../../testdata/build/cluster-vars.yaml"
	tests := []struct {
		name   string
		args   []string
		code   int
		golden string
		stderr string
	}{
		{name: "tree", args: []string{repo + "/clusters/production", "--root", repo, vars}, golden: "build-tree.yaml"},
		{name: "tree json", args: []string{repo + "/clusters/production", "--root", repo, vars, "-o", "json"}, golden: "build-tree.json"},
		{name: "one kustomization", args: []string{"kustomization", "apps", "--kustomization-file", repo + "/clusters/production/apps.yaml",
			"--path", repo + "/apps/staging", "--root", repo, vars}, golden: "build-ks-apps.yaml"},
		{name: "helm release from a chart in the repository", args: []string{repo + "/clusters/helm", "--root", repo, vars}, golden: "build-helmrelease.yaml"},
		{name: "one helm release", args: []string{"helmrelease", "hello", "--helmrelease-file", repo + "/clusters/helm/release.yaml", "--root", repo, vars},
			golden: "build-one-helmrelease.yaml"},
		{name: "helm release not in file", args: []string{"hr", "nope", "--helmrelease-file", repo + "/clusters/helm/release.yaml", "--root", repo}, code: 2,
			stderr: "defines no HelmRelease flux-system/nope"},
		{name: "secrets masked", args: []string{repo + "/secrets", "--root", repo}, golden: "build-secrets-masked.yaml"},
		{name: "secrets shown", args: []string{repo + "/secrets", "--root", repo, "--show-secrets"}, golden: "build-secrets-shown.yaml"},
		{name: "failing node keeps others, exit 2", args: []string{repo + "/clusters/production", "--root", repo}, code: 2,
			stderr: `✗ Kustomization flux-system/apps: substituteFrom ConfigMap/cluster-vars: configmaps "flux-system/cluster-vars" not found`},
		{name: "cycle", args: []string{repo + "/clusters/cycle", "--root", repo}, code: 2, stderr: "dependency cycle"},
		{name: "bad local source", args: []string{repo, "--local-source", "GitRepository/x=/tmp"}, code: 2, stderr: "want Kind/namespace/name=PATH"},
		{name: "kustomization not in file", args: []string{"kustomization", "nope", "--kustomization-file", repo + "/clusters/production/apps.yaml"}, code: 2,
			stderr: "defines no Kustomization flux-system/nope"},
		{name: "unknown source", args: []string{"kustomization", "apps", "--kustomization-file", repo + "/clusters/production/apps.yaml"}, code: 2,
			stderr: `path "./apps/production" not found in the source`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := run(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", code, tt.code, errOut)
			}
			if tt.golden != "" {
				golden(t, tt.golden, out)
			}
			if tt.stderr != "" && !strings.Contains(errOut, tt.stderr) {
				t.Errorf("stderr %q lacks %q", errOut, tt.stderr)
			}
		})
	}
}

func TestBuildOutputDir(t *testing.T) {
	dir := t.TempDir()
	_, errOut, code := run(t, repo+"/clusters/production", "--root", repo, "--output-dir", dir,
		"--local-resource=ConfigMap/flux-system/cluster-vars=../../testdata/build/cluster-vars.yaml")
	if code != 0 {
		t.Fatal(errOut)
	}
	b, err := os.ReadFile(filepath.Join(dir, "kustomization", "flux-system_apps", "deployment_podinfo_podinfo.yaml"))
	if err != nil || !strings.Contains(string(b), "hello from demo") {
		t.Fatalf("deployment file: %v\n%s", err, b)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "kustomization"))
	if len(entries) != 5 {
		t.Errorf("%d Kustomization folders, want 5", len(entries))
	}
}
