package bootstrap

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/crds/meta"
	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/build"
	"github.com/converge-gitops/converge/engine/health"
	"github.com/converge-gitops/converge/engine/kube"
)

var (
	gitRepositoriesGVR = schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "gitrepositories"}
	kustomizationsGVR  = schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}
)

// buildFluxSystem renders <dir> of the clone at root as the agent will render it for the Kustomization
// flux-system (kustomize, user patches included, and Flux's owner labels), so that what the bootstrap
// applies is what the agent applies afterwards. It splits the sync objects from the components; sync
// objects missing from the folder's kustomization.yaml are added.
func buildFluxSystem(ctx context.Context, root, dir, ns string, so SyncOptions) (components, sync []*unstructured.Unstructured, err error) {
	ks := &kustomizev1.Kustomization{
		ObjectMeta: metav1.ObjectMeta{Name: SyncName, Namespace: ns},
		Spec:       kustomizev1.KustomizationSpec{Path: "./" + dir},
	}
	r, err := (&build.Builder{}).Build(ctx, ks, root)
	if err != nil {
		return nil, nil, fmt.Errorf("building %s: %w", dir, err)
	}
	found := map[string]bool{}
	for _, o := range r.Objects {
		gk := o.GroupVersionKind().GroupKind()
		if o.GetName() == SyncName && o.GetNamespace() == ns &&
			(gk == schema.GroupKind{Group: "source.toolkit.fluxcd.io", Kind: "GitRepository"} ||
				gk == schema.GroupKind{Group: "kustomize.toolkit.fluxcd.io", Kind: "Kustomization"}) {
			sync = append(sync, o)
			found[gk.Kind] = true
			continue
		}
		components = append(components, o)
	}
	for _, o := range SyncObjects(so) {
		if !found[o.GetKind()] {
			o.SetLabels(map[string]string{build.NameLabel: SyncName, build.NamespaceLabel: ns})
			sync = append(sync, o)
		}
	}
	return components, sync, nil
}

// applySecret writes the credentials Secret, unless it exists and nothing asks to replace it.
func applySecret(ctx context.Context, m *apply.Manager, ns, name string, existing *corev1.Secret, creds *credentials) (SecretAction, error) {
	if existing != nil && !creds.replace {
		return SecretKept, nil
	}
	data := map[string]any{}
	for k, v := range creds.secret {
		data[k] = base64.StdEncoding.EncodeToString(v)
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"type":     "Opaque",
		"data":     data,
	}}
	cs, err := m.Apply(ctx, []*unstructured.Unstructured{obj}, apply.Options{})
	if err != nil {
		return "", fmt.Errorf("applying Secret %s/%s: %w", ns, name, err)
	}
	switch {
	case cs.Count(apply.Created) > 0:
		return SecretCreated, nil
	case cs.Count(apply.Configured) > 0:
		return SecretUpdated, nil
	}
	return SecretUnchanged, nil
}

// remaining is the time left before ctx's deadline, or def without one.
func remaining(ctx context.Context, def time.Duration) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return time.Until(dl)
	}
	return def
}

// waitReady waits for the agent's Deployment to be ready, then for the Kustomization flux-system to
// report revision as applied. When the GitRepository holds an older artifact, it asks for a reconcile.
func waitReady(ctx context.Context, clients *kube.Clients, ns string, components []*unstructured.Unstructured, revision string, opts *Options) error {
	var deploys []health.Object
	for _, o := range components {
		if o.GetKind() == "Deployment" && o.GetNamespace() == ns {
			deploys = append(deploys, health.Object{GVK: o.GroupVersionKind(), Namespace: ns, Name: o.GetName()})
		}
	}
	if len(deploys) > 0 {
		opts.event(EventWaiting, "waiting for the agent to become ready")
		checker := &health.Checker{Client: clients.Dynamic, Mapper: clients.Mapper}
		if _, err := checker.Wait(ctx, deploys, remaining(ctx, 5*time.Minute)); err != nil {
			return fmt.Errorf("the agent did not become ready: %w", err)
		}
		for _, d := range deploys {
			opts.event(EventSuccess, "%s ready", d)
		}
	}

	opts.event(EventWaiting, "waiting for Kustomization %s/%s to apply %s", ns, SyncName, revision)
	requested := false
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last := "not reconciled yet"
	for {
		if !requested {
			repo, err := clients.Dynamic.Resource(gitRepositoriesGVR).Namespace(ns).Get(ctx, SyncName, metav1.GetOptions{})
			if err == nil {
				if rev, _, _ := unstructured.NestedString(repo.Object, "status", "artifact", "revision"); rev != "" && rev != revision {
					if err := requestReconcile(ctx, clients, ns, opts.Clock.Now()); err != nil {
						return err
					}
					requested = true
				}
			}
		}
		ks, err := clients.Dynamic.Resource(kustomizationsGVR).Namespace(ns).Get(ctx, SyncName, metav1.GetOptions{})
		if err == nil {
			applied, _, _ := unstructured.NestedString(ks.Object, "status", "lastAppliedRevision")
			attempted, _, _ := unstructured.NestedString(ks.Object, "status", "lastAttemptedRevision")
			observed, _, _ := unstructured.NestedInt64(ks.Object, "status", "observedGeneration")
			status, reason, msg := readyCondition(ks)
			if status != "" {
				last = fmt.Sprintf("Ready=%s %s: %s", status, reason, msg)
			}
			if observed >= ks.GetGeneration() {
				if applied == revision && status == "True" {
					opts.event(EventSuccess, "Kustomization %s/%s reconciled %s", ns, SyncName, revision)
					return nil
				}
				if attempted == revision && status == "False" && reason != "Progressing" {
					return fmt.Errorf("Kustomization %s/%s failed to apply %s: %s: %s", ns, SyncName, revision, reason, msg)
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("Kustomization %s/%s did not apply %s in time (%s): %w", ns, SyncName, revision, last, ctx.Err())
		case <-tick.C:
		}
	}
}

func readyCondition(u *unstructured.Unstructured) (status, reason, message string) {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if ok && m["type"] == meta.ReadyCondition {
			s, _ := m["status"].(string)
			r, _ := m["reason"].(string)
			msg, _ := m["message"].(string)
			return s, r, msg
		}
	}
	return "", "", ""
}

// requestReconcile sets reconcile.fluxcd.io/requestedAt on the GitRepository flux-system, so that the
// agent fetches the pushed commit now rather than at its next interval.
func requestReconcile(ctx context.Context, clients *kube.Clients, ns string, now time.Time) error {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
		meta.ReconcileRequestAnnotation: now.Format(time.RFC3339Nano)}}})
	if _, err := clients.Dynamic.Resource(gitRepositoriesGVR).Namespace(ns).Patch(ctx, SyncName, types.MergePatchType, patch,
		metav1.PatchOptions{FieldManager: apply.FieldManager}); err != nil {
		return fmt.Errorf("requesting a reconcile of GitRepository %s/%s: %w", ns, SyncName, err)
	}
	return nil
}
