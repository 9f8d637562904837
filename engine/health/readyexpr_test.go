package health

import (
	"context"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func object(t *testing.T, doc string) map[string]any {
	t.Helper()
	m := map[string]any{}
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestReadyExpr(t *testing.T) {
	self := object(t, "metadata: {name: frontend, namespace: apps, generation: 3, labels: {app/version: v1.2.3}}\nspec: {interval: 5m}\n")
	dep := object(t, `metadata: {name: backend, namespace: apps, generation: 2, labels: {app/version: v1.2.3}, annotations: {gate: open}}
status:
  observedGeneration: 2
  conditions: [{type: Ready, status: "True", reason: ReconciliationSucceeded}]
`)
	for _, tc := range []struct {
		name, expr string
		want       bool
		compileErr string
		evalErr    string
	}{
		{name: "Flux's lockstep example", want: true, expr: `dep.metadata.labels['app/version'] == self.metadata.labels['app/version'] &&
  dep.status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True') &&
  dep.metadata.generation == dep.status.observedGeneration`},
		{name: "false", expr: `dep.metadata.annotations['gate'] == 'closed'`, want: false},
		{name: "has on a missing field", expr: `has(dep.status.ready) && dep.status.ready`, want: false},
		{name: "numbers compare across int and double", expr: `dep.status.observedGeneration >= 2.0`, want: true},
		{name: "optional field", expr: `dep.metadata.?labels['missing'].orValue('none') == 'none'`, want: true},
		{name: "string extension", expr: `self.metadata.name.startsWith('front')`, want: true},
		{name: "missing field at evaluation", expr: `dep.status.ready == true`, evalErr: "no such key: ready"},
		{name: "non-bool result at evaluation", expr: `dep.metadata.name`, evalErr: "not a bool"},
		{name: "syntax error", expr: `dep.metadata.name ==`, compileErr: "Syntax error"},
		{name: "unknown variable", expr: `other.metadata.name == 'x'`, compileErr: "undeclared reference to 'other'"},
		{name: "non-bool type", expr: `'text'`, compileErr: "returns string, not a bool"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := CompileReadyExpr(tc.expr)
			if tc.compileErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.compileErr) {
					t.Fatalf("compile error %v, want %q", err, tc.compileErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.Eval(context.Background(), self, dep)
			if tc.evalErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.evalErr) {
					t.Fatalf("eval error %v, want %q", err, tc.evalErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func FuzzCompileReadyExpr(f *testing.F) {
	for _, s := range []string{`dep.status.ready`, `self.metadata.name == dep.metadata.name`, `has(dep.x) ||`, `[1,2].all(x, x > 0)`} {
		f.Add(s)
	}
	dep := map[string]any{"metadata": map[string]any{"name": "d"}, "status": map[string]any{"ready": true}}
	f.Fuzz(func(t *testing.T, expr string) {
		e, err := CompileReadyExpr(expr)
		if err != nil {
			return
		}
		_, _ = e.Eval(context.Background(), dep, dep)
	})
}
