package diff

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/driver"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/source/git"
	"github.com/converge-gitops/converge/engine/workspace"
)

// TestDiffArtifactGenerator: over a cluster folder whose Kustomizations build from an ArtifactGenerator's
// ExternalArtifacts, diff shows nothing after apply; a change to a file that lands in one generated
// artifact shows up as a change of the Kustomization consuming that artifact only; a change outside
// every artifact shows nothing.
func TestDiffArtifactGenerator(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS("../../testdata/generator/monorepo")); err != nil {
		t.Fatal(err)
	}
	// The Flux objects in their own namespace, the GitRepository served by the folder itself.
	files, _ := filepath.Glob(filepath.Join(root, "clusters", "staging", "*", "*.yaml"))
	more, _ := filepath.Glob(filepath.Join(root, "clusters", "staging", "*.yaml"))
	for _, f := range append(files, more...) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		write(t, f, strings.ReplaceAll(string(data), "namespace: flux-system", "namespace: gendiff-system"))
	}
	options := func() driver.Options {
		return driver.Options{Workspace: workspace.Options{Path: filepath.Join(root, "clusters/staging"), Root: root, CacheDir: t.TempDir(),
			LocalSources: []string{"GitRepository/gendiff-system/flux-system=" + root}},
			Clock: clock.RealClock{}, Revision: func(*git.WorkTree) string { return "main@sha1:0123456789012345678901234567890123456789" },
			Clients: func() (*kube.Clients, error) { return kube.New(cluster.Config) }, InstallCRDs: true}
	}
	type change struct{ Owner, Name, Subject, Action, Diff string }
	diff := func() ([]change, string, int) {
		t.Helper()
		ios, _, out, errOut := cmdutil.Test()
		opts := &Options{IO: ios, Options: options(), Output: cmdutil.OutputJSON}
		code := cmdutil.ExitCode(opts.Run(ctx), errOut)
		var res struct{ Changes []change }
		if out.Len() > 0 {
			if err := json.Unmarshal(out.Bytes(), &res); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		}
		return res.Changes, errOut.String(), code
	}

	if _, err := applyTree(ctx, options()); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if changes, errs, code := diff(); code != 0 || len(changes) != 0 {
		t.Fatalf("after apply: exit %d, changes %+v\n%s", code, changes, errs)
	}

	// A change in a file of the apps artifact.
	app := filepath.Join(root, "apps", "base", "app.yaml")
	data, err := os.ReadFile(app)
	if err != nil {
		t.Fatal(err)
	}
	write(t, app, strings.Replace(string(data), "greeting: hello", "greeting: bonjour", 1))
	changes, errs, code := diff()
	if code != 1 || len(changes) != 1 {
		t.Fatalf("apps file changed: exit %d, changes %+v\n%s", code, changes, errs)
	}
	c := changes[0]
	if c.Owner != "Kustomization" || c.Name != "gendiff-system/apps" || c.Subject != "ConfigMap/mono/app" || c.Action != "changed" ||
		!strings.Contains(c.Diff, "-  greeting: hello") || !strings.Contains(c.Diff, "+  greeting: bonjour") {
		t.Errorf("change %+v", c)
	}

	// A change outside every artifact.
	write(t, app, string(data))
	write(t, filepath.Join(root, "README.md"), "# not in any artifact\n")
	if changes, errs, code := diff(); code != 0 || len(changes) != 0 {
		t.Errorf("change outside the artifacts: exit %d, changes %+v\n%s", code, changes, errs)
	}
}
