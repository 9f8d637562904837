package build

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/testenv/goldenfile"
)

const repo = "../../testdata/build/repo"

func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ios, _, out, errOut := cmdutil.Test()
	f := cmdutil.NewFactory(ios, cmdutil.BuildInfo{})
	f.RenderCacheDir = t.TempDir()
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
	goldenfile.CheckString(t, filepath.Join("../../testdata/golden/commands", name), got)
}

const keys = "../../testdata/build/keys"

const trees = "../../testdata/build/trees"

func TestBuildCommand(t *testing.T) {
	t.Setenv("SOPS_AGE_KEY", "")
	t.Setenv("SOPS_AGE_KEY_FILE", "")
	vars := "--local-resource=ConfigMap/flux-system/cluster-vars=../../testdata/build/cluster-vars.yaml"
	sopsKeys := "--local-resource=Secret/flux-system/sops-keys=" + keys + "/sops-keys.yaml"
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
		{name: "one kustomization, --dry-run", args: []string{"kustomization", "apps", "--kustomization-file", repo + "/clusters/production/apps.yaml",
			"--path", repo + "/apps/staging", "--root", repo, vars, "--dry-run", "--in-memory-build"}, golden: "build-ks-apps.yaml"},
		{name: "--dry-run needs the file", args: []string{"kustomization", "apps", "--path", repo + "/apps/staging", "--dry-run"}, code: 2,
			stderr: "--dry-run builds without the cluster: give the Kustomization with --kustomization-file"},
		{name: "--recursive refused", args: []string{"ks", "apps", "--kustomization-file", repo + "/clusters/production/apps.yaml", "-r"}, code: 2,
			stderr: "--recursive is not supported for one Kustomization"},
		{name: "--ignore-paths refused", args: []string{"ks", "apps", "--kustomization-file", repo + "/clusters/production/apps.yaml", "--ignore-paths", "a/"}, code: 2,
			stderr: "--ignore-paths is not supported yet"},
		{name: "bad --local-sources", args: []string{"ks", "apps", "--kustomization-file", repo + "/clusters/production/apps.yaml", "--local-sources", "GitRepository/x=/tmp"}, code: 2,
			stderr: "want Kind/namespace/name=PATH"},
		{name: "helm release from a chart in the repository", args: []string{repo + "/clusters/helm", "--root", repo, vars}, golden: "build-helmrelease.yaml"},
		{name: "one helm release", args: []string{"helmrelease", "hello", "--helmrelease-file", repo + "/clusters/helm/release.yaml", "--root", repo, vars},
			golden: "build-one-helmrelease.yaml"},
		{name: "helm release not in file", args: []string{"hr", "nope", "--helmrelease-file", repo + "/clusters/helm/release.yaml", "--root", repo}, code: 2,
			stderr: "defines no HelmRelease flux-system/nope"},
		{name: "secrets masked", args: []string{repo + "/secrets", "--root", repo}, golden: "build-secrets-masked.yaml"},
		{name: "secrets shown", args: []string{repo + "/secrets", "--root", repo, "--show-secrets"}, golden: "build-secrets-shown.yaml"},
		{name: "failing node keeps others, exit 2", args: []string{repo + "/clusters/production", "--root", repo}, code: 2,
			stderr: `✗ Kustomization flux-system/apps: substituteFrom ConfigMap/cluster-vars: configmaps "flux-system/cluster-vars" not found`},
		{name: "sops: keys from the decryption Secret", args: []string{repo + "/clusters/sops", "--root", repo, sopsKeys, "--show-secrets"}, golden: "build-sops-shown.yaml"},
		{name: "sops: decrypted values masked", args: []string{repo + "/clusters/sops", "--root", repo, sopsKeys}, golden: "build-sops-masked.yaml"},
		{name: "sops: local PGP key", args: []string{"kustomization", "secrets-pgp", "--kustomization-file", repo + "/clusters/sops/secrets.yaml",
			"--path", repo + "/sops/pgp", "--root", repo, "--decryption-key", keys + "/test.asc", "--show-secrets"}, golden: "build-sops-pgp-local-key.yaml"},
		{name: "sops: wrong key", args: []string{repo + "/clusters/sops", "--root", repo, "--decryption-key", keys + "/wrong.agekey"}, code: 2,
			stderr: "✗ Kustomization flux-system/secrets-age: sops/age/config.ini: SOPS decryption: none of the keys given (1 age, 0 PGP, from " + keys + "/wrong.agekey) can decrypt it: age age1y96qhum5qej62qhlpqjg9hv4jhg4ymxghw8xpel375clhd8stv9shwecax: identity did not match any of the recipients"},
		{name: "sops: not a key file", args: []string{repo + "/clusters/sops", "--root", repo, "--decryption-key", repo + "/plain/app.yaml"}, code: 2,
			stderr: "--decryption-key " + repo + "/plain/app.yaml: neither age identities"},
		{name: "helm capabilities from flags", args: []string{repo + "/clusters/helm-caps", "--root", repo, "--kube-version", "1.31.4",
			"--api-versions", "monitoring.coreos.com/v1,example.com/v1/Widget"}, golden: "build-helm-capabilities.yaml"},
		{name: "helm capabilities, newer cluster", args: []string{"hr", "caps", "--helmrelease-file", repo + "/clusters/helm-caps/release.yaml", "--root", repo,
			"--kube-version", "v1.34.1-gke.100", "--api-versions", "example.com/v1"}, golden: "build-helm-capabilities-134.yaml"},
		{name: "kube version below the chart's constraint", args: []string{repo + "/clusters/helm-caps", "--root", repo, "--kube-version", "1.29.9"}, code: 2,
			stderr: "✗ HelmRelease flux-system/caps: chart requires kubeVersion: >=1.30.0-0 which is incompatible with Kubernetes v1.29.9"},
		{name: "bad kube version", args: []string{repo + "/clusters/helm-caps", "--root", repo, "--kube-version", "banana"}, code: 2,
			stderr: `--kube-version "banana": want a version such as 1.33.2`},
		{name: "bad api version", args: []string{repo + "/clusters/helm-caps", "--root", repo, "--api-versions", "a/b/c/d"}, code: 2,
			stderr: `--api-versions "a/b/c/d": want group/version or group/version/Kind`},
		{name: "tree: a bad object hides no sibling", args: []string{trees + "/invalid-child/clusters/main", "--root", trees + "/invalid-child", "-o", "json"}, code: 2,
			golden: "build-tree-invalid-child.json", stderr: "✗ 3 built, 2 failed, 1 skipped"},
		{name: "tree: removed API version refused, exit 2", args: []string{trees + "/old-versions/clusters/main", "--root", trees + "/old-versions",
			"--local-source", "GitRepository/flux-system/legacy=" + trees + "/old-versions"}, code: 2,
			stderr: "Alert flux-system/slack: apiVersion: notification.toolkit.fluxcd.io/v1beta1 is no longer served by Flux for Alert and cannot be converted without loss: use notification.toolkit.fluxcd.io/v1beta3"},
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

// TestBuildSOPSFromEnv: SOPS_AGE_KEY_FILE supplies an age key offline; the PGP-encrypted Kustomization
// fails (no PGP key) without hiding the one that decrypts.
func TestBuildSOPSFromEnv(t *testing.T) {
	t.Setenv("SOPS_AGE_KEY", "")
	t.Setenv("SOPS_AGE_KEY_FILE", keys+"/test.agekey")
	out, errOut, code := run(t, repo+"/clusters/sops", "--root", repo, "--show-secrets")
	if code != 2 {
		t.Fatalf("exit %d, want 2\n%s", code, errOut)
	}
	if !strings.Contains(out, "password: correct-horse-battery-staple") || strings.Contains(out, "ENC[") {
		t.Errorf("age Kustomization not decrypted:\n%s", out)
	}
	if want := "✗ Kustomization flux-system/secrets-pgp: sops/pgp/api-token.enc.yaml: Secret apps/api-token: SOPS decryption: none of the keys given (1 age, 0 PGP, from " +
		keys + "/test.agekey) can decrypt it: PGP EC50740203DAE62C98C8C099C46243D1D8A89A36: no PGP private key given"; !strings.Contains(errOut, want) {
		t.Errorf("stderr %q lacks %q", errOut, want)
	}
	t.Setenv("SOPS_AGE_KEY_FILE", keys+"/missing.agekey")
	if _, errOut, code := run(t, repo+"/clusters/sops", "--root", repo); code != 2 || !strings.Contains(errOut, "SOPS_AGE_KEY_FILE: open") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

// TestBuildWarnings: what a build does not stop for is printed on stderr as warning lines: an
// event-source kind converge's Alert schema lacks (exit 0), an unsupported field in use (here beside a
// failure: the HelmRelease's chart repository is not declared).
func TestBuildWarnings(t *testing.T) {
	const validate = "../../testdata/build/validate"
	tests := []struct {
		path string
		code int
		want string
	}{
		{"clusters/warn", 0, `⚠️ build output of Kustomization flux-system/flux-system: Alert flux-system/operator: spec.eventSources[1].kind: Unsupported value: "FluxInstance"`},
		{"clusters/unsupported", 2, "⚠️ build output of Kustomization flux-system/flux-system: HelmRelease apps/web: spec.rollback.recreate is not supported yet: ignored: Helm 4 removed it (so does Flux 2.9): workloads are not restarted on rollback\n"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			_, errOut, code := run(t, validate+"/"+tt.path, "--root", validate)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", code, tt.code, errOut)
			}
			if !strings.Contains(errOut, tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, errOut)
			}
		})
	}
}
