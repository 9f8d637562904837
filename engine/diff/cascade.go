package diff

import (
	"context"
	"errors"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/reconcile"
)

// finalizer is the finalizer Flux and the converge agent put on the Kustomizations and HelmReleases they
// reconcile: only then does deleting one delete its objects (a push-mode apply alone never does).
const finalizer = "finalizers.fluxcd.io"

// deleted returns an entry for each of the objects (owned by kind id) that apply.Manager.Prune would
// delete (those that exist and are not protected by kustomize.toolkit.fluxcd.io/prune: disabled: it is
// run as a dry run), followed by what deleting each Kustomization or HelmRelease among them deletes in
// turn. seen holds the owners already expanded.
func (d *Differ) deleted(ctx context.Context, kind, id string, objs []apply.ObjMeta, reason string, seen map[string]bool) ([]Entry, error) {
	if len(objs) == 0 {
		return nil, nil
	}
	cs, err := d.Apply.Prune(ctx, append([]apply.ObjMeta(nil), objs...), apply.PruneOptions{DryRun: true})
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, c := range cs.Entries {
		if c.Action != apply.Deleted {
			continue
		}
		o := c.Object
		live, err := d.Apply.Get(ctx, o)
		switch {
		case apierrors.IsNotFound(err), err != nil && apimeta.IsNoMatchError(errors.Unwrap(err)):
			continue
		case err != nil:
			return nil, fmt.Errorf("reading %s: %w", o, err)
		}
		text, err := d.unified(o.String(), live, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, Entry{Owner: kind, OwnerName: id, Subject: o.String(), Action: Deleted, Reason: reason, Diff: text})
		more, err := d.cascade(ctx, live, seen)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	return out, nil
}

// cascade returns what the finalizer of live, a Kustomization or HelmRelease being deleted, deletes:
// a Kustomization's inventory as its deletionPolicy says (recursively), a HelmRelease's release objects
// (Helm's uninstall).
func (d *Differ) cascade(ctx context.Context, live *unstructured.Unstructured, seen map[string]bool) ([]Entry, error) {
	gvk := live.GroupVersionKind()
	id := live.GetNamespace() + "/" + live.GetName()
	if !slices.Contains(live.GetFinalizers(), finalizer) {
		return nil, nil
	}
	switch {
	case gvk.Group == kustomizev1.GroupVersion.Group && gvk.Kind == "Kustomization":
		if seen[id] {
			return nil, nil
		}
		seen[id] = true
		ks := &kustomizev1.Kustomization{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(live.Object, ks); err != nil {
			return nil, fmt.Errorf("Kustomization %s: %w", id, err)
		}
		plan, err := reconcile.PlanFinalize(ks)
		if err != nil {
			return nil, err
		}
		objs := plan.Stale
		reason := fmt.Sprintf("Kustomization %s is deleted and its deletionPolicy %s deletes its inventory", id, ks.GetDeletionPolicy())
		return d.deleted(ctx, "Kustomization", id, objs, reason, seen)
	case gvk.Group == helmv2.GroupVersion.Group && gvk.Kind == helmv2.HelmReleaseKind:
		if seen["HelmRelease "+id] || d.Core == nil {
			return nil, nil
		}
		seen["HelmRelease "+id] = true
		hr := &helmv2.HelmRelease{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(live.Object, hr); err != nil {
			return nil, fmt.Errorf("HelmRelease %s: %w", id, err)
		}
		cur := hr.Status.History.Latest()
		if hr.Spec.Suspend || hr.Status.StorageNamespace == "" || cur == nil {
			return nil, nil
		}
		rls, err := v1Release(d.storage(hr.Status.StorageNamespace).Get(cur.Name, cur.Version))
		if err != nil || rls == nil {
			return nil, nil //nolint:nilerr // no release record: the uninstall has nothing to delete
		}
		objs, err := d.manifestObjects(rls.Manifest, rls.Namespace)
		if err != nil {
			return nil, fmt.Errorf("HelmRelease %s: release %s: %w", id, cur.FullReleaseName(), err)
		}
		reason := fmt.Sprintf("HelmRelease %s is deleted and its release %s is uninstalled", id, cur.FullReleaseName())
		var out []Entry
		for _, o := range objs {
			m := apply.MetaOf(o)
			obj, err := d.Apply.Get(ctx, m)
			if err != nil || obj.GetAnnotations()[helmResourcePolicy] == helmKeep {
				continue
			}
			text, err := d.unified(m.String(), obj, nil)
			if err != nil {
				return nil, err
			}
			out = append(out, Entry{Owner: "HelmRelease", OwnerName: id, Subject: m.String(), Action: Deleted, Reason: reason, Diff: text})
		}
		return out, nil
	}
	return nil, nil
}

// DeletesInventory reports whether deleting ks (with its finalizer) deletes the objects of its
// inventory, as reconcile.PlanFinalize decides for the agent's finalizer.
func DeletesInventory(ks *kustomizev1.Kustomization) bool {
	plan, err := reconcile.PlanFinalize(ks)
	return err == nil && len(plan.Stale) > 0
}
