package agent

import (
	"context"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/converge-gitops/converge/engine/source/sourcetest"
)

// TestShards runs three agents as Flux shards them: shard a, shard b, and the default one leaving both
// out (`sharding.fluxcd.io/key notin (a,b)`). Each reconciles only its objects; a Kustomization of shard
// a depends on one of shard b and uses a GitRepository of shard b, whose artifact b's server serves.
func TestShards(t *testing.T) {
	ns := "shards"
	namespace(t, ns)
	srv := sourcetest.StartGitServer(t)
	repo := srv.NewRepo(t, "shards")
	rev := "main@sha1:" + repo.Commit("first", map[string]*string{
		"a/cm.yaml":       configMap("in-a", ns, "a"),
		"b/cm.yaml":       configMap("in-b", ns, "b"),
		"default/cm.yaml": configMap("in-default", ns, "default"),
	})
	shard := func(key string) string {
		if key == "" {
			return ""
		}
		return "  labels: {sharding.fluxcd.io/key: " + key + "}\n"
	}
	cluster.ApplyYAML(t, strings.Replace(gitRepository(ns, "repo", repo.URL), "metadata: {name: repo, namespace: "+ns+"}",
		"metadata:\n  name: repo\n  namespace: "+ns+"\n"+shard("b"), 1))
	for _, k := range []struct{ name, shard, extra string }{
		{"ka", "a", "  dependsOn: [{name: kb}]\n"},
		{"kb", "b", ""},
		{"kd", "", ""},
	} {
		y := kustomization(ns, k.name, "./"+map[string]string{"ka": "a", "kb": "b", "kd": "default"}[k.name], k.extra)
		y = strings.Replace(y, fmt.Sprintf("metadata: {name: %s, namespace: %s}", k.name, ns),
			fmt.Sprintf("metadata:\n  name: %s\n  namespace: %s\n%s", k.name, ns, shard(k.shard)), 1)
		cluster.ApplyYAML(t, y)
	}

	agents := map[string]*inProcess{}
	for name, selector := range map[string]string{
		"a":       ShardKey + "=a",
		"b":       ShardKey + "=b",
		"default": ShardKey + " notin (a,b)",
	} {
		agents[name] = startProcess(t, ProcessOptions{Agent: Options{Namespace: ns, LabelSelector: selector}})
	}
	for _, k := range []string{"ka", "kb", "kd"} {
		eventually(t, k+" Ready", ksReadyAt(t, ns, k, rev))
	}
	for name, want := range map[string]string{"in-a": "a", "in-b": "b", "in-default": "default"} {
		if got := cmValue(t, ns, name); got != want {
			t.Errorf("ConfigMap %s = %q, want %q", name, got, want)
		}
	}
	// The source's artifact is served by shard b's agent, and shard a downloaded it from there.
	url, _, _ := unstructured.NestedString(get(t, gitGVR, ns, "repo").Object, "status", "artifact", "url")
	if want := "http://" + agents["b"].p.HTTPAddr() + "/artifacts/"; !strings.HasPrefix(url, want) {
		t.Errorf("artifact URL %q, want it under %s", url, want)
	}
	// Each object is reconciled by its shard only.
	owner := map[string]string{"GitRepository/repo": "b", "Kustomization/ka": "a", "Kustomization/kb": "b", "Kustomization/kd": "default"}
	for obj, want := range owner {
		kind, name, _ := strings.Cut(obj, "/")
		for agent, ip := range agents {
			n := 0
			for _, l := range ip.logs.lines(`"msg":"reconciled"`) {
				if strings.Contains(l, `"kind":"`+kind+`"`) && strings.Contains(l, `"name":"`+name+`"`) {
					n++
				}
			}
			if (agent == want) != (n > 0) {
				t.Errorf("%s reconciled %d times by agent %s; its shard is %s", obj, n, agent, want)
			}
		}
	}
}

// TestShardProcesses: two `converge agent` processes, --shard a and --shard b, each with its own Lease
// (converge-agent-a, -b). Kustomization ka (shard a) depends on kb (shard b) and applies a
// GitRepository of shard b: a's agent reads both from the API server and downloads the artifact from
// b's artifact server; neither agent reconciles the other's objects.
func TestShardProcesses(t *testing.T) {
	ns := "shard-processes"
	namespace(t, ns)
	kubeconfig := agentKubeconfig(t)
	srv := sourcetest.StartGitServer(t)
	repo := srv.NewRepo(t, ns)
	rev := "main@sha1:" + repo.Commit("first", map[string]*string{
		"a/cm.yaml": configMap("from-a", ns, "a"),
		"b/cm.yaml": configMap("from-b", ns, "b"),
	})
	labelled := func(doc, name, shard string) string {
		return strings.Replace(doc, fmt.Sprintf("metadata: {name: %s, namespace: %s}", name, ns),
			fmt.Sprintf("metadata:\n  name: %s\n  namespace: %s\n  labels: {%s: %s}", name, ns, ShardKey, shard), 1)
	}
	cluster.ApplyYAML(t, labelled(gitRepository(ns, "repo", repo.URL), "repo", "b"))
	cluster.ApplyYAML(t, labelled(kustomization(ns, "ka", "./a", "  dependsOn: [{name: kb}]\n"), "ka", "a"))
	cluster.ApplyYAML(t, labelled(kustomization(ns, "kb", "./b", ""), "kb", "b"))

	agents := map[string]*agentProcess{}
	for _, s := range []string{"a", "b"} {
		agents[s] = startAgentProcess(t, kubeconfig, "--shard", s, "--watch-namespace", ns, "--leader-election-namespace", ns)
	}
	for _, k := range []string{"ka", "kb"} {
		eventually(t, k+" Ready", ksReadyAt(t, ns, k, rev))
	}
	for name, want := range map[string]string{"from-a": "a", "from-b": "b"} {
		if got := cmValue(t, ns, name); got != want {
			t.Errorf("ConfigMap %s = %q, want %q", name, got, want)
		}
	}
	url, _, _ := unstructured.NestedString(get(t, gitGVR, ns, "repo").Object, "status", "artifact", "url")
	if want := "http://" + agents["b"].addr + "/artifacts/"; !strings.HasPrefix(url, want) {
		t.Errorf("artifact URL %q, want it under b's server %s", url, want)
	}
	for _, s := range []string{"a", "b"} {
		l, err := cluster.Client.CoordinationV1().Leases(ns).Get(context.Background(), "converge-agent-"+s, metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
			t.Errorf("Lease converge-agent-%s: %v %+v", s, err, l)
		}
	}
	owner := map[string]string{"GitRepository/repo": "b", "Kustomization/ka": "a", "Kustomization/kb": "b"}
	for obj, want := range owner {
		kind, name, _ := strings.Cut(obj, "/")
		for s, p := range agents {
			n := 0
			for _, l := range strings.Split(p.log(), "\n") {
				if strings.Contains(l, `"msg":"reconciled"`) && strings.Contains(l, `"kind":"`+kind+`"`) && strings.Contains(l, `"name":"`+name+`"`) {
					n++
				}
			}
			if (s == want) != (n > 0) {
				t.Errorf("%s reconciled %d times by the agent of shard %s; its shard is %s", obj, n, s, want)
			}
		}
	}
}
