package inspect

import (
	"context"
	"fmt"
	"sort"
	"strings"

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
	"kustomizations":         {"Kustomization", gvr("kustomize.toolkit.fluxcd.io", "v1", "kustomizations"), []string{"status", "lastAppliedRevision"}},
	"helmreleases":           {"HelmRelease", gvr("helm.toolkit.fluxcd.io", "v2", "helmreleases"), []string{"status", "lastAttemptedRevision"}},
	"git":                    {"GitRepository", gvr("source.toolkit.fluxcd.io", "v1", "gitrepositories"), []string{"status", "artifact", "revision"}},
	"oci":                    {"OCIRepository", gvr("source.toolkit.fluxcd.io", "v1", "ocirepositories"), []string{"status", "artifact", "revision"}},
	"helm":                   {"HelmRepository", gvr("source.toolkit.fluxcd.io", "v1", "helmrepositories"), []string{"status", "artifact", "revision"}},
	"chart":                  {"HelmChart", gvr("source.toolkit.fluxcd.io", "v1", "helmcharts"), []string{"status", "artifact", "revision"}},
	"bucket":                 {"Bucket", gvr("source.toolkit.fluxcd.io", "v1", "buckets"), []string{"status", "artifact", "revision"}},
	"external":               {"ExternalArtifact", gvr("source.toolkit.fluxcd.io", "v1", "externalartifacts"), []string{"status", "artifact", "revision"}},
	"artifactgenerators":     {"ArtifactGenerator", gvr("source.extensions.fluxcd.io", "v1beta1", "artifactgenerators"), nil},
	"alerts":                 {"Alert", gvr("notification.toolkit.fluxcd.io", "v1beta3", "alerts"), nil},
	"providers":              {"Provider", gvr("notification.toolkit.fluxcd.io", "v1beta3", "providers"), nil},
	"receivers":              {"Receiver", gvr("notification.toolkit.fluxcd.io", "v1", "receivers"), nil},
	"imagerepositories":      {"ImageRepository", gvr("image.toolkit.fluxcd.io", "v1", "imagerepositories"), nil},
	"imagepolicies":          {"ImagePolicy", gvr("image.toolkit.fluxcd.io", "v1", "imagepolicies"), []string{"status", "latestRef", "tag"}},
	"imageupdateautomations": {"ImageUpdateAutomation", gvr("image.toolkit.fluxcd.io", "v1", "imageupdateautomations"), []string{"status", "lastPushCommit"}},
}

// KindNamed returns the Kind whose Kind name is kind (e.g. "GitRepository"), case-insensitively.
func KindNamed(kind string) (Kind, bool) {
	for _, k := range Kinds {
		if strings.EqualFold(k.Kind, kind) {
			return k, true
		}
	}
	return Kind{}, false
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
	// Conditions maps each condition type to its status, for status selectors.
	Conditions map[string]string `json:"-"`
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
	sortRows(rows)
	return rows, nil
}

func sortRows(rows []Row) {
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Namespace != rows[j].Namespace {
			return rows[i].Namespace < rows[j].Namespace
		}
		return rows[i].Name < rows[j].Name
	})
}

// RowOf summarises u.
func RowOf(kind Kind, u *unstructured.Unstructured) Row {
	r := Row{Kind: kind.Kind, Namespace: u.GetNamespace(), Name: u.GetName(), Ready: "Unknown"}
	r.Revision, _, _ = unstructured.NestedString(u.Object, kind.RevisionPath...)
	r.Suspended, _, _ = unstructured.NestedBool(u.Object, "spec", "suspend")
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	r.Conditions = map[string]string{}
	for _, c := range conds {
		cm, _ := c.(map[string]any)
		if t, ok := cm["type"].(string); ok {
			r.Conditions[t], _ = cm["status"].(string)
		}
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

// StatusSelector selects rows by a condition's status, as `--status-selector ready=false` spells it.
type StatusSelector struct {
	Type   string
	Status string
}

// ParseStatusSelector parses "type=status" (case-insensitive, e.g. ready=false); "" selects everything.
func ParseStatusSelector(s string) (*StatusSelector, error) {
	if s == "" {
		return nil, nil
	}
	typ, status, ok := strings.Cut(s, "=")
	typ, status = strings.TrimSpace(typ), strings.TrimSpace(status)
	if !ok || typ == "" || status == "" {
		return nil, fmt.Errorf("status selector %q: want <condition type>=<status>, e.g. ready=false", s)
	}
	switch strings.ToLower(status) {
	case "true", "false", "unknown":
	default:
		return nil, fmt.Errorf("status selector %q: status must be true, false or unknown", s)
	}
	return &StatusSelector{Type: typ, Status: status}, nil
}

// Match reports whether r has the selected condition status. The Ready condition is judged as the READY
// column shows it (Unknown while the status is for an older generation); a missing condition is Unknown.
func (s *StatusSelector) Match(r Row) bool {
	if s == nil {
		return true
	}
	got := "Unknown"
	if strings.EqualFold(s.Type, "Ready") {
		got = r.Ready
	} else {
		for t, st := range r.Conditions {
			if strings.EqualFold(t, s.Type) {
				got = st
			}
		}
	}
	return strings.EqualFold(got, s.Status)
}
