package driver

import (
	"time"

	engineapply "github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/build"
	"github.com/converge-gitops/converge/engine/diff"
	"github.com/converge-gitops/converge/engine/reconcile"
)

// Event is a progress event of Prepare, Run or Diff. Index, where an event has one, is the node's
// place in the order of the Planned event; the events of a node come from the goroutine that runs it.
type Event interface{ event() }

// Building: the tree at Path is about to be built, at Revision.
type Building struct{ Path, Revision string }

// Planned: the nodes in the order they are reconciled or diffed (parents and dependencies first).
type Planned struct{ Nodes []*build.Node }

// Started: node Index is being reconciled (after its dependencies).
type Started struct {
	Index int
	Node  *build.Node
}

// Phase: what node Index is doing, as engine/apply reports it.
type Phase struct {
	Index    int
	Progress engineapply.Progress
}

// Waiting: a dependsOn of node Index outside the tree is not ready (Err says why); checked again Every.
type Waiting struct {
	Index int
	Node  *build.Node
	Err   error
	Every time.Duration
}

// NoInventory: node Index is a root no Kustomization points at; it is applied without an inventory.
type NoInventory struct {
	Index  int
	Reason string
}

// Finished: node Index was reconciled (or failed before it could be).
type Finished struct {
	Index  int
	Result *Result
}

// Skipped: node Index was not reconciled because Dependency failed (or was skipped) before it;
// Relation says how they relate ("its parent" or "its dependency").
type Skipped struct {
	Index      int
	Node       *build.Node
	Dependency *build.Node
	Relation   string
}

// Diffed: node Index was diffed. Entries are the changes (unchanged and skipped objects only counted
// in Unchanged); Err is the node's build error (BuildFailed) or why it could not be diffed; Warning is
// said before its entries.
type Diffed struct {
	Index       int
	Node        *build.Node
	Entries     []diff.Entry
	Unchanged   int
	Err         error
	BuildFailed bool
	Warning     string
}

func (Building) event()    {}
func (Planned) event()     {}
func (Started) event()     {}
func (Phase) event()       {}
func (Waiting) event()     {}
func (NoInventory) event() {}
func (Finished) event()    {}
func (Skipped) event()     {}
func (Diffed) event()      {}

// Result is what reconciling one node gave: Kustomization for a Kustomization node, HelmRelease for a
// HelmRelease node; both nil when the node was skipped (Skipped names the failed dependency).
type Result struct {
	Node          *build.Node
	Kustomization *reconcile.KustomizationResult
	HelmRelease   *reconcile.HelmReleaseResult
	Skipped       *build.Node
}

// Err is the node's failure, nil when it succeeded or was skipped.
func (r *Result) Err() error {
	switch {
	case r.Kustomization != nil:
		return r.Kustomization.Err
	case r.HelmRelease != nil:
		return r.HelmRelease.Err
	}
	return nil
}
