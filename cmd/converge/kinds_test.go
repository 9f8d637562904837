package main

import (
	"strings"
	"testing"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/kinds"
)

// TestKindCommands checks that every kind of the registry has the subcommands its flags promise, under
// every name the registry gives it, and none it does not promise.
func TestKindCommands(t *testing.T) {
	f := newFactory()
	f.IO, _, _, _ = cmdutil.Test()
	root := newRoot(f)
	resolves := func(path ...string) bool {
		c, rest, err := root.Find(path)
		last := path[len(path)-1]
		return err == nil && len(rest) == 0 && (c.Name() == last || c.HasAlias(last))
	}
	getGroups := map[string]string{"source": "sources", "image": "images"}
	for _, k := range kinds.All() {
		for _, name := range append([]string{k.GetName}, k.GetAliases...) {
			path := []string{"get"}
			if k.CLIGroup != "" {
				path = append(path, getGroups[k.CLIGroup])
			}
			if !resolves(append(path, name)...) {
				t.Errorf("%s: `%s %s` is not a command", k.Kind, strings.Join(path, " "), name)
			}
		}
		for verb, want := range map[string]bool{
			"reconcile": k.Reconcilable, "suspend": k.Suspendable, "resume": k.Suspendable,
			"export": k.Exportable, "tree": k.Inventory,
		} {
			if k.CLIName == "" {
				continue
			}
			for _, name := range append([]string{k.CLIName}, k.CLIAliases...) {
				path := []string{verb}
				if k.CLIGroup != "" {
					path = append(path, k.CLIGroup)
				}
				if got := resolves(append(path, name)...); got != want {
					t.Errorf("%s: `%s %s` is a command: %v, want %v", k.Kind, strings.Join(path, " "), name, got, want)
				}
			}
		}
	}
}
