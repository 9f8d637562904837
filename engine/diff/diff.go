package diff

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/reconcile"
)

// Action is what apply would do to an object, as a diff reports it.
type Action string

// Actions a diff reports.
const (
	Created   Action = "created"
	Changed   Action = "changed"
	Deleted   Action = "deleted"
	Unchanged Action = "unchanged"
	Skipped   Action = "skipped"
	// Recreated: an immutable field changed and force is on: apply deletes the object and creates it again.
	Recreated Action = "recreated"
	// Failed: the server rejected the object's dry-run (Reason has its message), so apply will fail.
	Failed Action = "failed"
)

// Entry is the change to one object.
type Entry struct {
	// Owner is the kind of the object whose build produced this one: Kustomization or HelmRelease.
	Owner string `json:"owner"`
	// OwnerName is the owner's namespace/name.
	OwnerName string `json:"name"`
	Subject   string `json:"subject"`
	Action    Action `json:"action"`
	// Reason says why an object is skipped, recreated, failing or deleted through another object.
	Reason string `json:"reason,omitempty"`
	// Diff is a unified diff of the object's YAML (live, then after apply; base, then head offline),
	// Secret values masked.
	Diff string `json:"diff,omitempty"`
	// Side is, in an offline diff, the side (Base or Head) a Failed entry failed to build on.
	Side string `json:"side,omitempty"`
}

// Differ diffs Kustomizations and HelmReleases against a cluster.
type Differ struct {
	Apply          *apply.Manager
	Kustomizations *reconcile.Kustomizations
	// HelmReleases reads HelmReleases and composes their values (its Renderer); Core reads Helm's
	// release records. Both are needed for HelmRelease and for the cascade of a removed HelmRelease.
	HelmReleases *reconcile.HelmReleases
	Core         kubernetes.Interface
	// ShowSecrets prints Secret values instead of masking them.
	ShowSecrets bool
}

