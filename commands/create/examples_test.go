package create

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/converge-gitops/converge/commands/cmdutil"
)

// examples returns the `converge create ...` commands of cmd's and its subcommands' help examples,
// continuation lines joined.
func examples(cmd *cobra.Command) []string {
	var out []string
	joined := strings.ReplaceAll(cmd.Example, "\\\n", " ")
	for _, l := range strings.Split(joined, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "converge create ") {
			out = append(out, strings.TrimPrefix(l, "converge create "))
		}
	}
	for _, c := range cmd.Commands() {
		out = append(out, examples(c)...)
	}
	return out
}

// TestCreateExamples runs every help example that prints (--export) and needs no local file, no
// environment variable and no remote SSH server; the others need a cluster or the network, and the
// apply tests cover their paths.
func TestCreateExamples(t *testing.T) {
	f := cmdutil.NewFactory(&cmdutil.IOStreams{}, cmdutil.BuildInfo{})
	ran := 0
	for _, ex := range examples(NewCmdCreate(f)) {
		if !strings.Contains(ex, "--export") || strings.Contains(ex, "./") || strings.Contains(ex, "$") || strings.Contains(ex, "ssh://") {
			continue
		}
		ran++
		t.Run(ex, func(t *testing.T) {
			_, errOut, code := runCreate(t, "", splitQuoted(ex)...)
			if code != 0 {
				t.Errorf("exit %d: %s", code, errOut)
			}
		})
	}
	if ran < 10 {
		t.Errorf("only %d examples ran", ran)
	}
}

// splitQuoted splits a shell command line on spaces outside single or double quotes.
func splitQuoted(s string) []string {
	var out []string
	var cur strings.Builder
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote == 0 && (r == '\'' || r == '"'):
			quote = r
		case quote == 0 && r == ' ':
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}
