package health

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
)

// Cache serves the reads of a Checker waiting for objects to become healthy from watches (one shared
// informer per resource, started at its first read, until the Cache's context ends) instead of a GET
// per object and poll: a long-running reconciler waiting on many objects at once then costs the API
// server nothing while they roll out. A resource the cache does not serve yet (its informer has not
// synced, or it lies outside Namespace) is read from the API server.
type Cache struct {
	ctx       context.Context
	client    dynamic.Interface
	namespace string

	mu        sync.Mutex
	informers map[schema.GroupVersionResource]cache.SharedIndexInformer
}

// NewCache returns a Cache over client that watches namespace (empty: all) until ctx ends.
func NewCache(ctx context.Context, client dynamic.Interface, namespace string) *Cache {
	return &Cache{ctx: ctx, client: client, namespace: namespace, informers: map[schema.GroupVersionResource]cache.SharedIndexInformer{}}
}

// get returns namespace/name of gvr from the cache; served is false when the cache cannot answer yet.
func (c *Cache) get(gvr schema.GroupVersionResource, namespace, name string) (u *unstructured.Unstructured, served bool) {
	if c.namespace != "" && namespace != c.namespace {
		return nil, false
	}
	c.mu.Lock()
	inf, ok := c.informers[gvr]
	if !ok {
		inf = dynamicinformer.NewFilteredDynamicInformer(c.client, gvr, c.namespace, 0, cache.Indexers{}, nil).Informer()
		_ = inf.SetTransform(slim) // fails only once the informer runs
		c.informers[gvr] = inf
		go inf.Run(c.ctx.Done())
	}
	c.mu.Unlock()
	if !inf.HasSynced() {
		return nil, false
	}
	key := name
	if namespace != "" {
		key = namespace + "/" + name
	}
	item, exists, err := inf.GetStore().GetByKey(key)
	if err != nil {
		return nil, false
	}
	if !exists {
		return nil, true
	}
	return item.(*unstructured.Unstructured), true
}

// slim keeps what kstatus reads: no managed fields, no pod template, no last-applied annotation.
func slim(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil
	}
	u.SetManagedFields(nil)
	if a := u.GetAnnotations(); a["kubectl.kubernetes.io/last-applied-configuration"] != "" {
		delete(a, "kubectl.kubernetes.io/last-applied-configuration")
		u.SetAnnotations(a)
	}
	unstructured.RemoveNestedField(u.Object, "spec", "template")
	return u, nil
}
