package diff

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	jsonpatch "github.com/evanphx/json-patch"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	ri "helm.sh/helm/v4/pkg/release"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	helmrel "helm.sh/helm/v4/pkg/release/v1"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/jsonmergepatch"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/dynamic"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/helmrelease"
)

// Helm's resource policy annotation: objects annotated keep survive upgrades and uninstalls.
const (
	helmResourcePolicy = "helm.sh/resource-policy"
	helmKeep           = "keep"
)

// HelmRelease returns the changes the reconciliation of desired (the HelmRelease as the tree declares it;
// its parent applies it first) with chrt, rendered as objs, would make, as the release engine makes
// them:
//   - an in-sync release (same chart name and version, values digest, post-renderers and common
//     metadata, no force request) runs no Helm action: every object is unchanged, whatever its drift;
//   - an install (no release in storage yet) creates the objects, or adopts and three-way merges the
//     existing ones;
//   - an upgrade patches each live object with Helm's own patch: a three-way strategic merge of the
//     stored release manifest, the new render and the live object (a JSON merge patch of manifest and
//     render for custom resources), or a replace with spec.upgrade.force; objects of the stored
//     manifest the render no longer has are deleted (unless helm.sh/resource-policy: keep).
//
// Every write is a server-side dry-run, so the diff shows what the server would store. Hooks are not
// diffed. A suspended HelmRelease changes nothing.
func (d *Differ) HelmRelease(ctx context.Context, desired *helmv2.HelmRelease, chrt *chart.Chart, objs []*unstructured.Unstructured) ([]Entry, error) {
	const kind = "HelmRelease"
	id := desired.Namespace + "/" + desired.Name
	if desired.Spec.Suspend {
		return skipAll(kind, id, objs, "the HelmRelease is suspended"), nil
	}
	if chrt == nil || chrt.Metadata == nil {
		return nil, fmt.Errorf("HelmRelease %s: no chart", id)
	}
	live, err := d.HelmReleases.Get(ctx, desired.Namespace, desired.Name)
	if err != nil {
		return nil, err
	}
	hr := desired.DeepCopy()
	if live != nil {
		hr.Status = *live.Status.DeepCopy()
	}
	values, err := d.HelmReleases.Renderer.Values(ctx, hr)
	if err != nil {
		return nil, fmt.Errorf("HelmRelease %s: %w", id, err)
	}
	releaseName, releaseNs, storageNs := helmrelease.ShortenName(hr.GetReleaseName()), hr.GetReleaseNamespace(), hr.GetStorageNamespace()
	p := &helmPlan{d: d, kind: kind, id: id, hr: hr, releaseNs: releaseNs}

	var out []Entry
	var last *helmrel.Release
	cur := hr.Status.History.Latest()
	if cur != nil && hr.Status.StorageNamespace != "" && (hr.Status.StorageNamespace != storageNs || cur.Namespace != releaseNs || cur.Name != releaseName) {
		// A new release target: the engine uninstalls the old release, then installs the new one.
		old, err := v1Release(d.storage(hr.Status.StorageNamespace).Get(cur.Name, cur.Version))
		if err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
			return nil, fmt.Errorf("HelmRelease %s: reading release %s: %w", id, cur.FullReleaseName(), err)
		}
		if old != nil {
			gone, err := p.removed(ctx, old, objs, fmt.Sprintf("the release target changed: release %s is uninstalled", cur.FullReleaseName()))
			if err != nil {
				return nil, err
			}
			out = append(out, gone...)
		}
	} else if last, err = lastRelease(d.storage(storageNs), releaseName); err != nil {
		return nil, fmt.Errorf("HelmRelease %s: reading release %s/%s: %w", id, storageNs, releaseName, err)
	}

	if last != nil && last.Info != nil && last.Info.Status != rcommon.StatusUninstalled {
		if inSync(hr, last, chrt, helmrelease.DigestValues(values)) {
			return append(out, unchangedAll(kind, id, objs, "the release is in sync: Helm runs no upgrade")...), nil
		}
		p.upgrade = true
		current, err := currentRelease(d.storage(storageNs), last)
		if err != nil {
			return nil, fmt.Errorf("HelmRelease %s: %w", id, err)
		}
		if p.original, err = d.manifestObjects(current.Manifest, current.Namespace); err != nil {
			return nil, fmt.Errorf("HelmRelease %s: release %s/%s.v%d: %w", id, current.Namespace, current.Name, current.Version, err)
		}
		gone, err := p.removed(ctx, current, objs, "the new render no longer has it: Helm deletes it on upgrade")
		if err != nil {
			return nil, err
		}
		out = append(out, gone...)
	}
	for _, o := range objs {
		e, err := p.object(ctx, o)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	sortEntries(out)
	return out, nil
}

