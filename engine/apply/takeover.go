package apply

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	fluxmeta "github.com/converge-gitops/converge/crds/meta"
)

// ForeignManager matches managedFields entries (of the object itself, not a subresource) whose fields
// converge takes over before it applies, as Flux does, so that a cluster migrated from kubectl or Flux
// is left with converge as the only owner of what Git declares.
type ForeignManager struct {
	// Prefix matches every manager whose name starts with it ("kubectl" matches kubectl-edit).
	Prefix    string
	Operation metav1.ManagedFieldsOperationType
}

// DefaultTakeOver returns the managers whose fields Flux's kustomize-controller takes over (kubectl's
// server-side and client-side apply, its edits and patches, and the before-first-apply placeholder),
// and Flux's kustomize-controller itself, whose objects converge now manages.
func DefaultTakeOver() []ForeignManager {
	return []ForeignManager{
		{Prefix: "kubectl", Operation: metav1.ManagedFieldsOperationApply},
		{Prefix: "kubectl", Operation: metav1.ManagedFieldsOperationUpdate},
		{Prefix: "before-first-apply", Operation: metav1.ManagedFieldsOperationUpdate},
		{Prefix: "kustomize-controller", Operation: metav1.ManagedFieldsOperationApply},
		{Prefix: "kustomize-controller", Operation: metav1.ManagedFieldsOperationUpdate},
	}
}

// staleMetadata are the annotations and labels other tools left that converge removes with a takeover:
// kubectl's client-side apply record and Flux v1's checksums and garbage-collection mark.
var (
	staleAnnotations = []string{"kubectl.kubernetes.io/last-applied-configuration", "kustomize.toolkit.fluxcd.io/checksum", "fluxcd.io/sync-checksum"}
	staleLabels      = []string{"fluxcd.io/sync-gc-mark"}
)

func (m *Manager) takeOver() []ForeignManager {
	if m.TakeOver == nil {
		return DefaultTakeOver()
	}
	return m.TakeOver
}

func (f ForeignManager) matches(e metav1.ManagedFieldsEntry) bool {
	return e.Subresource == "" && e.Operation == f.Operation && strings.HasPrefix(e.Manager, f.Prefix)
}

type jsonPatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// takeoverPatch returns the JSON patch that merges the field sets of the foreign managers of live into
// fieldManager's apply entry and removes stale annotations and labels, and the names of the managers it
// replaces; nil when there is nothing to take over, or when desired or live has the ssa: Merge policy
// (which keeps other managers' fields).
func takeoverPatch(desired, live *unstructured.Unstructured, fieldManager string, foreign []ForeignManager, now time.Time) ([]byte, []string, error) {
	if hasMeta(desired, fluxmeta.SSAAnnotation, "Merge") || hasMeta(live, fluxmeta.SSAAnnotation, "Merge") {
		return nil, nil, nil
	}
	entries := live.GetManagedFields()
	var ours *metav1.ManagedFieldsEntry
	for i := range entries {
		e := entries[i]
		if e.Manager == fieldManager && e.Operation == metav1.ManagedFieldsOperationApply && e.Subresource == "" {
			ours = &e
		}
	}
	var kept []metav1.ManagedFieldsEntry
	var taken []string
	merged := &fieldpath.Set{}
	if ours != nil && ours.FieldsV1 != nil {
		if err := merged.FromJSON(bytes.NewReader(ours.FieldsV1.Raw)); err != nil {
			return nil, nil, fmt.Errorf("reading the managed fields of %s: %w", fieldManager, err)
		}
	}
	apiVersion := ""
	if ours != nil {
		apiVersion = ours.APIVersion
	}
	for _, e := range entries {
		if e.Manager == fieldManager && e.Operation == metav1.ManagedFieldsOperationApply && e.Subresource == "" {
			continue
		}
		foreignEntry := false
		for _, f := range foreign {
			if f.matches(e) && e.Manager != fieldManager {
				foreignEntry = true
				break
			}
		}
		if !foreignEntry {
			kept = append(kept, e)
			continue
		}
		taken = append(taken, e.Manager+" ("+string(e.Operation)+")")
		if e.FieldsV1 != nil {
			s := &fieldpath.Set{}
			if err := s.FromJSON(bytes.NewReader(e.FieldsV1.Raw)); err != nil {
				return nil, nil, fmt.Errorf("reading the managed fields of %s: %w", e.Manager, err)
			}
			merged = merged.Union(s)
		}
		if apiVersion == "" {
			apiVersion = e.APIVersion
		}
	}
	var ops []jsonPatchOp
	if len(taken) > 0 {
		raw, err := merged.ToJSON()
		if err != nil {
			return nil, nil, err
		}
		at := metav1.NewTime(now.UTC().Truncate(time.Second))
		kept = append(kept, metav1.ManagedFieldsEntry{Manager: fieldManager, Operation: metav1.ManagedFieldsOperationApply,
			APIVersion: apiVersion, Time: &at, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: raw}})
		ops = append(ops, jsonPatchOp{Op: "replace", Path: "/metadata/managedFields", Value: kept})
	}
	for _, k := range staleAnnotations {
		if _, ok := live.GetAnnotations()[k]; ok && desired.GetAnnotations()[k] == "" {
			ops = append(ops, jsonPatchOp{Op: "remove", Path: "/metadata/annotations/" + escapePointer(k)})
			taken = append(taken, "annotation "+k)
		}
	}
	for _, k := range staleLabels {
		if _, ok := live.GetLabels()[k]; ok && desired.GetLabels()[k] == "" {
			ops = append(ops, jsonPatchOp{Op: "remove", Path: "/metadata/labels/" + escapePointer(k)})
			taken = append(taken, "label "+k)
		}
	}
	if len(ops) == 0 {
		return nil, nil, nil
	}
	// Only the version that was read: a concurrent writer makes the patch fail instead of losing its fields.
	ops = append([]jsonPatchOp{{Op: "test", Path: "/metadata/resourceVersion", Value: live.GetResourceVersion()}}, ops...)
	data, err := json.Marshal(ops)
	if err != nil {
		return nil, nil, err
	}
	sort.Strings(taken)
	return data, taken, nil
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// hasMeta reports whether u has the label or annotation key with value (case-insensitive), as Flux
// matches its per-object settings.
func hasMeta(u *unstructured.Unstructured, key, value string) bool {
	if u == nil {
		return false
	}
	if v := u.GetAnnotations()[key]; v != "" && strings.EqualFold(v, value) {
		return true
	}
	v := u.GetLabels()[key]
	return v != "" && strings.EqualFold(v, value)
}
