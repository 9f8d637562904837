package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/engine/events"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/notify"
	"github.com/converge-gitops/converge/engine/receiver"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// TestAgentWebhookAndAlerts runs the agent with its notifier and receiver handler: a failing
// Kustomization produces a delivered alert (generic provider on a loopback server), and a valid webhook
// call makes the GitRepository fetch a new commit, which the Kustomization applies, within seconds.
func TestAgentWebhookAndAlerts(t *testing.T) {
	const ns = "notify-e2e"
	namespace(t, ns)
	git := sourcetest.StartGitServer(t)
	repo := git.NewRepo(t, "notify")
	first := repo.Commit("first", map[string]*string{
		"apps/a.yaml":   configMap("a", ns, "one"),
		"broken/x.yaml": sourcetest.Str(fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_A_Valid_Name\n  namespace: %s\n", ns)),
	})

	var mu sync.Mutex
	var alerts []notify.Event
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var e notify.Event
		if err := json.Unmarshal(b, &e); err == nil {
			mu.Lock()
			alerts = append(alerts, e)
			mu.Unlock()
		}
	}))
	defer hook.Close()

	clients, err := kube.New(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	store, err := source.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	kubeEvents := &events.Kubernetes{Clock: clock.RealClock{}, Client: clients.Core, Host: "test"}
	notifier := &notify.Notifier{Clock: clock.RealClock{}, Warnings: kubeEvents, Metrics: notify.NewMetrics(prometheus.NewRegistry()), Backoff: 10 * time.Millisecond}
	a, err := New(Options{Clients: clients, Store: store, Metrics: NewMetrics(), Events: events.Sinks{kubeEvents, notifier},
		DependencyRequeue: time.Second, ShutdownGrace: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	notifier.Store = a.NotificationStore()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	}()
	webhooks := httptest.NewServer(&receiver.Handler{Clock: clock.RealClock{}, Receivers: a.ReceiverLookup(), Secrets: clients, Dynamic: clients.Dynamic, Mapper: clients.Mapper})
	defer webhooks.Close()

	cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: hook, namespace: %s}
spec: {type: generic, address: %q}
`, ns, hook.URL))
	cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: failures, namespace: %s}
spec:
  providerRef: {name: hook}
  eventSeverity: error
  eventSources: [{kind: Kustomization, name: '*'}]
  summary: e2e cluster
`, ns))
	cluster.ApplyYAML(t, fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: webhook-token, namespace: %s}\nstringData: {token: tok}\n", ns))
	cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata: {name: git-push, namespace: %s}
spec:
  type: generic
  secretRef: {name: webhook-token}
  resources: [{kind: GitRepository, name: repo}]
`, ns))
	eventually(t, "the Alert and Provider cached", func() (bool, string) {
		al, _ := a.NotificationStore().Alerts(context.Background())
		_, err := a.NotificationStore().Provider(context.Background(), ns, "hook")
		return len(al) > 0 && err == nil, fmt.Sprintf("%d alerts, provider: %v", len(al), err)
	})
	cluster.ApplyYAML(t, gitRepository(ns, "repo", repo.URL))
	cluster.ApplyYAML(t, kustomization(ns, "apps", "./apps", ""))
	cluster.ApplyYAML(t, kustomization(ns, "broken", "./broken", ""))

	eventually(t, "the first revision applied", ksReadyAt(t, ns, "apps", "main@sha1:"+first))
	eventually(t, "the failure alert delivered", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range alerts {
			if e.InvolvedObject.Name == "broken" && e.Severity == "error" && e.Metadata["summary"] == "e2e cluster" &&
				e.Metadata["revision"] == "main@sha1:"+first && e.ReportingController == "kustomize-controller" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", alerts)
	})
	mu.Lock()
	for _, e := range alerts {
		if e.InvolvedObject.Name != "broken" {
			t.Errorf("an info event of %s passed the error-only Alert", e.InvolvedObject.Name)
		}
	}
	mu.Unlock()

	var path string
	eventually(t, "the Receiver's webhook path", func() (bool, string) {
		u := get(t, receiver.Resource, ns, "git-push")
		path, _, _ = unstructured.NestedString(u.Object, "status", "webhookPath")
		st, _, msg := condition(u, "Ready")
		return path != "" && st == "True", msg
	})
	second := repo.Commit("second", map[string]*string{"apps/a.yaml": configMap("a", ns, "two")})
	start := time.Now()
	resp, err := http.Post(webhooks.URL+path, "application/json", bytes.NewReader([]byte(`{}`)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook answered %d", resp.StatusCode)
	}
	eventually(t, "the pushed commit applied after the webhook", ksReadyAt(t, ns, "apps", "main@sha1:"+second))
	took := time.Since(start)
	if took > 10*time.Second {
		t.Errorf("the webhook took %s to reach the cluster", took)
	}
	t.Logf("webhook to applied commit: %s", took.Round(time.Millisecond))
	if v := cmValue(t, ns, "a"); v != "two" {
		t.Errorf("ConfigMap a = %q", v)
	}
}
