package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/converge-gitops/converge/crds/meta"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/crds/sourceext/v1beta1"
	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/source"
)

// API resources of the ArtifactGenerator and of what it produces.
var (
	ArtifactGeneratorsResource = v1beta1.GroupVersion.WithResource("artifactgenerators")
	ExternalArtifactsResource  = sourcev1.GroupVersion.WithResource("externalartifacts")
)

// GeneratorController is the app.kubernetes.io/managed-by value of generated ExternalArtifacts, as
// Flux's source-watcher sets it.
const GeneratorController = "source-watcher"

// StoreDigestKey is the stored artifact metadata key holding the ExternalArtifact's status digest; it
// lets fetch.Fetchers.External use the stored copy instead of downloading it.
const StoreDigestKey = "artifactDigest"

// Generators writes what ArtifactGenerators produce to the cluster, as source-watcher does: one
// ExternalArtifact per output artifact (owned by the generator, with its labels, spec.sourceRef naming
// it, status.artifact served at BaseURL), and the generator's inventory and conditions.
type Generators struct {
	Client dynamic.Interface
	// BaseURL prefixes status.artifact.url (the agent serves the store there).
	BaseURL string
	Clock   clock.PassiveClock
}

// Published is what one successful generator run changed.
type Published struct {
	// Changed lists "namespace/name@revision" of the ExternalArtifacts whose artifact changed.
	Changed []string
	// Deleted lists "namespace/name" of the ExternalArtifacts no longer generated.
	Deleted []string
}

// Publish makes the cluster reflect a successful run of gen: arts are the stored output artifacts (in
// spec order), labels the extra labels of each (by name: the pathPattern captures), live the
// ExternalArtifacts currently labelled as gen's, sourcesDigest the digest of the sources the run used.
// An ExternalArtifact whose artifact did not change is not written, so its consumers are not woken.
func (r *Generators) Publish(ctx context.Context, gen *v1beta1.ArtifactGenerator, arts []*source.Artifact, labels map[string]map[string]string, live map[string]*sourcev1.ExternalArtifact, sourcesDigest string) (*Published, error) {
	id := gen.Namespace + "/" + gen.Name
	out := &Published{}
	want := map[string]bool{}
	inventory := make([]v1beta1.ExternalArtifactReference, 0, len(arts))
	for _, art := range arts {
		name := art.Source.Name
		want[name] = true
		changed, err := r.publishOne(ctx, gen, art, labels[name], live[name])
		if err != nil {
			return out, fmt.Errorf("ArtifactGenerator %s: ExternalArtifact %s: %w", id, name, err)
		}
		if changed {
			out.Changed = append(out.Changed, gen.Namespace+"/"+name+"@"+art.Revision)
		}
		inventory = append(inventory, v1beta1.ExternalArtifactReference{Name: name, Namespace: gen.Namespace, Digest: art.Digest,
			Filename: strings.TrimPrefix(art.Digest, "sha256:") + ".tar.gz"})
	}
	stale := map[string]bool{}
	for _, ref := range gen.Status.Inventory {
		if ref.Namespace == gen.Namespace && !want[ref.Name] {
			stale[ref.Name] = true
		}
	}
	for name := range live {
		if !want[name] {
			stale[name] = true
		}
	}
	names := make([]string, 0, len(stale))
	for name := range stale {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		err := r.Client.Resource(ExternalArtifactsResource).Namespace(gen.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return out, fmt.Errorf("ArtifactGenerator %s: deleting ExternalArtifact %s: %w", id, name, err)
		}
		out.Deleted = append(out.Deleted, gen.Namespace+"/"+name)
	}
	msg := fmt.Sprintf("reconciliation succeeded, generated %d artifact(s)", len(arts))
	status := gen.Status.DeepCopy()
	status.Inventory = inventory
	status.ObservedSourcesDigest = sourcesDigest
	apimeta.RemoveStatusCondition(&status.Conditions, meta.ReconcilingCondition)
	apimeta.RemoveStatusCondition(&status.Conditions, meta.StalledCondition)
	r.setCondition(status, meta.ReadyCondition, metav1.ConditionTrue, meta.SucceededReason, msg, gen.Generation)
	if v, ok := gen.Annotations[meta.ReconcileRequestAnnotation]; ok {
		status.LastHandledReconcileAt = v
	}
	return out, r.patchGeneratorStatus(ctx, gen, status)
}

