package build

import (
	"context"
	"testing"
)

// TestSubstituteStrategy: postBuild.substituteStrategy Always substitutes with no variable defined, so
// ${var:=default} takes its default; WithVariables (the default) leaves the text as is, as Flux does.
func TestSubstituteStrategy(t *testing.T) {
	tests := []struct {
		name, spec   string
		color, shape string
	}{
		{"default strategy, no variables", "  path: ./defaults\n  postBuild: {}\n", "${color:=blue}", "${shape:=square}"},
		{"WithVariables, no variables", "  path: ./defaults\n  postBuild:\n    substituteStrategy: WithVariables\n", "${color:=blue}", "${shape:=square}"},
		{"Always, no variables", "  path: ./defaults\n  postBuild:\n    substituteStrategy: Always\n", "blue", "square"},
		{"Always, one variable", "  path: ./defaults\n  postBuild:\n    substituteStrategy: Always\n    substitute:\n      color: red\n", "red", "square"},
		{"WithVariables, one variable", "  path: ./defaults\n  postBuild:\n    substitute:\n      color: red\n", "red", "square"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &Builder{Strict: true}
			res, err := b.Build(context.Background(), decodeKustomization(t, ksDoc("defaults", tt.spec)), repo)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Objects) != 1 {
				t.Fatalf("%d objects, want 1", len(res.Objects))
			}
			data := res.Objects[0].Object["data"].(map[string]any)
			if data["color"] != tt.color || data["shape"] != tt.shape {
				t.Errorf("color %v shape %v, want %s %s", data["color"], data["shape"], tt.color, tt.shape)
			}
		})
	}
}
