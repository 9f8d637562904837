package health

import (
	"context"
	"fmt"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
)

// ReadyExpr is a compiled dependency readiness expression (Flux's spec.dependsOn[].readyExpr): a CEL
// expression returning a bool over `self`, the object that depends, and `dep`, the dependency, each as
// the object's fields (metadata, spec, status, ...).
type ReadyExpr struct {
	expr string
	prog cel.Program
}

// CompileReadyExpr parses and type-checks expr. The error is CEL's, with the position in expr.
func CompileReadyExpr(expr string) (*ReadyExpr, error) {
	prog, err := CompileExpr(expr, types.BoolType, "self", "dep")
	if err != nil {
		return nil, err
	}
	return &ReadyExpr{expr: expr, prog: prog}, nil
}

// CompileExpr compiles a CEL expression the way Flux compiles its expressions (readyExpr,
// healthCheckExprs, commitStatusExpr, receiver filters): Flux's environment options, vars declared as
// objects, and a result of type out (or dyn, checked when it runs). The error is CEL's, with the
// position in expr.
func CompileExpr(expr string, out *types.Type, vars ...string) (cel.Program, error) {
	env, err := newEnv(vars...)
	if err != nil {
		return nil, err
	}
	ast, issues := env.Compile(expr)
	if issues != nil && issues.Err() != nil {
		return nil, issues.Err()
	}
	if t := ast.OutputType(); !t.IsExactType(out) && !t.IsExactType(types.DynType) {
		return nil, fmt.Errorf("the expression returns %s, not a %s", t, out)
	}
	return env.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.InterruptCheckFrequency(100))
}

// String returns the expression's source.
func (e *ReadyExpr) String() string { return e.expr }

// Eval evaluates the expression for self and dep (unstructured objects' contents). An expression that
// fails (a field that does not exist yet) or does not return a bool is an error.
func (e *ReadyExpr) Eval(ctx context.Context, self, dep map[string]any) (bool, error) {
	val, _, err := e.prog.ContextEval(ctx, map[string]any{"self": self, "dep": dep})
	if err != nil {
		return false, err
	}
	b, ok := val.(types.Bool)
	if !ok {
		return false, fmt.Errorf("the expression returned %s, not a bool", val.Type().TypeName())
	}
	return bool(b), nil
}
