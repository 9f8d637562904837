package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/converge-gitops/converge/commands/cmdutil"
)

// exampleLines returns the converge command lines of an Example text: continuation lines joined,
// comments and other programs' lines left out, pipes and redirections cut off.
func exampleLines(example string) []string {
	var out []string
	var cur string
	for _, line := range strings.Split(example, "\n") {
		line = strings.TrimSpace(line)
		if cur != "" {
			cur += " " + strings.TrimSuffix(line, "\\")
		} else if strings.HasPrefix(line, "converge ") {
			cur = strings.TrimSuffix(line, "\\")
		}
		if cur != "" && !strings.HasSuffix(line, "\\") {
			for _, cut := range []string{" | ", " > ", " >> ", " && "} {
				cur, _, _ = strings.Cut(cur, cut)
			}
			out = append(out, strings.TrimSpace(cur))
			cur = ""
		}
	}
	return out
}

// shellWords splits a line as a POSIX shell does for plain words, '…'/"…" quotes and $(…).
func shellWords(line string) []string {
	var words []string
	var b strings.Builder
	in, quote, depth := false, rune(0), 0 // depth: inside $( ), kept as one word
	prev := rune(0)
	for _, r := range line {
		if r == '(' && prev == '$' {
			depth++
		} else if r == ')' && depth > 0 {
			depth--
		}
		prev = r
		switch {
		case depth > 0 || r == ')' && quote == 0 && in:
			b.WriteRune(r)
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			b.WriteRune(r)
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, b.String())
				b.Reset()
				in = false
			}
		default:
			b.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, b.String())
	}
	return words
}

// TestHelpExamples parses every command line of every command's Example text with the command tree
// and its flags: an unknown command or flag, or a wrong flag value, fails. The examples are parsed,
// not run: most need a cluster or a repository.
func TestHelpExamples(t *testing.T) {
	newTree := func() *cobra.Command {
		f := newFactory()
		f.IO, _, _, _ = cmdutil.Test()
		return newRoot(f)
	}
	checked := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, line := range exampleLines(c.Example) {
			args := shellWords(line)[1:]
			root := newTree() // each example parses into a tree of its own: no flag value carries over
			target, rest, err := root.Find(args)
			if err != nil {
				t.Errorf("%s: example %q: %v", c.CommandPath(), line, err)
				continue
			}
			if target == root && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
				t.Errorf("%s: example %q: unknown command %q", c.CommandPath(), line, rest[0])
				continue
			}
			if !target.DisableFlagParsing {
				if err := target.ParseFlags(rest); err != nil {
					t.Errorf("%s: example %q: %v", c.CommandPath(), line, err)
				}
			}
			checked++
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newTree())
	if checked < 50 {
		t.Errorf("only %d example lines checked", checked)
	}
	t.Logf("%d example lines parsed", checked)
}
