package agent

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/converge-gitops/converge/crds/meta"
	"github.com/converge-gitops/converge/engine/source"
)

// ShardKey is the label Flux shards its objects by; `--shard NAME` watches the objects labelled with it.
const ShardKey = "sharding.fluxcd.io/key"

// lookup returns the object key names: from the caches, or, when the agent watches a shard (a label
// selector) and the object is not in it, read from the API server (another shard reconciles it). local
// is false for such an object. Nil when it does not exist.
func (a *Agent) lookup(ctx context.Context, key Key) (u *unstructured.Unstructured, local bool, err error) {
	inf, ok := a.informers[key.Kind]
	if !ok {
		return nil, false, fmt.Errorf("kind %s is not supported by this agent", key.Kind)
	}
	item, exists, err := inf.GetStore().GetByKey(cacheKey(key))
	if err != nil {
		return nil, false, err
	}
	if exists {
		return item.(*unstructured.Unstructured), true, nil
	}
	if a.selector.Empty() {
		return nil, false, nil
	}
	u, err = a.opts.Clients.Dynamic.Resource(a.resources[key.Kind]).Namespace(key.Namespace).Get(ctx, key.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading %s %s/%s from another shard: %w", key.Kind, key.Namespace, key.Name, err)
	}
	return u, false, nil
}

// remoteArtifact downloads the artifact of a source another shard reconciles, from the URL its status
// reports (that shard's artifact server), as Flux's controllers fetch artifacts from source-controller.
func (a *Agent) remoteArtifact(ctx context.Context, key Key, u *unstructured.Unstructured) (*source.Artifact, error) {
	desc := fmt.Sprintf("%s '%s/%s'", key.Kind, key.Namespace, key.Name)
	m, ok, _ := unstructured.NestedMap(u.Object, "status", "artifact")
	if !ok {
		return nil, fmt.Errorf("Source %s (in another shard) has no artifact yet", desc)
	}
	art := &meta.Artifact{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, art); err != nil {
		return nil, fmt.Errorf("Source %s: status.artifact: %w", desc, err)
	}
	return a.fetchers.Remote(ctx, source.Ref{Kind: key.Kind, Namespace: key.Namespace, Name: key.Name}, art)
}