// helmPlan is one HelmRelease's install or upgrade.
type helmPlan struct {
	d         *Differ
	kind, id  string
	hr        *helmv2.HelmRelease
	releaseNs string
	upgrade   bool
	// original holds the objects of the release manifest an upgrade starts from.
	original []*unstructured.Unstructured
}

func (p *helmPlan) entry(o *unstructured.Unstructured, action Action, reason string) Entry {
	return Entry{Owner: p.kind, OwnerName: p.id, Subject: apply.MetaOf(o).String(), Action: action, Reason: reason}
}

// object diffs one rendered object: created, patched (upgrade, adoption), or left alone.
func (p *helmPlan) object(ctx context.Context, o *unstructured.Unstructured) (Entry, error) {
	ri, err := p.d.resource(apply.MetaOf(o))
	if err != nil {
		if errors.Is(err, errNotServed) {
			return p.created(o, nil, "its kind is not served yet (a CRD the release creates first), so the server could not validate it")
		}
		return p.failed(ctx, o, err)
	}
	live, err := ri.Get(ctx, o.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		live = nil
	case err != nil:
		return p.failed(ctx, o, err)
	}
	if _, fromManifest := o.GetAnnotations()[helmrelease.ReleaseNameAnnotation]; !fromManifest {
		return p.extra(ctx, ri, o, live)
	}
	if live == nil {
		return p.create(ctx, ri, o)
	}
	var merged *unstructured.Unstructured
	if p.upgrade && p.hr.GetUpgrade().Force {
		target := o.DeepCopy()
		target.SetResourceVersion(live.GetResourceVersion())
		merged, err = ri.Update(ctx, target, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}, FieldManager: apply.FieldManager})
	} else {
		original := p.originalOf(o)
		if original == nil {
			original = live // Helm: "exists on cluster but not in original release, using cluster state as baseline"
		}
		patch, pt, perr := helmPatch(original, o, live, !p.upgrade)
		if perr != nil {
			return p.failed(ctx, o, perr)
		}
		if string(patch) == "{}" {
			return p.entry(o, Unchanged, ""), nil
		}
		merged, err = ri.Patch(ctx, o.GetName(), pt, patch, metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}, FieldManager: apply.FieldManager})
	}
	if err != nil {
		return p.failed(ctx, o, err)
	}
	return p.changed(o, live, merged)
}

// extra diffs what the release creates besides its manifest: the chart's CRDs (by the CRD policy of the
// install or the upgrade) and the target namespace of spec.install.createNamespace.
func (p *helmPlan) extra(ctx context.Context, ri dynamic.ResourceInterface, o, live *unstructured.Unstructured) (Entry, error) {
	if o.GetKind() != "CustomResourceDefinition" {
		if live != nil {
			return p.entry(o, Unchanged, ""), nil
		}
		return p.create(ctx, ri, o)
	}
	spec := p.hr.GetInstall().CRDs
	if p.upgrade {
		spec = p.hr.GetUpgrade().CRDs
	}
	policy, err := helmrelease.CRDPolicy(spec)
	if err != nil {
		return p.failed(ctx, o, err)
	}
	switch {
	case policy == helmv2.Skip:
		return p.entry(o, Skipped, "the CRD policy is Skip"), nil
	case live == nil:
		return p.create(ctx, ri, o)
	case policy == helmv2.Create:
		return p.entry(o, Unchanged, "exists, and the CRD policy Create leaves it alone"), nil
	}
	target := o.DeepCopy()
	target.SetResourceVersion(live.GetResourceVersion())
	merged, err := ri.Update(ctx, target, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}, FieldManager: apply.FieldManager})
	if err != nil {
		return p.failed(ctx, o, err)
	}
	return p.changed(o, live, merged)
}

func (p *helmPlan) create(ctx context.Context, ri dynamic.ResourceInterface, o *unstructured.Unstructured) (Entry, error) {
	created, err := ri.Create(ctx, o, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldManager: apply.FieldManager})
	if err != nil && missingNamespace(err) {
		return p.created(o, nil, "namespace "+o.GetNamespace()+" does not exist yet, so the server could not validate it")
	}
	if err != nil {
		return p.failed(ctx, o, err)
	}
	return p.created(o, created, "")
}

func (p *helmPlan) created(o, after *unstructured.Unstructured, reason string) (Entry, error) {
	if after == nil {
		after = o
	}
	e := p.entry(o, Created, reason)
	var err error
	e.Diff, err = p.d.unified(e.Subject, nil, after)
	return e, err
}

