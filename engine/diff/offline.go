package diff

import (
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/build"
)

// Trees compares two builds of a repository (base, e.g. the target branch, and head, the change) object
// by object, without a cluster: objects only in head are created, only in base deleted, different in both
// changed. It returns the changes and how many objects are unchanged.
func Trees(base, head *build.Tree, showSecrets bool) ([]Entry, int, error) {
	type key struct{ owner, name, id string }
	type side struct {
		owner, name string
		obj         *unstructured.Unstructured
	}
	index := func(t *build.Tree) map[key]side {
		m := map[key]side{}
		for _, n := range t.Nodes {
			for _, o := range n.Objects {
				m[key{n.Kind, n.Kustomization, apply.MetaOf(o).ID()}] = side{n.Kind, n.Kustomization, o}
			}
		}
		return m
	}
	before, after := index(base), index(head)
	d := &Differ{ShowSecrets: showSecrets}
	var out []Entry
	unchanged := 0
	add := func(k key, s side, action string, from, to *unstructured.Unstructured) error {
		subject := apply.MetaOf(s.obj).String()
		text, err := d.unified(subject, from, to)
		if err != nil {
			return err
		}
		out = append(out, Entry{Owner: s.owner, Kustomization: s.name, Subject: subject, Action: action, Diff: text})
		return nil
	}
	for k, h := range after {
		b, ok := before[k]
		switch {
		case !ok:
			if err := add(k, h, Created, nil, h.obj); err != nil {
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
			if err := add(k, h, Changed, b.obj, h.obj); err != nil {
				return nil, 0, err
			}
		}
	}
	for k, b := range before {
		if _, ok := after[k]; !ok {
			if err := add(k, b, Deleted, b.obj, nil); err != nil {
				return nil, 0, err
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Owner+out[i].Kustomization != out[j].Owner+out[j].Kustomization {
			return out[i].Owner+out[i].Kustomization < out[j].Owner+out[j].Kustomization
		}
		return out[i].Subject < out[j].Subject
	})
	return out, unchanged, nil
}