// NotReady records a failed run: Ready=False with reason, and Stalled=True for errors that only a spec
// change fixes. Inventory and the generated ExternalArtifacts are kept.
func (r *Generators) NotReady(ctx context.Context, gen *v1beta1.ArtifactGenerator, reason string, cause error, stalled bool) error {
	status := gen.Status.DeepCopy()
	apimeta.RemoveStatusCondition(&status.Conditions, meta.ReconcilingCondition)
	if stalled {
		r.setCondition(status, meta.StalledCondition, metav1.ConditionTrue, reason, cause.Error(), gen.Generation)
	} else {
		apimeta.RemoveStatusCondition(&status.Conditions, meta.StalledCondition)
	}
	r.setCondition(status, meta.ReadyCondition, metav1.ConditionFalse, reason, cause.Error(), gen.Generation)
	if v, ok := gen.Annotations[meta.ReconcileRequestAnnotation]; ok {
		status.LastHandledReconcileAt = v
	}
	if equalConditions(gen.Status.Conditions, status.Conditions) && status.LastHandledReconcileAt == gen.Status.LastHandledReconcileAt {
		return nil
	}
	return r.patchGeneratorStatus(ctx, gen, status)
}

// HandledRequest records a reconcile request that found nothing to do.
func (r *Generators) HandledRequest(ctx context.Context, gen *v1beta1.ArtifactGenerator) error {
	v, ok := gen.Annotations[meta.ReconcileRequestAnnotation]
	if !ok || v == gen.Status.LastHandledReconcileAt {
		return nil
	}
	status := gen.Status.DeepCopy()
	status.LastHandledReconcileAt = v
	return r.patchGeneratorStatus(ctx, gen, status)
}

// Finalize deletes the ExternalArtifacts gen generated (its inventory and live, labelled ones).
func (r *Generators) Finalize(ctx context.Context, gen *v1beta1.ArtifactGenerator, live map[string]*sourcev1.ExternalArtifact) error {
	names := map[string]bool{}
	for _, ref := range gen.Status.Inventory {
		if ref.Namespace == gen.Namespace {
			names[ref.Name] = true
		}
	}
	for name := range live {
		names[name] = true
	}
	var errs []error
	for name := range names {
		err := r.Client.Resource(ExternalArtifactsResource).Namespace(gen.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("ArtifactGenerator %s/%s: deleting ExternalArtifact %s: %w", gen.Namespace, gen.Name, name, err))
		}
	}
	return errors.Join(errs...)
}

// publishOne applies the ExternalArtifact of art and writes its status when the artifact changed; it
// reports whether it did.
func (r *Generators) publishOne(ctx context.Context, gen *v1beta1.ArtifactGenerator, art *source.Artifact, extra map[string]string, live *sourcev1.ExternalArtifact) (bool, error) {
	labels := map[string]string{}
	var annotations map[string]string
	if cm := gen.Spec.CommonMetadata; cm != nil {
		maps.Copy(labels, cm.Labels)
		if len(cm.Annotations) > 0 {
			annotations = maps.Clone(cm.Annotations)
		}
	}
	maps.Copy(labels, extra) // pathPattern captures override common labels, as in source-watcher
	labels["app.kubernetes.io/managed-by"] = GeneratorController
	labels[v1beta1.ArtifactGeneratorLabel] = string(gen.UID)
	owner := metav1.OwnerReference{APIVersion: v1beta1.GroupVersion.String(), Kind: v1beta1.ArtifactGeneratorKind, Name: gen.Name, UID: gen.UID,
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
	sourceRef := &meta.NamespacedObjectKindReference{APIVersion: v1beta1.GroupVersion.String(), Kind: v1beta1.ArtifactGeneratorKind, Name: gen.Name, Namespace: gen.Namespace}
	upToDate := live != nil && live.Spec.SourceRef != nil && *live.Spec.SourceRef == *sourceRef &&
		len(live.OwnerReferences) == 1 && live.OwnerReferences[0].UID == gen.UID && hasAll(live.Labels, labels) && hasAll(live.Annotations, annotations)
	if !upToDate {
		obj := map[string]any{
			"apiVersion": sourcev1.GroupVersion.String(),
			"kind":       sourcev1.ExternalArtifactKind,
			"metadata": map[string]any{
				"name": art.Source.Name, "namespace": gen.Namespace, "labels": labels, "annotations": annotations,
				"ownerReferences": []metav1.OwnerReference{owner},
			},
			"spec": map[string]any{"sourceRef": sourceRef},
		}
		data, err := json.Marshal(obj)
		if err != nil {
			return false, err
		}
		_, err = r.Client.Resource(ExternalArtifactsResource).Namespace(gen.Namespace).Patch(ctx, art.Source.Name, types.ApplyPatchType, data,
			metav1.PatchOptions{FieldManager: apply.FieldManager, Force: ptr.To(true)})
		if err != nil {
			return false, fmt.Errorf("applying: %w", err)
		}
	}
	status := r.ExternalArtifactStatus(art)
	if live != nil && live.Status.Artifact != nil && live.Status.Artifact.Digest == status.Artifact.Digest &&
		live.Status.Artifact.Revision == status.Artifact.Revision && live.Status.Artifact.URL == status.Artifact.URL &&
		apimeta.IsStatusConditionTrue(live.Status.Conditions, meta.ReadyCondition) {
		return false, nil
	}
	data, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return false, err
	}
	_, err = r.Client.Resource(ExternalArtifactsResource).Namespace(gen.Namespace).Patch(ctx, art.Source.Name, types.MergePatchType, data,
		metav1.PatchOptions{FieldManager: apply.FieldManager}, "status")
	if err != nil {
		return false, fmt.Errorf("writing the status: %w", err)
	}
	return true, nil
}

