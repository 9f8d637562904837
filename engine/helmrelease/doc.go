// Package helmrelease is the HelmRelease side of Helm: it renders a HelmRelease offline into what Flux's helm-controller installs for it: the
// values composed from spec.valuesFrom and spec.values, the release name and namespaces, the CRDs the
// install CRD policy creates, the release manifest (post-rendered with spec.postRenderers, common
// metadata and Flux's origin labels, in Helm's install order) and the chart hooks, listed apart as Helm
// runs them outside the manifest.
//
// This is the chart renderer, used by build, diff and the release engine; not here: fetching charts
// (engine/source/helmchart); its sub-package release installs, upgrades, tests, rolls back and
// uninstalls releases through Helm's storage (the release engine).
//
// helm-controller runs Helm 4; this package renders with the Helm 3 library this module depends on,
// through engine.Render rather than action.Install, so that it can reproduce Helm 4's install path where
// the two differ: the post-render strategies (hooks post-rendered with the templates by default), the
// merge and split of files around post-rendering, the install order (webhook configurations last) and
// the default Kubernetes version. What stays Helm 3: .Capabilities.HelmVersion, and the template
// functions Helm 4 added (mustToYaml, mustToJson, mustToToml) are unknown. Without a cluster, the lookup
// template function finds nothing, as with `helm template`. The render is an install (revision 1,
// .Release.IsInstall); an upgrade of an existing release is not modelled.
package helmrelease