func (p *helmPlan) changed(o, live, merged *unstructured.Unstructured) (Entry, error) {
	e := p.entry(o, Changed, "")
	text, err := p.d.unified(e.Subject, live, merged)
	if err != nil || text == "" {
		e.Action = Unchanged
		return e, err
	}
	e.Diff = text
	return e, nil
}

func (p *helmPlan) failed(ctx context.Context, o *unstructured.Unstructured, err error) (Entry, error) {
	e := p.entry(o, Failed, serverMessage(err))
	if isImmutable(err) {
		e.Reason = "an immutable field changed: " + e.Reason
	}
	live, gerr := p.d.Apply.Get(ctx, apply.MetaOf(o))
	if gerr != nil {
		live = nil
	}
	var derr error
	e.Diff, derr = p.d.unified(e.Subject, project(live, o), o)
	return e, derr
}

func (p *helmPlan) originalOf(o *unstructured.Unstructured) *unstructured.Unstructured {
	k := objectKey(o)
	for _, c := range p.original {
		if objectKey(c) == k {
			return c
		}
	}
	return nil
}

// removed returns the objects of rls's manifest that objs does not have and that exist, as deleted.
func (p *helmPlan) removed(ctx context.Context, rls *helmrel.Release, objs []*unstructured.Unstructured, reason string) ([]Entry, error) {
	old, err := p.d.manifestObjects(rls.Manifest, rls.Namespace)
	if err != nil {
		return nil, fmt.Errorf("HelmRelease %s: release %s/%s.v%d: %w", p.id, rls.Namespace, rls.Name, rls.Version, err)
	}
	keep := map[string]bool{}
	for _, o := range objs {
		keep[objectKey(o)] = true
	}
	var out []Entry
	for _, o := range old {
		if keep[objectKey(o)] {
			continue
		}
		m := apply.MetaOf(o)
		live, err := p.d.Apply.Get(ctx, m)
		if err != nil || live.GetAnnotations()[helmResourcePolicy] == helmKeep {
			continue
		}
		e := p.entry(o, Deleted, reason)
		if e.Diff, err = p.d.unified(e.Subject, live, nil); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// inSync reports whether the release engine would run no Helm action for hr (live status) whose last
// release record is last: the state helm-controller calls InSync.
func inSync(hr *helmv2.HelmRelease, last *helmrel.Release, chrt *chart.Chart, valuesDigest string) bool {
	cur := hr.Status.History.Latest()
	switch {
	case cur == nil, last.Info == nil, last.Info.Status != rcommon.StatusDeployed,
		!cur.Targets(last.Name, last.Namespace, last.Version),
		last.Chart == nil || last.Chart.Metadata == nil,
		last.Chart.Metadata.Name != chrt.Metadata.Name || last.Chart.Metadata.Version != chrt.Metadata.Version,
		cur.ConfigDigest != valuesDigest:
		return false
	}
	if d := hr.Status.ObservedPostRenderersDigest; d != "" && d != specDigest(hr.Spec.PostRenderers, len(hr.Spec.PostRenderers) == 0) {
		return false
	}
	if d := hr.Status.ObservedCommonMetadataDigest; d != "" && d != specDigest(hr.Spec.CommonMetadata, hr.Spec.CommonMetadata == nil) {
		return false
	}
	return !helmv2.ShouldHandleForceRequest(hr.DeepCopy())
}

// specDigest is the release engine's digest of a spec field ("" when unset).
func specDigest(v any, unset bool) string {
	if unset {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// currentRelease is the release Helm's upgrade starts from: the last one when deployed, else the last
// deployed one, else (none deployed) the last failed or superseded one.
func currentRelease(st *storage.Storage, last *helmrel.Release) (*helmrel.Release, error) {
	if last.Info.Status == rcommon.StatusDeployed {
		return last, nil
	}
	dep, err := v1Release(st.Deployed(last.Name))
	if err == nil {
		return dep, nil
	}
	if errors.Is(err, driver.ErrNoDeployedReleases) || errors.Is(err, driver.ErrReleaseNotFound) {
		return last, nil
	}
	return nil, err
}

func lastRelease(st *storage.Storage, name string) (*helmrel.Release, error) {
	rls, err := v1Release(st.Last(name))
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	return rls, err
}

// v1Release is the Helm v1 release record of a storage read (charts of API v1 and v2 both store one).
func v1Release(r ri.Releaser, err error) (*helmrel.Release, error) {
	if err != nil || r == nil {
		return nil, err
	}
	rls, ok := r.(*helmrel.Release)
	if !ok {
		return nil, fmt.Errorf("release record %T is not a Helm v1 release", r)
	}
	return rls, nil
}

func (d *Differ) storage(namespace string) *storage.Storage {
	return storage.Init(driver.NewSecrets(d.Core.CoreV1().Secrets(namespace)))
}

// manifestObjects decodes a release manifest, putting namespaced objects without a namespace in ns.
func (d *Differ) manifestObjects(manifest, ns string) ([]*unstructured.Unstructured, error) {
	docs := releaseutil.SplitManifests(manifest)
	names := make([]string, 0, len(docs))
	for k := range docs {
		names = append(names, k)
	}
	sort.Strings(names)
	var out []*unstructured.Unstructured
	for _, k := range names {
		j, err := yaml.YAMLToJSON([]byte(docs[k]))
		if err != nil {
			return nil, err
		}
		if string(j) == "null" || string(j) == "{}" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(j); err != nil {
			return nil, err
		}
		if u.GetNamespace() == "" && d.namespaced(u.GroupVersionKind()) {
			u.SetNamespace(ns)
		}
		out = append(out, u)
	}
	return out, nil
}

func (d *Differ) namespaced(gvk schema.GroupVersionKind) bool {
	m, err := d.Apply.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	return err != nil || m.Scope.Name() == apimeta.RESTScopeNameNamespace
}

var errNotServed = errors.New("kind not served")

func (d *Differ) resource(o apply.ObjMeta) (dynamic.ResourceInterface, error) {
	m, err := d.Apply.Mapper.RESTMapping(o.GVK().GroupKind(), o.Version)
	if apimeta.IsNoMatchError(err) {
		return nil, fmt.Errorf("%w: %w", errNotServed, err)
	}
	if err != nil {
		return nil, err
	}
	if m.Scope.Name() == apimeta.RESTScopeNameNamespace {
		return d.Apply.Client.Resource(m.Resource).Namespace(o.Namespace), nil
	}
	return d.Apply.Client.Resource(m.Resource), nil
}

func objectKey(u *unstructured.Unstructured) string {
	gvk := u.GroupVersionKind()
	return gvk.Group + "/" + gvk.Kind + "/" + u.GetNamespace() + "/" + u.GetName()
}

// helmPatch is the patch Helm's update sends for target over live, original being the object of the
// release it upgrades from: a three-way strategic merge for Kubernetes' own kinds, a JSON merge patch
// for the others (three-way on install, two-way of original and target on upgrade).
func helmPatch(original, target, live *unstructured.Unstructured, threeWay bool) ([]byte, types.PatchType, error) {
	oldData, err := json.Marshal(original.Object)
	if err != nil {
		return nil, "", err
	}
	newData, err := json.Marshal(target.Object)
	if err != nil {
		return nil, "", err
	}
	currentData, err := json.Marshal(live.Object)
	if err != nil {
		return nil, "", err
	}
	if typed, ok := versioned(target.GroupVersionKind()); ok {
		meta, err := strategicpatch.NewPatchMetaFromStruct(typed)
		if err != nil {
			return nil, "", err
		}
		patch, err := strategicpatch.CreateThreeWayMergePatch(oldData, newData, currentData, meta, true)
		return patch, types.StrategicMergePatchType, err
	}
	if threeWay {
		patch, err := jsonmergepatch.CreateThreeWayJSONMergePatch(oldData, newData, currentData)
		return patch, types.MergePatchType, err
	}
	patch, err := jsonpatch.CreateMergePatch(oldData, newData)
	return patch, types.MergePatchType, err
}

// versioned returns an empty typed object of gvk when Helm patches it with a strategic merge: the
// kinds of client-go's scheme and apiextensions.k8s.io/v1 CRDs.
func versioned(gvk schema.GroupVersionKind) (runtime.Object, bool) {
	if gvk.Group == apiextv1.GroupName {
		if gvk.Version == "v1" && gvk.Kind == "CustomResourceDefinition" {
			return &apiextv1.CustomResourceDefinition{}, true
		}
		return nil, false
	}
	obj, err := clientgoscheme.Scheme.New(gvk)
	return obj, err == nil
}

func missingNamespace(err error) bool {
	var st apierrors.APIStatus
	if !errors.As(err, &st) || !apierrors.IsNotFound(err) {
		return false
	}
	d := st.Status().Details
	return d != nil && d.Kind == "namespaces"
}

func unchangedAll(kind, id string, objs []*unstructured.Unstructured, reason string) []Entry {
	out := make([]Entry, 0, len(objs))
	for _, o := range objs {
		out = append(out, Entry{Owner: kind, OwnerName: id, Subject: apply.MetaOf(o).String(), Action: Unchanged, Reason: reason})
	}
	return out
}
