//go:build node && linux

package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/converge-gitops/converge/engine/agentimage"
	"github.com/converge-gitops/converge/engine/bootstrap"
	"github.com/converge-gitops/converge/engine/bootstrap/bootstraptest"
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
	if static.path != "" {
		_ = os.RemoveAll(filepath.Dir(static.path))
	}
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

	const tag = "node-test"
	start := time.Now()
	digest, err := agentimagePush(ctx, bin, tag)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image built and pushed in %s: %s/converge:%s@%s", time.Since(start).Round(time.Millisecond), env.Registry, tag, digest)

	start = time.Now()
	// Every extra component, so that converge check finds every CRD it checks.
	converge(t, bin, "install", "--image", env.Registry+"/converge", "--version", tag, "--timeout", "5m",
		"--components-extra", strings.Join(install.ExtraComponents, ","))
	t.Logf("install to agent Ready: %s", time.Since(start).Round(time.Millisecond))
	pod := agentPod(t, ctx)
	if got, want := pod.Spec.Containers[0].Image, env.Registry+"/converge:"+tag+"@"+digest; got != want {
		t.Errorf("the agent Pod's image is %s, want %s (install pins the digest the registry gives)", got, want)
	}
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

	// Two replicas: another Pod takes the Lease over when the leader's Pod is deleted.
	scale := []byte(`{"spec":{"replicas":2}}`)
	if _, err := env.Client.AppsV1().Deployments("flux-system").Patch(ctx, install.AgentName, types.MergePatchType, scale, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Minute, "two Ready agent Pods", func() (bool, string) {
		n := len(readyAgentPods(t, ctx))
		return n == 2, fmt.Sprintf("%d Ready", n)
	})
	leader := leaseHolder(t, ctx)
	var standby string
	for _, p := range readyAgentPods(t, ctx) {
		if p.Name != leader {
			standby = p.Name
		}
	}
	if standby == "" {
		t.Fatalf("the Lease holder %q is not one of the two Ready agent Pods", leader)
	}
	start = time.Now()
	if err := env.Client.CoreV1().Pods("flux-system").Delete(ctx, leader, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The leader releases the Lease as it stops; the standby or the Deployment's replacement Pod, whichever
	// asks first, takes it: either is a takeover, the deleted Pod holding it is not.
	var successor string
	waitFor(t, 2*time.Minute, "another agent Pod than the deleted "+leader+" to hold the Lease", func() (bool, string) {
		h := leaseHolder(t, ctx)
		if h == "" || h == leader {
			return false, "holder " + h
		}
		for _, p := range readyAgentPods(t, ctx) {
			if p.Name == h {
				successor = h
				return true, ""
			}
		}
		return false, "holder " + h + " is not a Ready agent Pod"
	})
	role := "the Deployment's replacement Pod"
	if successor == standby {
		role = "the standby"
	}
	t.Logf("leader Pod deleted, %s %s leads after %s", role, successor, time.Since(start).Round(time.Millisecond))
	// The new leader reconciles: a new commit is applied.
	next := repo.Commit("app two", map[string]*string{
		"deploy/cm.yaml": sourcetest.Str("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-git, namespace: default}\ndata: {at: two}\n"),
	})
	requestReconcile(t, ctx, gitGVR, "fleet")
	waitFor(t, 3*time.Minute, "Kustomization app Ready at the new commit", func() (bool, string) {
		return readyAt(t, ksGVR, "app", "main@sha1:"+next)
	})

	converge(t, bin, "uninstall", "--silent")
	if _, err := env.Client.CoreV1().ConfigMaps("default").Get(ctx, "from-git", metav1.GetOptions{}); err != nil {
		t.Errorf("after uninstall, the workload the agent applied is gone: %v", err)
	}
	if _, err := env.Client.AppsV1().Deployments("flux-system").Get(ctx, install.AgentName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after uninstall, the agent Deployment: err = %v, want not found", err)
	}
}

// agentimagePush builds the converge image of bin for linux/amd64 and pushes it to the node's registry as
// converge:tag; it returns the index digest.
func agentimagePush(ctx context.Context, bin, tag string) (string, error) {
	idx, err := agentimage.Build(ctx, agentimage.Options{
		Binaries: map[string]string{"linux/amd64": bin},
		Version:  tag,
		Revision: "test",
		Source:   "https://github.com/converge-gitops/converge",
		Created:  time.Unix(0, 0),
	})
	if err != nil {
		return "", err
	}
	return agentimage.Push(ctx, idx, env.Registry+"/converge:"+tag)
}

