package release

import (
	"fmt"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	helmrel "helm.sh/helm/v4/pkg/release/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/helmrelease"
)

// inventory returns status.inventory for rls as helm-controller records it: the objects of the release
// manifest in its order (hooks are not part of it), namespaced ones without a namespace in the release
// namespace, then the objects of the chart's crds/ files.
func (s *session) inventory(rls *helmrel.Release, chrt *chart.Chart) (*helmv2.ResourceInventory, error) {
	objs, err := helmrelease.DecodeManifest(rls.Manifest)
	if err != nil {
		return nil, fmt.Errorf("failed to parse manifest: %w", err)
	}
	mapper, err := s.getter.ToRESTMapper()
	if err != nil {
		return nil, err
	}
	inv := &helmv2.ResourceInventory{Entries: []helmv2.ResourceRef{}}
	namespaced := map[string]bool{}
	for _, o := range objs {
		if _, hook := o.GetAnnotations()[helmrel.HookAnnotation]; hook {
			continue
		}
		if o.GetNamespace() == "" {
			gvk := o.GroupVersionKind()
			ns, ok := namespaced[gvk.GroupKind().String()]
			if !ok {
				// Unknown kinds keep no namespace, as with helm-controller (it warns).
				if m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err == nil {
					ns = m.Scope.Name() == apimeta.RESTScopeNameNamespace
					namespaced[gvk.GroupKind().String()] = ns
				}
			}
			if ns {
				o.SetNamespace(rls.Namespace)
			}
		}
		inv.Entries = append(inv.Entries, helmv2.ResourceRef{ID: apply.MetaOf(o).ID(), Version: o.GroupVersionKind().Version})
	}
	if chrt != nil {
		for _, f := range chrt.CRDObjects() {
			crds, err := helmrelease.DecodeManifest(string(f.File.Data))
			if err != nil {
				return nil, fmt.Errorf("failed to parse CRD %s: %w", f.Name, err)
			}
			for _, o := range crds {
				inv.Entries = append(inv.Entries, helmv2.ResourceRef{ID: apply.MetaOf(o).ID(), Version: o.GroupVersionKind().Version})
			}
		}
	}
	return inv, nil
}

// withInventory wraps an observer of release records so that each record written also becomes the
// HelmRelease's inventory (the last one written wins, as with helm-controller). An inventory that
// cannot be built leaves the previous one.
func (a *atomic) withInventory(observe func(*helmrel.Release)) func(*helmrel.Release) {
	return func(rls *helmrel.Release) {
		observe(rls)
		if inv, err := a.s.inventory(rls, a.req.Chart); err == nil {
			a.hr().Status.Inventory = inv
		}
	}
}
