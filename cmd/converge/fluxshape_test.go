package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/converge-gitops/converge/commands/cmdutil"
)

// fluxShapeFile lists Flux 2.9's command paths and flags, recorded from the Flux CLI (see its header).
var fluxShapeFile = filepath.Join("..", "..", "testdata", "flux", "cli-2.9.tsv")

// fluxKnownMissing are Flux paths ("get all"), aliases ("get all (alias x)") and flags ("get all --watch",
// "--server" for a global flag) converge lacks or shapes differently today, one a line. The list shrinks
// as commands land; TestFluxShape fails when an item is missing and not listed, and when a listed item
// is no longer missing.
const fluxKnownMissing = `
`

// fluxNotedDifferences are deliberate differences from Flux's shape, "key: reason" one a line; they
// count as "same with a noted difference" in the status table.
const fluxNotedDifferences = `
--kube-api-burst: converge's default (2000) is higher: one process applies what several controllers would
--kube-api-qps: converge's default (1000) is higher: one process applies what several controllers would
`

// lineSet reads the lines of a list above: key, or key and the note after ": ".
func lineSet(list string) map[string]string {
	set := map[string]string{}
	for _, line := range strings.Split(list, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			key, note, _ := strings.Cut(line, ": ")
			set[key] = note
		}
	}
	return set
}

type fluxCommand struct {
	path    string
	group   bool
	aliases []string
	flags   []fluxFlag
}

type fluxFlag struct {
	name, short, typ, def string
}

