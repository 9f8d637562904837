package reconcile

import kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"

func ksRef(namespace, name string) *kustomizev1.Kustomization {
	ks := &kustomizev1.Kustomization{}
	ks.Namespace, ks.Name = namespace, name
	return ks
}

func entries(ks *kustomizev1.Kustomization) int {
	if ks.Status.Inventory == nil {
		return 0
	}
	return len(ks.Status.Inventory.Entries)
}
