package apply

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ObjectDiff is what apply would do to one object, with the live object and the server's dry-run result.
type ObjectDiff struct {
	Object ObjMeta
	Action Action
	Reason string
	// Live is the object in the cluster (nil when it would be created).
	Live *unstructured.Unstructured
	// Merged is the object as the server would store it after apply (nil when not computed, e.g.
	// for a namespace or kind that the same apply creates first).
	Merged *unstructured.Unstructured
	// Desired is the object as built.
	Desired *unstructured.Unstructured
	// Recreate: an immutable field changed and force is on, so apply deletes and recreates the object.
	Recreate bool
}

// Diff computes, without writing, what Apply would do to each object: a server-side dry-run of every
// object against its live state. Objects in namespaces or of kinds that the set itself creates cannot be
// dry-run and are reported as created from their desired state.
func (m *Manager) Diff(ctx context.Context, objs []*unstructured.Unstructured) ([]ObjectDiff, error) {
	return m.DiffWith(ctx, objs, Options{})
}

// DiffWith is Diff with apply's options (Force); it never writes. A failed dry-run is an *ObjectError
// per object (joined), as Apply returns them.
func (m *Manager) DiffWith(ctx context.Context, objs []*unstructured.Unstructured, opts Options) ([]ObjectDiff, error) {
	opts.DryRun = true
	plan1, plan2, deferred, _, err := m.stagedPlan(ctx, objs, opts)
	if err != nil {
		return nil, err
	}
	var out []ObjectDiff
	for _, s := range append(plan1, plan2...) {
		out = append(out, ObjectDiff{Object: s.meta, Action: s.action, Reason: s.reason, Live: s.live, Merged: s.dry, Desired: s.obj, Recreate: s.recreate})
	}
	for _, o := range deferred {
		out = append(out, ObjectDiff{Object: MetaOf(o), Action: Created, Desired: o})
	}
	return out, nil
}

// Get reads the live object o; a NotFound error when it does not exist.
func (m *Manager) Get(ctx context.Context, o ObjMeta) (*unstructured.Unstructured, error) {
	ri, err := m.resource(o)
	if err != nil {
		return nil, err
	}
	return ri.Get(ctx, o.Name, metav1.GetOptions{})
}
