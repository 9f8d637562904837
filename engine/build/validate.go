package build

import (
	"errors"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/converge-gitops/converge/engine/manifest"
	"github.com/converge-gitops/converge/engine/support"
)

// nodeSource names a node's output in messages about the objects it holds.
func nodeSource(n *Node) string {
	return "build output of " + n.Kind + " " + n.Name
}

// checkObjects says what the Flux objects of every built Kustomization use that converge does not support
// (engine/support), and validates the pass-through Flux objects (manifest.IsPassThrough: Alerts, Providers,
// Receivers, image automation) of every built Kustomization against the schema the cluster will apply:
// the CRDs the tree itself declares (kustomize patches included), which applying the tree installs,
// else those the decoder was given (the cluster's, in apply and diff), else converge's own. It runs once
// the whole tree is built, so a CRD counts wherever in the tree it is declared. A violation of the
// cluster's schema fails the node; an enum value that only converge's own schema lacks is a warning.
// nodes must be in the tree's stable order: a CRD declared twice is taken from the last.
func checkObjects(t *treeBuild, nodes []*Node) {
	dec := t.dec
	for _, n := range nodes {
		defs, err := manifest.CRDsOf(nodeSource(n), n.Objects)
		if err != nil {
			n.Err = errors.Join(n.Err, err)
			continue
		}
		if d, err := dec.WithCRDs(nodeSource(n), defs); err != nil {
			n.Err = errors.Join(n.Err, err)
		} else {
			dec = d
		}
	}
	for _, n := range nodes {
		if n.Kind != KindKustomization {
			continue
		}
		for _, o := range n.Objects {
			gvk := o.GroupVersionKind()
			if !dec.IsFluxKind(gvk) {
				continue
			}
			var typed runtime.Object
			if manifest.IsPassThrough(gvk) {
				obj, err := dec.DecodeUnstructured(t.ctx, nodeSource(n), o)
				if err != nil {
					n.Err = errors.Join(n.Err, withoutLines(err))
					continue
				}
				for _, w := range obj.Warnings {
					w.Line = 0 // a line of the serialized object, not of a file the user has
					n.Warnings = append(n.Warnings, w.Error())
				}
				typed = obj.Typed
			} else {
				var err error
				if typed, err = t.dec.DecodeObject(t.ctx, nodeSource(n), o); err != nil {
					continue // collect reported it
				}
			}
			notes, err := support.Check(typed)
			if err != nil {
				n.Err = errors.Join(n.Err, err)
			}
			for _, note := range notes {
				n.Warnings = append(n.Warnings, nodeSource(n)+": "+note)
			}
		}
	}
}