func readFluxShape(t *testing.T) (globals []fluxFlag, commands []*fluxCommand) {
	t.Helper()
	file, err := os.Open(fluxShapeFile)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	byPath := map[string]*fluxCommand{}
	sc := bufio.NewScanner(file)
	for line := 0; sc.Scan(); {
		line++
		text := sc.Text()
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		f := strings.Split(text, "\t")
		switch {
		case len(f) == 4 && f[1] == "command":
			c := &fluxCommand{path: f[0], group: f[2] == "group"}
			if f[3] != "" {
				c.aliases = strings.Split(f[3], ",")
			}
			byPath[c.path] = c
			commands = append(commands, c)
		case len(f) == 6 && (f[1] == "global" || f[1] == "flag"):
			fl := fluxFlag{name: f[2], short: f[3], typ: f[4], def: strings.ReplaceAll(f[5], "$HOME", os.Getenv("HOME"))}
			if fl.short == "-" {
				fl.short = ""
			}
			if f[1] == "global" {
				globals = append(globals, fl)
				continue
			}
			c, ok := byPath[f[0]]
			if !ok {
				t.Fatalf("%s:%d: flag of path %q before its command row", fluxShapeFile, line, f[0])
			}
			c.flags = append(c.flags, fl)
		default:
			t.Fatalf("%s:%d: malformed row %q", fluxShapeFile, line, text)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(globals) == 0 || len(commands) < 100 {
		t.Fatalf("%s: %d globals, %d commands: not the Flux CLI shape", fluxShapeFile, len(globals), len(commands))
	}
	return globals, commands
}

// flagClass groups pflag types by how a user writes them: a flag of another class parses other input.
func flagClass(typ string) string {
	switch typ {
	case "bool":
		return "bool"
	case "stringSlice", "intSlice", "uintSlice", "durationSlice", "boolSlice":
		return "comma-separated list"
	case "stringArray":
		return "repeated list"
	case "stringToString":
		return "key=value list"
	case "duration":
		return "duration"
	case "int", "int32", "int64", "uint", "uint32", "uint64", "float32", "float64", "count":
		return "number"
	default:
		return "value"
	}
}

// compareFlag describes how converge's flag differs from Flux's, or returns "" when it has the same shape.
func compareFlag(want fluxFlag, got *pflag.Flag) string {
	if got == nil {
		return "missing"
	}
	var diffs []string
	if got.Shorthand != want.short {
		diffs = append(diffs, fmt.Sprintf("short %q, Flux %q", got.Shorthand, want.short))
	}
	if gc, wc := flagClass(got.Value.Type()), flagClass(want.typ); gc != wc {
		diffs = append(diffs, fmt.Sprintf("takes a %s, Flux a %s", gc, wc))
	}
	if normalDefault(got.DefValue) != normalDefault(want.def) {
		diffs = append(diffs, fmt.Sprintf("default %q, Flux %q", got.DefValue, want.def))
	}
	return strings.Join(diffs, "; ")
}

// normalDefault makes zero values of different types compare equal.
func normalDefault(v string) string {
	switch v {
	case "false", "0", "[]", "0s", "map[]":
		return ""
	}
	return v
}

// findCommand resolves a Flux path (names or aliases) in converge's tree; nil when some word is no
// subcommand.
func findCommand(root *cobra.Command, path string) *cobra.Command {
	if path == "." {
		return root
	}
	c := root
	for _, word := range strings.Fields(path) {
		var next *cobra.Command
		for _, sub := range c.Commands() {
			if sub.Name() == word || sub.HasAlias(word) {
				next = sub
				break
			}
		}
		if next == nil {
			return nil
		}
		c = next
	}
	return c
}

// lookupFlag finds a flag a command accepts: its own, inherited or global.
func lookupFlag(c *cobra.Command, name string) *pflag.Flag {
	if fl := c.LocalFlags().Lookup(name); fl != nil {
		return fl
	}
	return c.InheritedFlags().Lookup(name)
}

// TestFluxShape compares converge's command tree with Flux 2.9's: every Flux path, alias, global and
// command flag (name, short form, kind of value, default). Run with -v for the status table.
func TestFluxShape(t *testing.T) {
	globals, commands := readFluxShape(t)
	f := newFactory()
	f.IO, _, _, _ = cmdutil.Test()
	root := newRoot(f)
	problems := map[string]string{} // key -> what differs
	knownMissing, noted := lineSet(fluxKnownMissing), lineSet(fluxNotedDifferences)

	for _, want := range globals {
		if d := compareFlag(want, root.PersistentFlags().Lookup(want.name)); d != "" {
			problems["--"+want.name] = d
		}
	}
	for _, want := range commands {
		got := findCommand(root, want.path)
		if got == nil {
			problems[want.path] = "missing"
			continue
		}
		if !want.group && !got.Runnable() {
			problems[want.path] = "not runnable"
		}
		for _, alias := range want.aliases {
			parent := strings.TrimSpace(strings.TrimSuffix(want.path, lastWord(want.path)))
			if findCommand(root, strings.TrimSpace(parent+" "+alias)) != got {
				problems[want.path+" (alias "+alias+")"] = "missing"
			}
		}
		for _, wf := range want.flags {
			if d := compareFlag(wf, lookupFlag(got, wf.name)); d != "" {
				problems[want.path+" --"+wf.name] = d
			}
		}
	}

	for key, d := range problems {
		_, isNoted := noted[key]
		if _, isKnown := knownMissing[key]; !isNoted && !isKnown {
			t.Errorf("%s: %s (not in fluxKnownMissing)", key, d)
		}
	}
	for key := range knownMissing {
		if _, ok := problems[key]; !ok {
			t.Errorf("%s: listed in fluxKnownMissing but converge has it as Flux does: remove it from the list", key)
		}
	}
	for key := range noted {
		if _, ok := problems[key]; !ok {
			t.Errorf("%s: listed in fluxNotedDifferences but converge has it as Flux does: remove it from the list", key)
		}
	}
	t.Log("\n" + fluxStatusTable(commands, problems, noted))
}

func lastWord(path string) string {
	w := strings.Fields(path)
	return w[len(w)-1]
}

// fluxStatusTable is one line per Flux path: same, same with a noted difference, partly missing, missing.
func fluxStatusTable(commands []*fluxCommand, problems, noted map[string]string) string {
	counts := map[string]int{}
	var b strings.Builder
	status := func(path string, prefix string) {
		var notes, missing []string
		for key, d := range problems {
			rest, ok := strings.CutPrefix(key, prefix)
			if key != path && (!ok || !strings.HasPrefix(rest, "--") && !strings.HasPrefix(rest, "(alias")) {
				continue
			}
			if note, ok := noted[key]; ok {
				notes = append(notes, rest+": "+note)
			} else {
				missing = append(missing, rest+" ("+d+")")
			}
		}
		sort.Strings(notes)
		sort.Strings(missing)
		s := "same"
		switch {
		case problems[path] == "missing":
			s = "missing"
		case len(missing) > 0:
			s = "differs: " + strings.Join(missing, ", ")
		case len(notes) > 0:
			s = "same, noted: " + strings.Join(notes, ", ")
		}
		counts[strings.SplitN(s, ":", 2)[0]]++
		fmt.Fprintf(&b, "%-32s %s\n", path, s)
	}
	status("(global flags)", "")
	for _, c := range commands {
		if c.path == "." {
			continue
		}
		status(c.path, c.path+" ")
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %d\n", k, counts[k])
	}
	return b.String()
}