// staticConverge builds cmd/converge without cgo, as the image needs it, once per test binary.
func staticConverge(t testing.TB) string {
	t.Helper()
	static.once.Do(func() {
		root, err := testenv.RepoRoot()
		if err != nil {
			static.err = err
			return
		}
		dir, err := os.MkdirTemp("", "converge-static-")
		if err != nil {
			static.err = err
			return
		}
		static.path = filepath.Join(dir, "converge")
		cmd := exec.Command("go", "build", "-trimpath", "-o", static.path, "./cmd/converge")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		if b, err := cmd.CombinedOutput(); err != nil {
			static.err = fmt.Errorf("go build: %v\n%s", err, b)
		}
	})
	if static.err != nil {
		t.Fatal(static.err)
	}
	return static.path
}

var static struct {
	once sync.Once
	path string
	err  error
}

// converge runs the converge binary against the node's API server and returns its combined output.
func converge(t testing.TB, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append(args, "--kubeconfig", env.KubeconfigPath)...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "CONVERGE_RENDER_CACHE="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("converge %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func apply(t testing.TB, doc string) {
	t.Helper()
	testenv.ApplyYAML(t, env.Config, doc)
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

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
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
func agentPod(t testing.TB, ctx context.Context) *corev1.Pod {
	t.Helper()
	pods := readyAgentPods(t, ctx)
	if len(pods) == 0 {
		t.Fatal("no Ready agent Pod")
	}
	return &pods[0]
}

// readyAgentPods returns the agent's Ready Pods that are not being deleted.
func readyAgentPods(t testing.TB, ctx context.Context) []corev1.Pod {
	t.Helper()
	pods, err := env.Client.CoreV1().Pods("flux-system").List(ctx, metav1.ListOptions{LabelSelector: install.AppLabel + "=" + install.AgentName})
	if err != nil {
		t.Fatal(err)
	}
	var ready []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || len(p.Status.ContainerStatuses) == 0 {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready = append(ready, p)
			}
		}
	}
	return ready
}

