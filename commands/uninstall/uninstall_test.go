package uninstall

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/agent"
	"github.com/converge-gitops/converge/engine/apply"
	engineinstall "github.com/converge-gitops/converge/engine/install"
	"github.com/converge-gitops/converge/engine/kinds"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
	"github.com/converge-gitops/converge/engine/testenv"
)

var cluster *testenv.Cluster

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &cluster)) }

func install(t *testing.T, clients *kube.Clients, ns string) {
	t.Helper()
	objs, err := engineinstall.Objects(engineinstall.Options{Namespace: ns, Version: "v0.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	clients.Mapper.Reset()
	if _, err := (&apply.Manager{Client: clients.Dynamic, Mapper: clients.Mapper}).Apply(context.Background(), objs, apply.Options{}); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	ios, in, out, errOut := cmdutil.Test()
	in.WriteString(stdin)
	f := cmdutil.NewFactory(ios, cmdutil.BuildInfo{})
	f.Timeout = 2 * time.Minute
	cmd := NewCmdUninstall(f)
	f.KubeFlags.AddFlags(cmd.PersistentFlags())
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cluster.WriteKubeconfig(kc); err != nil {
		t.Fatal(err)
	}
	cmd.SilenceUsage = true
	cmd.SetArgs(append(args, "--kubeconfig", kc))
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// The agent applied a ConfigMap through a Kustomization with Flux's finalizer; uninstall removes the
// finalizer first, so deleting the CRDs deletes the Kustomization without pruning the ConfigMap.
func TestUninstall(t *testing.T) {
	ctx := context.Background()
	const ns, apps = "converge-un", "apps-un"
	clients, err := kube.New(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	install(t, clients, ns)
	if _, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: apps}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	repo := sourcetest.StartGitServer(t).NewRepo(t, "un")
	repo.Commit("first", map[string]*string{"apps/cm.yaml": sourcetest.Str(fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kept, namespace: %s}\ndata: {v: x}\n", apps))})
	store, err := source.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Options{Clients: clients, Store: store, DependencyRequeue: time.Second, ShutdownGrace: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	actx, stopAgent := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: repo, namespace: %s}
spec: {interval: 1h, url: %q, ref: {branch: main}}`, apps, repo.URL))
	cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: %s}
spec: {interval: 1h, path: ./apps, prune: true, sourceRef: {kind: GitRepository, name: repo}}`, apps))
	kss := clients.Dynamic.Resource(kinds.MustByKey("kustomizations").Resource).Namespace(apps)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		_, cmErr := cluster.Client.CoreV1().ConfigMaps(apps).Get(ctx, "kept", metav1.GetOptions{})
		ks, err := kss.Get(ctx, "apps", metav1.GetOptions{})
		if cmErr == nil && err == nil && slices.Contains(ks.GetFinalizers(), engineinstall.Finalizer) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent did not apply the ConfigMap: %v %v", cmErr, err)
		}
	}
	// In a cluster, deleting the agent's Deployment stops the agent; here it runs in the test.
	stopAgent()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	_, errOut, err := run(t, "n\n", "-n", ns)
	if !errors.Is(err, ErrAborted) || !strings.Contains(errOut, "Are you sure") {
		t.Fatalf("without confirmation: %v\n%s", err, errOut)
	}
	if _, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, engineinstall.AgentName, metav1.GetOptions{}); err != nil {
		t.Fatalf("the aborted uninstall deleted the agent: %v", err)
	}

	// --dry-run asks nothing, prints what it would do and changes nothing.
	out, errOut, err := run(t, "", "--dry-run", "-n", ns)
	if err != nil {
		t.Fatalf("--dry-run: %v\n%s", err, errOut)
	}
	for _, want := range []string{"Deployment/converge-agent deleted (dry run)", "Kustomization/apps-un/apps finalizer removed (dry run)",
		"CustomResourceDefinition/kustomizations.kustomize.toolkit.fluxcd.io deleted (dry run)", "Namespace/converge-un deleted (dry run)"} {
		if !strings.Contains(out, want) {
			t.Errorf("--dry-run output lacks %q:\n%s", want, out)
		}
	}
	if _, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, engineinstall.AgentName, metav1.GetOptions{}); err != nil {
		t.Fatalf("--dry-run deleted the agent: %v", err)
	}
	if ks, err := kss.Get(ctx, "apps", metav1.GetOptions{}); err != nil || !slices.Contains(ks.GetFinalizers(), engineinstall.Finalizer) {
		t.Fatalf("--dry-run removed the finalizer or the Kustomization: %v", err)
	}

	out, errOut, err = run(t, "", "-s", "-n", ns)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	for _, want := range []string{
		"Deployment/converge-agent deleted", "Service/webhook-receiver deleted", "NetworkPolicy/allow-egress deleted",
		"ClusterRoleBinding/converge-agent-converge-un deleted", "ServiceAccount/converge-agent deleted",
		"Kustomization/apps-un/apps finalizer removed",
		"CustomResourceDefinition/kustomizations.kustomize.toolkit.fluxcd.io deleted", "Namespace/converge-un deleted",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	order := []string{"► removing finalizers.fluxcd.io", "► deleting the agent", "► deleting the Flux CRDs", "► deleting namespace converge-un", "✔ uninstall finished"}
	last := -1
	for _, step := range order {
		i := strings.Index(errOut, step)
		if i <= last {
			t.Errorf("step %q out of order in:\n%s", step, errOut)
		}
		last = i
	}
	if _, err := cluster.Client.CoreV1().ConfigMaps(apps).Get(ctx, "kept", metav1.GetOptions{}); err != nil {
		t.Errorf("the deployed ConfigMap did not survive: %v", err)
	}
	if _, err := kss.List(ctx, metav1.ListOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Kustomizations still served: %v", err)
	}
	if _, err := cluster.Client.RbacV1().ClusterRoleBindings().Get(ctx, "converge-agent-converge-un", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("ClusterRoleBinding: %v", err)
	}
	if n, err := cluster.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err == nil && n.DeletionTimestamp == nil {
		t.Error("namespace not being deleted")
	}

	// --keep-namespace keeps it.
	install(t, clients, "converge-keep")
	if _, errOut, err := run(t, "", "--silent", "--keep-namespace", "-n", "converge-keep"); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if n, err := cluster.Client.CoreV1().Namespaces().Get(ctx, "converge-keep", metav1.GetOptions{}); err != nil || n.DeletionTimestamp != nil {
		t.Errorf("--keep-namespace: %v %v", err, n.DeletionTimestamp)
	}
	if _, err := cluster.Client.AppsV1().Deployments("converge-keep").Get(ctx, engineinstall.AgentName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("agent Deployment after uninstall --keep-namespace: %v", err)
	}
}
