package diff

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/keys"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/driver"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/reconcile"
	"github.com/converge-gitops/converge/engine/source/git"
	"github.com/converge-gitops/converge/engine/testenv/goldenfile"
	"github.com/converge-gitops/converge/engine/workspace"
)

// testAgeRecipient is the public key of testdata/build/keys/test.agekey (a test-only key).
const testAgeRecipient = "age1y96qhum5qej62qhlpqjg9hv4jhg4ymxghw8xpel375clhd8stv9shwecax"

// scenarioOptions are apply's options for the tree of testdata/diff/repo copied to root: its own
// root Kustomization (diff-system/diff-root), the Git source mapped to root, the test age key.
func scenarioOptions(t *testing.T, root string) driver.Options {
	key, err := filepath.Abs("../../testdata/build/keys/test.agekey")
	if err != nil {
		t.Fatal(err)
	}
	return driver.Options{
		Workspace: workspace.Options{Path: filepath.Join(root, "clusters/test"), Root: root, CacheDir: t.TempDir(),
			LocalSources: []string{"GitRepository/diff-system/diff-system=" + root}, DecryptionKeys: []string{key}},
		Clock: clock.RealClock{}, Revision: func(*git.WorkTree) string { return "main@sha1:0123456789012345678901234567890123456789" },
		Clients: func() (*kube.Clients, error) { return kube.New(cluster.Config) },
	}
}

func runScenarioDiff(t *testing.T, root, output string) (string, string, int) {
	t.Helper()
	ios, _, out, errOut := cmdutil.Test()
	opts := &Options{IO: ios, Options: scenarioOptions(t, root), Output: output}
	code := cmdutil.ExitCode(opts.Run(context.Background()), errOut)
	return out.String(), errOut.String(), code
}

// encryptSecret writes a Secret holding password, SOPS-encrypted (data and stringData) for the test
// age key, as `sops --encrypt --age <recipient> --encrypted-regex '^(data|stringData)$'` would.
func encryptSecret(t *testing.T, path, password string) {
	t.Helper()
	plain := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: diff-apps\nstringData:\n  username: app\n  password: " + password + "\n"
	store := sopsyaml.NewStore(&config.YAMLStoreConfig{})
	branches, err := store.LoadPlainFile([]byte(plain))
	if err != nil {
		t.Fatal(err)
	}
	mk, err := sopsage.MasterKeyFromRecipient(testAgeRecipient)
	if err != nil {
		t.Fatal(err)
	}
	dataKey := make([]byte, 32)
	if _, err := rand.Read(dataKey); err != nil {
		t.Fatal(err)
	}
	if err := mk.Encrypt(dataKey); err != nil {
		t.Fatal(err)
	}
	tree := sops.Tree{Branches: branches, Metadata: sops.Metadata{KeyGroups: []sops.KeyGroup{{keys.MasterKey(mk)}},
		EncryptedRegex: "^(data|stringData)$", Version: "3.13.3"}}
	cipher := aes.NewCipher()
	mac, err := tree.Encrypt(dataKey, cipher)
	if err != nil {
		t.Fatal(err)
	}
	tree.Metadata.LastModified = time.Now().UTC().Truncate(time.Second)
	if tree.Metadata.MessageAuthenticationCode, err = cipher.Encrypt(mac, dataKey, tree.Metadata.LastModified.Format(time.RFC3339)); err != nil {
		t.Fatal(err)
	}
	out, err := store.EmitEncryptedFile(tree)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), password) {
		t.Fatal("the encrypted file holds the password")
	}
	write(t, path, string(out))
}

