package envsubst

import (
	"context"
	"strings"
	"testing"

	"github.com/converge-gitops/converge/commands/cmdutil"
)

// The expectations are what Flux 2.9's `flux envsubst` prints for the same input and environment.
func TestEnvsubst(t *testing.T) {
	env := map[string]string{"FOO": "bar", "EMPTY": ""}
	tests := []struct {
		name   string
		args   []string
		in     string
		out    string
		code   int
		stderr string
	}{
		{name: "forms", in: "a: ${FOO}\nb: ${MISSING:=def}\nc: $${FOO}\nd: ${FOO^^} ${#FOO}\ne: $FOO\nf: ${MISSING}\nlast",
			out: "a: bar\nb: def\nc: ${FOO}\nd: BAR 3\ne: $FOO\nf: \nlast\n"},
		{name: "crlf", in: "a: ${FOO}\r\n", out: "a: bar\n"},
		{name: "empty input", in: "", out: ""},
		{name: "strict set and defaulted", args: []string{"--strict"}, in: "${FOO} ${EMPTY} ${NONE:-x}\n", out: "bar  x\n"},
		{name: "strict unset", args: []string{"--strict"}, in: "a: ${FOO}\nf: ${MISSING}\nnot reached\n", out: "a: bar\n", code: 2,
			stderr: `line 2: ${MISSING}: variable "MISSING" is not set`},
		{name: "unclosed", in: "a: ${FOO\n", code: 2, stderr: "line 1: ${FOO: missing closing brace"},
		{name: "no arguments", args: []string{"x"}, code: 2, stderr: "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, in, out, errOut := cmdutil.Test()
			in.WriteString(tt.in)
			cmd := NewCmdEnvsubst(cmdutil.NewFactory(ios, cmdutil.BuildInfo{}))
			cmd.SetArgs(tt.args)
			cmd.SilenceErrors, cmd.SilenceUsage = true, true
			// The command reads the process environment; the test's variables are set on it.
			for k, v := range env {
				t.Setenv(k, v)
			}
			code := cmdutil.ExitCode(cmd.ExecuteContext(context.Background()), errOut)
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, errOut)
			}
			if out.String() != tt.out {
				t.Errorf("stdout %q, want %q", out, tt.out)
			}
			if !strings.Contains(errOut.String(), tt.stderr) {
				t.Errorf("stderr %q lacks %q", errOut, tt.stderr)
			}
		})
	}
}