// ExternalArtifactStatus is the status of the ExternalArtifact of a stored generated artifact.
func (r *Generators) ExternalArtifactStatus(art *source.Artifact) *sourcev1.ExternalArtifactStatus {
	fa := art.FluxArtifact(r.BaseURL)
	md := maps.Clone(art.Metadata)
	delete(md, StoreDigestKey)
	if len(md) == 0 {
		md = nil
	}
	fa.Metadata = md
	return &sourcev1.ExternalArtifactStatus{
		Artifact: fa,
		Conditions: []metav1.Condition{{Type: meta.ReadyCondition, Status: metav1.ConditionTrue, Reason: meta.SucceededReason,
			Message: "Artifact is ready", LastTransitionTime: metav1.NewTime(r.now()), ObservedGeneration: 1}},
	}
}

func (r *Generators) setCondition(st *v1beta1.ArtifactGeneratorStatus, t string, status metav1.ConditionStatus, reason, msg string, gen int64) {
	if len(msg) > 32000 {
		msg = msg[:32000] + "..."
	}
	apimeta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: t, Status: status, Reason: reason, Message: msg,
		ObservedGeneration: gen, LastTransitionTime: metav1.NewTime(r.now())})
}

func (r *Generators) patchGeneratorStatus(ctx context.Context, gen *v1beta1.ArtifactGenerator, st *v1beta1.ArtifactGeneratorStatus) error {
	data, err := json.Marshal(map[string]any{"status": map[string]any{
		"conditions":             st.Conditions,
		"inventory":              st.Inventory,
		"observedSourcesDigest":  nilIfEmpty(st.ObservedSourcesDigest),
		"lastHandledReconcileAt": nilIfEmpty(st.LastHandledReconcileAt),
	}})
	if err != nil {
		return err
	}
	_, err = r.Client.Resource(ArtifactGeneratorsResource).Namespace(gen.Namespace).Patch(ctx, gen.Name, types.MergePatchType, data,
		metav1.PatchOptions{FieldManager: apply.FieldManager}, "status")
	if err != nil {
		return fmt.Errorf("writing the status of ArtifactGenerator %s/%s: %w", gen.Namespace, gen.Name, err)
	}
	gen.Status = *st
	return nil
}

func (r *Generators) now() time.Time {
	return r.Clock.Now()
}

func hasAll(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

func equalConditions(a, b []metav1.Condition) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Type != b[i].Type || a[i].Status != b[i].Status || a[i].Reason != b[i].Reason || a[i].Message != b[i].Message || a[i].ObservedGeneration != b[i].ObservedGeneration {
			return false
		}
	}
	return true
}
