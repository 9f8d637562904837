package suspend

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/inspect"
	"github.com/converge-gitops/converge/engine/kinds"
	"github.com/converge-gitops/converge/engine/testenv"
)

var cluster *testenv.Cluster

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &cluster)) }

func run(t *testing.T, suspend bool, args ...string) (string, error) {
	t.Helper()
	ios, _, _, errOut := cmdutil.Test()
	f := cmdutil.NewFactory(ios, cmdutil.BuildInfo{})
	f.Timeout = time.Minute
	cmd := NewCmdResume(f)
	if suspend {
		cmd = NewCmdSuspend(f)
	}
	f.KubeFlags.AddFlags(cmd.PersistentFlags())
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cluster.WriteKubeconfig(kc); err != nil {
		t.Fatal(err)
	}
	cmd.SetArgs(append(args, "--kubeconfig", kc))
	cmd.SilenceUsage = true
	err := cmd.ExecuteContext(context.Background())
	return errOut.String(), err
}

func TestSuspendResume(t *testing.T) {
	ctx := context.Background()
	const ns = "suspend"
	if _, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	kss := dyn.Resource(kinds.MustByKey("kustomizations").Resource).Namespace(ns)
	for _, name := range []string{"a", "b"} {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(fmt.Sprintf(`apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: %s, namespace: %s}
spec: {interval: 1h, path: ./, prune: true, sourceRef: {kind: GitRepository, name: repo}}`, name, ns)), &u.Object); err != nil {
			t.Fatal(err)
		}
		if _, err := kss.Create(ctx, u, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	suspended := func(name string) (bool, string) {
		u, err := kss.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s, _, _ := unstructured.NestedBool(u.Object, "spec", "suspend")
		return s, u.GetAnnotations()[inspect.RequestedAtAnnotation]
	}

	errOut, err := run(t, true, "kustomization", "--all", "-n", ns)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	for _, name := range []string{"a", "b"} {
		if s, _ := suspended(name); !s {
			t.Errorf("%s not suspended", name)
		}
		if !strings.Contains(errOut, "► suspending Kustomization "+name+" in suspend namespace") {
			t.Errorf("stderr:\n%s", errOut)
		}
	}

	if _, err := run(t, false, "ks", "a", "--wait=false", "-n", ns); err != nil {
		t.Fatal(err)
	}
	if s, req := suspended("a"); s || req == "" {
		t.Errorf("after resume: suspend=%v requestedAt=%q", s, req)
	}

	// resume waits for the reconciliation it requests: answered here as the agent would.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for wctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
			u, err := kss.Get(wctx, "b", metav1.GetOptions{})
			if err != nil {
				continue
			}
			req := u.GetAnnotations()[inspect.RequestedAtAnnotation]
			if s, _, _ := unstructured.NestedBool(u.Object, "spec", "suspend"); s || req == "" {
				continue
			}
			u.Object["status"] = map[string]any{"lastHandledReconcileAt": req, "observedGeneration": u.GetGeneration(),
				"conditions": []any{map[string]any{"type": "Ready", "status": "False", "reason": "BuildFailed",
					"message": "kustomization path not found", "lastTransitionTime": "2026-11-23T00:00:00Z", "observedGeneration": u.GetGeneration()}}}
			if _, err := kss.UpdateStatus(wctx, u, metav1.UpdateOptions{}); err == nil {
				return
			}
		}
	}()
	errOut, err = run(t, false, "ks", "b", "-n", ns)
	if err == nil || !strings.Contains(err.Error(), "kustomization path not found") {
		t.Errorf("resume of a failing Kustomization: %v\n%s", err, errOut)
	}
	if !strings.Contains(errOut, "◎ waiting for Kustomization reconciliation") {
		t.Errorf("stderr:\n%s", errOut)
	}

	if _, err := run(t, true, "ks", "-n", ns); err == nil || !strings.Contains(err.Error(), "give object names or --all") {
		t.Errorf("no names: %v", err)
	}
	if _, err := run(t, true, "ks", "missing", "-n", ns); err == nil || !strings.Contains(err.Error(), "Kustomization suspend/missing not found") {
		t.Errorf("missing: %v", err)
	}
}

// Providers have no status to wait for: resume (waiting by default) returns once spec.suspend is cleared.
func TestSuspendResumeAlertProvider(t *testing.T) {
	ctx := context.Background()
	const ns = "suspend-provider"
	if _, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	providers := dyn.Resource(kinds.MustByKey("providers").Resource).Namespace(ns)
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(`apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: slack, namespace: `+ns+`}
spec: {type: generic, address: "http://127.0.0.1:1/"}`), &u.Object); err != nil {
		t.Fatal(err)
	}
	if _, err := providers.Create(ctx, u, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, suspend := range []bool{true, false} {
		verb := map[bool]string{true: "suspend", false: "resume"}[suspend]
		errOut, err := run(t, suspend, "alert-provider", "slack", "-n", ns)
		if err != nil {
			t.Fatalf("%s: %v\n%s", verb, err, errOut)
		}
		got, err := providers.Get(ctx, "slack", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if s, _, _ := unstructured.NestedBool(got.Object, "spec", "suspend"); s != suspend {
			t.Errorf("after %s: spec.suspend=%v", verb, s)
		}
		if strings.Contains(errOut, "waiting for") {
			t.Errorf("%s waited for a Provider reconciliation:\n%s", verb, errOut)
		}
	}
}
