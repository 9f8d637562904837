package helmrelease

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"

	"helm.sh/helm/v4/pkg/chart/common"
	commonutil "helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	"github.com/converge-gitops/converge/engine/manifest"
	"github.com/converge-gitops/converge/engine/source"
)

// Labels and annotations the rendered objects carry.
const (
	// NameLabel and NamespaceLabel are Flux's origin labels, set on every manifest object, on hooks
	// that are post-rendered, and on the CRDs.
	NameLabel      = "helm.toolkit.fluxcd.io/name"
	NamespaceLabel = "helm.toolkit.fluxcd.io/namespace"
	// ManagedByLabel, ReleaseNameAnnotation and ReleaseNamespaceAnnotation are what Helm sets on the
	// manifest objects when it creates them (they are not part of the stored manifest).
	ManagedByLabel             = "app.kubernetes.io/managed-by"
	ManagedByHelm              = "Helm"
	ReleaseNameAnnotation      = "meta.helm.sh/release-name"
	ReleaseNamespaceAnnotation = "meta.helm.sh/release-namespace"
)

// Renderer renders HelmReleases. Kustomize keeps global state, so one Renderer serialises the
// post-rendering of its renders; everything else runs concurrently.
type Renderer struct {
	// Secrets and ConfigMaps supply spec.valuesFrom; nil means none can be read.
	Secrets    source.Secrets
	ConfigMaps source.ConfigMaps
	// KubeVersion is the Kubernetes version templates see as .Capabilities.KubeVersion and charts'
	// kubeVersion constraints are checked against: the cluster's when one is reachable (the caller
	// decides); empty means DefaultKubeVersion().
	KubeVersion string
	// APIVersions are added to Helm's default set of API versions (every group/version client-go
	// knows), as "group/version" or "group/version/Kind": the cluster's when one is reachable.
	APIVersions []string
	// IsNamespaced reports whether a kind is namespaced (ok false when unknown), for instance from a
	// cluster's REST mapper. Helm puts namespaced objects without a namespace in the release namespace;
	// nil (or an unknown kind) falls back to the built-in Kubernetes kinds and the chart's own CRDs,
	// and any other kind is taken as namespaced.
	IsNamespaced func(apiVersion, kind string) (namespaced, ok bool)
	// KustomizeLock serialises post-rendering with every other kustomize run of the process (share
	// build.Builder's); nil uses a lock of this Renderer's own.
	KustomizeLock sync.Locker

	mu sync.Mutex
}

func (r *Renderer) kustomizeLock() sync.Locker {
	if r.KustomizeLock != nil {
		return r.KustomizeLock
	}
	return &r.mu
}

// Result is what one HelmRelease renders to.
type Result struct {
	// HelmRelease is "namespace/name".
	HelmRelease string
	// ReleaseName is the Helm release name: spec.releaseName, else "[targetNamespace-]name", shortened
	// to 53 characters as Flux does.
	ReleaseName string
	// Namespace is the release namespace (.Release.Namespace): spec.targetNamespace or the
	// HelmRelease's namespace.
	Namespace string
	// StorageNamespace is where Helm keeps the release record.
	StorageNamespace string
	// Chart and ChartVersion name the chart rendered.
	Chart        string
	ChartVersion string
	// Values are the composed values passed to Helm (spec.valuesFrom, then spec.values), without the
	// chart's defaults.
	Values map[string]any
	// ValuesDigest is Flux's digest of Values, "sha256:<hex>" (status.lastAttemptedConfigDigest).
	ValuesDigest string
	// KubeVersion is the Kubernetes version the chart was rendered for.
	KubeVersion string
	// Objects are what the install applies, in order: the target namespace when
	// spec.install.createNamespace creates it, the CRDs the install CRD policy creates, then the objects
	// of the release manifest in Helm's install order. Namespaced objects without a namespace are in
	// the release namespace; manifest objects carry Helm's managed-by label and release annotations.
	Objects []*unstructured.Unstructured
	// CRDs are the CRDs among Objects (same pointers): those of the chart's and its enabled
	// dependencies' crds/ folders, with Flux's origin labels. With the Create policy (the default) Flux
	// creates the missing ones and leaves existing ones alone, with CreateReplace it also replaces
	// existing ones; with Skip there are none.
	CRDs []*unstructured.Unstructured
	// Hooks are the chart's hooks, in Helm's install order. Helm runs them around the install (not at
	// all with spec.install.disableHooks) and they are not part of the manifest.
	Hooks []Hook
	// HooksDisabled is spec.install.disableHooks.
	HooksDisabled bool
	// Manifest is the release manifest as Helm stores it ("---\n# Source: <template>\n<document>").
	Manifest string
	// Notes is the chart's rendered NOTES.txt.
	Notes string
}

