package reconcile

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// WaitDependencies runs check (a CheckDependencies of one object) until it passes, as the agent requeues
// an object whose dependency is not ready: again every interval until ctx ends. waiting is called with
// each new error while it waits (nil: not told). A terminal error (IsTerminal) is returned at once; when
// ctx ends, the last error is returned, as the agent words it.
func WaitDependencies(ctx context.Context, interval time.Duration, check func(context.Context) error, waiting func(error)) error {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	var last error
	for {
		err := check(ctx)
		if err == nil || IsTerminal(err) {
			return err
		}
		if ctx.Err() != nil && last != nil {
			return last // the check failed for the context: the cause is the one before
		}
		if waiting != nil && (last == nil || err.Error() != last.Error()) {
			waiting(err)
		}
		last = err
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return last
		case <-t.C:
		}
	}
}

// CheckDependencies checks the spec.dependsOn of the HelmRelease namespace/name in the cluster, as
// ReadyExprs.CheckDependencies does (the object is read afresh).
func (r *HelmReleases) CheckDependencies(ctx context.Context, namespace, name string, opts DependencyOptions) error {
	get := func(ctx context.Context, namespace, name string) (*unstructured.Unstructured, error) {
		u, err := r.Client.Resource(HelmReleasesResource).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return u, err
	}
	self, err := get(ctx, namespace, name)
	if err != nil {
		return fmt.Errorf("reading HelmRelease %s/%s: %w", namespace, name, err)
	}
	if self == nil {
		return fmt.Errorf("HelmRelease %s/%s does not exist in the cluster", namespace, name)
	}
	return r.ReadyExprs.CheckDependencies(ctx, self, opts, get)
}
