package apply

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	fluxmeta "github.com/converge-gitops/converge/crds/meta"
)

// FieldManager is the server-side apply field manager converge writes with.
const FieldManager = "converge"

// Action is what apply did (or, in a dry run, would do) to one object.
type Action string

// Actions.
const (
	Created    Action = "created"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
	Deleted    Action = "deleted"
	Skipped    Action = "skipped"
)

// Change is one entry of a ChangeSet.
type Change struct {
	Object ObjMeta `json:"-"`
	// Subject is "Kind/namespace/name".
	Subject string `json:"subject"`
	Action  Action `json:"action"`
	// Reason says why an object was skipped or recreated.
	Reason string `json:"reason,omitempty"`
}

// ChangeSet lists what happened to every object, in apply order.
type ChangeSet struct {
	Entries []Change `json:"entries"`
}

// Count returns how many entries have action a.
func (c *ChangeSet) Count(a Action) int {
	n := 0
	for _, e := range c.Entries {
		if e.Action == a {
			n++
		}
	}
	return n
}

// Changed reports whether anything was created, configured or deleted.
func (c *ChangeSet) Changed() bool {
	return c.Count(Created)+c.Count(Configured)+c.Count(Deleted) > 0
}

// ObjectError is a failure about one object.
type ObjectError struct {
	Object ObjMeta
	Op     string
	Err    error
}

func (e *ObjectError) Error() string { return fmt.Sprintf("%s %s: %v", e.Op, e.Object, e.Err) }
func (e *ObjectError) Unwrap() error { return e.Err }

// Manager applies objects to one cluster.
type Manager struct {
	Client dynamic.Interface
	Mapper meta.ResettableRESTMapper
	// FieldManager defaults to "converge".
	FieldManager string
	// Concurrency bounds parallel requests (default 16).
	Concurrency int
	// TakeOver lists the foreign field managers whose fields are merged into FieldManager's before an
	// object is applied (nil: DefaultTakeOver; empty: none).
	TakeOver []ForeignManager
}

// Options tune one Apply.
type Options struct {
	// Force recreates objects whose immutable fields changed (also per object with the
	// kustomize.toolkit.fluxcd.io/force: enabled annotation).
	Force bool
	// DryRun computes the ChangeSet without writing.
	DryRun bool
}

func (m *Manager) fieldManager() string {
	if m.FieldManager == "" {
		return FieldManager
	}
	return m.FieldManager
}

func (m *Manager) limit() int {
	if m.Concurrency <= 0 {
		return 16
	}
	return m.Concurrency
}

// resource returns the client for u's kind, failing clearly for a namespaced object without namespace.
func (m *Manager) resource(o ObjMeta) (dynamic.ResourceInterface, error) {
	mapping, err := m.Mapper.RESTMapping(o.GVK().GroupKind(), o.Version)
	if err != nil {
		return nil, fmt.Errorf("the cluster does not serve %s: %w", o.GVK(), err)
	}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		if o.Namespace == "" {
			return nil, errors.New("namespace not specified for a namespaced kind (set it, or the Kustomization's targetNamespace)")
		}
		return m.Client.Resource(mapping.Resource).Namespace(o.Namespace), nil
	}
	return m.Client.Resource(mapping.Resource), nil
}

// IsStageOne reports whether u is applied in the first stage: definitions and cluster-wide objects other
// objects need (CRDs, Namespaces, ClusterRoles and their bindings).
func IsStageOne(u *unstructured.Unstructured) bool {
	gk := u.GroupVersionKind().GroupKind()
	switch {
	case gk.Group == "apiextensions.k8s.io" && gk.Kind == "CustomResourceDefinition",
		gk.Group == "" && gk.Kind == "Namespace",
		gk.Group == "rbac.authorization.k8s.io" && (gk.Kind == "ClusterRole" || gk.Kind == "ClusterRoleBinding"):
		return true
	}
	return false
}