// Kustomization returns the changes reconciling Kustomization namespace/name with the built objects objs
// would make: apply (with spec.force), and prune as reconcile.PlanPrune decides for apply, including the
// objects a pruned Kustomization or HelmRelease deletes in turn when the agent finalizes it. desired is the
// Kustomization as the tree declares it (its parent applies it first); nil uses the cluster's. A suspended
// Kustomization changes nothing. Unchanged objects are returned with no diff. A tree's root that no
// Kustomization points at owns no inventory (reconcile.NodeOwnsInventory): diff it with Objects.
func (d *Differ) Kustomization(ctx context.Context, namespace, name string, desired *kustomizev1.Kustomization, objs []*unstructured.Unstructured) ([]Entry, error) {
	id := namespace + "/" + name
	live, err := d.Kustomizations.Get(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	spec := desired
	if spec == nil {
		spec = live
	}
	if spec != nil && spec.Spec.Suspend {
		return skipAll("Kustomization", id, objs, "the Kustomization is suspended"), nil
	}
	if spec != nil && spec.Spec.KubeConfig == nil {
		// Dry-run and read as apply does: as the Kustomization's ServiceAccount (or the default one), so
		// what the tenant may not do shows as failing. A sourceRef the lockdown refuses fails the same way.
		if err := d.Kustomizations.Tenancy.CheckKustomization(spec); err != nil {
			return nil, fmt.Errorf("Kustomization %s: %w", id, err)
		}
		acting := spec.DeepCopy()
		acting.Namespace = namespace
		am, _, err := d.Kustomizations.ClientsFor(ctx, acting)
		if err != nil {
			return nil, fmt.Errorf("Kustomization %s: %w", id, err)
		}
		if am != d.Apply {
			impersonating := *d
			impersonating.Apply = am
			d = &impersonating
		}
	}
	opts := apply.Options{Force: spec != nil && spec.Spec.Force}
	out, err := d.objects(ctx, "Kustomization", id, objs, opts)
	if err != nil {
		return nil, err
	}
	// Apply prunes by the live inventory, with the spec the parent has just applied.
	var current *kustomizev1.Kustomization
	if live != nil {
		current = live.DeepCopy()
		current.Spec = spec.Spec
	}
	plan, err := reconcile.PlanPrune(current, objs)
	if err != nil {
		return nil, fmt.Errorf("Kustomization %s: %w", id, err)
	}
	pruned, err := d.deleted(ctx, "Kustomization", id, plan.Stale, "", map[string]bool{id: true})
	if err != nil {
		return nil, fmt.Errorf("Kustomization %s: %w", id, err)
	}
	out = append(out, pruned...)
	sortEntries(out)
	return out, nil
}

// Objects returns the changes applying objs without an inventory makes (a tree's root that no
// Kustomization points at, named id): nothing is pruned, as apply prunes nothing there.
func (d *Differ) Objects(ctx context.Context, id string, objs []*unstructured.Unstructured) ([]Entry, error) {
	out, err := d.objects(ctx, "Kustomization", id, objs, apply.Options{})
	if err != nil {
		return nil, err
	}
	sortEntries(out)
	return out, nil
}

// objects dry-runs objs as apply would; objects the server rejects are reported as failing, with its
// message, and the others are diffed without them.
func (d *Differ) objects(ctx context.Context, kind, id string, objs []*unstructured.Unstructured, opts apply.Options) ([]Entry, error) {
	var out []Entry
	remaining := objs
	for len(remaining) > 0 {
		diffs, err := d.Apply.DiffWith(ctx, remaining, opts)
		if err == nil {
			for _, od := range diffs {
				e, err := d.entry(kind, id, od)
				if err != nil {
					return nil, err
				}
				out = append(out, e)
			}
			break
		}
		objErrs := objectErrors(err)
		if objErrs == nil {
			return nil, fmt.Errorf("%s %s: %w", kind, id, err)
		}
		failed := map[string]bool{}
		for _, oe := range objErrs {
			failed[oe.Object.ID()] = true
			var desired *unstructured.Unstructured
			for _, o := range remaining {
				if apply.MetaOf(o).ID() == oe.Object.ID() {
					desired = o
				}
			}
			e, err := d.failure(ctx, kind, id, oe, desired)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		var rest []*unstructured.Unstructured
		for _, o := range remaining {
			if !failed[apply.MetaOf(o).ID()] {
				rest = append(rest, o)
			}
		}
		if len(rest) == len(remaining) {
			return nil, fmt.Errorf("%s %s: %w", kind, id, err)
		}
		remaining = rest
	}
	return out, nil
}

func (d *Differ) entry(kind, id string, od apply.ObjectDiff) (Entry, error) {
	e := Entry{OwnerName: id, Owner: kind, Subject: od.Object.String(), Reason: od.Reason}
	var err error
	switch {
	case od.Action == apply.Unchanged:
		e.Action = Unchanged
	case od.Action == apply.Skipped:
		e.Action = Skipped
	case od.Action == apply.Created:
		e.Action = Created
		after := od.Merged
		if after == nil {
			after = od.Desired
		}
		e.Diff, err = d.unified(e.Subject, nil, after)
	case od.Recreate:
		e.Action = Recreated
		e.Reason = "an immutable field changed and force is enabled: apply deletes the object and creates it again"
		e.Diff, err = d.unified(e.Subject, project(od.Live, od.Desired), od.Desired)
	default:
		e.Action = Changed
		e.Diff, err = d.unified(e.Subject, od.Live, od.Merged)
	}
	return e, err
}

// failure reports an object the dry-run rejected: its fields that would change (when it exists) or
// the object as built, with the server's message.
func (d *Differ) failure(ctx context.Context, kind, id string, oe *apply.ObjectError, desired *unstructured.Unstructured) (Entry, error) {
	e := Entry{OwnerName: id, Owner: kind, Subject: oe.Object.String(), Action: Failed, Reason: serverMessage(oe.Err)}
	if isImmutable(oe.Err) {
		e.Reason = "an immutable field changed (enable force to recreate the object): " + e.Reason
	}
	if desired == nil {
		return e, nil
	}
	live, err := d.Apply.Get(ctx, oe.Object)
	if err != nil {
		live = nil
	}
	e.Diff, err = d.unified(e.Subject, project(live, desired), desired)
	return e, err
}

// objectErrors returns the per-object errors err joins, or nil when err is anything else.
func objectErrors(err error) []*apply.ObjectError {
	var out []*apply.ObjectError
	var walk func(error) bool
	walk = func(err error) bool {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				if !walk(e) {
					return false
				}
			}
			return true
		}
		var oe *apply.ObjectError
		if !errors.As(err, &oe) {
			return false
		}
		out = append(out, oe)
		return true
	}
	if !walk(err) {
		return nil
	}
	return out
}

func isImmutable(err error) bool {
	if !apierrors.IsInvalid(err) && !apierrors.IsBadRequest(err) {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "immutable") || strings.Contains(msg, "may not change once set")
}

// serverMessage is the API server's message for err, else err's text.
func serverMessage(err error) string {
	var st apierrors.APIStatus
	if errors.As(err, &st) && st.Status().Message != "" {
		return st.Status().Message
	}
	return err.Error()
}

func skipAll(kind, id string, objs []*unstructured.Unstructured, reason string) []Entry {
	out := make([]Entry, 0, len(objs))
	for _, o := range objs {
		out = append(out, Entry{Owner: kind, OwnerName: id, Subject: apply.MetaOf(o).String(), Action: Skipped, Reason: reason})
	}
	return out
}

