package inspect

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// EventRow is one Kubernetes Event about a Flux object.
type EventRow struct {
	LastSeen  time.Time `json:"lastSeen"`
	Type      string    `json:"type"`
	Reason    string    `json:"reason"`
	Namespace string    `json:"namespace"`
	// Object is "Kind/name".
	Object  string `json:"object"`
	Message string `json:"message"`
	Count   int32  `json:"count,omitempty"`
}

// EventFilter selects events: Flux objects only; with For, only those objects (by kind and name,
// namespace when set).
type EventFilter struct {
	For []EventObject
}

// EventObject names an object events are selected for; an empty Name selects every object of the kind.
type EventObject struct {
	Kind      string
	Namespace string
	Name      string
}

// ParseEventObject parses "Kind/name" or "Kind" (every object of the kind).
func ParseEventObject(s, namespace string) (EventObject, error) {
	kind, name, _ := strings.Cut(s, "/")
	if kind == "" || strings.Contains(name, "/") {
		return EventObject{}, fmt.Errorf("%q: want Kind/name or Kind", s)
	}
	k, ok := KindNamed(kind)
	if !ok {
		return EventObject{}, fmt.Errorf("%q: %q is not a Flux kind", s, kind)
	}
	return EventObject{Kind: k.Kind, Namespace: namespace, Name: name}, nil
}

// IsFluxAPIVersion reports whether apiVersion belongs to a Flux API group (*.fluxcd.io).
func IsFluxAPIVersion(apiVersion string) bool {
	group, _, ok := strings.Cut(apiVersion, "/")
	return ok && strings.HasSuffix(group, ".fluxcd.io")
}

// Match reports whether e is selected. An event without the object's apiVersion counts as a Flux
// object's when its kind is a Flux kind.
func (f EventFilter) Match(e *corev1.Event) bool {
	if av := e.InvolvedObject.APIVersion; !IsFluxAPIVersion(av) {
		if _, flux := KindNamed(e.InvolvedObject.Kind); av != "" || !flux {
			return false
		}
	}
	if len(f.For) == 0 {
		return true
	}
	for _, o := range f.For {
		if strings.EqualFold(o.Kind, e.InvolvedObject.Kind) && (o.Name == "" || o.Name == e.InvolvedObject.Name) &&
			(o.Namespace == "" || o.Namespace == e.InvolvedObject.Namespace) {
			return true
		}
	}
	return false
}

// EventRowOf summarises e; LastSeen is the latest of its timestamps.
func EventRowOf(e *corev1.Event) EventRow {
	seen := e.LastTimestamp.Time
	for _, t := range []time.Time{e.EventTime.Time, e.FirstTimestamp.Time, e.CreationTimestamp.Time} {
		if seen.IsZero() {
			seen = t
		}
	}
	if e.Series != nil && e.Series.LastObservedTime.After(seen) {
		seen = e.Series.LastObservedTime.Time
	}
	return EventRow{LastSeen: seen, Type: e.Type, Reason: e.Reason, Namespace: e.Namespace,
		Object: e.InvolvedObject.Kind + "/" + e.InvolvedObject.Name, Message: strings.TrimSpace(e.Message), Count: e.Count}
}

// Events lists the events of Flux objects in namespace ("" for all) that f selects, oldest first, and
// the list's resourceVersion to watch from.
func Events(ctx context.Context, client kubernetes.Interface, namespace string, f EventFilter) ([]EventRow, string, error) {
	list, err := client.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, "", fmt.Errorf("listing events: %w", err)
	}
	var rows []EventRow
	for i := range list.Items {
		if f.Match(&list.Items[i]) {
			rows = append(rows, EventRowOf(&list.Items[i]))
		}
	}
	SortEvents(rows)
	return rows, list.ResourceVersion, nil
}

// SortEvents orders rows by LastSeen, then object and reason.
func SortEvents(rows []EventRow) {
	sort.SliceStable(rows, func(i, j int) bool {
		if !rows[i].LastSeen.Equal(rows[j].LastSeen) {
			return rows[i].LastSeen.Before(rows[j].LastSeen)
		}
		if rows[i].Object != rows[j].Object {
			return rows[i].Object < rows[j].Object
		}
		return rows[i].Reason < rows[j].Reason
	})
}

// WatchEvents calls emit for every new or updated event f selects, from resourceVersion, until ctx ends
// or emit fails.
func WatchEvents(ctx context.Context, client kubernetes.Interface, namespace, resourceVersion string, f EventFilter, emit func(EventRow) error) error {
	for ctx.Err() == nil {
		w, err := client.CoreV1().Events(namespace).Watch(ctx, metav1.ListOptions{ResourceVersion: resourceVersion})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("watching events: %w", err)
		}
		for ev := range w.ResultChan() {
			e, isEvent := ev.Object.(*corev1.Event)
			if !isEvent {
				continue
			}
			resourceVersion = e.ResourceVersion
			if (ev.Type != watch.Added && ev.Type != watch.Modified) || !f.Match(e) {
				continue
			}
			if err := emit(EventRowOf(e)); err != nil {
				w.Stop()
				return err
			}
		}
		w.Stop() // closed by the server (timeout) or by ctx: resume from the last version seen
	}
	return nil
}
