package manifest

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	sigsyaml "sigs.k8s.io/yaml"
)

// IsFluxGroup reports whether group is an API group of Flux (*.toolkit.fluxcd.io, source.extensions.fluxcd.io):
// an object of such a group is either a kind and version converge serves, converted to one, or refused.
func IsFluxGroup(group string) bool {
	return strings.HasSuffix(group, ".toolkit.fluxcd.io") || group == "source.extensions.fluxcd.io"
}

// VersionError refuses an object of a Flux group at a version converge does not serve and cannot convert.
type VersionError struct {
	GVK schema.GroupVersionKind
	// Use is the apiVersion to write instead; empty when converge serves no version of the kind.
	Use string
}

func (e *VersionError) Error() string {
	if e.Use == "" {
		return fmt.Sprintf("%s %s is not a kind Flux serves", e.GVK.GroupVersion(), e.GVK.Kind)
	}
	return fmt.Sprintf("%s is no longer served by Flux for %s and cannot be converted without loss: use %s (`flux migrate -f PATH` rewrites apiVersions; fields removed since must be changed by hand)",
		e.GVK.GroupVersion(), e.GVK.Kind, e.Use)
}

// upgrade rewrites the content of an object of an old version to the version to, returning notes on
// what a user must hear (fields dropped because they no longer had an effect).
type upgrade func(content map[string]any) (notes []string, err error)

// upgrades are the versions Flux once served whose objects convert without loss to a version served
// today. Everything else of a Flux group at an unserved version is refused.
var upgrades = map[schema.GroupVersionKind]upgrade{
	{Group: "kustomize.toolkit.fluxcd.io", Version: "v1beta2", Kind: "Kustomization"}: kustomizationToV1,
	{Group: "kustomize.toolkit.fluxcd.io", Version: "v1beta1", Kind: "Kustomization"}: kustomizationToV1,
	{Group: "source.toolkit.fluxcd.io", Version: "v1beta1", Kind: "GitRepository"}:    gitRepositoryV1beta1,
	{Group: "source.toolkit.fluxcd.io", Version: "v1beta1", Kind: "HelmRepository"}:   sameFields,
	{Group: "source.toolkit.fluxcd.io", Version: "v1beta1", Kind: "Bucket"}:           sameFields,
	{Group: "source.toolkit.fluxcd.io", Version: "v1beta1", Kind: "HelmChart"}:        helmChartV1beta1,
}

// Served returns the apiVersion converge prefers for group and kind (the newest served), or "".
func (d *Decoder) Served(group, kind string) string {
	var versions []string
	for gvk := range d.schemas {
		if gvk.Group == group && gvk.Kind == kind {
			versions = append(versions, gvk.Version)
		}
	}
	if len(versions) == 0 {
		return ""
	}
	sort.Slice(versions, func(i, j int) bool { return version.CompareKubeAwareVersionStrings(versions[i], versions[j]) > 0 })
	return schema.GroupVersion{Group: group, Version: versions[0]}.String()
}

// Upgrade returns u itself when it is not of a Flux group or its version is served; a converted copy at
// the served version (with notes on dropped fields) when Flux once served its version and the conversion
// is lossless; else a *VersionError naming the version to use. The copy is what must be applied: the
// cluster serves only the new version.
func (d *Decoder) Upgrade(u *unstructured.Unstructured) (*unstructured.Unstructured, []string, error) {
	gvk := u.GroupVersionKind()
	if !IsFluxGroup(gvk.Group) {
		return u, nil, nil
	}
	if _, ok := d.schemas[gvk]; ok {
		return u, nil, nil
	}
	use := d.Served(gvk.Group, gvk.Kind)
	up, ok := upgrades[gvk]
	if !ok || use == "" {
		return nil, nil, &VersionError{GVK: gvk, Use: use}
	}
	out := u.DeepCopy()
	notes, err := up(out.Object)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: converting to %s: %w", gvk.GroupVersion(), use, err)
	}
	out.SetAPIVersion(use)
	notes = append([]string{fmt.Sprintf("%s is no longer served by Flux; converted to %s (update the file: `flux migrate -f PATH`)", gvk.GroupVersion(), use)}, notes...)
	return out, notes, nil
}

