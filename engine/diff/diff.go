// Package diff computes what an apply would change, object by object, as unified diffs of the live
// object against the server's dry-run result, with Secret values masked.
package diff

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/converge-gitops/converge/crds/meta"
	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/reconcile"
)

// Actions a diff reports.
const (
	Created   = "created"
	Changed   = "changed"
	Deleted   = "deleted"
	Unchanged = "unchanged"
	Skipped   = "skipped"
)

// Entry is the change to one object.
type Entry struct {
	// Owner is the kind of the object whose build produced this one: Kustomization or HelmRelease.
	Owner string `json:"owner"`
	// Kustomization is the owner's namespace/name.
	Kustomization string `json:"name"`
	Subject       string `json:"subject"`
	Action        string `json:"action"`
	Reason        string `json:"reason,omitempty"`
	// Diff is a unified diff of the object's YAML (live, then after apply), Secret values masked.
	Diff string `json:"diff,omitempty"`
}

// Differ diffs Kustomizations against a cluster.
type Differ struct {
	Apply          *apply.Manager
	Kustomizations *reconcile.Kustomizations
	// ShowSecrets prints Secret values instead of masking them.
	ShowSecrets bool
}

// Kustomization returns the changes applying objs as Kustomization namespace/name would make,
// including the objects its prune would delete. Unchanged objects are returned with no diff.
func (d *Differ) Kustomization(ctx context.Context, namespace, name string, objs []*unstructured.Unstructured) ([]Entry, error) {
	id := namespace + "/" + name
	out, err := d.Objects(ctx, "Kustomization", id, objs)
	if err != nil {
		return nil, err
	}
	pruned, err := d.pruned(ctx, namespace, name, objs)
	if err != nil {
		return nil, fmt.Errorf("Kustomization %s: %w", id, err)
	}
	for _, live := range pruned {
		m := apply.MetaOf(live)
		text, err := d.unified(m.String(), live, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, Entry{Kustomization: id, Owner: "Kustomization", Subject: m.String(), Action: Deleted, Diff: text})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Subject < out[j].Subject })
	return out, nil
}

// Objects returns the changes applying objs (owned by kind namespace/name, e.g. a rendered HelmRelease)
// would make, without prune.
func (d *Differ) Objects(ctx context.Context, kind, id string, objs []*unstructured.Unstructured) ([]Entry, error) {
	diffs, err := d.Apply.Diff(ctx, objs)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", kind, id, err)
	}
	var out []Entry
	for _, od := range diffs {
		e := Entry{Kustomization: id, Owner: kind, Subject: od.Object.String(), Reason: od.Reason}
		switch od.Action {
		case apply.Unchanged:
			e.Action = Unchanged
		case apply.Skipped:
			e.Action = Skipped
		case apply.Created:
			e.Action = Created
			after := od.Merged
			if after == nil {
				after = od.Desired
			}
			e.Diff, err = d.unified(e.Subject, nil, after)
		default:
			e.Action = Changed
			after := od.Merged
			if after == nil { // recreated on an immutable change: the server could not dry-run it
				after = od.Desired
			}
			e.Diff, err = d.unified(e.Subject, od.Live, after)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Subject < out[j].Subject })
	return out, nil
}

// pruned returns the live objects that applying objs would prune.
func (d *Differ) pruned(ctx context.Context, namespace, name string, objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	ks, err := d.Kustomizations.Get(ctx, namespace, name)
	if err != nil || ks == nil || !ks.Spec.Prune {
		return nil, err
	}
	stale, err := apply.Stale(ks.Status.Inventory, objs)
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for _, o := range stale {
		live, err := d.Apply.Get(ctx, o)
		if apierrors.IsNotFound(err) || live == nil {
			continue
		}
		if err != nil {
			return nil, err
		}
		if live.GetAnnotations()[meta.PruneAnnotation] == meta.DisabledValue || live.GetLabels()[meta.PruneAnnotation] == meta.DisabledValue {
			continue
		}
		out = append(out, live)
	}
	return out, nil
}

func (d *Differ) unified(subject string, before, after *unstructured.Unstructured) (string, error) {
	b, a := clean(before), clean(after)
	if !d.ShowSecrets {
		maskSecrets(b, a)
	}
	from, err := toYAML(b)
	if err != nil {
		return "", err
	}
	to, err := toYAML(a)
	if err != nil {
		return "", err
	}
	return difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: splitLines(from), B: splitLines(to),
		FromFile: subject + " (live)", ToFile: subject + " (after apply)", Context: 3,
	})
}

func toYAML(u *unstructured.Unstructured) (string, error) {
	if u == nil {
		return "", nil
	}
	b, err := yaml.Marshal(u.Object)
	return string(b), err
}

// clean drops what the server maintains and nobody writes.
func clean(u *unstructured.Unstructured) *unstructured.Unstructured {
	if u == nil {
		return nil
	}
	c := u.DeepCopy()
	delete(c.Object, "status")
	for _, f := range []string{"managedFields", "resourceVersion", "uid", "generation", "creationTimestamp", "selfLink"} {
		unstructured.RemoveNestedField(c.Object, "metadata", f)
	}
	if a := c.GetAnnotations(); a != nil {
		delete(a, "kubectl.kubernetes.io/last-applied-configuration")
		delete(a, "deployment.kubernetes.io/revision")
		if len(a) == 0 {
			a = nil
		}
		c.SetAnnotations(a)
	}
	return c
}

// maskSecrets replaces Secret values: "***" when equal on both sides, "*** (before)"/"*** (after)" when changed.
func maskSecrets(before, after *unstructured.Unstructured) {
	isSecret := func(u *unstructured.Unstructured) bool {
		return u != nil && u.GetKind() == "Secret" && u.GroupVersionKind().Group == ""
	}
	if !isSecret(before) && !isSecret(after) {
		return
	}
	for _, field := range []string{"data", "stringData"} {
		var bm, am map[string]any
		if isSecret(before) {
			bm, _ = before.Object[field].(map[string]any)
		}
		if isSecret(after) {
			am, _ = after.Object[field].(map[string]any)
		}
		for k, bv := range bm {
			if av, ok := am[k]; ok && av != bv {
				bm[k], am[k] = "*** (before)", "*** (after)"
			} else {
				bm[k] = "***"
				if ok {
					am[k] = "***"
				}
			}
		}
		for k := range am {
			if _, ok := bm[k]; !ok {
				am[k] = "***"
			}
		}
	}
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return difflib.SplitLines(strings.TrimSuffix(s, "\n"))
}
