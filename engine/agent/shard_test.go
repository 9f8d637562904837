package agent

import (
	"fmt"
	"strings"
	"testing"

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