func sameFields(map[string]any) ([]string, error) { return nil, nil }

// kustomizationToV1 moves the patches v1 removed into spec.patches, in the order kustomize itself
// merges them (patches, then JSON 6902 patches, then strategic merge patches), and drops
// spec.validation, which had no effect since v1beta2.
func kustomizationToV1(content map[string]any) ([]string, error) {
	spec, _ := content["spec"].(map[string]any)
	if spec == nil {
		return nil, nil
	}
	var notes []string
	if v, ok := spec["validation"]; ok {
		delete(spec, "validation")
		notes = append(notes, fmt.Sprintf("spec.validation (%v) was dropped: Flux no longer uses it (server-side apply validates)", v))
	}
	patches, _ := spec["patches"].([]any)
	if j, ok := spec["patchesJson6902"]; ok {
		list, isList := j.([]any)
		if !isList {
			return nil, fmt.Errorf("spec.patchesJson6902: want a list")
		}
		for i, item := range list {
			m, _ := item.(map[string]any)
			ops, ok := m["patch"]
			if !ok {
				return nil, fmt.Errorf("spec.patchesJson6902[%d]: no patch", i)
			}
			text, err := sigsyaml.Marshal(ops)
			if err != nil {
				return nil, fmt.Errorf("spec.patchesJson6902[%d].patch: %w", i, err)
			}
			p := map[string]any{"patch": string(text)}
			if t, ok := m["target"]; ok {
				p["target"] = t
			}
			patches = append(patches, p)
		}
		delete(spec, "patchesJson6902")
	}
	if s, ok := spec["patchesStrategicMerge"]; ok {
		list, isList := s.([]any)
		if !isList {
			return nil, fmt.Errorf("spec.patchesStrategicMerge: want a list")
		}
		for i, item := range list {
			text, err := sigsyaml.Marshal(item)
			if err != nil {
				return nil, fmt.Errorf("spec.patchesStrategicMerge[%d]: %w", i, err)
			}
			patches = append(patches, map[string]any{"patch": string(text)})
		}
		delete(spec, "patchesStrategicMerge")
	}
	if len(patches) > 0 {
		spec["patches"] = patches
	}
	return notes, nil
}

// gitRepositoryV1beta1 drops spec.gitImplementation: go-git is the only implementation left, and
// Flux ignored the field before removing it.
func gitRepositoryV1beta1(content map[string]any) ([]string, error) {
	spec, _ := content["spec"].(map[string]any)
	if v, ok := spec["gitImplementation"]; ok {
		delete(spec, "gitImplementation")
		return []string{fmt.Sprintf("spec.gitImplementation (%v) was dropped: Flux ignores it and always uses go-git", v)}, nil
	}
	return nil, nil
}

// helmChartV1beta1 folds spec.valuesFile into spec.valuesFiles, first, as source-controller merged it.
func helmChartV1beta1(content map[string]any) ([]string, error) {
	spec, _ := content["spec"].(map[string]any)
	v, ok := spec["valuesFile"]
	if !ok {
		return nil, nil
	}
	files, _ := spec["valuesFiles"].([]any)
	spec["valuesFiles"] = append([]any{v}, files...)
	delete(spec, "valuesFile")
	return nil, nil
}

// upgradeContent applies Upgrade to parsed document content, for Decode.
func (d *Decoder) upgradeContent(content map[string]any) (map[string]any, schema.GroupVersionKind, error) {
	u := &unstructured.Unstructured{Object: content}
	out, _, err := d.Upgrade(u)
	if err != nil {
		return nil, schema.GroupVersionKind{}, err
	}
	return out.Object, out.GroupVersionKind(), nil
}