// ipAddress matches the addresses the server allocates (a deleted Service's clusterIP).
var ipAddress = regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b`)

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	got = ipAddress.ReplaceAllString(got, "<ip>")
	golden := filepath.Join("../../testdata/golden/commands", name)
	goldenfile.CheckString(t, golden, got)
}

// TestDiffScenario walks the live cases on one tree (testdata/diff/repo) against the real API
// server: a tree not in the cluster yet, no changes after apply (a Helm release in sync included, even
// with drift apply would not touch), then one change set covering a new object, a changed field, drift
// by another writer, a pruned object, a removed child Kustomization with its inventory and its own
// child's, a removed HelmRelease (uninstalled), a new Kustomization, a HelmRelease values change (an object changed, one dropped), Secret and
// SOPS-encrypted Secret value changes (masked), immutable fields with and without force, ignore rules
// and a dry-run rejection, in text, JSON and markdown (golden), with each exit code.
func TestDiffScenario(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS("../../testdata/diff/repo")); err != nil {
		t.Fatal(err)
	}
	encryptSecret(t, filepath.Join(root, "apps/db.enc.yaml"), "first-password")

	// Nothing in the cluster yet: everything is to be created, the HelmRelease's objects too.
	out, errOut, code := runScenarioDiff(t, root, cmdutil.OutputTable)
	for _, want := range []string{
		"+ Kustomization/diff-system/apps created (Kustomization diff-system/diff-root)",
		"+ Namespace/diff-apps created (Kustomization diff-system/apps)",
		"+ ConfigMap/diff-apps/diff-apps-web created (HelmRelease diff-system/web)",
		"+ Service/diff-apps/diff-apps-web created (HelmRelease diff-system/web)",
		"+ ConfigMap/diff-apps/diff-apps-web-extra created (HelmRelease diff-system/web)",
		"+ ConfigMap/diff-apps/extra-child-settings created (Kustomization diff-system/extra-child)",
		"+ Secret/diff-apps/db created (Kustomization diff-system/apps)",
		"password: '***'",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("new tree: output lacks %q", want)
		}
	}
	if code != 1 || strings.Contains(out, "first-password") || strings.Contains(out, "first-token-value") {
		t.Fatalf("new tree: exit %d (want 1), or a secret printed\n%s\n%s", code, out, errOut)
	}

	if _, err := applyTree(ctx, scenarioOptions(t, root)); err != nil {
		t.Fatalf("apply: %v", err)
	}
	_, errOut, code = runScenarioDiff(t, root, cmdutil.OutputTable)
	if code != 0 || !strings.Contains(errOut, "no changes") {
		t.Fatalf("after apply: exit %d, want 0\n%s", code, errOut)
	}
	// Drift on an object of a release in sync: apply runs no Helm upgrade, so it changes nothing.
	patchObj(t, "configmaps", "diff-apps-web", `{"data":{"greeting":"edited by hand"}}`)
	if out, errOut, code = runScenarioDiff(t, root, cmdutil.OutputTable); code != 0 {
		t.Fatalf("drift on a release in sync: exit %d, want 0\n%s\n%s", code, out, errOut)
	}

	// The agent's finalizer: deleting these Kustomizations deletes what they applied.
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range []struct {
		resource schema.GroupVersionResource
		name     string
	}{{reconcile.KustomizationsResource, "extra"}, {reconcile.KustomizationsResource, "extra-child"}, {reconcile.HelmReleasesResource, "gone"}} {
		if _, err := dyn.Resource(obj.resource).Namespace("diff-system").Patch(ctx, obj.name, types.MergePatchType,
			[]byte(`{"metadata":{"finalizers":["finalizers.fluxcd.io"]}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	patchObj(t, "deployments", "web", `{"spec":{"replicas":2}}`)

	write(t, filepath.Join(root, "apps/settings.yaml"), strings.Replace(mustRead(t, filepath.Join(root, "apps/settings.yaml")), "blue", "green", 1))
	write(t, filepath.Join(root, "apps/new.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: new\n  namespace: diff-apps\ndata:\n  fresh: \"yes\"\n")
	write(t, filepath.Join(root, "apps/bad.yaml"), "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: bad\n  namespace: diff-apps\nspec:\n  replicas: 0\n  selector:\n    matchLabels:\n      app: bad\n  template:\n    metadata:\n      labels:\n        app: other\n    spec:\n      containers:\n        - name: bad\n          image: ghcr.io/stefanprodan/podinfo:6.7.0\n")
	write(t, filepath.Join(root, "apps/kustomization.yaml"), strings.Replace(mustRead(t, filepath.Join(root, "apps/kustomization.yaml")), "  - pruned.yaml\n", "  - new.yaml\n  - bad.yaml\n", 1))
	write(t, filepath.Join(root, "apps/kustomization.yaml"), strings.Replace(mustRead(t, filepath.Join(root, "apps/kustomization.yaml")), "  - gone.yaml\n", "", 1))
	write(t, filepath.Join(root, "apps/locked.yaml"), strings.ReplaceAll(mustRead(t, filepath.Join(root, "apps/locked.yaml")), `version: "1"`, `version: "2"`))
	write(t, filepath.Join(root, "apps/ignored.yaml"), strings.ReplaceAll(mustRead(t, filepath.Join(root, "apps/ignored.yaml")), `seed: "1"`, `seed: "2"`))
	write(t, filepath.Join(root, "apps/secret.yaml"), strings.Replace(mustRead(t, filepath.Join(root, "apps/secret.yaml")), "first-token-value", "second-token-value", 1))
	encryptSecret(t, filepath.Join(root, "apps/db.enc.yaml"), "second-password")
	write(t, filepath.Join(root, "apps/release.yaml"), strings.Replace(strings.Replace(mustRead(t, filepath.Join(root, "apps/release.yaml")),
		"greeting: hello", "greeting: hello again", 1), "extra: true", "extra: false", 1))
	if err := os.Remove(filepath.Join(root, "clusters/test/extra.yaml")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "clusters/test/later.yaml"), "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: later\n  namespace: diff-system\nspec:\n  interval: 10m\n  path: ./later\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: diff-system\n")
	if err := os.MkdirAll(filepath.Join(root, "later"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "later/later.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: later\n  namespace: diff-apps\ndata:\n  when: later\n")

	for _, f := range []struct{ output, golden string }{
		{cmdutil.OutputTable, "diff-scenario.txt"},
		{cmdutil.OutputJSON, "diff-scenario.json"},
		{OutputMarkdown, "diff-scenario.md"},
	} {
		out, errOut, code := runScenarioDiff(t, root, f.output)
		if code != 2 || !strings.Contains(errOut, "2 will fail") {
			t.Errorf("%s: exit %d, want 2 (objects that will fail)\n%s", f.output, code, errOut)
		}
		for _, secret := range []string{"first-password", "second-password", "first-token-value", "second-token-value"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s: output shows the secret value %q", f.output, secret)
			}
		}
		checkGolden(t, f.golden, out)
		if f.output == cmdutil.OutputJSON {
			checkScenarioJSON(t, out)
		}
	}

	// Without the rejected objects, a recreation is a change (exit 1), not an error.
	write(t, filepath.Join(root, "apps/kustomization.yaml"), strings.Replace(mustRead(t, filepath.Join(root, "apps/kustomization.yaml")), "  - bad.yaml\n", "", 1))
	locked := mustRead(t, filepath.Join(root, "apps/locked.yaml"))
	write(t, filepath.Join(root, "apps/locked.yaml"), strings.Replace(locked, `version: "2"`, `version: "1"`, 1))
	out, errOut, code = runScenarioDiff(t, root, cmdutil.OutputTable)
	if code != 1 || !strings.Contains(out, "~ ConfigMap/diff-apps/forced will be recreated (Kustomization diff-system/apps)") || strings.Contains(out, "will fail") {
		t.Fatalf("recreation only: exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	if _, err := cluster.Client.CoreV1().ConfigMaps("diff-apps").Get(ctx, "new", metav1.GetOptions{}); err == nil {
		t.Error("diff created a ConfigMap")
	}
}

// checkScenarioJSON checks the JSON output's schema and the actions of the scenario's changes.
func checkScenarioJSON(t *testing.T, out string) {
	t.Helper()
	var res struct {
		Changes []struct {
			Owner, Name, Subject, Action, Reason, Diff string
		}
		Unchanged int
		Errors    []string
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range res.Changes {
		got[c.Owner+" "+c.Name+" "+c.Subject] = c.Action
	}
	want := map[string]string{
		"Kustomization diff-system/apps ConfigMap/diff-apps/settings":                    "changed",
		"Kustomization diff-system/apps ConfigMap/diff-apps/new":                         "created",
		"Kustomization diff-system/apps Deployment/diff-apps/web":                        "changed",
		"Kustomization diff-system/apps ConfigMap/diff-apps/pruned":                      "deleted",
		"Kustomization diff-system/apps Secret/diff-apps/token":                          "changed",
		"Kustomization diff-system/apps Secret/diff-apps/db":                             "changed",
		"Kustomization diff-system/apps ConfigMap/diff-apps/locked":                      "failed",
		"Kustomization diff-system/apps ConfigMap/diff-apps/forced":                      "recreated",
		"Kustomization diff-system/apps Deployment/diff-apps/bad":                        "failed",
		"Kustomization diff-system/apps HelmRelease/diff-system/web":                     "changed",
		"Kustomization diff-system/diff-root Kustomization/diff-system/extra":            "deleted",
		"Kustomization diff-system/diff-root Kustomization/diff-system/later":            "created",
		"Kustomization diff-system/extra ConfigMap/diff-apps/extra-settings":             "deleted",
		"Kustomization diff-system/extra Kustomization/diff-system/extra-child":          "deleted",
		"Kustomization diff-system/extra-child ConfigMap/diff-apps/extra-child-settings": "deleted",
		"Kustomization diff-system/later ConfigMap/diff-apps/later":                      "created",
		"HelmRelease diff-system/web ConfigMap/diff-apps/diff-apps-web":                  "changed",
		"HelmRelease diff-system/web ConfigMap/diff-apps/diff-apps-web-extra":            "deleted",
		"Kustomization diff-system/apps HelmRelease/diff-system/gone":                    "deleted",
		"HelmRelease diff-system/gone ConfigMap/diff-apps/diff-apps-gone":                "deleted",
		"HelmRelease diff-system/gone Service/diff-apps/diff-apps-gone":                  "deleted",
	}
	for k, a := range want {
		if got[k] != a {
			t.Errorf("%s: action %q, want %q", k, got[k], a)
		}
	}
	for k, a := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected change %s %s", k, a)
		}
	}
	if len(res.Errors) != 0 {
		t.Errorf("errors: %v", res.Errors)
	}
}

func patchObj(t *testing.T, resource, name, patch string) {
	t.Helper()
	ctx := context.Background()
	var err error
	po := metav1.PatchOptions{FieldManager: "kubectl-edit"}
	switch resource {
	case "configmaps":
		_, err = cluster.Client.CoreV1().ConfigMaps("diff-apps").Patch(ctx, name, types.MergePatchType, []byte(patch), po)
	case "deployments":
		_, err = cluster.Client.AppsV1().Deployments("diff-apps").Patch(ctx, name, types.MergePatchType, []byte(patch), po)
	}
	if err != nil {
		t.Fatal(err)
	}
}
