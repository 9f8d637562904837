package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/converge-gitops/converge/engine/source/sourcetest"
	"github.com/converge-gitops/converge/engine/testenv"
)

// TestSecretCanaryAgent is TestSecretCanary through `converge agent` run as a process (debug logs):
// one random value in a SOPS-encrypted Secret, in a real Git server, decrypted by the agent with an age
// key from a Secret, then changed, then drifted by another writer and corrected. It fails if the value
// (or its base64 or hex form) appears in the agent's stderr and stdout, the Kubernetes Events, the
// notifications the agent sends to a loopback generic webhook, its /metrics, the statuses of the
// Kustomization and GitRepository, or `debug kustomization --show-status`, `events` and `get` output.
func TestSecretCanaryAgent(t *testing.T) {
	const ns = "canary-agent"
	keyFile := "../../testdata/build/keys/test.agekey"
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	canaries := []string{randomToken(t), randomToken(t), randomToken(t)}
	secret := func(c string) *string {
		return sourcetest.Str(string(encryptAge(t, keyFile,
			"apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\n  namespace: "+ns+"\nstringData:\n  token: "+c+"\n")))
	}
	srv := sourcetest.StartGitServer(t)
	repo := srv.NewRepo(t, "canary")
	repo.Commit("one", map[string]*string{
		"apps/token.enc.yaml": secret(canaries[0]),
		"apps/cm.yaml":        sourcetest.Str("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\n  namespace: " + ns + "\ndata:\n  a: b\n"),
	})

	hook := &webhook{}
	hookSrv := httptest.NewServer(hook)
	defer hookSrv.Close()
	cluster.ApplyYAML(t, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+ns+"\n")
	for _, doc := range strings.Split(fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: sops-age, namespace: %[1]s}
stringData:
  age.agekey: %[2]q
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: hook, namespace: %[1]s}
spec: {type: generic, address: %[3]q}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: all, namespace: %[1]s}
spec:
  providerRef: {name: hook}
  eventSeverity: info
  eventSources: [{kind: Kustomization, name: "*"}, {kind: GitRepository, name: "*"}]
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: repo, namespace: %[1]s}
spec:
  interval: 1h
  url: %[4]s
  ref: {branch: main}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: %[1]s}
spec:
  interval: 1h
  path: ./apps
  prune: true
  sourceRef: {kind: GitRepository, name: repo}
  decryption:
    provider: sops
    secretRef: {name: sops-age}
`, ns, string(key), hookSrv.URL, repo.URL), "---\n") {
		cluster.ApplyYAML(t, doc)
	}

	kc := kubeconfig(t)
	addr := freeLoopbackAddr(t)
	var logs lockedBuffer
	agent := exec.Command(testenv.ConvergeBinary(t), "agent", "--kubeconfig", kc, "--http-addr", addr,
		"--storage-path", t.TempDir(), "--leader-elect=false", "--watch-namespace", ns, "--log-level", "debug")
	agent.Stdout, agent.Stderr = &logs, &logs
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = agent.Process.Kill()
			_ = agent.Wait()
		}
	}
	defer stop()
	defer func() {
		if t.Failed() {
			t.Logf("agent logs:\n%.20000s", logs.String())
		}
	}()

	tokenIs := func(want string) func() (bool, string) {
		return func() (bool, string) {
			s, err := cluster.Client.CoreV1().Secrets(ns).Get(context.Background(), "token", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return string(s.Data["token"]) == want, "the Secret does not hold the canary yet"
		}
	}
	// A canary that never flows proves nothing: each value must reach the cluster.
	waitFor(t, "the first value applied by the agent", tokenIs(canaries[0]))
	repo.Commit("two", map[string]*string{"apps/token.enc.yaml": secret(canaries[1])})
	requestReconcileOf(t, canaryGitGVR, ns, "repo")
	waitFor(t, "the changed value applied by the agent", tokenIs(canaries[1]))
	// Drift by another writer: the agent puts the value from Git back.
	s, err := cluster.Client.CoreV1().Secrets(ns).Get(context.Background(), "token", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Data["token"] = []byte(canaries[2])
	if _, err := cluster.Client.CoreV1().Secrets(ns).Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	requestReconcileOf(t, canaryKsGVR, ns, "apps")
	waitFor(t, "the drifted value corrected by the agent", tokenIs(canaries[1]))
	waitFor(t, "notifications of the changes", func() (bool, string) {
		return len(hook.all()) >= 3, fmt.Sprintf("%d notifications", len(hook.all()))
	})

	var outputs []string
	add := func(what, out string) { outputs = append(outputs, "== "+what+"\n"+out) }
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), "converge_reconcile_condition") {
		t.Fatalf("the agent's metrics lack its reconciliations:\n%.2000s", metrics)
	}
	add("metrics", string(metrics))
	for _, args := range [][]string{
		{"debug", "kustomization", "apps", "-n", ns, "--show-status"},
		{"events", "-n", ns},
		{"get", "kustomizations", "-n", ns},
		{"get", "sources", "git", "-n", ns},
	} {
		res := run(t, newFactory(), append(args, "--kubeconfig", kc)...)
		add(strings.Join(args, " "), res.stdout+res.stderr)
	}
	events, err := cluster.Client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(events)
	add("events", string(b))
	for _, gvr := range []schema.GroupVersionResource{canaryKsGVR, canaryGitGVR} {
		list, err := dynamic.NewForConfigOrDie(cluster.Config).Resource(gvr).Namespace(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(list)
		add(gvr.Resource, string(b))
	}
	add("notifications", strings.Join(hook.all(), "\n"))
	stop()
	add("agent logs", logs.String())
	if !strings.Contains(logs.String(), `"level":"DEBUG"`) {
		t.Errorf("the agent logged nothing at debug level: the canary was not tested there")
	}

	all := strings.Join(outputs, "\n")
	for _, c := range canaries {
		for _, form := range []string{c, hex.EncodeToString([]byte(c)), base64.StdEncoding.EncodeToString([]byte(c))} {
			if i := strings.Index(all, form); i >= 0 {
				t.Errorf("the secret value appears in the outputs:\n%s", all[max(0, i-2000):min(len(all), i+200)])
			}
		}
	}
	t.Logf("secret canary through the agent: %d outputs checked (%d bytes; agent logs %d bytes), %d notifications, %d events",
		len(outputs), len(all), len(logs.String()), len(hook.all()), len(events.Items))
}

// lockedBuffer is an io.Writer a child process writes its output to while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitFor polls cond until it holds or two minutes pass.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
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

// requestReconcileOf sets reconcile.fluxcd.io/requestedAt on an object, as `converge reconcile` does.
func requestReconcileOf(t *testing.T, gvr schema.GroupVersionResource, ns, name string) {
	t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"reconcile.fluxcd.io/requestedAt":%q}}}`, time.Now().Format(time.RFC3339Nano))
	if _, err := dynamic.NewForConfigOrDie(cluster.Config).Resource(gvr).Namespace(ns).Patch(context.Background(), name,
		types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

var (
	canaryKsGVR  = schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}
	canaryGitGVR = schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "gitrepositories"}
)
