package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/crds/meta"
	"github.com/converge-gitops/converge/engine/health"
)

// TerminalErrorMessage prefixes the Ready message of a configuration error that no retry can fix, as
// Flux words it.
const TerminalErrorMessage = "Reconciliation failed terminally due to configuration error"

// InvalidReadyExprError is a spec.dependsOn[].readyExpr that does not compile: the object stays
// Stalled (reason InvalidCELExpression) until its spec changes.
type InvalidReadyExprError struct {
	// Object is "Kind namespace/name" of the object that depends.
	Object string
	// Index of the entry in spec.dependsOn.
	Index int
	// Dependency is "namespace/name".
	Dependency string
	Expr       string
	Err        error
}

func (e *InvalidReadyExprError) Error() string {
	return fmt.Sprintf("%s: spec.dependsOn[%d] (%s): readyExpr %q: %v", e.Object, e.Index, e.Dependency, e.Expr, e.Err)
}

func (e *InvalidReadyExprError) Unwrap() error { return e.Err }

// DependencyLookup returns the dependency namespace/name of the same kind; nil when it does not exist.
type DependencyLookup func(ctx context.Context, namespace, name string) (*unstructured.Unstructured, error)

// ReadyExprs compiles the readyExprs of objects' spec.dependsOn once per object generation. The zero
// value is ready to use; a nil *ReadyExprs compiles at every check.
type ReadyExprs struct {
	// Additive is Flux's AdditiveCELDependencyCheck feature gate: a readyExpr is checked in addition to
	// the built-in check instead of replacing it.
	Additive bool

	mu sync.Mutex
	m  map[string]compiledDeps
}

func (c *ReadyExprs) additive() bool { return c != nil && c.Additive }

type compiledDeps struct {
	uid        types.UID
	generation int64
	exprs      []*health.ReadyExpr
	err        error
}

// compile returns self's readyExprs, one per dependsOn entry (nil for entries without one).
func (c *ReadyExprs) compile(kind string, self *unstructured.Unstructured, deps []kustomizev1.DependencyReference) ([]*health.ReadyExpr, error) {
	key := kind + "/" + self.GetNamespace() + "/" + self.GetName()
	if c != nil {
		c.mu.Lock()
		got, ok := c.m[key]
		c.mu.Unlock()
		if ok && got.uid == self.GetUID() && got.generation == self.GetGeneration() && len(got.exprs) == len(deps) {
			return got.exprs, got.err
		}
	}
	exprs := make([]*health.ReadyExpr, len(deps))
	var err error
	for i, d := range deps {
		if d.ReadyExpr == "" {
			continue
		}
		e, cerr := health.CompileReadyExpr(d.ReadyExpr)
		if cerr != nil {
			err = &InvalidReadyExprError{Object: kind + " " + self.GetNamespace() + "/" + self.GetName(), Index: i,
				Dependency: depNamespace(d, self.GetNamespace()) + "/" + d.Name, Expr: d.ReadyExpr, Err: cerr}
			break
		}
		exprs[i] = e
	}
	if c != nil {
		c.mu.Lock()
		if c.m == nil {
			c.m = map[string]compiledDeps{}
		}
		c.m[key] = compiledDeps{uid: self.GetUID(), generation: self.GetGeneration(), exprs: exprs, err: err}
		c.mu.Unlock()
	}
	return exprs, err
}

// Forget drops what was compiled for the object kind namespace/name (it was deleted).
func (c *ReadyExprs) Forget(kind, namespace, name string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	delete(c.m, kind+"/"+namespace+"/"+name)
	c.mu.Unlock()
}

func depNamespace(d kustomizev1.DependencyReference, namespace string) string {
	if d.Namespace != "" {
		return d.Namespace
	}
	return namespace
}

// DependencyOptions tune CheckDependencies.
type DependencyOptions struct {
	// SourceRevision is self's source artifact revision: a Kustomization dependency of the same source
	// must have applied it. Empty skips that check.
	SourceRevision string
	// ReadyExprsOnly checks only the entries with a readyExpr (`converge apply` orders the others
	// within its tree).
	ReadyExprsOnly bool
	// Only, when set, selects the entries checked by the dependency's namespace and name (`converge
	// apply` checks those of its tree apart from those it does not build).
	Only func(namespace, name string) bool
}

