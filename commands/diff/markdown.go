package diff

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/converge-gitops/converge/engine/diff"
)

// OutputMarkdown renders a pull-request comment.
const OutputMarkdown = "markdown"

// markdownLimit keeps a comment under GitHub's 65,536-character limit, with room for a header.
const markdownLimit = 60000

// writeMarkdown writes a summary table per Kustomization/HelmRelease and a collapsible section of diffs
// each, cutting diffs (and saying so) past limit characters.
func writeMarkdown(w io.Writer, entries []diff.Entry, unchanged int, failed []string, limit int) error {
	type owner struct {
		kind, name                         string
		created, changed, deleted, failing int
		failedOn                           []string // offline: the sides it failed to build on
		entries                            []diff.Entry
	}
	owners := map[string]*owner{}
	for _, e := range entries {
		key := e.Owner + " " + e.OwnerName
		o := owners[key]
		if o == nil {
			o = &owner{kind: e.Owner, name: e.OwnerName}
			owners[key] = o
		}
		switch e.Action {
		case diff.Created:
			o.created++
		case diff.Changed, diff.Recreated:
			o.changed++
		case diff.Deleted:
			o.deleted++
		case diff.Failed:
			if e.Side != "" {
				o.failedOn = append(o.failedOn, e.Side)
			} else {
				o.failing++
			}
		}
		o.entries = append(o.entries, e)
	}
	keys := make([]string, 0, len(owners))
	for k := range owners {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	var b strings.Builder
	b.WriteString("### converge diff\n\n")
	if len(entries) == 0 && len(failed) == 0 {
		fmt.Fprintf(&b, "No changes (%d objects unchanged).\n", unchanged)
		_, err := io.WriteString(w, b.String())
		return err
	}
	b.WriteString("| | created | changed | deleted | will fail |\n|---|---:|---:|---:|---:|\n")
	for _, k := range keys {
		o := owners[k]
		name := fmt.Sprintf("%s `%s`", o.kind, o.name)
		if len(o.failedOn) > 0 {
			name += " (failed to build on " + strings.Join(o.failedOn, " and ") + ", not compared)"
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d |\n", name, o.created, o.changed, o.deleted, o.failing)
	}
	fmt.Fprintf(&b, "\n%d objects unchanged.\n", unchanged)
	for _, f := range failed {
		fmt.Fprintf(&b, "\n> **Error:** %s\n", strings.ReplaceAll(f, "\n", " "))
	}
	cut := 0
	for _, k := range keys {
		o := owners[k]
		var sec strings.Builder
		summary := fmt.Sprintf("%d created, %d changed, %d deleted", o.created, o.changed, o.deleted)
		if o.failing > 0 {
			summary += fmt.Sprintf(", %d will fail", o.failing)
		}
		if len(o.failedOn) > 0 {
			summary = "failed to build on " + strings.Join(o.failedOn, " and ") + ", not compared"
		}
		fmt.Fprintf(&sec, "\n<details><summary>%s <code>%s</code>: %s</summary>\n\n", o.kind, o.name, summary)
		for _, e := range o.entries {
			item := fmt.Sprintf("**%s** %s\n\n", e.Subject, verb(e))
			switch {
			case e.Side != "": // the reason names the side
				item = fmt.Sprintf("**%s** %s\n\n", e.Subject, strings.ReplaceAll(e.Reason, "\n", " "))
			case e.Reason != "":
				item = fmt.Sprintf("**%s** %s: %s\n\n", e.Subject, verb(e), e.Reason)
			}
			if e.Diff != "" {
				item += fmt.Sprintf("```diff\n%s```\n\n", e.Diff)
			}
			if b.Len()+sec.Len()+len(item) > limit {
				cut++
				continue
			}
			sec.WriteString(item)
		}
		sec.WriteString("</details>\n")
		b.WriteString(sec.String())
	}
	if cut > 0 {
		fmt.Fprintf(&b, "\n_%d diffs were left out to keep this comment under %d characters; run `converge diff` locally for all of them._\n", cut, limit)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
