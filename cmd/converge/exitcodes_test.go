package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/inspect"
	"github.com/converge-gitops/converge/engine/kinds"
)

// runProcess runs args as the converge process does and returns the code it exits with
// (cmdutil.ExitCodeFor), where run returns the command's own code.
func runProcess(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ios, in, out, errOut := cmdutil.Test()
	in.WriteString(stdin)
	f := newFactory()
	f.IO = ios
	root := newRoot(f)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(context.Background())
	code := cmdutil.ExitCodeFor(cmd, err, errOut)
	return result{stdout: out.String(), stderr: errOut.String(), code: code}
}

// failReconciles answers the next reconcile request of Kustomization ns/name as an agent that failed:
// the request handled, Ready False.
func failReconciles(t *testing.T, dyn dynamic.Interface, ns, name string) {
	t.Helper()
	ks := kinds.MustByKey("kustomizations")
	w, err := dyn.Resource(ks.Resource).Namespace(ns).Watch(context.Background(), metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok || ev.Type != watch.Modified {
				continue
			}
			token := u.GetAnnotations()[inspect.RequestedAtAnnotation]
			if token == "" {
				continue
			}
			gen := strconv.FormatInt(u.GetGeneration(), 10)
			status := `{"status":{"observedGeneration":` + gen + `,"lastHandledReconcileAt":"` + token + `","conditions":[{"type":"Ready",` +
				`"status":"False","reason":"BuildFailed","message":"kustomization path not found",` +
				`"lastTransitionTime":"2026-11-23T00:00:00Z","observedGeneration":` + gen + `}]}}`
			if _, err := dyn.Resource(ks.Resource).Namespace(ns).Patch(context.Background(), name, types.MergePatchType, []byte(status),
				metav1.PatchOptions{}, "status"); err != nil {
				t.Error(err)
			}
			return
		}
	}()
}

// TestExitCodes checks the process's exit codes against those Flux 2.9's CLI exits with in the same
// situations (observed with flux on the same objects): 1 for every failure, 0 for `get all` finding
// nothing; diff keeps 0/1/2 (no change, changes, failure) as Flux's diff kustomization.
func TestExitCodes(t *testing.T) {
	kc := kubeconfig(t)
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	const ns = "exitcodes"
	cluster.ApplyYAML(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: exitcodes}\n")
	ks := func(name, extra string) string {
		return "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: " + name + ", namespace: exitcodes}\n" +
			"spec: {interval: 10m, path: ./web, prune: true, targetNamespace: exitcodes, sourceRef: {kind: GitRepository, name: repo}" + extra + "}\n"
	}
	cluster.ApplyYAML(t, ks("paused", ", suspend: true"))
	cluster.ApplyYAML(t, ks("web", ""))
	cluster.ApplyYAML(t, ks("failing", ""))
	web := filepath.Join(t.TempDir(), "web")
	if err := os.Mkdir(web, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(web, "cm.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: new}\ndata: {a: \"1\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		setup  func(t *testing.T)
		stdin  string
		code   int
		stderr string
	}{
		{name: "get, object missing", args: []string{"get", "ks", "nope"}, code: 1, stderr: `Kustomization object 'nope' not found in "exitcodes" namespace`},
		{name: "get, no object of the kind", args: []string{"get", "hr"}, code: 1, stderr: `no HelmRelease objects found in "exitcodes" namespace`},
		{name: "get all, nothing", args: []string{"get", "all", "-n", "default"}, code: 0},
		{name: "get, unknown flag", args: []string{"get", "ks", "--bogus"}, code: 1, stderr: "unknown flag: --bogus"},
		{name: "unknown command", args: []string{"chekc"}, code: 1, stderr: `unknown command "chekc"`},
		{name: "reconcile, suspended", args: []string{"reconcile", "ks", "paused"}, code: 1, stderr: "suspended"},
		{name: "reconcile, missing", args: []string{"reconcile", "ks", "nope"}, code: 1, stderr: "not found"},
		{name: "reconcile --wait, failed", args: []string{"reconcile", "ks", "failing", "--timeout", "1m"}, code: 1,
			setup: func(t *testing.T) { failReconciles(t, dyn, ns, "failing") }, stderr: "kustomization path not found"},
		{name: "suspend, missing", args: []string{"suspend", "ks", "nope"}, code: 1, stderr: "not found"}, // Flux exits 0 here
		{name: "diff, changes", args: []string{"diff", "ks", "web", "--path", web}, code: 1},
		{name: "diff, failed", args: []string{"diff", "ks", "nope", "--path", web}, code: 2, stderr: "not found"},
		{name: "check, unreachable", args: []string{"check", "--pre", "--server", "https://127.0.0.1:1", "--timeout", "5s"}, code: 1,
			stderr: "cannot reach the Kubernetes API server"},
		{name: "envsubst --strict, unset", args: []string{"envsubst", "--strict"}, stdin: "a: ${CONVERGE_TEST_UNSET}\n", code: 1, stderr: "CONVERGE_TEST_UNSET"},
		{name: "version --client", args: []string{"version", "--client"}, code: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup(t)
			}
			args := tt.args
			if tt.args[0] != "version" && tt.args[0] != "envsubst" && !strings.Contains(strings.Join(args, " "), "--server") {
				args = append(args, "--kubeconfig", kc, "-n", ns, "--cache-dir", t.TempDir())
			}
			res := runProcess(t, tt.stdin, args...)
			if res.code != tt.code {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", res.code, tt.code, res.stdout, res.stderr)
			}
			if tt.stderr != "" && !strings.Contains(res.stderr, tt.stderr) {
				t.Errorf("stderr %q does not contain %q", res.stderr, tt.stderr)
			}
		})
	}
}
