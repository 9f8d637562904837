package install

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/converge-gitops/converge/engine/kinds"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		err  string
	}{
		{"defaults", Options{Version: "v1.0.0"}, ""},
		{"no version", Options{}, "version is required"},
		{"bad namespace", Options{Version: "v1", Namespace: "Flux_System"}, `namespace "Flux_System"`},
		{"version not a label value", Options{Version: "v1 beta"}, `version "v1 beta"`},
		{"image with a short digest", Options{Version: "v1", Image: "ghcr.io/x/y@sha256:abc"}, `digest "sha256:abc"`},
		{"unknown component", Options{Version: "v1", ComponentsExtra: []string{"image-reflector"}}, `unknown extra component "image-reflector"`},
		{"known component", Options{Version: "v1", ComponentsExtra: []string{"source-watcher"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if tt.err == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.err)
			}
		})
	}
}

func TestCRDsPerComponent(t *testing.T) {
	names := func(extra ...string) []string {
		objs, err := CRDs(extra, map[string]string{PartOfLabel: PartOf})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, o := range objs {
			if o.GetLabels()[PartOfLabel] != PartOf {
				t.Errorf("%s lacks the part-of label", o.GetName())
			}
			out = append(out, o.GetName())
		}
		return out
	}
	def := names()
	if len(def) != 11 || slices.Contains(def, "imagepolicies.image.toolkit.fluxcd.io") || !slices.Contains(def, "kustomizations.kustomize.toolkit.fluxcd.io") {
		t.Errorf("default CRDs = %v", def)
	}
	all := names(ExtraComponents...)
	every, err := AllCRDs()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(every) {
		t.Errorf("with every extra component: %d CRDs, the repository has %d", len(all), len(every))
	}
	// Every embedded CRD belongs to exactly one component.
	owner := map[string]string{}
	for _, c := range append(slices.Clone(Components), ExtraComponents...) {
		for _, n := range kinds.CRDNames(c) {
			if prev, ok := owner[n]; ok {
				t.Errorf("%s in %s and %s", n, prev, c)
			}
			owner[n] = c
		}
	}
	for _, c := range every {
		if owner[c.GetName()] == "" {
			t.Errorf("CRD %s belongs to no component", c.GetName())
		}
	}
}

func TestObjects(t *testing.T) {
	objs, err := Objects(Options{Namespace: "gitops", Version: "v0.4.0", Image: "registry.local/converge"})
	if err != nil {
		t.Fatal(err)
	}
	byKind := map[string][]*unstructured.Unstructured{}
	for _, o := range objs {
		byKind[o.GetKind()] = append(byKind[o.GetKind()], o)
		if l := o.GetLabels(); l[PartOfLabel] != PartOf || l[InstanceLabel] != "gitops" || l[VersionLabel] != "v0.4.0" {
			t.Errorf("%s %s labels = %v", o.GetKind(), o.GetName(), l)
		}
		if o.GetKind() != "Namespace" && o.GetKind() != "CustomResourceDefinition" && o.GetKind() != "ClusterRoleBinding" && o.GetNamespace() != "gitops" {
			t.Errorf("%s %s in namespace %q", o.GetKind(), o.GetName(), o.GetNamespace())
		}
	}
	if objs[0].GetKind() != "Namespace" || objs[1].GetKind() != "CustomResourceDefinition" {
		t.Errorf("order starts with %s, %s", objs[0].GetKind(), objs[1].GetKind())
	}
	for kind, n := range map[string]int{"Namespace": 1, "ServiceAccount": 1, "ClusterRoleBinding": 1, "Role": 1, "RoleBinding": 1, "Service": 2, "Deployment": 1, "NetworkPolicy": 3} {
		if len(byKind[kind]) != n {
			t.Errorf("%d %s objects, want %d", len(byKind[kind]), kind, n)
		}
	}
	d := byKind["Deployment"][0]
	c, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	container := c[0].(map[string]any)
	for path, want := range map[string]any{
		"image":                                  "registry.local/converge:v0.4.0",
		"securityContext.readOnlyRootFilesystem": true,
		"securityContext.allowPrivilegeEscalation": false,
		"securityContext.runAsNonRoot":             true,
		"securityContext.seccompProfile.type":      "RuntimeDefault",
		"livenessProbe.httpGet.path":               "/healthz",
		"readinessProbe.httpGet.path":              "/readyz",
		"resources.limits.memory":                  "1Gi",
	} {
		got, _, _ := unstructured.NestedFieldNoCopy(container, strings.Split(path, ".")...)
		if got != want {
			t.Errorf("container %s = %v, want %v", path, got, want)
		}
	}
	args, _, _ := unstructured.NestedStringSlice(container, "args")
	if strings.Join(args, " ") != "agent --storage-path=/data --http-addr=:8080 --artifact-base-url=http://converge.gitops.svc.cluster.local./artifacts --log-format=json" {
		t.Errorf("args = %v", args)
	}
	caps, _, _ := unstructured.NestedStringSlice(container, "securityContext", "capabilities", "drop")
	if !slices.Equal(caps, []string{"ALL"}) {
		t.Errorf("dropped capabilities = %v", caps)
	}
	crb := byKind["ClusterRoleBinding"][0]
	if role, _, _ := unstructured.NestedString(crb.Object, "roleRef", "name"); role != "cluster-admin" || crb.GetName() != "converge-agent-gitops" {
		t.Errorf("ClusterRoleBinding %s binds %s", crb.GetName(), role)
	}
}

