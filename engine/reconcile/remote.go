package reconcile

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/converge-gitops/converge/crds/meta"
	"github.com/converge-gitops/converge/engine/kube"
)

// errConfigMapKubeconfig refuses spec.kubeConfig.configMapRef, saying why.
var errConfigMapKubeconfig = errors.New("spec.kubeConfig.configMapRef is not supported yet: a provider-based kubeconfig " +
	"(workload identity: aws, azure, gcp or generic) gets its credentials from a cloud provider's or the cluster's " +
	"token service, which converge cannot reach or verify here; use spec.kubeConfig.secretRef with a kubeconfig Secret")

// remoteConfig returns the client configuration of the cluster ref reaches for an object in namespace:
// the kubeconfig in the Secret ref.secretRef names (key "value", else "value.yaml", unless ref says),
// impersonating the ServiceAccount sa of namespace when sa is set, as Flux does. A kubeconfig that runs
// a program or skips TLS verification is refused unless opts allow it; configMapRef is refused.
func remoteConfig(ctx context.Context, client dynamic.Interface, namespace string, ref *meta.KubeConfigReference, sa string, opts kube.KubeconfigOptions) (*rest.Config, error) {
	if ref.SecretRef == nil {
		return nil, errConfigMapKubeconfig
	}
	name := ref.SecretRef.Name
	u, err := client.Resource(secretsResource).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("kubeConfig.secretRef: reading Secret %s/%s: %w", namespace, name, err)
	}
	secret := &corev1.Secret{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, secret); err != nil {
		return nil, fmt.Errorf("kubeConfig.secretRef: Secret %s/%s: %w", namespace, name, err)
	}
	data, err := kube.KubeconfigFromSecret(secret.Data, ref.SecretRef.Key)
	if err != nil {
		return nil, fmt.Errorf("kubeConfig.secretRef: Secret %s/%s: %w", namespace, name, err)
	}
	cfg, err := kube.RESTConfigFromKubeconfig(data, opts)
	if err != nil {
		return nil, fmt.Errorf("kubeConfig.secretRef: Secret %s/%s: %w", namespace, name, err)
	}
	if sa != "" {
		cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + namespace + ":" + sa}
	}
	return cfg, nil
}
