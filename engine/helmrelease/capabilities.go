package helmrelease

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v4/pkg/chart/common"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sversion "k8s.io/apimachinery/pkg/util/version"
)

// fallbackKubeVersion is DefaultKubeVersion when the build carries no module information.
const fallbackKubeVersion = "v1.37.0"

// DefaultKubeVersion is the Kubernetes version charts are rendered for when no cluster tells it: like
// Helm 4, the version of the client-go this binary is built with ("v1.<minor>.0").
func DefaultKubeVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path != "k8s.io/client-go" {
				continue
			}
			v := d.Version
			if d.Replace != nil && d.Replace.Version != "" {
				v = d.Replace.Version
			}
			if sv, err := semver.NewVersion(v); err == nil {
				return fmt.Sprintf("v%d.%d.0", sv.Major()+1, sv.Minor())
			}
		}
	}
	return fallbackKubeVersion
}

// capabilities returns what templates see as .Capabilities: the Kubernetes version, and Helm's default
// API versions plus Renderer.APIVersions plus the versions served by the CRDs the install creates
// before rendering (helm-controller applies them first, so discovery lists them).
func (r *Renderer) capabilities(crds []*unstructured.Unstructured) (*common.Capabilities, error) {
	kv := r.KubeVersion
	if kv == "" {
		kv = DefaultKubeVersion()
	}
	sv, err := k8sversion.ParseGeneric(kv)
	if err != nil {
		return nil, fmt.Errorf("invalid Kubernetes version %q: %w", kv, err)
	}
	if !strings.HasPrefix(kv, "v") {
		kv = "v" + kv
	}
	caps := common.DefaultCapabilities.Copy()
	caps.KubeVersion = common.KubeVersion{
		Version: kv,
		Major:   fmt.Sprint(sv.Major()),
		Minor:   fmt.Sprint(sv.Minor()),
	}
	apis := make(common.VersionSet, 0, len(caps.APIVersions)+len(r.APIVersions))
	apis = append(apis, caps.APIVersions...)
	apis = append(apis, r.APIVersions...)
	for _, crd := range crds {
		group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
		versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
		for _, v := range versions {
			vm, ok := v.(map[string]any)
			if !ok {
				continue
			}
			name, _ := vm["name"].(string)
			if served, _ := vm["served"].(bool); !served || group == "" || name == "" {
				continue
			}
			apis = append(apis, group+"/"+name)
			if kind != "" {
				apis = append(apis, group+"/"+name+"/"+kind)
			}
		}
	}
	caps.APIVersions = apis
	return caps, nil
}

// normalizedKubeVersion strips what follows the numeric fields ("v1.33.4-gke.1" is "v1.33.4"), as Helm 4
// does before checking a chart's kubeVersion constraint.
func normalizedKubeVersion(v string) string {
	sv, err := k8sversion.ParseGeneric(v)
	if err != nil {
		return v
	}
	return "v" + sv.String()
}