// Hook is one chart hook.
type Hook struct {
	Name           string
	Kind           string
	Path           string // the template it comes from
	Events         []string
	Weight         int
	DeletePolicies []string
	Object         *unstructured.Unstructured
}

// Error is a render failure of one HelmRelease.
type Error struct {
	// HelmRelease is "namespace/name".
	HelmRelease string
	// Template and Line locate a template error, as Helm reports it, when known.
	Template string
	Line     int
	Err      error
}

func (e *Error) Error() string { return fmt.Sprintf("HelmRelease %s: %v", e.HelmRelease, e.Err) }

func (e *Error) Unwrap() error { return e.Err }

// Render renders hr with chrt, the chart its source provides, as helm-controller installs it. chrt is
// not modified.
func (r *Renderer) Render(ctx context.Context, hr *helmv2.HelmRelease, chrt *chart.Chart) (*Result, error) {
	if hr == nil {
		return nil, errors.New("no HelmRelease to render")
	}
	id := hr.Namespace + "/" + hr.Name
	fail := func(err error) (*Result, error) { return nil, &Error{HelmRelease: id, Err: err} }
	if chrt == nil || chrt.Metadata == nil {
		return fail(errors.New("no chart to render"))
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}

	res := &Result{
		HelmRelease:      id,
		ReleaseName:      ShortenName(hr.GetReleaseName()),
		Namespace:        hr.GetReleaseNamespace(),
		StorageNamespace: hr.GetStorageNamespace(),
		Chart:            chrt.Name(),
		ChartVersion:     chrt.Metadata.Version,
	}
	if err := chartutil.ValidateReleaseName(res.ReleaseName); err != nil {
		return fail(fmt.Errorf("release name %q: %w", res.ReleaseName, err))
	}

	values, err := r.composeValues(ctx, hr)
	if err != nil {
		return fail(err)
	}
	res.Values = values
	res.ValuesDigest = DigestValues(values)

	install := hr.GetInstall()
	res.HooksDisabled = install.DisableHooks
	policy, err := crdPolicyOrDefault(install.CRDs)
	if err != nil {
		return fail(err)
	}

	// Helm modifies the chart it installs (disabled dependencies, imported values).
	c, err := copyChart(chrt)
	if err != nil {
		return fail(fmt.Errorf("chart %s: %w", chrt.Name(), err))
	}
	if err := chartutil.ProcessDependencies(c, copyValues(values)); err != nil {
		return fail(fmt.Errorf("chart dependencies processing failed: %w", err))
	}

	// The chart's CRDs tell the scope of its custom kinds; Flux only reads them when it applies them.
	scopes := newScopes(r.IsNamespaced)
	chartCRDs, err := chartCRDs(c)
	if err != nil && policy != helmv2.Skip {
		return fail(fmt.Errorf("failed to apply CustomResourceDefinitions: %w", err))
	}
	scopes.addCRDs(chartCRDs)
	if policy != helmv2.Skip {
		for _, crd := range chartCRDs {
			manifest.MergeLabels(crd, originLabels(hr))
			res.CRDs = append(res.CRDs, crd)
		}
	}

	caps, err := r.capabilities(res.CRDs)
	if err != nil {
		return fail(err)
	}
	res.KubeVersion = caps.KubeVersion.Version
	if constraint := c.Metadata.KubeVersion; constraint != "" {
		if !chartutil.IsCompatibleRange(constraint, normalizedKubeVersion(caps.KubeVersion.Version)) {
			return fail(fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", constraint, caps.KubeVersion.Version))
		}
	}

	opts := common.ReleaseOptions{Name: res.ReleaseName, Namespace: res.Namespace, Revision: 1, IsInstall: true}
	renderValues, err := commonutil.ToRenderValuesWithSchemaValidation(c, copyValues(values), opts, caps, install.DisableSchemaValidation)
	if err != nil {
		return fail(err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}

	var eng engine.Engine // no cluster: lookup returns nothing; DNS lookups off, as Flux's default
	files, err := eng.Render(c, renderValues)
	if err != nil {
		file, line := templateLocation(err.Error())
		return nil, &Error{HelmRelease: id, Template: file, Line: line, Err: fmt.Errorf("failed to render chart %s: %w", c.Name(), err)}
	}
	res.Notes = extractNotes(files, c.Name())

	files, err = r.postRender(ctx, files, hr)
	if err != nil {
		file, _ := templateLocation(err.Error())
		return nil, &Error{HelmRelease: id, Template: file, Err: err}
	}
	hooks, manifests, err := sortManifests(files)
	if err != nil {
		file, _ := templateLocation(err.Error())
		return nil, &Error{HelmRelease: id, Template: file, Err: err}
	}

	if install.CreateNamespace && hr.Spec.TargetNamespace != "" {
		res.Objects = append(res.Objects, namespaceObject(res.Namespace))
	}
	res.Objects = append(res.Objects, res.CRDs...)
	var b strings.Builder
	for _, m := range manifests {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.path, m.content)
		objs, err := decodeObjects(m.content)
		if err != nil {
			return nil, &Error{HelmRelease: id, Template: m.path, Err: fmt.Errorf("%s: %w", m.path, err)}
		}
		for _, obj := range objs {
			scopes.defaultNamespace(obj, res.Namespace)
			manifest.MergeLabels(obj, map[string]string{ManagedByLabel: ManagedByHelm})
			manifest.MergeAnnotations(obj, map[string]string{ReleaseNameAnnotation: res.ReleaseName, ReleaseNamespaceAnnotation: res.Namespace})
			res.Objects = append(res.Objects, obj)
		}
	}
	res.Manifest = b.String()
	for _, h := range hooks {
		objs, err := decodeObjects(h.content)
		if err != nil {
			return nil, &Error{HelmRelease: id, Template: h.path, Err: fmt.Errorf("%s: %w", h.path, err)}
		}
		for _, obj := range objs {
			scopes.defaultNamespace(obj, res.Namespace)
			res.Hooks = append(res.Hooks, Hook{
				Name: h.name(), Kind: h.head.Kind, Path: h.path, Events: h.events,
				Weight: h.weight, DeletePolicies: h.deletePolicies, Object: obj,
			})
		}
	}
	return res, nil
}

// crdPolicyOrDefault returns the install CRD policy, Create when unset. Flux ignores the deprecated
// spec.install.skipCRDs.
func crdPolicyOrDefault(policy helmv2.CRDsPolicy) (helmv2.CRDsPolicy, error) {
	switch policy {
	case "":
		return helmv2.Create, nil
	case helmv2.Skip, helmv2.Create, helmv2.CreateReplace:
		return policy, nil
	}
	return policy, fmt.Errorf("invalid CRD policy '%s', valid values are '%s', '%s' or '%s'", policy, helmv2.Skip, helmv2.Create, helmv2.CreateReplace)
}

// extractNotes removes every NOTES.txt from files and returns the chart's own (Flux does not render
// subchart notes).
func extractNotes(files map[string]string, chartName string) string {
	notes := ""
	for name, content := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			if name == path.Join(chartName, "templates", "NOTES.txt") {
				notes = content
			}
			delete(files, name)
		}
	}
	return notes
}

func originLabels(hr *helmv2.HelmRelease) map[string]string {
	return map[string]string{NameLabel: hr.Name, NamespaceLabel: hr.Namespace}
}

// namespaceObject is the namespace Helm creates with createNamespace.
func namespaceObject(name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Namespace",
		"metadata":   map[string]any{"name": name, "labels": map[string]any{"name": name}},
	}}
}
