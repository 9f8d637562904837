package agent

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// The agent as a process, authenticated as its ServiceAccount, serves a Receiver on --receiver-addr: a call
// on the Receiver's webhook path gets a pushed commit applied long before the sources' 1h interval.
func TestAgentProcessReceiver(t *testing.T) {
	const ns = "receiver-process"
	namespace(t, ns)
	srv := sourcetest.StartGitServer(t)
	repo := srv.NewRepo(t, "hooked")
	first := "main@sha1:" + repo.Commit("first", map[string]*string{"apps/cm.yaml": configMap("hooked", ns, "v1")})
	cluster.ApplyYAML(t, gitRepository(ns, "repo", repo.URL))
	cluster.ApplyYAML(t, kustomization(ns, "apps", "./apps", ""))
	cluster.ApplyYAML(t, fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: hook-token, namespace: %s}\nstringData: {token: s3cret}\n", ns))
	cluster.ApplyYAML(t, fmt.Sprintf(`apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata: {name: push, namespace: %s}
spec:
  type: generic
  secretRef: {name: hook-token}
  resources: [{kind: GitRepository, name: repo}]
`, ns))

	hooks := freeAddr(t)
	startAgentProcess(t, agentKubeconfig(t), "--leader-elect=false", "--watch-namespace", ns, "--receiver-addr", hooks)
	eventually(t, "the first revision applied", ksReadyAt(t, ns, "apps", first))
	receivers := schema.GroupVersionResource{Group: "notification.toolkit.fluxcd.io", Version: "v1", Resource: "receivers"}
	var path string
	eventually(t, "the Receiver's webhook path", func() (bool, string) {
		u := get(t, receivers, ns, "push")
		path, _, _ = unstructured.NestedString(u.Object, "status", "webhookPath")
		st, reason, msg := condition(u, "Ready")
		return st == "True" && strings.HasPrefix(path, "/hook/"), st + " " + reason + " " + msg + " " + path
	})

	post := func(p string) int {
		resp, err := http.Post("http://"+hooks+p, "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("/hook/" + strings.Repeat("0", 64)); code != http.StatusNotFound {
		t.Errorf("unknown webhook path answered %d, want 404", code)
	}
	next := "main@sha1:" + repo.Commit("second", map[string]*string{"apps/cm.yaml": configMap("hooked", ns, "v2")})
	called := time.Now()
	if code := post(path); code != http.StatusOK {
		t.Fatalf("webhook call answered %d", code)
	}
	eventually(t, "the pushed commit applied after the webhook call", ksReadyAt(t, ns, "apps", next))
	if v := cmValue(t, ns, "hooked"); v != "v2" {
		t.Errorf("ConfigMap value %q after the webhook, want v2", v)
	}
	t.Logf("webhook call to applied commit: %s", time.Since(called).Round(time.Millisecond))
}
