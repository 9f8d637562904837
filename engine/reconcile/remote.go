package reconcile

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
	data, err := remoteKubeconfig(ctx, client, namespace, ref)
	if err != nil {
		return nil, err
	}
	return remoteConfigFrom(data, namespace, ref, sa, opts)
}

// remoteKubeconfig reads the kubeconfig of ref's Secret.
func remoteKubeconfig(ctx context.Context, client dynamic.Interface, namespace string, ref *meta.KubeConfigReference) ([]byte, error) {
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
	return data, nil
}

func remoteConfigFrom(data []byte, namespace string, ref *meta.KubeConfigReference, sa string, opts kube.KubeconfigOptions) (*rest.Config, error) {
	cfg, err := kube.RESTConfigFromKubeconfig(data, opts)
	if err != nil {
		return nil, fmt.Errorf("kubeConfig.secretRef: Secret %s/%s: %w", namespace, ref.SecretRef.Name, err)
	}
	if sa != "" {
		cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + namespace + ":" + sa}
	}
	return cfg, nil
}

// RemoteClients caches the clients of the clusters spec.kubeConfig reaches (hub and spoke): one set of
// clients, with its discovery cache and REST mapper, per kubeconfig Secret and impersonated
// ServiceAccount, reused by every reconciliation while the Secret's kubeconfig is unchanged. The Secret
// is read at each reconciliation (on the hub, cheap); a changed kubeconfig replaces the entry, a
// deleted Secret removes it. Safe for concurrent use; the zero value is ready.
type RemoteClients struct {
	mu      sync.Mutex
	entries map[remoteKey]*remoteEntry
}

type remoteKey struct{ namespace, secret, key, sa string }

type remoteEntry struct {
	digest  [sha256.Size]byte
	clients *kube.Clients
}

// Clients returns the clients of the cluster ref reaches for an object in namespace, as remoteConfig
// describes, from the cache when the Secret's kubeconfig is the one they were made from.
func (rc *RemoteClients) Clients(ctx context.Context, client dynamic.Interface, namespace string, ref *meta.KubeConfigReference, sa string, opts kube.KubeconfigOptions) (*kube.Clients, error) {
	var key remoteKey
	if ref.SecretRef != nil {
		key = remoteKey{namespace: namespace, secret: ref.SecretRef.Name, key: ref.SecretRef.Key, sa: sa}
	}
	data, err := remoteKubeconfig(ctx, client, namespace, ref)
	if err != nil {
		if apierrors.IsNotFound(err) {
			rc.evict(key)
		}
		return nil, err
	}
	digest := kubeconfigDigest(data, opts)
	rc.mu.Lock()
	e, ok := rc.entries[key]
	rc.mu.Unlock()
	if ok && e.digest == digest {
		return e.clients, nil
	}
	cfg, err := remoteConfigFrom(data, namespace, ref, sa, opts)
	if err != nil {
		rc.evict(key)
		return nil, err
	}
	clients, err := kube.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubeConfig.secretRef: Secret %s/%s: %w", namespace, ref.SecretRef.Name, err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if e, ok := rc.entries[key]; ok && e.digest == digest { // another worker made them meanwhile
		return e.clients, nil
	}
	if rc.entries == nil {
		rc.entries = map[remoteKey]*remoteEntry{}
	}
	rc.entries[key] = &remoteEntry{digest: digest, clients: clients}
	return clients, nil
}

// Len returns how many clusters' clients are cached.
func (rc *RemoteClients) Len() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.entries)
}

func (rc *RemoteClients) evict(key remoteKey) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	delete(rc.entries, key)
}

// kubeconfigDigest identifies the clients made from data under opts.
func kubeconfigDigest(data []byte, opts kube.KubeconfigOptions) [sha256.Size]byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "exec=%t insecure=%t\n", opts.AllowExec, opts.AllowInsecureTLS)
	b.Write(data)
	return sha256.Sum256(b.Bytes())
}
