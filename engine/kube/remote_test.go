package kube

import (
	"strings"
	"testing"
)

func TestRESTConfigFromKubeconfig(t *testing.T) {
	const base = `apiVersion: v1
kind: Config
current-context: remote
contexts:
- name: remote
  context: {cluster: remote, user: remote}
clusters:
- name: remote
  cluster:
    server: https://remote.example.com:6443
`
	for _, tc := range []struct {
		name, kubeconfig string
		opts             KubeconfigOptions
		want             string
	}{
		{"token", base + "users:\n- name: remote\n  user: {token: abc}\n", KubeconfigOptions{}, ""},
		{"exec refused", base + "users:\n- name: remote\n  user:\n    exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/true}\n", KubeconfigOptions{}, "exec credential plugin"},
		{"exec allowed", base + "users:\n- name: remote\n  user:\n    exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/true, interactiveMode: Never}\n", KubeconfigOptions{AllowExec: true}, ""},
		{"insecure TLS refused", strings.Replace(base, "    server:", "    insecure-skip-tls-verify: true\n    server:", 1) + "users:\n- name: remote\n  user: {token: abc}\n", KubeconfigOptions{}, "insecure-skip-tls-verify"},
		{"no current context", strings.Replace(base, "current-context: remote", "current-context: other", 1), KubeconfigOptions{}, `current context "other"`},
		{"not YAML", "{{{", KubeconfigOptions{}, "parsing the kubeconfig"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := RESTConfigFromKubeconfig([]byte(tc.kubeconfig), tc.opts)
			if tc.want == "" {
				if err != nil || cfg.Host != "https://remote.example.com:6443" || cfg.QPS != DefaultQPS {
					t.Fatalf("got %v %v", cfg, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestKubeconfigFromSecret(t *testing.T) {
	for _, tc := range []struct {
		name string
		data map[string][]byte
		key  string
		want string
		err  string
	}{
		{"value", map[string][]byte{"value": []byte("a"), "value.yaml": []byte("b")}, "", "a", ""},
		{"value.yaml", map[string][]byte{"value.yaml": []byte("b")}, "", "b", ""},
		{"custom key", map[string][]byte{"value": []byte("a"), "cfg": []byte("c")}, "cfg", "c", ""},
		{"custom key missing", map[string][]byte{"value": []byte("a")}, "cfg", "", `key "cfg" not found`},
		{"none", map[string][]byte{}, "", "", "neither key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := KubeconfigFromSecret(tc.data, tc.key)
			if string(got) != tc.want || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("got %q %v", got, err)
			}
		})
	}
}
