// Package inspect reads the state of Flux objects from the cluster for `converge get` and friends.
package inspect

import (
	"context"
	"fmt"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// Kind describes a Flux kind to list.
type Kind struct {
	Kind     string
	Resource schema.GroupVersionResource
	// RevisionPath is where the kind keeps the revision it last applied or stored.
	RevisionPath []string
}

// Kinds are the Flux kinds `get` knows, by the names users type.
var Kinds = map[string]Kind{
	"kustomizations": {"Kustomization", gvr("kustomize.toolkit.fluxcd.io", "v1", "kustomizations"), []string{"status", "lastAppliedRevision"}},
	"helmreleases":   {"HelmRelease", gvr("helm.toolkit.fluxcd.io", "v2", "helmreleases"), []string{"status", "lastAttemptedRevision"}},
	"git":            {"GitRepository", gvr("source.toolkit.fluxcd.io", "v1", "gitrepositories"), []string{"status", "artifact", "revision"}},
	"oci":            {"OCIRepository", gvr("source.toolkit.fluxcd.io", "v1", "ocirepositories"), []string{"status", "artifact", "revision"}},
	"helm":           {"HelmRepository", gvr("source.toolkit.fluxcd.io", "v1", "helmrepositories"), []string{"status", "artifact", "revision"}},
	"chart":          {"HelmChart", gvr("source.toolkit.fluxcd.io", "v1", "helmcharts"), []string{"status", "artifact", "revision"}},
	"bucket":         {"Bucket", gvr("source.toolkit.fluxcd.io", "v1", "buckets"), []string{"status", "artifact", "revision"}},
}

func gvr(g, v, r string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: g, Version: v, Resource: r}
}

// Row is the state of one object.
type Row struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Revision  string `json:"revision"`
	Suspended bool   `json:"suspended"`
	// Ready is "True", "False" or "Unknown" (no Ready condition yet, or not for this generation).
	Ready   string `json:"ready"`
	Message string `json:"message"`
}

// List returns the objects of kind in namespace ("" for all), sorted by namespace and name.
func List(ctx context.Context, client dynamic.Interface, kind Kind, namespace string) ([]Row, error) {
	list, err := client.Resource(kind.Resource).Namespace(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", kind.Resource.Resource, err)
	}
	rows := make([]Row, 0, len(list.Items))
	for _, item := range list.Items {
		rows = append(rows, RowOf(kind, &item))
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Namespace != rows[j].Namespace {
			return rows[i].Namespace < rows[j].Namespace
		}
		return rows[i].Name < rows[j].Name
	})
	return rows, nil
}

// RowOf summarises u.
func RowOf(kind Kind, u *unstructured.Unstructured) Row {
	r := Row{Kind: kind.Kind, Namespace: u.GetNamespace(), Name: u.GetName(), Ready: "Unknown"}
	r.Revision, _, _ = unstructured.NestedString(u.Object, kind.RevisionPath...)
	r.Suspended, _, _ = unstructured.NestedBool(u.Object, "spec", "suspend")
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		cm, _ := c.(map[string]any)
		if cm["type"] != "Ready" {
			continue
		}
		gen, _, _ := unstructured.NestedInt64(cm, "observedGeneration")
		if gen != 0 && gen < u.GetGeneration() {
			r.Message = "reconciliation in progress"
			break
		}
		r.Ready, _ = cm["status"].(string)
		r.Message, _ = cm["message"].(string)
	}
	if r.Ready == "Unknown" && r.Message == "" {
		r.Message = "waiting to be reconciled"
	}
	return r
}