func sortEntries(out []Entry) {
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Owner+" "+out[i].OwnerName != out[j].Owner+" "+out[j].OwnerName {
			return out[i].Owner+" "+out[i].OwnerName < out[j].Owner+" "+out[j].OwnerName
		}
		return out[i].Subject < out[j].Subject
	})
}

// project keeps the fields of live that desired sets (maps recursively; lists and values whole), so
// that a diff against desired shows only the fields the build declares.
func project(live, desired *unstructured.Unstructured) *unstructured.Unstructured {
	if live == nil || desired == nil {
		return live
	}
	out, _ := projectValue(live.Object, desired.Object).(map[string]any)
	return &unstructured.Unstructured{Object: out}
}

func projectValue(live, desired any) any {
	lm, ok1 := live.(map[string]any)
	dm, ok2 := desired.(map[string]any)
	if !ok1 || !ok2 {
		return live
	}
	out := map[string]any{}
	for k, dv := range dm {
		if lv, ok := lm[k]; ok {
			out[k] = projectValue(lv, dv)
		}
	}
	return out
}

func (d *Differ) unified(subject string, before, after *unstructured.Unstructured) (string, error) {
	return d.unifiedLabels(subject+" (live)", subject+" (after apply)", before, after)
}

// unifiedLabels is the unified diff of before and after headed from and to.
func (d *Differ) unifiedLabels(from, to string, before, after *unstructured.Unstructured) (string, error) {
	b, a := clean(before), clean(after)
	if !d.ShowSecrets {
		maskSecrets(b, a)
	}
	bText, err := toYAML(b)
	if err != nil {
		return "", err
	}
	aText, err := toYAML(a)
	if err != nil {
		return "", err
	}
	return difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: splitLines(bText), B: splitLines(aText),
		FromFile: from, ToFile: to, Context: 3,
	})
}

func toYAML(u *unstructured.Unstructured) (string, error) {
	if u == nil {
		return "", nil
	}
	b, err := yaml.Marshal(u.Object)
	return string(b), err
}

// clean drops what the server maintains and nobody writes.
func clean(u *unstructured.Unstructured) *unstructured.Unstructured {
	if u == nil {
		return nil
	}
	c := copyObject(u)
	delete(c.Object, "status")
	for _, f := range []string{"managedFields", "resourceVersion", "uid", "generation", "creationTimestamp", "selfLink"} {
		unstructured.RemoveNestedField(c.Object, "metadata", f)
	}
	if a := c.GetAnnotations(); a != nil {
		delete(a, "kubectl.kubernetes.io/last-applied-configuration")
		delete(a, "deployment.kubernetes.io/revision")
		if len(a) == 0 {
			a = nil
		}
		c.SetAnnotations(a)
	}
	if md, ok := c.Object["metadata"].(map[string]any); ok && len(md) == 0 {
		delete(c.Object, "metadata")
	}
	return c
}

// copyObject deep-copies u through JSON: built objects may hold values (int, typed slices) that
// unstructured's DeepCopy refuses.
func copyObject(u *unstructured.Unstructured) *unstructured.Unstructured {
	b, err := json.Marshal(u.Object)
	if err != nil {
		return u.DeepCopy()
	}
	c := &unstructured.Unstructured{}
	if err := c.UnmarshalJSON(b); err == nil {
		return c
	}
	var m map[string]any // no kind: a plain map
	if err := json.Unmarshal(b, &m); err != nil {
		return u.DeepCopy()
	}
	return &unstructured.Unstructured{Object: m}
}

// maskSecrets replaces Secret values: "***" when equal on both sides, "*** (before)"/"*** (after)" when changed.
func maskSecrets(before, after *unstructured.Unstructured) {
	isSecret := func(u *unstructured.Unstructured) bool {
		return u != nil && u.GetKind() == "Secret" && u.GroupVersionKind().Group == ""
	}
	if !isSecret(before) && !isSecret(after) {
		return
	}
	for _, field := range []string{"data", "stringData"} {
		var bm, am map[string]any
		if isSecret(before) {
			bm, _ = before.Object[field].(map[string]any)
		}
		if isSecret(after) {
			am, _ = after.Object[field].(map[string]any)
		}
		for k, bv := range bm {
			if av, ok := am[k]; ok && av != bv {
				bm[k], am[k] = "*** (before)", "*** (after)"
			} else {
				bm[k] = "***"
				if ok {
					am[k] = "***"
				}
			}
		}
		for k := range am {
			if _, ok := bm[k]; !ok {
				am[k] = "***"
			}
		}
	}
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return difflib.SplitLines(strings.TrimSuffix(s, "\n"))
}
