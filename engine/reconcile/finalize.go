package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"

	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/engine/apply"
)

// FinalizeResult is what deleting a Kustomization did to the objects it applied.
type FinalizeResult struct {
	Kustomization string `json:"kustomization"`
	// Policy is the deletionPolicy that was followed.
	Policy string `json:"policy"`
	// ChangeSet lists the objects deleted (and those kept by kustomize.toolkit.fluxcd.io/prune: disabled).
	ChangeSet *apply.ChangeSet `json:"changeSet"`
	// Kept says why nothing was deleted, when nothing was.
	Kept string `json:"kept,omitempty"`
	// Err is a deletion that failed: keep the finalizer and try again.
	Err error `json:"-"`
	// Warning is a problem that must not block the deletion, as in Flux: the objects did not terminate
	// within spec.timeout (WaitForTermination), or the clients to delete them could not be had (a
	// service account or kubeconfig that is gone). The finalizer may be removed.
	Warning error `json:"-"`
}

// Finalize deletes the objects in the inventory of ks, which is being deleted, as its deletionPolicy
// says: MirrorPrune (the default) deletes them when spec.prune is true, Delete always, WaitForTermination
// deletes them and waits, within spec.timeout, until they are gone, Orphan never. A suspended
// Kustomization, or one without inventory, deletes nothing. Objects annotated or labelled
// kustomize.toolkit.fluxcd.io/prune: disabled are kept. Deletion acts on ks's cluster (kubeConfig) as its
// service account, as apply did. Finalize does not remove the finalizer: the caller does, unless Err is set.
func (r *Kustomizations) Finalize(ctx context.Context, ks *kustomizev1.Kustomization) *FinalizeResult {
	res := &FinalizeResult{Kustomization: ks.Namespace + "/" + ks.Name, Policy: ks.GetDeletionPolicy(), ChangeSet: &apply.ChangeSet{}}
	plan, err := PlanFinalize(ks)
	switch {
	case err != nil:
		res.Err = err
		return res
	case plan.Reason != "":
		res.Kept = plan.Reason
		return res
	}
	objs := plan.Stale
	am, _, err := r.clientsFor(ctx, ks)
	if err != nil {
		res.Warning = fmt.Errorf("Kustomization %s: objects not deleted: %w", res.Kustomization, err)
		return res
	}
	cs, err := am.Prune(ctx, objs, apply.PruneOptions{})
	if cs != nil {
		res.ChangeSet = cs
	}
	if err != nil {
		res.Err = fmt.Errorf("Kustomization %s: deleting its objects: %w", res.Kustomization, err)
		return res
	}
	if res.Policy == kustomizev1.DeletionPolicyWaitForTermination {
		res.Warning = waitTerminated(ctx, am, res.ChangeSet, ks.GetTimeout(), res.Kustomization)
	}
	return res
}

// waitTerminated waits until every deleted object of cs is gone (finalizers done), or timeout.
func waitTerminated(ctx context.Context, am *apply.Manager, cs *apply.ChangeSet, timeout time.Duration, id string) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var pending []apply.ObjMeta
	for _, e := range cs.Entries {
		if e.Action == apply.Deleted {
			pending = append(pending, e.Object)
		}
	}
	var errs []error
	// Checked every 250ms until all are gone or ctx ends.
	err := wait.Backoff{Duration: 250 * time.Millisecond}.DelayFunc().Until(ctx, true, true, func(ctx context.Context) (bool, error) {
		var still []apply.ObjMeta
		errs = nil
		for _, o := range pending {
			_, err := am.Get(ctx, o)
			switch {
			case apierrors.IsNotFound(err):
			case err != nil && ctx.Err() == nil:
				errs = append(errs, fmt.Errorf("%s: %w", o, err))
				still = append(still, o)
			default:
				still = append(still, o)
			}
		}
		pending = still
		return len(still) == 0, nil
	})
	if err == nil {
		return nil
	}
	names := make([]string, 0, len(pending))
	for _, o := range pending {
		names = append(names, o.String())
	}
	sort.Strings(names)
	return errors.Join(append([]error{fmt.Errorf("Kustomization %s: objects not terminated after %s: %s", id, time.Since(start).Round(time.Second), strings.Join(names, ", "))}, errs...)...)
}
