package health

import (
	"context"
	"fmt"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// Expressions are the CEL health checks of one kind (Flux's healthCheckExprs): each expression sees the
// object's top-level fields (metadata, spec, status, ...) as variables and returns a bool.
type Expressions struct {
	// APIVersion's group selects the objects; its version is not compared.
	APIVersion string
	// Kind selects the objects; empty selects every kind of the group.
	Kind string
	// Current is true when the object has reached its desired state (required).
	Current string
	// InProgress is true while the object is still progressing (optional).
	InProgress string
	// Failed is true when the object has failed (optional).
	Failed string
}

type evaluator struct {
	current, inProgress, failed cel.Program
}

// WithExpressions returns a copy of c that decides the health of the kinds exprs name with their CEL
// expressions instead of kstatus. An expression that does not parse is an error naming it.
func (c *Checker) WithExpressions(exprs []Expressions) (*Checker, error) {
	if len(exprs) == 0 {
		return c, nil
	}
	out := *c
	out.exprs = map[schema.GroupKind]*evaluator{}
	env, err := newEnv()
	if err != nil {
		return nil, err
	}
	for i, e := range exprs {
		gv, err := schema.ParseGroupVersion(e.APIVersion)
		if err != nil {
			return nil, fmt.Errorf("healthCheckExprs[%d]: apiVersion %q: %w", i, e.APIVersion, err)
		}
		if e.Current == "" {
			return nil, fmt.Errorf("healthCheckExprs[%d] (%s %s): the current expression is required", i, e.APIVersion, e.Kind)
		}
		ev := &evaluator{}
		for _, p := range []struct {
			name string
			expr string
			prog *cel.Program
		}{{"current", e.Current, &ev.current}, {"inProgress", e.InProgress, &ev.inProgress}, {"failed", e.Failed, &ev.failed}} {
			if p.expr == "" {
				continue
			}
			ast, issues := env.Parse(p.expr)
			if issues != nil && issues.Err() != nil {
				return nil, fmt.Errorf("healthCheckExprs[%d] (%s %s): %s expression %q: %w", i, e.APIVersion, e.Kind, p.name, p.expr, issues.Err())
			}
			prog, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.InterruptCheckFrequency(100))
			if err != nil {
				return nil, fmt.Errorf("healthCheckExprs[%d] (%s %s): %s expression %q: %w", i, e.APIVersion, e.Kind, p.name, p.expr, err)
			}
			*p.prog = prog
		}
		out.exprs[schema.GroupKind{Group: gv.Group, Kind: e.Kind}] = ev
	}
	return &out, nil
}

// newEnv is the CEL environment of health and readiness expressions (the options Flux's expressions
// are written for); vars are declared as objects (maps from field names to any value).
func newEnv(vars ...string) (*cel.Env, error) {
	opts := []cel.EnvOption{
		cel.HomogeneousAggregateLiterals(),
		cel.EagerlyValidateDeclarations(true),
		cel.DefaultUTCTimeZone(true),
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(),
		ext.Strings(),
		ext.Sets(),
		ext.Encoders(),
	}
	for _, v := range vars {
		opts = append(opts, cel.Variable(v, cel.MapType(cel.StringType, cel.DynType)))
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("CEL environment: %w", err)
	}
	return env, nil
}

// evaluatorFor returns the expressions for gk: those of its kind, else those of its whole group.
func (c *Checker) evaluatorFor(gk schema.GroupKind) *evaluator {
	if ev, ok := c.exprs[gk]; ok {
		return ev
	}
	return c.exprs[schema.GroupKind{Group: gk.Group}]
}

// evaluate computes the status as Flux does: a status.observedGeneration behind metadata.generation is
// InProgress; then the first of inProgress, failed and current that is true decides; none true is
// InProgress. An expression that cannot be evaluated (a field not there yet) leaves the status Unknown,
// so waiting goes on.
func (ev *evaluator) evaluate(ctx context.Context, u *unstructured.Unstructured) (status.Status, string) {
	obj := u.UnstructuredContent()
	if observed, ok := nestedNumber(obj, "status", "observedGeneration"); ok {
		if gen, ok := nestedNumber(obj, "metadata", "generation"); ok && gen != observed {
			return status.InProgressStatus, fmt.Sprintf("generation %v not observed yet (observed %v)", gen, observed)
		}
	}
	for _, e := range []struct {
		name   string
		prog   cel.Program
		status status.Status
	}{{"inProgress", ev.inProgress, status.InProgressStatus}, {"failed", ev.failed, status.FailedStatus}, {"current", ev.current, status.CurrentStatus}} {
		if e.prog == nil {
			continue
		}
		val, _, err := e.prog.ContextEval(ctx, obj)
		if err != nil {
			return status.UnknownStatus, fmt.Sprintf("healthCheckExprs %s: %v", e.name, err)
		}
		b, ok := val.(types.Bool)
		if !ok {
			return status.UnknownStatus, fmt.Sprintf("healthCheckExprs %s: the expression returned %s, not a bool", e.name, val.Type().TypeName())
		}
		if b {
			return e.status, "healthCheckExprs " + e.name + " is true"
		}
	}
	return status.InProgressStatus, "no healthCheckExprs expression is true yet"
}

func nestedNumber(obj map[string]any, fields ...string) (float64, bool) {
	v, ok, _ := unstructured.NestedFieldNoCopy(obj, fields...)
	if !ok {
		return 0, false
	}
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}