// Apply validates all objects with a server-side dry-run, then applies those that change, in stages.
// When any object fails validation nothing is written and the errors (one per object) are returned.
func (m *Manager) Apply(ctx context.Context, objs []*unstructured.Unstructured, opts Options) (*ChangeSet, error) {
	Report(ctx, Progress{Phase: PhaseValidating, Total: len(objs)})
	plan1, plan2, deferred, stage1, err := m.stagedPlan(ctx, objs, opts)
	if err != nil {
		return nil, err
	}
	cs := &ChangeSet{}
	writes := &writeCounter{}
	for _, s := range append(plan1, plan2...) {
		if s.action == Created || s.action == Configured {
			writes.total++
		}
	}
	writes.total += len(deferred)
	if !opts.DryRun {
		ctx = context.WithValue(ctx, writeCounterKey{}, writes)
		Report(ctx, Progress{Phase: PhaseApplying, Total: writes.total})
	}
	if err := m.execute(ctx, plan1, opts, cs); err != nil {
		return cs, err
	}
	if len(deferred) > 0 {
		if opts.DryRun {
			// Nothing was written, so these cannot be validated: report them as the creations they are.
			for _, o := range deferred {
				meta := MetaOf(o)
				cs.Entries = append(cs.Entries, Change{Object: meta, Subject: meta.String(), Action: Created})
			}
		} else {
			if err := m.waitForCRDs(ctx, stage1); err != nil {
				return cs, err
			}
			m.Mapper.Reset()
			plan3, err := m.plan(ctx, deferred, opts)
			if err != nil {
				return cs, err
			}
			plan2 = append(plan2, plan3...)
		}
	}
	if err := m.execute(ctx, plan2, opts, cs); err != nil {
		return cs, err
	}
	return cs, nil
}

// stagedPlan plans the first stage and every later object that can be validated before the first stage
// is written; deferred are those whose kind or namespace the first stage creates.
func (m *Manager) stagedPlan(ctx context.Context, objs []*unstructured.Unstructured, opts Options) (plan1, plan2 []*step, deferred, stage1 []*unstructured.Unstructured, err error) {
	var stage2 []*unstructured.Unstructured
	for _, o := range objs {
		if IsStageOne(o) {
			stage1 = append(stage1, o)
		} else {
			stage2 = append(stage2, o)
		}
	}
	if plan1, err = m.plan(ctx, stage1, opts); err != nil {
		return nil, nil, nil, nil, err
	}
	newNamespaces := map[string]bool{}
	for _, s := range plan1 {
		if s.meta.Kind == "Namespace" && s.meta.Group == "" && s.action == Created {
			newNamespaces[s.meta.Name] = true
		}
	}
	var known []*unstructured.Unstructured
	for _, o := range stage2 {
		_, mapErr := m.Mapper.RESTMapping(o.GroupVersionKind().GroupKind(), o.GroupVersionKind().Version)
		if (mapErr != nil && definedBy(o, stage1)) || newNamespaces[o.GetNamespace()] {
			deferred = append(deferred, o)
		} else {
			known = append(known, o)
		}
	}
	if plan2, err = m.plan(ctx, known, opts); err != nil {
		return nil, nil, nil, nil, err
	}
	return plan1, plan2, deferred, stage1, nil
}

