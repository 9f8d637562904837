package kube

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/converge-gitops/converge/engine/source"
)

// Client-side rate limits for converge's clients. High on purpose: the API server's priority and
// fairness protects it, and a push-mode apply of a thousand objects should not wait on the client.
const (
	DefaultQPS   = 1000
	DefaultBurst = 2000
)

// Clients are the clients of one cluster.
type Clients struct {
	Config    *rest.Config
	Core      kubernetes.Interface
	Dynamic   dynamic.Interface
	Discovery discovery.DiscoveryInterface
	Mapper    meta.ResettableRESTMapper
}

// New returns the clients for cfg. Discovery is cached in memory; call Mapper.Reset after installing CRDs.
func New(cfg *rest.Config) (*Clients, error) {
	core, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	cached := memory.NewMemCacheClient(core.Discovery())
	return &Clients{Config: cfg, Core: core, Dynamic: dyn, Discovery: core.Discovery(),
		Mapper: restmapper.NewDeferredDiscoveryRESTMapper(cached)}, nil
}

// GetConfigMap implements source.ConfigMaps.
func (c *Clients) GetConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error) {
	return c.Core.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
}

// GetSecret implements source.Secrets.
func (c *Clients) GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	return c.Core.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
}

// Chain looks ConfigMaps and Secrets up in each source in turn, moving on when one reports NotFound.
type Chain []interface {
	source.ConfigMaps
	source.Secrets
}

// GetConfigMap implements source.ConfigMaps.
func (c Chain) GetConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error) {
	var last error = apierrors.NewNotFound(corev1.Resource("configmaps"), namespace+"/"+name)
	for _, s := range c {
		cm, err := s.GetConfigMap(ctx, namespace, name)
		if err == nil {
			return cm, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("ConfigMap %s/%s: %w", namespace, name, err)
		}
		last = err
	}
	return nil, last
}

// GetSecret implements source.Secrets.
func (c Chain) GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	var last error = apierrors.NewNotFound(corev1.Resource("secrets"), namespace+"/"+name)
	for _, s := range c {
		sec, err := s.GetSecret(ctx, namespace, name)
		if err == nil {
			return sec, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("Secret %s/%s: %w", namespace, name, err)
		}
		last = err
	}
	return nil, last
}

// Impersonating returns clients for the same cluster acting as the ServiceAccount namespace/name.
func (c *Clients) Impersonating(namespace, name string) (*Clients, error) {
	cfg := rest.CopyConfig(c.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + namespace + ":" + name}
	return New(cfg)
}

// IsNamespaced answers from the cluster's discovery whether apiVersion/kind is namespaced; ok is false
// when the cluster does not know the kind.
func (c *Clients) IsNamespaced(apiVersion, kind string) (namespaced, ok bool) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return false, false
	}
	m, err := c.Mapper.RESTMapping(gv.WithKind(kind).GroupKind(), gv.Version)
	if err != nil {
		return false, false
	}
	return m.Scope.Name() == meta.RESTScopeNameNamespace, true
}
