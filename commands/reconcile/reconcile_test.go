package reconcile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/v1/random"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/agent"
	"github.com/converge-gitops/converge/engine/helmrelease/helmtest"
	"github.com/converge-gitops/converge/engine/inspect"
	"github.com/converge-gitops/converge/engine/kinds"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
	"github.com/converge-gitops/converge/engine/testenv"
)

var cluster *testenv.Cluster

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &cluster)) }

func run(t *testing.T, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	ios, _, _, errOut := cmdutil.Test()
	f := cmdutil.NewFactory(ios, cmdutil.BuildInfo{})
	f.Timeout = timeout
	cmd := NewCmdReconcile(f)
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

func namespace(t *testing.T, name string) {
	t.Helper()
	_, err := cluster.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func configMap(ns, name, value string) *string {
	return sourcetest.Str(fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, namespace: %s}\ndata: {value: %q}\n", name, ns, value))
}

func startAgent(t *testing.T) {
	t.Helper()
	clients, err := kube.New(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	store, err := source.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Options{Clients: clients, Store: store, DependencyRequeue: time.Second, ShutdownGrace: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
}

func cmValue(t *testing.T, ns, name string) string {
	cm, err := cluster.Client.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return cm.Data["value"]
}

func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last state: %s", what, last)
}

// The real agent answers: a new commit is fetched and applied on `reconcile kustomization --with-source`;
// a failing Kustomization fails the command with exit code 2 and the Ready message.
func TestReconcileWithAgent(t *testing.T) {
	const ns = "team"
	namespace(t, ns)
	repo := sourcetest.StartGitServer(t).NewRepo(t, "team")
	repo.Commit("first", map[string]*string{"apps/cm.yaml": configMap(ns, "settings", "one")})
	startAgent(t)
	cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: repo, namespace: %s}
spec: {interval: 1h, url: %q, ref: {branch: main}}`, ns, repo.URL))
	ks := func(name, path string) string {
		return fmt.Sprintf(`apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: %s, namespace: %s}
spec: {interval: 1h, path: %s, prune: true, sourceRef: {kind: GitRepository, name: repo}}`, name, ns, path)
	}
	cluster.ApplyYAML(t, ks("apps", "./apps"))
	eventually(t, "the first commit applied", func() (bool, string) { v := cmValue(t, ns, "settings"); return v == "one", v })

	second := repo.Commit("second", map[string]*string{"apps/cm.yaml": configMap(ns, "settings", "two")})
	errOut, err := run(t, 2*time.Minute, "kustomization", "apps", "--with-source", "-n", ns)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	for _, want := range []string{
		"► annotating GitRepository repo in team namespace",
		"✔ fetched revision main@sha1:" + second,
		"► annotating Kustomization apps in team namespace",
		"✔ applied revision main@sha1:" + second,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if v := cmValue(t, ns, "settings"); v != "two" {
		t.Errorf("ConfigMap = %q after reconcile --with-source", v)
	}

	cluster.ApplyYAML(t, ks("broken", "./does-not-exist"))
	errOut, err = run(t, 2*time.Minute, "ks", "broken", "-n", ns)
	var notReady *inspect.NotReadyError
	if !errors.As(err, &notReady) || !strings.Contains(err.Error(), "does-not-exist") {
		t.Fatalf("error = %v\n%s", err, errOut)
	}
	var buf bytes.Buffer
	if code := cmdutil.ExitCode(err, &buf); code != 2 || !strings.Contains(buf.String(), "Kustomization team/broken reconciliation failed") {
		t.Errorf("exit code %d, printed %q", code, buf.String())
	}
}

// Without an agent for HelmReleases, the answer is simulated: a goroutine copies the request into the
// status as the controller would.
func TestReconcileSimulated(t *testing.T) {
	const ns = "releases"
	namespace(t, ns)
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	hrs := dyn.Resource(kinds.MustByKey("helmreleases").Resource).Namespace(ns)
	for _, name := range []string{"podinfo", "stuck", "paused"} {
		suspend := name == "paused"
		cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: %s, namespace: %s}
spec: {interval: 1h, suspend: %v, chart: {spec: {chart: podinfo, sourceRef: {kind: HelmRepository, name: charts}}}}`, name, ns, suspend))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	answered := make(chan [2]string, 1)
	go func() {
		for ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
			u, err := hrs.Get(ctx, "podinfo", metav1.GetOptions{})
			if err != nil {
				continue
			}
			req := u.GetAnnotations()[inspect.RequestedAtAnnotation]
			force := u.GetAnnotations()[inspect.ForceAtAnnotation]
			reset := u.GetAnnotations()[inspect.ResetAtAnnotation]
			if req == "" {
				continue
			}
			u.Object["status"] = map[string]any{
				"lastHandledReconcileAt": req, "observedGeneration": u.GetGeneration(), "lastAttemptedRevision": "6.5.0",
				"conditions": []any{map[string]any{"type": "Ready", "status": "True", "reason": "UpgradeSucceeded",
					"message": "Helm upgrade succeeded", "lastTransitionTime": "2026-11-23T00:00:00Z", "observedGeneration": u.GetGeneration()}},
			}
			if _, err := hrs.UpdateStatus(ctx, u, metav1.UpdateOptions{}); err == nil {
				answered <- [2]string{force, reset}
				return
			}
		}
	}()
	errOut, err := run(t, time.Minute, "hr", "podinfo", "--force", "--reset", "-n", ns)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if !strings.Contains(errOut, "✔ applied revision 6.5.0") {
		t.Errorf("stderr:\n%s", errOut)
	}
	got := <-answered
	if got[0] == "" {
		t.Error("--force did not set reconcile.fluxcd.io/forceAt")
	}
	if got[1] != got[0] {
		t.Errorf("--reset set reconcile.fluxcd.io/resetAt to %q, want the request token %q", got[1], got[0])
	}

	// Nobody answers: --timeout ends the wait with a clear error.
	start := time.Now()
	_, err = run(t, 2*time.Second, "helmrelease", "stuck", "-n", ns)
	if err == nil || !strings.Contains(err.Error(), "waiting for HelmRelease releases/stuck to reconcile") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v", err)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("took %s with --timeout 2s", took)
	}

	_, err = run(t, time.Minute, "helmrelease", "paused", "-n", ns)
	if !errors.Is(err, inspect.ErrSuspended) {
		t.Errorf("suspended: %v", err)
	}
	if _, err = run(t, time.Minute, "source", "git", "nope", "-n", ns); err == nil || !strings.Contains(err.Error(), "GitRepository releases/nope not found") {
		t.Errorf("missing object: %v", err)
	}
}