func definedBy(o *unstructured.Unstructured, stage1 []*unstructured.Unstructured) bool {
	gvk := o.GroupVersionKind()
	for _, c := range stage1 {
		if c.GetKind() != "CustomResourceDefinition" {
			continue
		}
		group, _, _ := unstructured.NestedString(c.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(c.Object, "spec", "names", "kind")
		if group == gvk.Group && kind == gvk.Kind {
			return true
		}
	}
	return false
}

type step struct {
	obj      *unstructured.Unstructured
	live     *unstructured.Unstructured
	dry      *unstructured.Unstructured
	meta     ObjMeta
	ri       dynamic.ResourceInterface
	action   Action
	reason   string
	recreate bool
	// takeover is the JSON patch that hands foreign managers' fields to ours before the apply.
	takeover []byte
}

// plan decides, per object, what apply must do: dry-run it against the live object.
func (m *Manager) plan(ctx context.Context, objs []*unstructured.Unstructured, opts Options) ([]*step, error) {
	live := m.prefetch(ctx, objs)
	steps := make([]*step, len(objs))
	errs := make([]error, len(objs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(m.limit())
	for i, o := range objs {
		g.Go(func() error {
			s, err := m.planOne(gctx, o, opts, live)
			steps[i], errs[i] = s, err
			return nil
		})
	}
	_ = g.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return steps, nil
}

// listThreshold is how many objects of one kind in one namespace make a LIST cheaper than GETs.
const listThreshold = 8

// liveObjects holds objects read ahead by LIST, keyed by inventory id; a listed (kind, namespace) whose
// object is absent does not exist.
type liveObjects struct {
	objects map[string]*unstructured.Unstructured
	listed  map[string]bool
}

func listKey(o ObjMeta) string { return o.Group + "/" + o.Kind + "/" + o.Namespace }

// lookup returns the live object for o and whether the prefetch knows (found or known absent).
func (l *liveObjects) lookup(o ObjMeta) (*unstructured.Unstructured, bool) {
	if l == nil || !l.listed[listKey(o)] {
		return nil, false
	}
	return l.objects[o.ID()], true
}

// prefetch lists, once per kind and namespace and in parallel, the groups of objects large enough for a
// LIST to beat one GET per object. Failures are ignored: planning then falls back to GETs.
func (m *Manager) prefetch(ctx context.Context, objs []*unstructured.Unstructured) *liveObjects {
	groups := map[string][]ObjMeta{}
	for _, o := range objs {
		meta := MetaOf(o)
		groups[listKey(meta)] = append(groups[listKey(meta)], meta)
	}
	l := &liveObjects{objects: map[string]*unstructured.Unstructured{}, listed: map[string]bool{}}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(m.limit())
	for key, metas := range groups {
		if len(metas) < listThreshold {
			continue
		}
		ri, err := m.resource(metas[0])
		if err != nil {
			continue
		}
		g.Go(func() error {
			list, err := ri.List(gctx, metav1.ListOptions{})
			if err != nil {
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			for i := range list.Items {
				item := &list.Items[i]
				l.objects[MetaOf(item).ID()] = item
			}
			l.listed[key] = true
			return nil
		})
	}
	_ = g.Wait()
	return l
}

func (m *Manager) planOne(ctx context.Context, o *unstructured.Unstructured, opts Options, prefetched *liveObjects) (*step, error) {
	s := &step{obj: o, meta: MetaOf(o)}
	fail := func(op string, err error) (*step, error) { return nil, &ObjectError{Object: s.meta, Op: op, Err: err} }
	excluded := func(u *unstructured.Unstructured) bool {
		return hasMeta(u, fluxmeta.SSAAnnotation, "Ignore") || hasMeta(u, fluxmeta.ReconcileAnnotation, fluxmeta.DisabledValue)
	}
	if excluded(o) {
		s.action, s.reason = Skipped, "reconciliation disabled by annotation"
		return s, nil
	}
	ri, err := m.resource(s.meta)
	if err != nil {
		return fail("validate", err)
	}
	s.ri = ri
	live, known := prefetched.lookup(s.meta)
	if !known {
		var err error
		live, err = ri.Get(ctx, o.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			live = nil
		case err != nil:
			return fail("read", err)
		}
	}
	s.live = live
	if live != nil && excluded(live) {
		s.action, s.reason = Skipped, "reconciliation disabled by annotation on the cluster's object"
		return s, nil
	}
	if live != nil && hasMeta(o, fluxmeta.SSAAnnotation, "IfNotPresent") {
		s.action, s.reason = Skipped, "exists and the ssa policy is IfNotPresent"
		return s, nil
	}
	var taken []string
	if live != nil {
		if s.takeover, taken, err = takeoverPatch(o, live, m.fieldManager(), m.takeOver(), time.Now()); err != nil {
			return fail("validate", err)
		}
	}
	if live != nil && s.takeover == nil && ownedUnchanged(o, live, m.fieldManager()) {
		s.dry, s.action = live, Unchanged
		return s, nil
	}
	dry, err := m.ssa(ctx, ri, o, true)
	if err != nil && opts.DryRun && live == nil && missingNamespace(err) {
		// A namespace another Kustomization creates first: nothing to compare with yet.
		s.action, s.reason = Created, "namespace "+o.GetNamespace()+" does not exist yet, so the server could not validate it"
		return s, nil
	}
	if err != nil {
		if live != nil && isImmutable(err) {
			if opts.Force || hasMeta(o, fluxmeta.ForceAnnotation, fluxmeta.EnabledValue) || hasMeta(live, fluxmeta.ForceAnnotation, fluxmeta.EnabledValue) {
				s.action, s.recreate, s.reason, s.takeover = Configured, true, "immutable field changed: recreated", nil
				return s, nil
			}
			return fail("validate", fmt.Errorf("%w (immutable field changed; enable force to recreate it)", err))
		}
		return fail("validate", err)
	}
	s.live, s.dry = live, dry
	switch {
	case live == nil:
		s.action = Created
	case drifted(live, dry) || s.takeover != nil:
		s.action = Configured
	default:
		s.action = Unchanged
	}
	if s.takeover != nil {
		s.reason = "took over from " + strings.Join(taken, ", ")
	}
	return s, nil
}

func missingNamespace(err error) bool {
	var st apierrors.APIStatus
	if !errors.As(err, &st) || !apierrors.IsNotFound(err) {
		return false
	}
	d := st.Status().Details
	return d != nil && d.Kind == "namespaces"
}

func isImmutable(err error) bool {
	if !apierrors.IsInvalid(err) && !apierrors.IsBadRequest(err) {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "immutable") || strings.Contains(msg, "may not change once set")
}

// ssa server-side applies o, forcing ownership of conflicting fields as Flux does (other managers keep
// the fields o does not set; the ssa: Merge policy only spares them the takeover).
func (m *Manager) ssa(ctx context.Context, ri dynamic.ResourceInterface, o *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, error) {
	force := true
	po := metav1.PatchOptions{FieldManager: m.fieldManager(), Force: &force}
	if dryRun {
		po.DryRun = []string{metav1.DryRunAll}
	}
	data, err := o.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return ri.Patch(ctx, o.GetName(), types.ApplyPatchType, data, po)
}

// drifted reports whether the dry-run result differs from the live object, ignoring server bookkeeping.
func drifted(live, dry *unstructured.Unstructured) bool {
	return !apiequality.Semantic.DeepEqual(comparable(live), comparable(dry))
}

func comparable(u *unstructured.Unstructured) map[string]any {
	c := u.DeepCopy().Object
	delete(c, "status")
	if md, ok := c["metadata"].(map[string]any); ok {
		for _, f := range []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp"} {
			delete(md, f)
		}
	}
	return c
}

func (m *Manager) execute(ctx context.Context, steps []*step, opts Options, cs *ChangeSet) error {
	errs := make([]error, len(steps))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(m.limit())
	for i, s := range steps {
		g.Go(func() error {
			if !opts.DryRun && (s.action == Created || s.action == Configured) {
				errs[i] = m.write(gctx, s)
				if w, ok := ctx.Value(writeCounterKey{}).(*writeCounter); ok {
					Report(ctx, Progress{Phase: PhaseApplying, Done: int(w.done.Add(1)), Total: w.total})
				}
			}
			return nil
		})
	}
	_ = g.Wait()
	for i, s := range steps {
		if errs[i] == nil {
			cs.Entries = append(cs.Entries, Change{Object: s.meta, Subject: s.meta.String(), Action: s.action, Reason: s.reason})
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// takeOverFields sends s's takeover patch. The patch only applies to the resourceVersion it was computed
// from; when another writer changed the object since (a controller updating its status, typically), the
// object is read again and the patch recomputed, a few times.
func (m *Manager) takeOverFields(ctx context.Context, s *step) error {
	patch, rv := s.takeover, s.live.GetResourceVersion()
	for attempt := 1; ; attempt++ {
		_, err := s.ri.Patch(ctx, s.obj.GetName(), types.JSONPatchType, patch, metav1.PatchOptions{FieldManager: m.fieldManager()})
		if err == nil || attempt == 5 || !(apierrors.IsInvalid(err) || apierrors.IsConflict(err)) {
			return err
		}
		live, gerr := s.ri.Get(ctx, s.obj.GetName(), metav1.GetOptions{})
		if gerr != nil || live.GetResourceVersion() == rv {
			return err // not a concurrent change: the patch itself was refused
		}
		rv = live.GetResourceVersion()
		if patch, _, err = takeoverPatch(s.obj, live, m.fieldManager(), m.takeOver(), time.Now()); err != nil || patch == nil {
			return err
		}
	}
}

func (m *Manager) write(ctx context.Context, s *step) error {
	if s.recreate {
		policy := metav1.DeletePropagationBackground
		if err := s.ri.Delete(ctx, s.obj.GetName(), metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil && !apierrors.IsNotFound(err) {
			return &ObjectError{Object: s.meta, Op: "recreate", Err: err}
		}
		if err := m.waitGone(ctx, s.ri, s.obj.GetName()); err != nil {
			return &ObjectError{Object: s.meta, Op: "recreate", Err: err}
		}
	}
	if s.takeover != nil {
		if err := m.takeOverFields(ctx, s); err != nil {
			return &ObjectError{Object: s.meta, Op: "take over fields", Err: err}
		}
	}
	if _, err := m.ssa(ctx, s.ri, s.obj, false); err != nil {
		return &ObjectError{Object: s.meta, Op: "apply", Err: err}
	}
	return nil
}

func (m *Manager) waitGone(ctx context.Context, ri dynamic.ResourceInterface, name string) error {
	return pollEvery(ctx, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		_, err := ri.Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

// pollEvery calls done until it says so, waiting interval after each call; it returns ctx's error when ctx
// ends first.
func pollEvery(ctx context.Context, interval time.Duration, done wait.ConditionWithContextFunc) error {
	return wait.Backoff{Duration: interval}.DelayFunc().Until(ctx, true, true, done)
}

func (m *Manager) waitForCRDs(ctx context.Context, stage1 []*unstructured.Unstructured) error {
	for _, c := range stage1 {
		if c.GetKind() != "CustomResourceDefinition" {
			continue
		}
		ri, err := m.resource(MetaOf(c))
		if err != nil {
			return err
		}
		if err := pollEvery(ctx, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
			live, err := ri.Get(ctx, c.GetName(), metav1.GetOptions{})
			return err == nil && crdEstablished(live), nil
		}); err != nil {
			return fmt.Errorf("CustomResourceDefinition %s not established: %w", c.GetName(), err)
		}
	}
	return nil
}

func crdEstablished(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		cm, _ := c.(map[string]any)
		if cm["type"] == "Established" && cm["status"] == "True" {
			return true
		}
	}
	return false
}

// writeCounter counts the writes of one Apply for its progress reports.
type writeCounter struct {
	total int
	done  atomic.Int64
}

type writeCounterKey struct{}

// PruneOptions tune Prune.
type PruneOptions struct {
	DryRun bool
}

// Prune deletes the stale objects (see Stale), except those annotated kustomize.toolkit.fluxcd.io/prune:
// disabled, and those already gone.
func (m *Manager) Prune(ctx context.Context, stale []ObjMeta, opts PruneOptions) (*ChangeSet, error) {
	cs := &ChangeSet{}
	var errs []error
	if len(stale) > 0 && !opts.DryRun {
		Report(ctx, Progress{Phase: PhasePruning, Total: len(stale)})
	}
	sort.Slice(stale, func(i, j int) bool { return stale[i].ID() < stale[j].ID() })
	for _, o := range stale {
		ri, err := m.resource(o)
		if err != nil {
			if meta.IsNoMatchError(errors.Unwrap(err)) {
				continue // the kind is gone, so are its objects
			}
			errs = append(errs, &ObjectError{Object: o, Op: "prune", Err: err})
			continue
		}
		live, err := ri.Get(ctx, o.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			errs = append(errs, &ObjectError{Object: o, Op: "prune", Err: err})
			continue
		}
		if hasMeta(live, fluxmeta.PruneAnnotation, fluxmeta.DisabledValue) {
			cs.Entries = append(cs.Entries, Change{Object: o, Subject: o.String(), Action: Skipped, Reason: "pruning disabled by annotation"})
			continue
		}
		if !opts.DryRun {
			policy := metav1.DeletePropagationBackground
			if err := ri.Delete(ctx, o.Name, metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, &ObjectError{Object: o, Op: "prune", Err: err})
				continue
			}
		}
		cs.Entries = append(cs.Entries, Change{Object: o, Subject: o.String(), Action: Deleted})
	}
	return cs, errors.Join(errs...)
}
