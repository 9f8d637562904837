package apply

import (
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"sigs.k8s.io/cli-utils/pkg/object"

	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
)

// ObjMeta identifies an object as Flux's inventory does.
type ObjMeta struct {
	Namespace string
	Name      string
	Group     string
	Kind      string
	Version   string
}

// ID is Flux's inventory id: "<namespace>_<name>_<group>_<kind>", colons in names written "__" (the
// encoding of cli-utils' ObjMetadata, which Flux uses).
func (o ObjMeta) ID() string {
	return object.ObjMetadata{Namespace: o.Namespace, Name: o.Name, GroupKind: schema.GroupKind{Group: o.Group, Kind: o.Kind}}.String()
}

// String is "Kind/namespace/name" (or "Kind/name"), as apply output shows objects.
func (o ObjMeta) String() string {
	if o.Namespace == "" {
		return o.Kind + "/" + o.Name
	}
	return o.Kind + "/" + o.Namespace + "/" + o.Name
}

// GVK returns the object's group, version and kind.
func (o ObjMeta) GVK() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: o.Group, Version: o.Version, Kind: o.Kind}
}

// MetaOf returns the identity of u.
func MetaOf(u *unstructured.Unstructured) ObjMeta {
	gvk := u.GroupVersionKind()
	return ObjMeta{Namespace: u.GetNamespace(), Name: u.GetName(), Group: gvk.Group, Kind: gvk.Kind, Version: gvk.Version}
}

// ParseID parses an inventory entry.
func ParseID(id, version string) (ObjMeta, error) {
	m, err := object.ParseObjMetadata(id)
	if err != nil || m.Name == "" || m.GroupKind.Kind == "" {
		return ObjMeta{}, fmt.Errorf("inventory entry %q: want <namespace>_<name>_<group>_<kind>", id)
	}
	return ObjMeta{Namespace: m.Namespace, Name: m.Name, Group: m.GroupKind.Group, Kind: m.GroupKind.Kind, Version: version}, nil
}

// Inventory returns Flux's inventory of objs, sorted by id.
func Inventory(objs []*unstructured.Unstructured) *kustomizev1.ResourceInventory {
	inv := &kustomizev1.ResourceInventory{Entries: []kustomizev1.ResourceRef{}}
	for _, o := range objs {
		m := MetaOf(o)
		inv.Entries = append(inv.Entries, kustomizev1.ResourceRef{ID: m.ID(), Version: m.Version})
	}
	sort.Slice(inv.Entries, func(i, j int) bool { return inv.Entries[i].ID < inv.Entries[j].ID })
	return inv
}

// Stale returns the objects of the old inventory that are not in objs.
func Stale(old *kustomizev1.ResourceInventory, objs []*unstructured.Unstructured) ([]ObjMeta, error) {
	if old == nil {
		return nil, nil
	}
	current := map[string]bool{}
	for _, o := range objs {
		current[MetaOf(o).ID()] = true
	}
	var out []ObjMeta
	for _, e := range old.Entries {
		if current[e.ID] {
			continue
		}
		m, err := ParseID(e.ID, e.Version)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}
