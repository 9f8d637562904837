package release

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	helmrel "helm.sh/helm/v4/pkg/release/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/events"
	"github.com/converge-gitops/converge/engine/helmrelease"
)

// Drift is what drift detection (spec.driftDetection mode enabled or warn) found for a release in
// sync with its HelmRelease: the release's objects in the cluster compared with the release manifest
// by server-side dry-run, as helm-controller compares them, and, in enabled mode, what the correction
// did. Correction creates the deleted objects and patches the drifted fields back (a JSON patch of the
// drifted objects, without a new Helm revision), as helm-controller does.
type Drift struct {
	// Mode is the drift detection mode.
	Mode helmv2.DriftDetectionMode `json:"mode"`
	// Release is the release compared ("namespace/name.vN").
	Release string `json:"release"`
	// Objects are the objects that differ, and those excluded from the comparison.
	Objects []DriftedObject `json:"objects"`
	// Corrected are the corrections made, "Kind/namespace/name created|configured" (enabled mode).
	Corrected []string `json:"corrected,omitempty"`
	// CorrectionErr says which corrections failed.
	CorrectionErr error `json:"-"`
}

// DriftedObject is one object of a Drift.
type DriftedObject struct {
	// Subject is "Kind/namespace/name".
	Subject string `json:"subject"`
	// Change is "removed" (deleted from the cluster), "changed (a additions, c changes, r removals)"
	// or "excluded" (by annotation or an ignore rule for the whole object), as Flux summarises it.
	Change string `json:"change"`
	// Patch is the JSON patch (RFC 6902) from the cluster's object to the release's; ignored paths are
	// left out.
	Patch json.RawMessage `json:"patch,omitempty"`

	desired *unstructured.Unstructured
	missing bool
}

// Changed reports whether any object was deleted or changed (excluded objects do not count).
func (d *Drift) Changed() bool {
	if d == nil {
		return false
	}
	for _, o := range d.Objects {
		if o.Change != "excluded" {
			return true
		}
	}
	return false
}

// Summary is Flux's per-object summary, one line per object.
func (d *Drift) Summary() string {
	var lines []string
	for _, o := range d.Objects {
		lines = append(lines, o.Subject+" "+o.Change)
	}
	return strings.Join(lines, "\n")
}

// Message is the Drifted condition's message (and the DriftDetected event's).
func (d *Drift) Message() string {
	return fmt.Sprintf("Cluster state of release %s has drifted from the desired state:\n%s", d.Release, d.Summary())
}

// DriftEvent is an event helm-controller emits about drift.
type DriftEvent struct {
	// Severity is events.SeverityInfo or events.SeverityError.
	Severity string
	// Reason is DriftDetected, DriftCorrected or DriftCorrectionFailed.
	Reason  string
	Message string
}

// Events are the events helm-controller emits for d: DriftDetected (a warning), then, in enabled mode,
// DriftCorrected or DriftCorrectionFailed.
func (d *Drift) Events() []DriftEvent {
	if !d.Changed() {
		return nil
	}
	out := []DriftEvent{{Severity: events.SeverityError, Reason: helmv2.DriftDetectedReason, Message: d.Message()}}
	switch {
	case d.CorrectionErr != nil:
		var sb strings.Builder
		sb.WriteString("Failed to ")
		if len(d.Corrected) > 0 {
			sb.WriteString("partially ")
		}
		sb.WriteString("correct cluster state of release " + d.Release + ":\n" + d.CorrectionErr.Error())
		if len(d.Corrected) > 0 {
			sb.WriteString("\n\nSuccessful corrections:\n" + strings.Join(d.Corrected, "\n"))
		}
		out = append(out, DriftEvent{Severity: events.SeverityError, Reason: "DriftCorrectionFailed", Message: sb.String()})
	case len(d.Corrected) > 0:
		out = append(out, DriftEvent{Severity: events.SeverityInfo, Reason: "DriftCorrected",
			Message: fmt.Sprintf("Cluster state of release %s has been corrected:\n%s", d.Release, strings.Join(d.Corrected, "\n"))})
	}
	return out
}

// Helm's ownership metadata, which Helm sets on the objects it creates but not in the manifest.
const (
	managedByLabel          = "app.kubernetes.io/managed-by"
	releaseNameAnnotation   = "meta.helm.sh/release-name"
	releaseNSAnnotation     = "meta.helm.sh/release-namespace"
	driftDetectionExclusion = "helm.toolkit.fluxcd.io/driftDetection"
)