// CheckDependencies checks self's spec.dependsOn (self a Kustomization or a HelmRelease; its
// dependencies are of the same kind, found with lookup) as Flux does: an entry with a readyExpr is ready
// when the expression, evaluated with `self` and `dep`, is true (it replaces the built-in check, or adds
// to it with c.Additive, Flux's AdditiveCELDependencyCheck feature gate); any other dependency must be
// Ready for its current generation and, for a Kustomization of the same source as self, have applied
// opts.SourceRevision. The first dependency not ready is the error; a readyExpr that does not compile is
// an *InvalidReadyExprError.
func (c *ReadyExprs) CheckDependencies(ctx context.Context, self *unstructured.Unstructured, opts DependencyOptions, lookup DependencyLookup) error {
	kind := self.GetKind()
	list, _, _ := unstructured.NestedSlice(self.Object, "spec", "dependsOn")
	deps := make([]kustomizev1.DependencyReference, len(list))
	for i, item := range list {
		m, _ := item.(map[string]any)
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &deps[i]); err != nil {
			return fmt.Errorf("spec.dependsOn[%d]: %w", i, err)
		}
	}
	if len(deps) == 0 {
		return nil
	}
	exprs, err := c.compile(kind, self, deps)
	if err != nil {
		return err
	}
	for i, d := range deps {
		if opts.ReadyExprsOnly && exprs[i] == nil {
			continue
		}
		if opts.Only != nil && !opts.Only(depNamespace(d, self.GetNamespace()), d.Name) {
			continue
		}
		ref := depNamespace(d, self.GetNamespace()) + "/" + d.Name
		dep, err := lookup(ctx, depNamespace(d, self.GetNamespace()), d.Name)
		if err == nil && dep == nil {
			err = apierrors.NewNotFound(resourceOf(kind).GroupResource(), d.Name)
		}
		if err != nil {
			if kind == helmv2.HelmReleaseKind {
				return fmt.Errorf("unable to get '%s' dependency: %w", ref, err)
			}
			return fmt.Errorf("dependency '%s' not found: %w", ref, err)
		}
		if e := exprs[i]; e != nil && (!c.additive() || opts.ReadyExprsOnly) {
			ready, err := e.Eval(ctx, self.Object, dep.Object)
			if err != nil {
				return fmt.Errorf("dependency '%s' (spec.dependsOn[%d]): evaluating readyExpr %q: %w", ref, i, e, err)
			}
			if !ready {
				return fmt.Errorf("dependency '%s' is not ready according to readyExpr eval", ref)
			}
			continue
		}
		if !builtinReady(dep) {
			return fmt.Errorf("dependency '%s' is not ready", ref)
		}
		if kind == kustomizev1.KustomizationKind && opts.SourceRevision != "" && sameSource(self, dep) {
			if applied, _, _ := unstructured.NestedString(dep.Object, "status", "lastAppliedRevision"); applied != opts.SourceRevision {
				return fmt.Errorf("dependency '%s' revision is not up to date", ref)
			}
		}
		if e := exprs[i]; e != nil { // additive: the expression must hold too
			ready, err := e.Eval(ctx, self.Object, dep.Object)
			if err != nil {
				return fmt.Errorf("dependency '%s' (spec.dependsOn[%d]): evaluating readyExpr %q: %w", ref, i, e, err)
			}
			if !ready {
				return fmt.Errorf("dependency '%s' is not ready according to readyExpr eval", ref)
			}
		}
	}
	return nil
}

// builtinReady: the dependency is Ready for its current generation.
func builtinReady(dep *unstructured.Unstructured) bool {
	if nestedInt(dep.Object, "status", "observedGeneration") != nestedInt(dep.Object, "metadata", "generation") {
		return false
	}
	list, _, _ := unstructured.NestedSlice(dep.Object, "status", "conditions")
	var conds []metav1.Condition
	for _, c := range list {
		m, _ := c.(map[string]any)
		t, _ := m["type"].(string)
		s, _ := m["status"].(string)
		conds = append(conds, metav1.Condition{Type: t, Status: metav1.ConditionStatus(s)})
	}
	return apimeta.IsStatusConditionTrue(conds, meta.ReadyCondition)
}

func sameSource(a, b *unstructured.Unstructured) bool {
	ref := func(u *unstructured.Unstructured) [3]string {
		kind, _, _ := unstructured.NestedString(u.Object, "spec", "sourceRef", "kind")
		name, _, _ := unstructured.NestedString(u.Object, "spec", "sourceRef", "name")
		ns, _, _ := unstructured.NestedString(u.Object, "spec", "sourceRef", "namespace")
		if ns == "" {
			ns = u.GetNamespace()
		}
		return [3]string{kind, ns, name}
	}
	return ref(a) == ref(b)
}

func resourceOf(kind string) schema.GroupVersionResource {
	if kind == helmv2.HelmReleaseKind {
		return HelmReleasesResource
	}
	return KustomizationsResource
}

// IsTerminal reports whether err is a configuration error no retry fixes (a readyExpr that does not
// compile).
func IsTerminal(err error) bool {
	var ie *InvalidReadyExprError
	return errors.As(err, &ie)
}

// nestedInt reads an integer field, decoded as int64 (from the API) or float64 (from JSON).
func nestedInt(obj map[string]any, fields ...string) int64 {
	v, _, _ := unstructured.NestedFieldNoCopy(obj, fields...)
	switch n := v.(type) {
	case int64:
		return n
	case float64:
		return int64(n)
	}
	return 0
}
