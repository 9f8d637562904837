package kube

import (
	"errors"
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// KubeconfigOptions say which credentials a kubeconfig read from the cluster may use. Both default to
// refused, as Flux's --insecure-kubeconfig-exec and --insecure-kubeconfig-tls flags do: a kubeconfig in
// a Secret must not make converge run a program or skip TLS verification.
type KubeconfigOptions struct {
	AllowExec        bool
	AllowInsecureTLS bool
}

// The Secret keys a kubeConfig.secretRef without a key is read from, in this order (as Flux does).
const (
	KubeconfigKey     = "value"
	KubeconfigYAMLKey = "value.yaml"
)

// KubeconfigFromSecret returns the kubeconfig in data under key, or, when key is empty, under
// KubeconfigKey or else KubeconfigYAMLKey.
func KubeconfigFromSecret(data map[string][]byte, key string) ([]byte, error) {
	if key != "" {
		v, ok := data[key]
		if !ok {
			return nil, fmt.Errorf("key %q not found", key)
		}
		return v, nil
	}
	for _, k := range []string{KubeconfigKey, KubeconfigYAMLKey} {
		if v, ok := data[k]; ok {
			return v, nil
		}
	}
	return nil, fmt.Errorf("neither key %q nor %q found", KubeconfigKey, KubeconfigYAMLKey)
}

// RESTConfigFromKubeconfig returns the client configuration of kubeconfig's current context, with
// converge's client rate limits.
func RESTConfigFromKubeconfig(kubeconfig []byte, opts KubeconfigOptions) (*rest.Config, error) {
	raw, err := clientcmd.Load(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("parsing the kubeconfig: %w", err)
	}
	ctxName := raw.CurrentContext
	kctx, ok := raw.Contexts[ctxName]
	if !ok {
		return nil, fmt.Errorf("the kubeconfig's current context %q does not exist", ctxName)
	}
	if auth, ok := raw.AuthInfos[kctx.AuthInfo]; ok {
		if auth.Exec != nil && !opts.AllowExec {
			return nil, errors.New("the kubeconfig uses an exec credential plugin, which is not allowed")
		}
		if auth.AuthProvider != nil && !opts.AllowExec {
			return nil, errors.New("the kubeconfig uses an auth-provider plugin, which is not allowed")
		}
	}
	if c, ok := raw.Clusters[kctx.Cluster]; ok && c.InsecureSkipTLSVerify && !opts.AllowInsecureTLS {
		return nil, errors.New("the kubeconfig disables TLS verification (insecure-skip-tls-verify), which is not allowed")
	}
	cfg, err := clientcmd.NewDefaultClientConfig(*raw, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("the kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = DefaultQPS, DefaultBurst
	return cfg, nil
}
