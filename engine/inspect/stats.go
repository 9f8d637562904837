package inspect

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/converge-gitops/converge/engine/kinds"
)

// statsKinds are the kinds `flux stats` reports, in its order.
var statsKinds = []string{"GitRepository", "OCIRepository", "HelmRepository", "HelmChart", "Bucket", "Kustomization",
	"HelmRelease", "Alert", "Provider", "Receiver", "ImageUpdateAutomation", "ImagePolicy", "ImageRepository"}

// StatsRow counts the objects of one kind.
type StatsRow struct {
	Kind string `json:"kind"`
	// Running are the objects not suspended; Failing those whose Ready condition is False; Suspended
	// those with spec.suspend.
	Running   int `json:"running"`
	Failing   int `json:"failing"`
	Suspended int `json:"suspended"`
	// Storage is the sum of status.artifact.size, in bytes.
	Storage int64 `json:"storage"`
}

// Stats counts the Flux objects in namespace ("" for all) per kind, as `flux stats` does. A kind whose
// API is not served counts zero.
func Stats(ctx context.Context, client dynamic.Interface, namespace string) ([]StatsRow, error) {
	rows := make([]StatsRow, 0, len(statsKinds))
	for _, name := range statsKinds {
		k, ok := kinds.Named(name)
		if !ok {
			return nil, fmt.Errorf("stats: kind %s is not registered", name)
		}
		row := StatsRow{Kind: name}
		list, err := client.Resource(k.Resource).Namespace(namespace).List(ctx, metav1.ListOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("listing %s: %w", k.Resource.Resource, err)
		}
		if err == nil {
			for _, item := range list.Items {
				if s, _, _ := unstructured.NestedBool(item.Object, "spec", "suspend"); s {
					row.Suspended++
				} else {
					row.Running++
				}
				conds, _, _ := unstructured.NestedSlice(item.Object, "status", "conditions")
				for _, c := range conds {
					if m, ok := c.(map[string]any); ok && m["type"] == "Ready" && m["status"] == "False" {
						row.Failing++
					}
				}
				if size, found, _ := unstructured.NestedInt64(item.Object, "status", "artifact", "size"); found {
					row.Storage += size
				}
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// FormatSize writes a byte count as `flux stats` does: "-" for none, then B, KiB, MiB... with one decimal.
func FormatSize(b int64) string {
	if b == 0 {
		return "-"
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	if b < 1024 {
		return fmt.Sprintf("%d B", b)
	}
	v, i := float64(b)/1024, 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}