// leaseHolder returns the Pod name of the agent Lease's holder (its identity is "<pod>_<pid>").
func leaseHolder(t *testing.T, ctx context.Context) string {
	t.Helper()
	l, err := env.Client.CoordinationV1().Leases("flux-system").Get(ctx, install.AgentName, metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	pod, _, _ := strings.Cut(*l.Spec.HolderIdentity, "_")
	return pod
}

// requestReconcile sets the reconcile.fluxcd.io/requestedAt annotation on flux-system/name.
func requestReconcile(t *testing.T, ctx context.Context, gvr schema.GroupVersionResource, name string) {
	t.Helper()
	clients, err := kube.New(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{"reconcile.fluxcd.io/requestedAt":%q}}}`, time.Now().Format(time.RFC3339Nano)))
	if _, err := clients.Dynamic.Resource(gvr).Namespace("flux-system").Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// logMemory logs the agent container's working set from the kubelet's summary API.
func logMemory(t testing.TB, ctx context.Context, pod string) {
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

// TestBootstrapGit bootstraps a Git repository served to Pods: bootstrap's own wait sees the agent Pod
// Ready and flux-system applied, a second bootstrap changes nothing, and the agent applies a commit pushed
// afterwards.
func TestBootstrapGit(t *testing.T) {
	ctx := context.Background()
	bin := staticConverge(t)
	const tag = "node-test"
	if _, err := agentimagePush(ctx, bin, tag); err != nil {
		t.Fatal(err)
	}
	// converge uninstall (TestAgentPod) returns while flux-system still terminates; bootstrapping into a
	// terminating namespace fails ("namespaces flux-system not found"), so wait until it is gone.
	waitFor(t, 3*time.Minute, "namespace flux-system gone", func() (bool, string) {
		ns, err := env.Client.CoreV1().Namespaces().Get(ctx, "flux-system", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		return false, string(ns.Status.Phase)
	})
	srv := sourcetest.StartGitServerOn(t, node.Gateway)
	repo := srv.NewRepo(t, "fleet")
	repo.Commit("init", map[string]*string{"README.md": sourcetest.Str("fleet\n")})
	bare := filepath.Join(srv.Root, "fleet.git")
	sourcetest.RunGit(t, srv.Root, "--git-dir", bare, "config", "http.receivepack", "true")
	bootstrap := func() string {
		return converge(t, bin, "bootstrap", "git", "--url", repo.URL, "--allow-insecure-http", "--token-auth", "--password", "unused-token",
			"--branch", "main", "--path", "clusters/node", "--image", env.Registry+"/converge", "--version", tag,
			"--silent", "--timeout", "5m")
	}
	start := time.Now()
	bootstrap()
	t.Logf("bootstrap to flux-system applied (agent Pod Ready): %s", time.Since(start).Round(time.Millisecond))
	agentPod(t, ctx)
	head := sourcetest.RunGit(t, srv.Root, "--git-dir", bare, "rev-parse", "main")
	if ok, state := readyAt(t, ksGVR, "flux-system", "main@sha1:"+head); !ok {
		t.Fatalf("after bootstrap, Kustomization flux-system: %s", state)
	}

	bootstrap()
	if again := sourcetest.RunGit(t, srv.Root, "--git-dir", bare, "rev-parse", "main"); again != head {
		t.Errorf("a second bootstrap pushed %s over %s, want no commit", again, head)
	}

	work := filepath.Join(t.TempDir(), "work")
	sourcetest.RunGit(t, "/", "clone", "-q", bare, work)
	if err := os.WriteFile(filepath.Join(work, "clusters", "node", "pushed.yaml"),
		[]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: pushed, namespace: default}\ndata: {at: two}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sourcetest.RunGit(t, work, "add", "-A")
	sourcetest.RunGit(t, work, "commit", "-q", "-m", "a ConfigMap")
	sourcetest.RunGit(t, work, "push", "-q", "origin", "HEAD:main")
	pushed := sourcetest.RunGit(t, work, "rev-parse", "HEAD")
	start = time.Now()
	waitFor(t, 5*time.Minute, "the pushed commit applied", func() (bool, string) {
		return readyAt(t, ksGVR, "flux-system", "main@sha1:"+pushed)
	})
	t.Logf("pushed commit applied after %s (GitRepository interval)", time.Since(start).Round(time.Millisecond))
	if _, err := env.Client.CoreV1().ConfigMaps("default").Get(ctx, "pushed", metav1.GetOptions{}); err != nil {
		t.Errorf("the pushed ConfigMap: %v", err)
	}
}

// fleet is a Git repository served to Pods that a test bootstraps, with a clone to push commits from.
type fleet struct {
	bare, work string
}

// bootstrapFleet removes an installation left by an earlier test, bootstraps a new repository served on
// the bridge with the agent image tag, and returns it.
func bootstrapFleet(t *testing.T, ctx context.Context, bin, tag string) *fleet {
	t.Helper()
	clearFluxSystem(t, ctx, bin)
	srv := sourcetest.StartGitServerOn(t, node.Gateway)
	repo := srv.NewRepo(t, "fleet")
	repo.Commit("init", map[string]*string{"README.md": sourcetest.Str("fleet\n")})
	f := &fleet{bare: filepath.Join(srv.Root, "fleet.git"), work: filepath.Join(t.TempDir(), "work")}
	sourcetest.RunGit(t, srv.Root, "--git-dir", f.bare, "config", "http.receivepack", "true")
	start := time.Now()
	converge(t, bin, "bootstrap", "git", "--url", repo.URL, "--allow-insecure-http", "--token-auth", "--password", "unused-token",
		"--branch", "main", "--path", "clusters/node", "--image", env.Registry+"/converge", "--version", tag,
		"--silent", "--timeout", "5m")
	t.Logf("bootstrap to flux-system applied (agent Pod Ready): %s", time.Since(start).Round(time.Millisecond))
	sourcetest.RunGit(t, "/", "clone", "-q", f.bare, f.work)
	return f
}

// clearFluxSystem uninstalls an installation an earlier test left and waits until flux-system is gone.
func clearFluxSystem(t *testing.T, ctx context.Context, bin string) {
	t.Helper()
	if _, err := env.Client.AppsV1().Deployments("flux-system").Get(ctx, install.AgentName, metav1.GetOptions{}); err == nil {
		converge(t, bin, "uninstall", "--silent")
	}
	waitFor(t, 3*time.Minute, "namespace flux-system gone", func() (bool, string) {
		ns, err := env.Client.CoreV1().Namespaces().Get(ctx, "flux-system", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		return false, string(ns.Status.Phase)
	})
}

// push writes files (paths relative to the clone) over the branch's head, commits
// and pushes them, and returns the commit.
func (f *fleet) push(t *testing.T, msg string, files map[string]string) string {
	t.Helper()
	sourcetest.RunGit(t, f.work, "pull", "-q", "origin", "main")
	for p, content := range files {
		if err := os.WriteFile(filepath.Join(f.work, p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sourcetest.RunGit(t, f.work, "add", "-A")
	sourcetest.RunGit(t, f.work, "commit", "-q", "-m", msg)
	sourcetest.RunGit(t, f.work, "push", "-q", "origin", "HEAD:main")
	return sourcetest.RunGit(t, f.work, "rev-parse", "HEAD")
}

// read returns a file of the clone at its last pull.
func (f *fleet) read(t *testing.T, p string) string {
	t.Helper()
	sourcetest.RunGit(t, f.work, "pull", "-q", "origin", "main")
	b, err := os.ReadFile(filepath.Join(f.work, p))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// inventoryIDs returns the ids in the flux-system Kustomization's status.inventory.
func inventoryIDs(t *testing.T, ctx context.Context) map[string]bool {
	t.Helper()
	clients, err := kube.New(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	u, err := clients.Dynamic.Resource(ksGVR).Namespace("flux-system").Get(ctx, "flux-system", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	entries, _, _ := unstructured.NestedSlice(u.Object, "status", "inventory", "entries")
	ids := map[string]bool{}
	for _, e := range entries {
		m, _ := e.(map[string]any)
		id, _ := m["id"].(string)
		ids[id] = true
	}
	return ids
}

const appCM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app, namespace: default}\ndata: {at: %s}\n"

// TestSelfUpgrade bootstraps the agent with image tag A, commits tag B into gotk-components.yaml, and
// checks that the agent's Pod runs B and carries on: the inventory continues, nothing is pruned, and a
// later commit is applied by the upgraded agent.
func TestSelfUpgrade(t *testing.T) {
	ctx := context.Background()
	bin := staticConverge(t)
	const tagA, tagB = "upgrade-a", "upgrade-b"
	digestA, err := agentimagePush(ctx, bin, tagA)
	if err != nil {
		t.Fatal(err)
	}
	digestB, err := agentimagePush(ctx, bin, tagB)
	if err != nil {
		t.Fatal(err)
	}
	f := bootstrapFleet(t, ctx, bin, tagA)
	podA := agentPod(t, ctx)
	// bootstrap looked the tag's digest up in the registry and pinned it.
	pinnedA := "/converge:" + tagA + "@" + digestA
	if img := podA.Spec.Containers[0].Image; img != env.Registry+pinnedA {
		t.Fatalf("after bootstrap the agent runs %s, want tag %s pinned by digest %s", img, tagA, digestA)
	}

	head := f.push(t, "an app", map[string]string{"clusters/node/app.yaml": fmt.Sprintf(appCM, "one")})
	requestReconcile(t, ctx, gitGVR, "flux-system")
	waitFor(t, 3*time.Minute, "the app commit applied", func() (bool, string) {
		return readyAt(t, ksGVR, "flux-system", "main@sha1:"+head)
	})
	cm, err := env.Client.CoreV1().ConfigMaps("default").Get(ctx, "app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	before := inventoryIDs(t, ctx)
	if !before["default_app__ConfigMap"] {
		t.Fatalf("the inventory lacks the app ConfigMap: %v", before)
	}

	// The upgrade: tag B and its digest where the image is named, tag B in the version label.
	components := "clusters/node/flux-system/gotk-components.yaml"
	old := f.read(t, components)
	if !strings.Contains(old, pinnedA) {
		t.Fatalf("%s does not name the image %s", components, pinnedA)
	}
	upgraded := strings.ReplaceAll(strings.ReplaceAll(old, pinnedA, "/converge:"+tagB+"@"+digestB), tagA, tagB)
	upgrade := f.push(t, "upgrade the agent", map[string]string{components: upgraded})
	start := time.Now()
	requestReconcile(t, ctx, gitGVR, "flux-system")
	var podB corev1.Pod
	waitFor(t, 5*time.Minute, "one Ready agent Pod running tag B", func() (bool, string) {
		pods, err := env.Client.CoreV1().Pods("flux-system").List(ctx, metav1.ListOptions{LabelSelector: install.AppLabel + "=" + install.AgentName})
		if err != nil {
			return false, err.Error()
		}
		ready := readyAgentPods(t, ctx)
		if len(pods.Items) != 1 || len(ready) != 1 {
			return false, fmt.Sprintf("%d Pods, %d Ready", len(pods.Items), len(ready))
		}
		podB = ready[0]
		return strings.HasSuffix(podB.Status.ContainerStatuses[0].ImageID, digestB), "runs " + podB.Status.ContainerStatuses[0].ImageID
	})
	t.Logf("upgrade commit to agent Pod running B: %s", time.Since(start).Round(time.Millisecond))
	waitFor(t, 3*time.Minute, "the upgrade commit applied", func() (bool, string) {
		return readyAt(t, ksGVR, "flux-system", "main@sha1:"+upgrade)
	})
	waitFor(t, 2*time.Minute, "the upgraded Pod to hold the Lease", func() (bool, string) {
		h := leaseHolder(t, ctx)
		return h == podB.Name, "holder " + h
	})

	// The upgraded agent carries on with the same inventory and applies the next commit.
	next := f.push(t, "app two", map[string]string{"clusters/node/app.yaml": fmt.Sprintf(appCM, "two")})
	requestReconcile(t, ctx, gitGVR, "flux-system")
	waitFor(t, 3*time.Minute, "the next commit applied by agent B", func() (bool, string) {
		return readyAt(t, ksGVR, "flux-system", "main@sha1:"+next)
	})
	after := inventoryIDs(t, ctx)
	for id := range before {
		if !after[id] {
			t.Errorf("after the upgrade the inventory lost %s", id)
		}
	}
	if len(after) != len(before) {
		t.Errorf("inventory has %d entries after the upgrade, %d before", len(after), len(before))
	}
	got, err := env.Client.CoreV1().ConfigMaps("default").Get(ctx, "app", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the app ConfigMap after the upgrade: %v", err)
	}
	if got.UID != cm.UID {
		t.Errorf("the app ConfigMap was recreated (UID %s, was %s)", got.UID, cm.UID)
	}
	if got.Data["at"] != "two" {
		t.Errorf("the app ConfigMap data = %v, want at=two", got.Data)
	}
	if _, err := env.Client.AppsV1().Deployments("flux-system").Get(ctx, install.AgentName, metav1.GetOptions{}); err != nil {
		t.Errorf("the agent Deployment after the upgrade: %v", err)
	}
}

var receiverGVR = schema.GroupVersionResource{Group: "notification.toolkit.fluxcd.io", Version: "v1", Resource: "receivers"}

// TestWebhookReceiver bootstraps the agent, commits a generic Receiver with its token Secret and a
// GitRepository interval of an hour, then pushes a commit and POSTs to the Receiver's path on the
// webhook-receiver Service's ClusterIP: the commit is applied at once, which only the webhook explains.
func TestWebhookReceiver(t *testing.T) {
	ctx := context.Background()
	bin := staticConverge(t)
	const tag = "node-test"
	if _, err := agentimagePush(ctx, bin, tag); err != nil {
		t.Fatal(err)
	}
	f := bootstrapFleet(t, ctx, bin, tag)

	syncFile := "clusters/node/flux-system/gotk-sync.yaml"
	sync := f.read(t, syncFile)
	if n := strings.Count(sync, "interval: 1m0s"); n != 1 {
		t.Fatalf("%s names the GitRepository interval 1m0s %d times, want once:\n%s", syncFile, n, sync)
	}
	receiverCommit := f.push(t, "a webhook receiver", map[string]string{
		syncFile: strings.Replace(sync, "interval: 1m0s", "interval: 1h0m0s", 1),
		"clusters/node/receiver.yaml": `apiVersion: v1
kind: Secret
metadata: {name: webhook-token, namespace: flux-system}
stringData: {token: node-test-token}
---
apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata: {name: push, namespace: flux-system}
spec:
  type: generic
  secretRef: {name: webhook-token}
  resources:
  - {apiVersion: source.toolkit.fluxcd.io/v1, kind: GitRepository, name: flux-system}
`,
	})
	requestReconcile(t, ctx, gitGVR, "flux-system")
	waitFor(t, 3*time.Minute, "the receiver commit applied", func() (bool, string) {
		return readyAt(t, ksGVR, "flux-system", "main@sha1:"+receiverCommit)
	})
	clients, err := kube.New(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "GitRepository flux-system on a 1h interval", func() (bool, string) {
		u, err := clients.Dynamic.Resource(gitGVR).Namespace("flux-system").Get(ctx, "flux-system", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		interval, _, _ := unstructured.NestedString(u.Object, "spec", "interval")
		return interval == "1h0m0s", "interval " + interval
	})
	var path string
	waitFor(t, 2*time.Minute, "Receiver push Ready", func() (bool, string) {
		u, err := clients.Dynamic.Resource(receiverGVR).Namespace("flux-system").Get(ctx, "push", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		path, _, _ = unstructured.NestedString(u.Object, "status", "webhookPath")
		ok, state := conditionTrue(u, "Ready")
		return ok && path != "", state + " path " + path
	})
	svc, err := env.Client.CoreV1().Services("flux-system").Get(ctx, install.WebhookServiceName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://%s:%d%s", svc.Spec.ClusterIP, svc.Spec.Ports[0].Port, path)

	pushed := f.push(t, "a ConfigMap", map[string]string{"clusters/node/hooked.yaml": fmt.Sprintf(
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: hooked, namespace: default}\ndata: {at: %s}\n", "webhook")})
	start := time.Now()
	if ok, state := readyAt(t, ksGVR, "flux-system", "main@sha1:"+pushed); ok {
		t.Fatalf("the commit was applied before the webhook: %s", state)
	}
	var code int
	var body string
	waitFor(t, 30*time.Second, "POST "+url+" accepted", func() (bool, string) {
		code, body = post(t, url)
		return code == 200, fmt.Sprintf("%d %s", code, body)
	})
	if !strings.Contains(body, "1 object(s) annotated") {
		t.Errorf("POST %s: %d %q, want one object annotated", url, code, body)
	}
	waitFor(t, time.Minute, "the pushed commit applied through the webhook", func() (bool, string) {
		return readyAt(t, ksGVR, "flux-system", "main@sha1:"+pushed)
	})
	t.Logf("commit pushed to applied through the webhook (POST %s): %s", url, time.Since(start).Round(time.Millisecond))
	if _, err := env.Client.CoreV1().ConfigMaps("default").Get(ctx, "hooked", metav1.GetOptions{}); err != nil {
		t.Errorf("the ConfigMap pushed: %v", err)
	}
}

// conditionTrue reports whether u has the condition typ True, and its state.
func conditionTrue(u *unstructured.Unstructured, typ string) (bool, string) {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ {
			return m["status"] == "True", fmt.Sprintf("%s=%v %v: %v", typ, m["status"], m["reason"], m["message"])
		}
	}
	return false, "no " + typ + " condition"
}

// post sends an empty JSON body to url and returns the status code and body.
func post(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Post(url, "application/json", strings.NewReader("{}"))
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// TestBootstrapTakeover: a repository and cluster as Flux's bootstrap leaves them (Flux-shaped components
// whose controller Pods run, objects applied under kustomize-controller's field manager, the
// Kustomization's inventory and revision) are taken over by converge bootstrap --takeover: Flux's
// controllers are removed, the agent Pod runs and applies the takeover revision, nothing deployed is
// recreated, the inventory continues and Flux's leftovers are pruned.
func TestBootstrapTakeover(t *testing.T) {
	ctx := context.Background()
	bin := staticConverge(t)
	const tag = "node-test"
	if _, err := agentimagePush(ctx, bin, tag); err != nil {
		t.Fatal(err)
	}
	clearFluxSystem(t, ctx, bin)
	srv := sourcetest.StartGitServerOn(t, node.Gateway)
	repo := srv.NewRepo(t, "fleet")
	sourcetest.RunGit(t, srv.Root, "--git-dir", filepath.Join(srv.Root, "fleet.git"), "config", "http.receivepack", "true")
	fluxSync, err := bootstrap.SyncManifest(bootstrap.SyncOptions{Namespace: "flux-system", URL: repo.URL, Branch: "main", Path: "clusters/node"})
	if err != nil {
		t.Fatal(err)
	}
	fluxComponents, err := bootstraptest.FluxComponents("flux-system", env.Registry+"/pause:"+node.PauseImageTag)
	if err != nil {
		t.Fatal(err)
	}
	head := repo.Commit("Add Flux", map[string]*string{
		"clusters/node/flux-system/gotk-components.yaml": sourcetest.Str(fluxComponents),
		"clusters/node/flux-system/gotk-sync.yaml": sourcetest.Str(strings.Replace(string(fluxSync),
			"generated by converge bootstrap", "generated by flux", 1)),
		"clusters/node/flux-system/kustomization.yaml": sourcetest.Str(string(bootstrap.KustomizationManifest())),
		"clusters/node/app.yaml":                       sourcetest.Str(fmt.Sprintf(appCM, "flux")),
	})

	// The cluster as Flux left it: everything under clusters/node applied by kustomize-controller, the
	// Kustomization's inventory and revision, the finalizer, the credentials Secret.
	clients, err := kube.New(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	revision := "main@sha1:" + head
	fluxLeft := bootstraptest.Cluster{Namespace: "flux-system", Name: "flux-system", Path: "./clusters/node", Work: repo.Work,
		Revision: revision, Credentials: map[string]any{"username": "git", "password": "unused-token"}}
	ksObj, err := fluxLeft.LeaveAsFlux(ctx, clients, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, "Flux's controller Pods running", func() (bool, string) {
		pods, err := env.Client.CoreV1().Pods("flux-system").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		running := 0
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return running == 2, fmt.Sprintf("%d of %d Pods running", running, len(pods.Items))
	})
	cm, err := env.Client.CoreV1().ConfigMaps("default").Get(ctx, "app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ksUID := ksObj.GetUID()

	start := time.Now()
	out := converge(t, bin, "bootstrap", "git", "--takeover", "--url", repo.URL, "--allow-insecure-http", "--token-auth", "--password", "unused-token",
		"--branch", "main", "--path", "clusters/node", "--image", env.Registry+"/converge", "--version", tag,
		"--silent", "--timeout", "5m")
	t.Logf("takeover bootstrap to flux-system applied (agent Pod Ready): %s", time.Since(start).Round(time.Millisecond))
	pushed := sourcetest.RunGit(t, srv.Root, "--git-dir", filepath.Join(srv.Root, "fleet.git"), "rev-parse", "main")
	if pushed == head {
		t.Fatalf("the takeover pushed nothing:\n%s", out)
	}
	if ok, state := readyAt(t, ksGVR, "flux-system", "main@sha1:"+pushed); !ok {
		t.Fatalf("after the takeover, Kustomization flux-system: %s", state)
	}
	pod := agentPod(t, ctx)
	if h := leaseHolder(t, ctx); h != pod.Name {
		t.Errorf("the Lease holder is %q, want the agent Pod %s", h, pod.Name)
	}
	for _, name := range []string{"source-controller", "kustomize-controller"} {
		if _, err := env.Client.AppsV1().Deployments("flux-system").Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("Flux's %s still there: %v", name, err)
		}
	}
	if _, err := env.Client.CoreV1().Services("flux-system").Get(ctx, "source-controller", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Flux's Service source-controller: %v, want pruned", err)
	}
	if _, err := env.Client.RbacV1().ClusterRoleBindings().Get(ctx, "cluster-reconciler-flux-system", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Flux's ClusterRoleBinding: %v, want pruned", err)
	}
	got, err := env.Client.CoreV1().ConfigMaps("default").Get(ctx, "app", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the app ConfigMap after the takeover: %v", err)
	}
	if got.UID != cm.UID || got.Data["at"] != "flux" {
		t.Errorf("the app ConfigMap: UID %s data %v, want UID %s at=flux", got.UID, got.Data, cm.UID)
	}
	var managers []string
	for _, mf := range got.ManagedFields {
		managers = append(managers, mf.Manager+"/"+string(mf.Operation))
	}
	if slices.Contains(managers, "kustomize-controller/Apply") || !slices.Contains(managers, "converge/Apply") {
		t.Errorf("the app ConfigMap's managers %v, want converge's apply only", managers)
	}
	k, err := clients.Dynamic.Resource(ksGVR).Namespace("flux-system").Get(ctx, "flux-system", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if k.GetUID() != ksUID {
		t.Error("the Kustomization flux-system was recreated")
	}
	ids := inventoryIDs(t, ctx)
	for _, want := range []string{"default_app__ConfigMap", "flux-system_" + install.AgentName + "_apps_Deployment"} {
		if !ids[want] {
			t.Errorf("the inventory lacks %s", want)
		}
	}
	if ids["flux-system_source-controller_apps_Deployment"] {
		t.Error("Flux's Deployment still in the inventory")
	}
}
