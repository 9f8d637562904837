package reconcile

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/converge-gitops/converge/engine/apply"
)

func nsCM(namespace, name string, annotations ...string) string {
	a := ""
	if len(annotations) > 0 {
		a = "\n  annotations:\n    " + strings.Join(annotations, "\n    ")
	}
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n  namespace: " + namespace + a + "\ndata:\n  k: v\n"
}

func TestFinalizeDeletionPolicies(t *testing.T) {
	ctx := context.Background()
	r := newReconciler(t)
	for _, tc := range []struct {
		name, spec string
		deleted    bool
		kept       string
	}{
		{"mirror-prune", "", true, ""},
		{"mirror-noprune", "  prune: false\n", false, "spec.prune is false"},
		{"delete", "  prune: false\n  deletionPolicy: Delete\n", true, ""},
		{"orphan", "  deletionPolicy: Orphan\n", false, "Orphan"},
		{"wait", "  deletionPolicy: WaitForTermination\n", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			space := "fin-" + tc.name
			ensureNS(t, space)
			// createKustomization sets prune: true; a later key of the same name wins.
			createKustomization(t, r, "fin-"+tc.name, tc.spec)
			res := r.Reconcile(ctx, ksRef("flux-system", "fin-"+tc.name), "main@sha1:7777777777777777777777777777777777777777",
				objs(t, nsCM(space, "a"), nsCM(space, "keep", "kustomize.toolkit.fluxcd.io/prune: Disabled")), nil)
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			ks, err := r.Get(ctx, "flux-system", "fin-"+tc.name)
			if err != nil {
				t.Fatal(err)
			}
			fr := r.Finalize(ctx, ks)
			if fr.Err != nil || fr.Warning != nil {
				t.Fatalf("finalize: %v %v", fr.Err, fr.Warning)
			}
			_, err = cluster.Client.CoreV1().ConfigMaps(space).Get(ctx, "a", metav1.GetOptions{})
			if gone := apierrors.IsNotFound(err); gone != tc.deleted {
				t.Errorf("ConfigMap a deleted: %v, want %v (%v)", gone, tc.deleted, err)
			}
			if tc.kept != "" && !strings.Contains(fr.Kept, tc.kept) {
				t.Errorf("kept %q, want %q", fr.Kept, tc.kept)
			}
			if tc.deleted && fr.ChangeSet.Count(apply.Deleted) != 1 {
				t.Errorf("change set %+v", fr.ChangeSet.Entries)
			}
			if _, err := cluster.Client.CoreV1().ConfigMaps(space).Get(ctx, "keep", metav1.GetOptions{}); err != nil {
				t.Errorf("an object with prune: disabled was deleted: %v", err)
			}
		})
	}
}

// WaitForTermination waits for finalizers; objects that do not go within the timeout are a warning
// naming them, not an error that would keep the Kustomization forever.
func TestFinalizeWaitsForTermination(t *testing.T) {
	ctx := context.Background()
	r := newReconciler(t)
	ensureNS(t, "fin-held")
	createKustomization(t, r, "fin-held", "  deletionPolicy: WaitForTermination\n")
	held := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  namespace: fin-held\n  finalizers: [example.com/hold]\ndata:\n  k: v\n"
	if res := r.Reconcile(ctx, ksRef("flux-system", "fin-held"), "main@sha1:8888888888888888888888888888888888888888", objs(t, held), nil); res.Err != nil {
		t.Fatal(res.Err)
	}
	ks, _ := r.Get(ctx, "flux-system", "fin-held")
	// spec.timeout is at least 30s; the caller's deadline also ends the wait.
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	fr := r.Finalize(short, ks)
	if fr.Err != nil || fr.Warning == nil || !strings.Contains(fr.Warning.Error(), "ConfigMap/fin-held/held") || !strings.Contains(fr.Warning.Error(), "not terminated after 2s") {
		t.Fatalf("want a warning naming the held object, got %v %v", fr.Err, fr.Warning)
	}
	if _, err := cluster.Client.CoreV1().ConfigMaps("fin-held").Patch(ctx, "held", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	// Deleted already and released: a second finalization has nothing left to wait for.
	if fr := r.Finalize(ctx, ks); fr.Err != nil || fr.Warning != nil {
		t.Fatalf("after release: %v %v", fr.Err, fr.Warning)
	}

	createKustomization(t, r, "fin-suspended", "  deletionPolicy: Delete\n")
	if res := r.Reconcile(ctx, ksRef("flux-system", "fin-suspended"), "main@sha1:8888888888888888888888888888888888888888", objs(t, nsCM("fin-held", "s")), nil); res.Err != nil {
		t.Fatal(res.Err)
	}
	ks, _ = r.Get(ctx, "flux-system", "fin-suspended")
	ks.Spec.Suspend = true
	if fr := r.Finalize(ctx, ks); fr.Kept == "" || fr.ChangeSet.Count(apply.Deleted) != 0 {
		t.Fatalf("a suspended Kustomization deleted its objects: %+v", fr)
	}
}
