package build

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func gitRepositoryYAML(name, url, ref, include string) string {
	return `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: ` + name + `
  namespace: flux-system
spec:
  interval: 1m
  url: ` + url + `
  ref:
    ` + ref + include + `
`
}

func kustomizationYAML(name, source, path string) string {
	return `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: ` + name + `
  namespace: flux-system
spec:
  interval: 10m
  prune: true
  path: ` + path + `
  sourceRef:
    kind: GitRepository
    name: ` + source + `
`
}

func configMapYAML(name, team string) string {
	return `apiVersion: v1
kind: ConfigMap
metadata:
  name: ` + name + `
  namespace: default
data:
  team: ` + team + `
`
}

// TestBuildSourcesOfTheWorkTree: in a clone on main, the tenant GitRepository of the same repository
// on branch dev-team is built from the clone's origin/dev-team, not from the work tree; a GitRepository
// with spec.include gets the included repository's files; stderr says what stood in for each source;
// an include that cannot be resolved names both repositories.
func TestBuildSourcesOfTheWorkTree(t *testing.T) {
	srv := sourcetest.StartGitServer(t)
	shared := srv.NewRepo(t, "shared")
	shared.Commit("shared", map[string]*string{"deploy/cm.yaml": sourcetest.Str(configMapYAML("shared", "platform")),
		"other/cm.yaml": sourcetest.Str(configMapYAML("shared-other", "root-include"))})
	fleet := srv.NewRepo(t, "fleet")
	fleet.Commit("tree", map[string]*string{
		"clusters/prod/flux-system/gotk-sync.yaml": sourcetest.Str(gitRepositoryYAML("flux-system", fleet.URL, "branch: main", `
  include:
  - repository:
      name: shared
    fromPath: other
    toPath: vendor/root-shared`) + "---\n" + kustomizationYAML("flux-system", "flux-system", "./clusters/prod")),
		"clusters/prod/root-shared.yaml": sourcetest.Str(kustomizationYAML("root-shared", "flux-system", "./vendor/root-shared")),
		"clusters/prod/tenant.yaml": sourcetest.Str(gitRepositoryYAML("tenant", fleet.URL, "branch: dev-team", "") + "---\n" +
			kustomizationYAML("tenant", "tenant", "./tenant")),
		"clusters/prod/platform.yaml": sourcetest.Str(gitRepositoryYAML("platform", fleet.URL, "branch: main", `
  include:
  - repository:
      name: shared
    fromPath: deploy
    toPath: vendor/shared`) + "---\n" + gitRepositoryYAML("shared", shared.URL, "branch: main", "") + "---\n" +
			kustomizationYAML("platform", "platform", "./vendor/shared")),
		"clusters/bad/flux-system/gotk-sync.yaml": sourcetest.Str(gitRepositoryYAML("flux-system", fleet.URL, "branch: main", "") + "---\n" +
			kustomizationYAML("flux-system", "flux-system", "./clusters/bad")),
		"clusters/bad/platform.yaml": sourcetest.Str(gitRepositoryYAML("platform", fleet.URL, "branch: main", `
  include:
  - repository:
      name: nope`) + "---\n" + kustomizationYAML("platform", "platform", "./nope")),
		"tenant/cm.yaml": sourcetest.Str(configMapYAML("tenant", "main")),
	})
	sourcetest.RunGit(t, fleet.Work, "checkout", "-q", "-b", "dev-team")
	writeTree(t, fleet.Work, map[string]string{"tenant/cm.yaml": configMapYAML("tenant", "dev")})
	sourcetest.RunGit(t, fleet.Work, "commit", "-q", "-am", "dev")
	sourcetest.RunGit(t, fleet.Work, "push", "-q", filepath.Join(srv.Root, "fleet.git"), "dev-team")
	dev := sourcetest.RunGit(t, fleet.Work, "rev-parse", "HEAD")

	clone := filepath.Join(t.TempDir(), "clone")
	sourcetest.RunGit(t, filepath.Dir(clone), "clone", "-q", fleet.URL, clone)

	t.Run("tenant branch and include", func(t *testing.T) {
		out, errOut, code := run(t, filepath.Join(clone, "clusters/prod"))
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, errOut)
		}
		for _, want := range []string{"team: dev", "team: platform", "team: root-include"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "team: main") {
			t.Errorf("the tenant was built from the work tree:\n%s", out)
		}
		for _, want := range []string{
			"source GitRepository/flux-system/tenant: local ref dev-team@sha1:" + dev + " (refs/remotes/origin/dev-team), not the work tree\n",
			"source GitRepository/flux-system/platform: work tree, with spec.include\n",
			"source GitRepository/flux-system/shared: fetched main@sha1:",
			"source GitRepository/flux-system/flux-system: work tree, with spec.include\n",
		} {
			if !strings.Contains(errOut, want) {
				t.Errorf("stderr lacks %q:\n%s", want, errOut)
			}
		}
	})
	t.Run("missing include", func(t *testing.T) {
		_, errOut, code := run(t, filepath.Join(clone, "clusters/bad"))
		if code != 2 {
			t.Fatalf("exit %d, want 2\n%s", code, errOut)
		}
		for _, want := range []string{"GitRepository/flux-system/platform", `include "nope"`, "GitRepository/flux-system/nope is not defined"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("stderr lacks %q:\n%s", want, errOut)
			}
		}
	})
}
