package install

import (
	"encoding/base64"
	"encoding/json"
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
		{"credentials without a secret", Options{Version: "v1", RegistryCredentials: "u:p"}, "need an image pull secret"},
		{"credentials without a password", Options{Version: "v1", ImagePullSecret: "s", RegistryCredentials: "u"}, "want user:password"},
		{"bad pull secret name", Options{Version: "v1", ImagePullSecret: "Reg_Cred"}, `image pull secret "Reg_Cred"`},
		{"bad toleration key", Options{Version: "v1", TolerationKeys: []string{"a b"}}, `toleration key "a b"`},
		{"bad cluster domain", Options{Version: "v1", ClusterDomain: "Corp_Local"}, `cluster domain "Corp_Local"`},
		{"bad log level", Options{Version: "v1", LogLevel: "trace"}, `log level "trace": want one of debug, info, warn, error`},
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

// TestObjectsFluxInstallOptions checks what each of Flux's install options changes in the manifests.
func TestObjectsFluxInstallOptions(t *testing.T) {
	find := func(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
		var out []*unstructured.Unstructured
		for _, o := range objs {
			if o.GetKind() == kind {
				out = append(out, o)
			}
		}
		return out
	}
	podSpec := func(objs []*unstructured.Unstructured) map[string]any {
		spec, _, _ := unstructured.NestedMap(find(objs, "Deployment")[0].Object, "spec", "template", "spec")
		return spec
	}
	container := func(objs []*unstructured.Unstructured) map[string]any {
		return podSpec(objs)["containers"].([]any)[0].(map[string]any)
	}
	args := func(objs []*unstructured.Unstructured) string {
		a, _, _ := unstructured.NestedStringSlice(container(objs), "args")
		return strings.Join(a, " ")
	}
	const defaultArgs = "agent --storage-path=/data --http-addr=:8080 --artifact-base-url=http://converge.flux-system.svc.cluster.local./artifacts --log-format=json"
	tests := []struct {
		name  string
		opts  Options
		check func(t *testing.T, objs []*unstructured.Unstructured)
	}{
		{"registry", Options{Registry: "registry.example.com:5000/mirror/"}, func(t *testing.T, objs []*unstructured.Unstructured) {
			if img := container(objs)["image"]; img != "registry.example.com:5000/mirror/converge:v1" {
				t.Errorf("image %v", img)
			}
		}},
		{"image wins over registry", Options{Registry: "registry.example.com/mirror", Image: "other.example/agent"}, func(t *testing.T, objs []*unstructured.Unstructured) {
			if img := container(objs)["image"]; img != "other.example/agent:v1" {
				t.Errorf("image %v", img)
			}
		}},
		{"image pull secret", Options{ImagePullSecret: "regcred"}, func(t *testing.T, objs []*unstructured.Unstructured) {
			want := []any{map[string]any{"name": "regcred"}}
			if got := podSpec(objs)["imagePullSecrets"]; !equalJSON(got, want) {
				t.Errorf("pod imagePullSecrets %v", got)
			}
			if got := find(objs, "ServiceAccount")[0].Object["imagePullSecrets"]; !equalJSON(got, want) {
				t.Errorf("ServiceAccount imagePullSecrets %v", got)
			}
			if n := len(find(objs, "Secret")); n != 0 {
				t.Errorf("%d Secrets without credentials", n)
			}
		}},
		{"registry credentials", Options{Registry: "registry.example.com/mirror", ImagePullSecret: "regcred", RegistryCredentials: "bot:s3:cret"},
			func(t *testing.T, objs []*unstructured.Unstructured) {
				if n := len(find(objs, "Secret")); n != 0 {
					t.Errorf("%d Secrets in the manifests", n)
				}
				secret, err := PullSecret(Options{Version: "v1", Registry: "registry.example.com/mirror", ImagePullSecret: "regcred", RegistryCredentials: "bot:s3:cret"})
				if err != nil {
					t.Fatal(err)
				}
				secrets := []*unstructured.Unstructured{secret}
				if len(secrets) != 1 || secrets[0].GetName() != "regcred" || secrets[0].GetNamespace() != "flux-system" {
					t.Fatalf("Secrets %v", secrets)
				}
				if typ := secrets[0].Object["type"]; typ != "kubernetes.io/dockerconfigjson" {
					t.Errorf("type %v", typ)
				}
				enc, _, _ := unstructured.NestedString(secrets[0].Object, "data", ".dockerconfigjson")
				raw, err := base64.StdEncoding.DecodeString(enc)
				if err != nil {
					t.Fatal(err)
				}
				var cfg struct {
					Auths map[string]struct{ Username, Password, Auth string }
				}
				if err := json.Unmarshal(raw, &cfg); err != nil {
					t.Fatal(err)
				}
				a := cfg.Auths["registry.example.com"]
				if len(cfg.Auths) != 1 || a.Username != "bot" || a.Password != "s3:cret" || a.Auth != base64.StdEncoding.EncodeToString([]byte("bot:s3:cret")) {
					t.Errorf("docker config %s", raw)
				}
			}},
		{"toleration keys", Options{TolerationKeys: []string{"dedicated-to-flux", "example.com/gitops"}}, func(t *testing.T, objs []*unstructured.Unstructured) {
			want := []any{map[string]any{"key": "dedicated-to-flux", "operator": "Exists"}, map[string]any{"key": "example.com/gitops", "operator": "Exists"}}
			if got := podSpec(objs)["tolerations"]; !equalJSON(got, want) {
				t.Errorf("tolerations %v", got)
			}
		}},
		{"no network policy", Options{NoNetworkPolicy: true}, func(t *testing.T, objs []*unstructured.Unstructured) {
			if n := len(find(objs, "NetworkPolicy")); n != 0 {
				t.Errorf("%d NetworkPolicies", n)
			}
		}},
		{"network policy by default", Options{}, func(t *testing.T, objs []*unstructured.Unstructured) {
			if n := len(find(objs, "NetworkPolicy")); n != 3 {
				t.Errorf("%d NetworkPolicies", n)
			}
			if a := args(objs); a != defaultArgs {
				t.Errorf("args %s", a)
			}
			if _, ok := podSpec(objs)["tolerations"]; ok {
				t.Error("tolerations without toleration keys")
			}
		}},
		{"watch the namespace only", Options{WatchNamespaceOnly: true}, func(t *testing.T, objs []*unstructured.Unstructured) {
			if a := args(objs); a != defaultArgs+" --watch-namespace=flux-system" {
				t.Errorf("args %s", a)
			}
		}},
		{"cluster domain and log level", Options{ClusterDomain: "corp.internal", LogLevel: "debug"}, func(t *testing.T, objs []*unstructured.Unstructured) {
			want := "agent --storage-path=/data --http-addr=:8080 --artifact-base-url=http://converge.flux-system.svc.corp.internal./artifacts --log-format=json --log-level=debug"
			if a := args(objs); a != want {
				t.Errorf("args %s", a)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Version = "v1"
			objs, err := Objects(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, objs)
		})
	}
}

func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