// ignoreRule is a compiled spec.driftDetection.ignore entry.
type ignoreRule struct {
	paths                                []string
	group, version, kind, name, nsRegexp *regexp.Regexp
	labels, annotations                  labels.Selector
}

func anchored(p string) (*regexp.Regexp, error) {
	if p == "" {
		return nil, nil
	}
	return regexp.Compile("^(?:" + p + ")$")
}

func compileIgnoreRules(rules []helmv2.IgnoreRule) ([]ignoreRule, error) {
	var out []ignoreRule
	for i, r := range rules {
		c := ignoreRule{paths: r.Paths}
		if t := r.Target; t != nil {
			var err error
			for _, f := range []struct {
				dst **regexp.Regexp
				src string
			}{{&c.group, t.Group}, {&c.version, t.Version}, {&c.kind, t.Kind}, {&c.name, t.Name}, {&c.nsRegexp, t.Namespace}} {
				if *f.dst, err = anchored(f.src); err != nil {
					return nil, fmt.Errorf("spec.driftDetection.ignore[%d].target: %w", i, err)
				}
			}
			if c.labels, err = parseSelector(t.LabelSelector); err != nil {
				return nil, fmt.Errorf("spec.driftDetection.ignore[%d].target.labelSelector: %w", i, err)
			}
			if c.annotations, err = parseSelector(t.AnnotationSelector); err != nil {
				return nil, fmt.Errorf("spec.driftDetection.ignore[%d].target.annotationSelector: %w", i, err)
			}
		}
		out = append(out, c)
	}
	return out, nil
}

func parseSelector(s string) (labels.Selector, error) {
	if s == "" {
		return nil, nil
	}
	return labels.Parse(s)
}

func (r ignoreRule) matches(u *unstructured.Unstructured) bool {
	gvk := u.GroupVersionKind()
	for _, m := range []struct {
		re *regexp.Regexp
		v  string
	}{{r.group, gvk.Group}, {r.version, gvk.Version}, {r.kind, gvk.Kind}, {r.name, u.GetName()}, {r.nsRegexp, u.GetNamespace()}} {
		if m.re != nil && !m.re.MatchString(m.v) {
			return false
		}
	}
	if r.labels != nil && !r.labels.Matches(labels.Set(u.GetLabels())) {
		return false
	}
	return r.annotations == nil || r.annotations.Matches(labels.Set(u.GetAnnotations()))
}

// ignoredPaths returns the JSON pointers the rules ignore for u.
func ignoredPaths(rules []ignoreRule, u *unstructured.Unstructured) []string {
	var out []string
	for _, r := range rules {
		if r.matches(u) {
			out = append(out, r.paths...)
		}
	}
	return out
}

func excludedByMetadata(u *unstructured.Unstructured) bool {
	return u != nil && (strings.EqualFold(u.GetLabels()[driftDetectionExclusion], helmv2.DriftDetectionDisabledValue) ||
		strings.EqualFold(u.GetAnnotations()[driftDetectionExclusion], helmv2.DriftDetectionDisabledValue))
}

// manager returns an apply.Manager over the session's configuration, for dry-runs and corrections.
func (s *session) manager() (*apply.Manager, dynamic.Interface, error) {
	dc, err := dynamic.NewForConfig(s.getter.config)
	if err != nil {
		return nil, nil, err
	}
	m, err := s.getter.ToRESTMapper()
	if err != nil {
		return nil, nil, err
	}
	rm, ok := m.(apimeta.ResettableRESTMapper)
	if !ok {
		return nil, nil, fmt.Errorf("REST mapper %T cannot be reset", m)
	}
	return &apply.Manager{Client: dc, Mapper: rm, FieldManager: apply.FieldManager, TakeOver: []apply.ForeignManager{}}, dc, nil
}

