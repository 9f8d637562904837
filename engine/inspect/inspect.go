package inspect

import (
	"context"
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/converge-gitops/converge/engine/kinds"
)

// Kind describes a Flux kind: the entry of the kinds registry.
type Kind = kinds.Kind

// KindNamed returns the Kind whose Kind name is kind (e.g. "GitRepository"), case-insensitively.
func KindNamed(kind string) (Kind, bool) { return kinds.Named(kind) }

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
	// Object is the object summarised, for the kind's own columns.
	Object *unstructured.Unstructured `json:"-"`
	// Shard is the object's sharding.fluxcd.io/key label (empty: the default agent's).
	Shard string `json:"shard,omitempty"`
}

// ShardLabel is the label Flux shards its objects by (`--watch-label-selector`).
const ShardLabel = "sharding.fluxcd.io/key"

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
	r := Row{Kind: kind.Kind, Namespace: u.GetNamespace(), Name: u.GetName(), Ready: "Unknown", Object: u, Shard: u.GetLabels()[ShardLabel]}
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

// StatusSelector selects rows by a condition's status, as `--status-selector ready=false` spells it;
// Negate (`ready!=true`) selects the rows that do not have that status.
type StatusSelector struct {
	Type   string
	Status string
	Negate bool
}

// ParseStatusSelector parses "type=status" or "type!=status" (case-insensitive, e.g. ready=false);
// "" selects everything.
func ParseStatusSelector(s string) (*StatusSelector, error) {
	if s == "" {
		return nil, nil
	}
	sep := "="
	if strings.Contains(s, "!=") {
		sep = "!="
	}
	typ, status, ok := strings.Cut(s, sep)
	typ, status = strings.TrimSpace(typ), strings.TrimSpace(status)
	if !ok || typ == "" || status == "" {
		return nil, fmt.Errorf("status selector %q: want <condition type>=<status> or <condition type>!=<status>, e.g. ready=false", s)
	}
	switch strings.ToLower(status) {
	case "true", "false", "unknown":
	default:
		return nil, fmt.Errorf("status selector %q: status must be true, false or unknown", s)
	}
	return &StatusSelector{Type: typ, Status: status, Negate: sep == "!="}, nil
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
	return strings.EqualFold(got, s.Status) != s.Negate
}