// `reconcile image repository` asks the agent for a scan and reports its result; a scan that fails
// (nothing listens at the registry address) fails the command with the Ready message.
func TestReconcileImageRepository(t *testing.T) {
	const ns = "images"
	namespace(t, ns)
	reg := sourcetest.StartRegistry(t, "")
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := crane.Push(img, reg.Host+"/org/app:1.0.0", crane.Insecure); err != nil {
		t.Fatal(err)
	}
	startAgent(t)
	for name, host := range map[string]string{"app": reg.Host, "dead": fmt.Sprintf("127.0.0.1:%d", sourcetest.FreePort(t))} {
		cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: %s, namespace: %s}
spec: {image: %s/org/app, interval: 1h, insecure: true, timeout: 5s}`, name, ns, host))
	}
	errOut, err := run(t, time.Minute, "image", "repository", "app", "-n", ns)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if !strings.Contains(errOut, "ImageRepository annotated") || !strings.Contains(errOut, "✔") {
		t.Errorf("stderr:\n%s", errOut)
	}
	_, err = run(t, time.Minute, "image", "repository", "dead", "-n", ns)
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("unreachable registry: %v", err)
	}
	if _, err := run(t, time.Minute, "image", "update", "nope", "-n", ns); err == nil || !strings.Contains(err.Error(), "ImageUpdateAutomation images/nope not found") {
		t.Errorf("missing automation: %v", err)
	}

	// `reconcile image policy` and `reconcile receiver`, as Flux 2.9 has them: the agent answers both.
	cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: app, namespace: %s}
spec: {imageRepositoryRef: {name: app}, policy: {semver: {range: ">=1.0.0"}}}`, ns))
	cluster.ApplyYAML(t, fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: token, namespace: %s}\nstringData: {token: t0ken}\n", ns))
	cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata: {name: hook, namespace: %s}
spec: {type: generic, secretRef: {name: token}, resources: [{kind: ImageRepository, name: app}]}`, ns))
	for _, args := range [][]string{{"image", "policy", "app"}, {"receiver", "hook"}} {
		errOut, err := run(t, time.Minute, append(args, "-n", ns)...)
		if err != nil {
			t.Fatalf("reconcile %v: %v\n%s", args, err, errOut)
		}
		if !strings.Contains(errOut, "annotated") || !strings.Contains(errOut, "✔") {
			t.Errorf("reconcile %v: stderr:\n%s", args, errOut)
		}
	}
}

// `reconcile source chart` with the real agent: the HelmChart's artifact is reported; with --with-source
// its HelmRepository is reconciled first, so a version just published is fetched.
func TestReconcileHelmChartWithAgent(t *testing.T) {
	const ns = "charts"
	namespace(t, ns)
	repo := helmtest.NewRepository(t)
	v1 := helmtest.PackageVersion(t, "simple", "0.1.0")
	repo.Publish(t, "simple", map[string][]byte{"0.1.0": v1})
	startAgent(t)
	cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {name: charts, namespace: %s}
spec: {interval: 1h, url: %q}`, ns, repo.URL))
	cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmChart
metadata: {name: simple, namespace: %s}
spec: {interval: 1h, chart: simple, sourceRef: {kind: HelmRepository, name: charts}}`, ns))

	errOut, err := run(t, time.Minute, "source", "chart", "simple", "-n", ns)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if !strings.Contains(errOut, "✔ fetched revision 0.1.0") {
		t.Errorf("stderr:\n%s", errOut)
	}

	repo.Publish(t, "simple", map[string][]byte{"0.1.0": v1, "0.2.0": helmtest.PackageVersion(t, "simple", "0.2.0")})
	errOut, err = run(t, time.Minute, "source", "chart", "simple", "--with-source", "-n", ns)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	for _, want := range []string{
		"► annotating HelmRepository charts in charts namespace",
		"► annotating HelmChart simple in charts namespace",
		"✔ fetched revision 0.2.0",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}