// detectDrift compares the objects of rls in the cluster with its manifest. It returns nil when
// nothing differs.
func (a *atomic) detectDrift(ctx context.Context, rls *helmrel.Release) (*Drift, error) {
	hr := a.hr()
	dd := hr.GetDriftDetection()
	rules, err := compileIgnoreRules(dd.Ignore)
	if err != nil {
		return nil, err
	}
	objs, err := helmrelease.DecodeManifest(rls.Manifest)
	if err != nil {
		return nil, fmt.Errorf("failed to read objects from release manifest: %w", err)
	}
	mgr, _, err := a.s.manager()
	if err != nil {
		return nil, err
	}
	drift := &Drift{Mode: dd.GetMode(), Release: Snapshot(rls, "").FullReleaseName()}
	ignored := map[string][]string{}
	var compare []*unstructured.Unstructured
	for _, o := range objs {
		setHelmMetadata(o, rls)
		if o.GetNamespace() == "" {
			mapping, err := mgr.Mapper.RESTMapping(o.GroupVersionKind().GroupKind(), o.GroupVersionKind().Version)
			if err != nil {
				return nil, fmt.Errorf("failed to determine if %s is namespace scoped: %w", o.GetKind(), err)
			}
			if mapping.Scope.Name() == apimeta.RESTScopeNameNamespace {
				o.SetNamespace(rls.Namespace)
			}
		}
		paths := ignoredPaths(rules, o)
		if excludedByMetadata(o) || containsString(paths, "") {
			drift.Objects = append(drift.Objects, DriftedObject{Subject: apply.MetaOf(o).String(), Change: "excluded"})
			continue
		}
		ignored[apply.MetaOf(o).ID()] = paths
		compare = append(compare, o)
	}
	diffs, err := mgr.DiffWith(ctx, compare, apply.Options{})
	if err != nil {
		return nil, fmt.Errorf("unable to determine cluster state: %w", err)
	}
	for _, d := range diffs {
		subject := d.Object.String()
		switch {
		case d.Action == apply.Skipped || excludedByMetadata(d.Live):
			drift.Objects = append(drift.Objects, DriftedObject{Subject: subject, Change: "excluded"})
		case d.Live == nil:
			drift.Objects = append(drift.Objects, DriftedObject{Subject: subject, Change: "removed", desired: d.Desired, missing: true})
		case d.Merged != nil:
			ops, err := driftPatch(d.Live, d.Merged, ignored[d.Object.ID()])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", subject, err)
			}
			if len(ops) == 0 {
				continue
			}
			var add, change, remove int
			for _, op := range ops {
				switch op.Op {
				case "add":
					add++
				case "replace":
					change++
				case "remove":
					remove++
				}
			}
			raw, err := json.Marshal(ops)
			if err != nil {
				return nil, err
			}
			drift.Objects = append(drift.Objects, DriftedObject{Subject: subject, desired: d.Desired, Patch: raw,
				Change: fmt.Sprintf("changed (%d additions, %d changes, %d removals)", add, change, remove)})
		}
	}
	sort.SliceStable(drift.Objects, func(i, j int) bool { return drift.Objects[i].Subject < drift.Objects[j].Subject })
	if !drift.Changed() {
		return nil, nil
	}
	return drift, nil
}

// correctDrift creates the deleted objects and patches the drifted ones back, as helm-controller does.
func (a *atomic) correctDrift(ctx context.Context, drift *Drift) error {
	mgr, dc, err := a.s.manager()
	if err != nil {
		return err
	}
	var errs []error
	for _, o := range drift.Objects {
		if o.desired == nil {
			continue
		}
		meta := apply.MetaOf(o.desired)
		mapping, err := mgr.Mapper.RESTMapping(meta.GVK().GroupKind(), meta.Version)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", o.Subject, err))
			continue
		}
		var ri dynamic.ResourceInterface = dc.Resource(mapping.Resource)
		if mapping.Scope.Name() == apimeta.RESTScopeNameNamespace {
			ri = dc.Resource(mapping.Resource).Namespace(meta.Namespace)
		}
		if o.missing {
			if _, err := ri.Create(ctx, o.desired, metav1.CreateOptions{FieldManager: apply.FieldManager}); err != nil {
				errs = append(errs, fmt.Errorf("%s creation failure: %w", o.Subject, err))
				continue
			}
			drift.Corrected = append(drift.Corrected, o.Subject+" created")
			continue
		}
		if _, err := ri.Patch(ctx, meta.Name, types.JSONPatchType, o.Patch, metav1.PatchOptions{FieldManager: apply.FieldManager}); err != nil {
			errs = append(errs, fmt.Errorf("%s patch failure: %w", o.Subject, err))
			continue
		}
		drift.Corrected = append(drift.Corrected, o.Subject+" configured")
	}
	drift.CorrectionErr = errors.Join(errs...)
	return drift.CorrectionErr
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// setHelmMetadata sets the ownership metadata Helm adds to the objects it creates.
func setHelmMetadata(u *unstructured.Unstructured, rls *helmrel.Release) {
	l := u.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	l[managedByLabel] = "Helm"
	u.SetLabels(l)
	an := u.GetAnnotations()
	if an == nil {
		an = map[string]string{}
	}
	an[releaseNameAnnotation] = rls.Name
	an[releaseNSAnnotation] = rls.Namespace
	u.SetAnnotations(an)
}

