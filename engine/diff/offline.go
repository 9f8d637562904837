package diff

import (
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/build"
)

// The sides of an offline diff: base (e.g. the target branch) and head (the change).
const (
	Base = "base"
	Head = "head"
)

// Trees compares two builds of a repository (base, e.g. the target branch, and head, the change) object
// by object, without a cluster: objects only in head are created, only in base deleted, different in both
// changed; unified diffs are headed base/… and head/…. A Kustomization or HelmRelease that failed to build
// on either side is one entry of action Failed naming the side (Entry.Side) and the error; its objects,
// and those of the nodes under it, are left out of the comparison on both sides, so that a build failure
// never reads as the creation or deletion of everything it holds. It returns the changes and how many
// objects are unchanged.
func Trees(base, head *build.Tree, showSecrets bool) ([]Entry, int, error) {
	type key struct{ owner, name, id string }
	type side struct {
		owner, name string
		obj         *unstructured.Unstructured
	}
	excluded := map[string]bool{} // Kind namespace/name of the nodes not compared
	var out []Entry
	for _, s := range []struct {
		name string
		tree *build.Tree
	}{{Base, base}, {Head, head}} {
		for _, n := range s.tree.Nodes {
			if n.Err == nil {
				continue
			}
			excluded[n.Kind+" "+n.Name] = true
			out = append(out, Entry{Owner: n.Kind, OwnerName: n.Name, Subject: n.Kind + "/" + n.Name,
				Action: Failed, Side: s.name, Reason: SideError(s.name, n.Err).Error()})
		}
	}
	// Everything under an excluded node, on either side, is excluded too (a Kustomization that does not
	// build on one side does not declare its children there).
	for changed := true; changed; {
		changed = false
		for _, t := range []*build.Tree{base, head} {
			for _, n := range t.Nodes {
				if n.Parent != "" && excluded[build.KindKustomization+" "+n.Parent] && !excluded[n.Kind+" "+n.Name] {
					excluded[n.Kind+" "+n.Name] = true
					changed = true
				}
			}
		}
	}
	index := func(t *build.Tree) map[key]side {
		m := map[key]side{}
		for _, n := range t.Nodes {
			if excluded[n.Kind+" "+n.Name] {
				continue
			}
			for _, o := range n.Objects {
				m[key{n.Kind, n.Name, apply.MetaOf(o).ID()}] = side{n.Kind, n.Name, o}
			}
		}
		return m
	}
	before, after := index(base), index(head)
	d := &Differ{ShowSecrets: showSecrets}
	unchanged := 0
	add := func(s side, action Action, from, to *unstructured.Unstructured) error {
		subject := apply.MetaOf(s.obj).String()
		text, err := d.unifiedLabels(Base+"/"+subject, Head+"/"+subject, from, to)
		if err != nil {
			return err
		}
		out = append(out, Entry{Owner: s.owner, OwnerName: s.name, Subject: subject, Action: action, Diff: text})
		return nil
	}
	for k, h := range after {
		b, ok := before[k]
		switch {
		case !ok:
			if err := add(h, Created, nil, h.obj); err != nil {
				return nil, 0, err
			}
		default:
			text, err := d.unified("", b.obj, h.obj)
			if err != nil {
				return nil, 0, err
			}
			if text == "" {
				unchanged++
				continue
			}
			if err := add(h, Changed, b.obj, h.obj); err != nil {
				return nil, 0, err
			}
		}
	}
	for k, b := range before {
		if _, ok := after[k]; !ok {
			if err := add(b, Deleted, b.obj, nil); err != nil {
				return nil, 0, err
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Owner+out[i].OwnerName != out[j].Owner+out[j].OwnerName {
			return out[i].Owner+out[i].OwnerName < out[j].Owner+out[j].OwnerName
		}
		if out[i].Subject != out[j].Subject {
			return out[i].Subject < out[j].Subject
		}
		return out[i].Side < out[j].Side
	})
	return out, unchanged, nil
}

// SideError names the side (Base or Head) of an offline diff err comes from, on each of its lines:
// "head: …".
func SideError(side string, err error) error {
	if err == nil {
		return nil
	}
	return &sideError{side: side, err: err}
}

type sideError struct {
	side string
	err  error
}

func (e *sideError) Error() string {
	lines := strings.Split(e.err.Error(), "\n")
	for i, l := range lines {
		lines[i] = e.side + ": " + l
	}
	return strings.Join(lines, "\n")
}

func (e *sideError) Unwrap() error { return e.err }
