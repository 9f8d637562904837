//go:build node && linux

package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/engine/agentimage"
	"github.com/converge-gitops/converge/engine/install"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
	"github.com/converge-gitops/converge/engine/testenv"
	"github.com/converge-gitops/converge/engine/testenv/node"
)

var env *node.Env

// TestMain runs every test against one node environment and fails when stopping it did not put the host
// back as it was.
func TestMain(m *testing.M) {
	before, err := node.HostState()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	code := node.Main(m, &env)
	after, err := node.HostState()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if before != after {
		fmt.Fprintf(os.Stderr, "the node environment left the host changed:\nbefore:\n%s\nafter:\n%s\n", before, after)
		code = 1
	}
	os.Exit(code)
}

var (
	ksGVR  = schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}
	gitGVR = schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "gitrepositories"}
)

// TestAgentPod builds the converge image, pushes it to the node's registry, installs it, checks the
// installation, lets the agent Pod reconcile a Git repository served to Pods, and uninstalls it.
func TestAgentPod(t *testing.T) {
	ctx := context.Background()
	bin := staticConverge(t)

	start := time.Now()
	idx, err := agentimage.Build(ctx, agentimage.Options{
		Binaries: map[string]string{"linux/amd64": bin},
		Version:  "node-test",
		Revision: "test",
		Source:   "https://github.com/converge-gitops/converge",
		Created:  time.Unix(0, 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	const tag = "node-test"
	digest, err := agentimage.Push(ctx, idx, env.Registry+"/converge:"+tag)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image built and pushed in %s: %s/converge:%s@%s", time.Since(start).Round(time.Millisecond), env.Registry, tag, digest)

	start = time.Now()
	converge(t, bin, "install", "--image", env.Registry+"/converge", "--version", tag, "--timeout", "5m")
	t.Logf("install to agent Ready: %s", time.Since(start).Round(time.Millisecond))
	pod := agentPod(t, ctx)
	if got := pod.Status.ContainerStatuses[0].ImageID; !strings.HasSuffix(got, digest) {
		t.Errorf("the agent runs image %s, want the index pushed (%s)", got, digest)
	}

	out := converge(t, bin, "check")
	if strings.Contains(out, "✗") {
		t.Errorf("converge check reported a failure:\n%s", out)
	}

	// The agent, inside its Pod, fetches from a Git server on the bridge and applies what it holds.
	srv := sourcetest.StartGitServerOn(t, node.Gateway)
	repo := srv.NewRepo(t, "fleet")
	head := repo.Commit("app", map[string]*string{
		"deploy/cm.yaml": sourcetest.Str("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-git, namespace: default}\ndata: {at: one}\n"),
	})
	apply(t, fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: fleet, namespace: flux-system}
spec:
  interval: 1m
  url: %s
  ref: {branch: main}
`, repo.URL))
	apply(t, `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: app, namespace: flux-system}
spec:
  interval: 1m
  path: ./deploy
  prune: true
  sourceRef: {kind: GitRepository, name: fleet}
`)
	rev := "main@sha1:" + head
	waitFor(t, 3*time.Minute, "Kustomization app Ready at "+rev, func() (bool, string) {
		return readyAt(t, ksGVR, "app", rev)
	})
	cm, err := env.Client.CoreV1().ConfigMaps("default").Get(ctx, "from-git", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the agent did not apply the ConfigMap from Git: %v", err)
	}
	if cm.Data["at"] != "one" {
		t.Errorf("ConfigMap from-git data = %v, want at=one", cm.Data)
	}
	logMemory(t, ctx, pod.Name)

	converge(t, bin, "uninstall", "--silent")
	if _, err := env.Client.CoreV1().ConfigMaps("default").Get(ctx, "from-git", metav1.GetOptions{}); err != nil {
		t.Errorf("after uninstall, the workload the agent applied is gone: %v", err)
	}
	if _, err := env.Client.AppsV1().Deployments("flux-system").Get(ctx, install.AgentName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after uninstall, the agent Deployment: err = %v, want not found", err)
	}
}

// staticConverge builds cmd/converge without cgo, as the image needs it.
func staticConverge(t *testing.T) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "converge")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./cmd/converge")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// converge runs the converge binary against the node's API server and returns its combined output.
func converge(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append(args, "--kubeconfig", env.KubeconfigPath)...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("converge %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func apply(t *testing.T, doc string) {
	t.Helper()
	clients, err := kube.New(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	m, err := clients.Mapper.RESTMapping(u.GroupVersionKind().GroupKind(), u.GroupVersionKind().Version)
	if err != nil {
		t.Fatal(err)
	}
	data, err := u.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	force := true
	if _, err := clients.Dynamic.Resource(m.Resource).Namespace(u.GetNamespace()).Patch(context.Background(), u.GetName(),
		types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "test", Force: &force}); err != nil {
		t.Fatalf("applying %s %s: %v", u.GetKind(), u.GetName(), err)
	}
}

// readyAt reports whether flux-system/name has Ready True with rev in its message or revision.
func readyAt(t *testing.T, gvr schema.GroupVersionResource, name, rev string) (bool, string) {
	clients, err := kube.New(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	u, err := clients.Dynamic.Resource(gvr).Namespace("flux-system").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return false, err.Error()
	}
	applied, _, _ := unstructured.NestedString(u.Object, "status", "lastAppliedRevision")
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Ready" {
			state := fmt.Sprintf("Ready=%v %v: %v (applied %s)", m["status"], m["reason"], m["message"], applied)
			return m["status"] == "True" && applied == rev, state
		}
	}
	return false, "no Ready condition (applied " + applied + ")"
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last: %s", what, timeout, state)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// agentPod returns the agent's Ready Pod.
func agentPod(t *testing.T, ctx context.Context) *corev1.Pod {
	t.Helper()
	pods, err := env.Client.CoreV1().Pods("flux-system").List(ctx, metav1.ListOptions{LabelSelector: install.AppLabel + "=" + install.AgentName})
	if err != nil {
		t.Fatal(err)
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		for _, c := range p.Status.Conditions {
			if c.Type == "Ready" && c.Status == "True" && len(p.Status.ContainerStatuses) > 0 {
				return p
			}
		}
	}
	t.Fatalf("no Ready agent Pod among %d", len(pods.Items))
	return nil
}

// logMemory logs the agent container's working set from the kubelet's summary API.
func logMemory(t *testing.T, ctx context.Context, pod string) {
	t.Helper()
	raw, err := env.Client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", node.NodeName, "proxy/stats/summary").DoRaw(ctx)
	if err != nil {
		t.Fatalf("kubelet summary: %v", err)
	}
	var summary struct {
		Pods []struct {
			PodRef     struct{ Name string } `json:"podRef"`
			Containers []struct {
				Name   string
				Memory struct {
					WorkingSetBytes *uint64 `json:"workingSetBytes"`
					RSSBytes        *uint64 `json:"rssBytes"`
				} `json:"memory"`
			} `json:"containers"`
		} `json:"pods"`
	}
	if err := json.Unmarshal(raw, &summary); err != nil {
		t.Fatal(err)
	}
	for _, p := range summary.Pods {
		if p.PodRef.Name != pod {
			continue
		}
		for _, c := range p.Containers {
			if c.Name == "agent" && c.Memory.WorkingSetBytes != nil {
				rss := uint64(0)
				if c.Memory.RSSBytes != nil {
					rss = *c.Memory.RSSBytes
				}
				t.Logf("agent container memory: working set %.1f MiB, RSS %.1f MiB", float64(*c.Memory.WorkingSetBytes)/(1<<20), float64(rss)/(1<<20))
				return
			}
		}
	}
	t.Errorf("the kubelet summary has no memory figures for the agent container of Pod %s", pod)
}