type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// driftPatch returns the JSON patch from live to merged (the dry-run of the release's object), with the
// ignored JSON pointers removed from both first: labels and annotations added or changed, and every
// difference outside metadata and status, as Flux compares them.
func driftPatch(live, merged *unstructured.Unstructured, ignore []string) ([]patchOp, error) {
	l, m := live.DeepCopy().Object, merged.DeepCopy().Object
	for _, p := range ignore {
		var err error
		if l, err = removePointer(l, p); err != nil {
			return nil, err
		}
		if m, err = removePointer(m, p); err != nil {
			return nil, err
		}
	}
	var ops []patchOp
	lm, _ := l["metadata"].(map[string]any)
	mm, _ := m["metadata"].(map[string]any)
	for _, field := range []string{"labels", "annotations"} {
		lv, _ := lm[field].(map[string]any)
		mv, _ := mm[field].(map[string]any)
		if lv == nil && len(mv) > 0 {
			ops = append(ops, patchOp{Op: "add", Path: "/metadata/" + field, Value: mv})
			continue
		}
		for _, k := range sortedKeys(mv) {
			path := "/metadata/" + field + "/" + escapePointer(k)
			old, ok := lv[k]
			switch {
			case !ok:
				ops = append(ops, patchOp{Op: "add", Path: path, Value: mv[k]})
			case !apiequality.Semantic.DeepEqual(old, mv[k]):
				ops = append(ops, patchOp{Op: "replace", Path: path, Value: mv[k]})
			}
		}
	}
	for _, top := range []map[string]any{l, m} {
		delete(top, "metadata")
		delete(top, "status")
	}
	diffJSON("", l, m, &ops)
	return ops, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// diffJSON appends the RFC 6902 operations that turn a into b: maps compared key by key, lists of the
// same length item by item, anything else replaced.
func diffJSON(path string, a, b any, ops *[]patchOp) {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			break
		}
		keys := map[string]bool{}
		for k := range av {
			keys[k] = true
		}
		for k := range bv {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			p := path + "/" + escapePointer(k)
			x, inA := av[k]
			y, inB := bv[k]
			switch {
			case !inB:
				*ops = append(*ops, patchOp{Op: "remove", Path: p})
			case !inA:
				*ops = append(*ops, patchOp{Op: "add", Path: p, Value: y})
			default:
				diffJSON(p, x, y, ops)
			}
		}
		return
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			break
		}
		for i := range av {
			diffJSON(path+"/"+strconv.Itoa(i), av[i], bv[i], ops)
		}
		return
	}
	if !apiequality.Semantic.DeepEqual(a, b) {
		*ops = append(*ops, patchOp{Op: "replace", Path: path, Value: b})
	}
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// removePointer removes the value at the RFC 6901 pointer p from doc; a missing path is no error.
func removePointer(doc map[string]any, p string) (map[string]any, error) {
	if p == "" {
		return map[string]any{}, nil
	}
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("ignore path %q is not a JSON pointer (it must start with /)", p)
	}
	var tokens []string
	for _, t := range strings.Split(p[1:], "/") {
		tokens = append(tokens, strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~"))
	}
	out, _ := removeAt(doc, tokens).(map[string]any)
	return out, nil
}

func removeAt(v any, tokens []string) any {
	last := len(tokens) == 1
	switch c := v.(type) {
	case map[string]any:
		child, ok := c[tokens[0]]
		if !ok {
			return c
		}
		if last {
			delete(c, tokens[0])
		} else {
			c[tokens[0]] = removeAt(child, tokens[1:])
		}
		return c
	case []any:
		i, err := strconv.Atoi(tokens[0])
		if err != nil || i < 0 || i >= len(c) {
			return c
		}
		if last {
			return append(c[:i:i], c[i+1:]...)
		}
		c[i] = removeAt(c[i], tokens[1:])
		return c
	}
	return v
}
