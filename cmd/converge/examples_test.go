package main

import (
	"context"
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

// exampleNotRun says why an example line is parsed but not run, by the longest listed prefix of the
// line ("" when it is run).
func exampleNotRun(line string) string {
	reasons := []struct{ prefix, why string }{
		{"converge agent", "runs until stopped"},
		{"converge apply", "needs the repository files it names"},
		{"converge build", "needs the repository files it names"},
		{"converge build artifact", "needs the local manifests it names"},
		{"converge diff", "needs the repository files it names"},
		{"converge diff artifact", "needs an OCI registry"},
		{"converge push artifact", "needs an OCI registry and a Git checkout"},
		{"converge pull artifact", "needs an OCI registry"},
		{"converge tag artifact", "needs an OCI registry"},
		{"converge list artifacts", "needs an OCI registry"},
		{"converge bootstrap", "needs a Git host"},
		{"converge check", "needs an installed agent"},
		{"converge check --pre", ""},
		{"converge create", "applies and waits for an agent to report Ready"},
		{"converge create secret git podinfo-auth --url https", "reads certificate files"},
		{"converge create secret git podinfo-auth --url ssh", "scans the Git host's SSH host key over the network"},
		{"converge create secret githubapp", "reads a private key file"},
		{"converge create secret helm repo-auth --tls", "reads certificate files"},
		{"converge create secret notation", "reads certificate and policy files"},
		{"converge create secret tls", "reads certificate files"},
		{"converge debug", "needs the HelmRelease or Kustomization it names, reconciled"},
		{"converge delete", "needs the object it names"},
		{"converge events --for GitRepository --watch", "watches until interrupted"},
		{"converge export kustomization apps", "needs the object it names"},
		{"converge export source git flux-system", "needs the object it names"},
		{"converge images update", "needs a Git repository"},
		{"converge install", "installs the agent into the cluster"},
		{"converge uninstall", "removes the agent from the cluster"},
		{"converge logs", "needs agent pods"},
		{"converge plugin", "needs the plugin catalogue on the network"},
		{"converge reconcile", "needs the object it names and an agent reconciling it"},
		{"converge resume", "needs the object it names and an agent reconciling it"},
		{"converge suspend", "needs the object it names"},
		{"converge trace", "needs the workload it names"},
		{"converge tree", "needs the object it names"},
		{"converge trigger receiver", "needs a receiver's URL"},
		{"converge migrate", ""},
	}
	best, why := -1, "not listed: run"
	for _, r := range reasons {
		if strings.HasPrefix(line, r.prefix) && len(r.prefix) > best {
			best, why = len(r.prefix), r.why
		}
	}
	if best < 0 {
		return ""
	}
	if strings.HasSuffix(line, "--export") && strings.HasPrefix(why, "applies") || line == "converge install --export" {
		return "" // prints only
	}
	return why
}

// TestHelpExamples parses every command line of every command's Example text with the command tree
// and its flags: an unknown command or flag, or a wrong flag value, fails. The lines that need no more
// than a control plane (every `create ... --export`, version, check --pre, stats, events, export
// --all, migrate in an empty directory) then run as written against the test control plane, in an
// empty working directory, and must succeed; the others say why they are not run (exampleNotRun).
func TestHelpExamples(t *testing.T) {
	kc := kubeconfig(t)
	newTree := func() (*cobra.Command, *cmdutil.Factory) {
		f := newFactory()
		f.IO, _, _, _ = cmdutil.Test()
		return newRoot(f), f
	}
	checked, ran := 0, 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, line := range exampleLines(c.Example) {
			args := shellWords(line)[1:]
			root, _ := newTree() // each example parses into a tree of its own: no flag value carries over
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
			if why := exampleNotRun(line); why != "" {
				t.Logf("not run: %s: %s", line, why)
				continue
			}
			t.Run(line, func(t *testing.T) {
				t.Chdir(t.TempDir())
				root, f := newTree()
				ios, _, out, errOut := cmdutil.Test()
				f.IO = ios
				root.SetArgs(append(args, "--kubeconfig", kc))
				cmd, err := root.ExecuteContextC(context.Background())
				if code := cmdutil.ExitCodeFor(cmd, err, errOut); code != 0 {
					t.Errorf("example %q: exit %d\n%s%s", line, code, out, errOut)
				}
			})
			ran++
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	root, _ := newTree()
	walk(root)
	if checked < 50 || ran < 25 {
		t.Errorf("only %d example lines checked, %d run", checked, ran)
	}
	t.Logf("%d example lines parsed, %d run", checked, ran)
}