// With shards, each has its own Deployment (its Lease follows from --shard) and Service, and the default
// agent leaves their objects out, as Flux's sharding documentation configures its controllers.
func TestObjectsShards(t *testing.T) {
	objs, err := Objects(Options{Namespace: "gitops", Version: "v0.4.0", Shards: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	args := map[string]string{}
	services := map[string]string{}
	for _, o := range objs {
		switch o.GetKind() {
		case "Deployment":
			c, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			a, _, _ := unstructured.NestedStringSlice(c[0].(map[string]any), "args")
			args[o.GetName()] = strings.Join(a, " ")
			app, _, _ := unstructured.NestedString(o.Object, "spec", "selector", "matchLabels", AppLabel)
			if podApp, _, _ := unstructured.NestedString(o.Object, "spec", "template", "metadata", "labels", AppLabel); app != o.GetName() || podApp != app {
				t.Errorf("Deployment %s selects app=%s, its pods are app=%s", o.GetName(), app, podApp)
			}
		case "Service":
			services[o.GetName()], _, _ = unstructured.NestedString(o.Object, "spec", "selector", AppLabel)
		}
	}
	want := map[string]string{
		"converge-agent":   "agent --storage-path=/data --http-addr=:8080 --artifact-base-url=http://converge.gitops.svc.cluster.local./artifacts --watch-label-selector=sharding.fluxcd.io/key notin (a,b) --log-format=json",
		"converge-agent-a": "agent --storage-path=/data --http-addr=:8080 --artifact-base-url=http://converge-agent-a.gitops.svc.cluster.local./artifacts --shard=a --receiver-addr= --log-format=json",
		"converge-agent-b": "agent --storage-path=/data --http-addr=:8080 --artifact-base-url=http://converge-agent-b.gitops.svc.cluster.local./artifacts --shard=b --receiver-addr= --log-format=json",
	}
	if !maps.Equal(args, want) {
		t.Errorf("agent args:\n%v\nwant\n%v", args, want)
	}
	wantSvc := map[string]string{"converge": "converge-agent", "webhook-receiver": "converge-agent", "converge-agent-a": "converge-agent-a", "converge-agent-b": "converge-agent-b"}
	if !maps.Equal(services, wantSvc) {
		t.Errorf("services select %v, want %v", services, wantSvc)
	}
	for _, bad := range [][]string{{"a", "a"}, {"A"}, {""}, {strings.Repeat("x", 60)}} {
		if _, err := Objects(Options{Version: "v1", Shards: bad}); err == nil {
			t.Errorf("shards %q accepted", bad)
		}
	}
}
