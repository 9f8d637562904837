package events

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
)

// Severities, as Flux's event recorder names them.
const (
	SeverityInfo  = "info"
	SeverityError = "error"
)

// Event is one thing that happened to a Flux object.
type Event struct {
	// Object is the Flux object the event is about (kind, namespace, name, uid, apiVersion).
	Object corev1.ObjectReference `json:"involvedObject"`
	// Severity is SeverityInfo or SeverityError.
	Severity string `json:"severity"`
	// Reason is a Flux condition reason, e.g. ReconciliationSucceeded.
	Reason  string `json:"reason"`
	Message string `json:"message"`
	// Revision is the source revision the event is about, when there is one.
	Revision string `json:"revision,omitempty"`
	// Metadata holds extra key/values (e.g. the revision under its Flux annotation key).
	Metadata  map[string]string `json:"metadata,omitempty"`
	Timestamp time.Time         `json:"timestamp"`
	// Controller names the Flux controller whose job produced the event (kustomize-controller, ...).
	Controller string `json:"reportingController"`
}

// Sink receives events. Emit must not block reconciliation for long.
type Sink interface {
	Emit(ctx context.Context, e Event)
}

// Sinks fans an event out to several sinks.
type Sinks []Sink

// Emit implements Sink.
func (s Sinks) Emit(ctx context.Context, e Event) {
	for _, sink := range s {
		if sink != nil {
			sink.Emit(ctx, e)
		}
	}
}

// Func adapts a function to Sink.
type Func func(ctx context.Context, e Event)

// Emit implements Sink.
func (f Func) Emit(ctx context.Context, e Event) { f(ctx, e) }

// RevisionAnnotation returns the Flux annotation that carries a revision on events of kind's group,
// e.g. kustomize.toolkit.fluxcd.io/revision.
func RevisionAnnotation(apiVersion string) string {
	group, _, _ := strings.Cut(apiVersion, "/")
	return group + "/revision"
}

// Kubernetes writes events as core/v1 Events, as Flux's controllers do: repeated identical events
// increase the count of the existing Event instead of creating new ones.
type Kubernetes struct {
	Client kubernetes.Interface
	// Host is the reporting instance (the pod name).
	Host  string
	Clock clock.PassiveClock

	mu   sync.Mutex
	seen map[string]string // dedupe key -> Event name
}

// Emit implements Sink. Failures are dropped: events are best effort and never fail a reconciliation.
func (k *Kubernetes) Emit(ctx context.Context, e Event) {
	now := e.Timestamp
	if now.IsZero() {
		now = k.now()
	}
	typ := corev1.EventTypeNormal
	if e.Severity == SeverityError {
		typ = corev1.EventTypeWarning
	}
	ns := e.Object.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	key := strings.Join([]string{e.Object.Kind, ns, e.Object.Name, typ, e.Reason, e.Message}, "\x00")
	k.mu.Lock()
	if k.seen == nil {
		k.seen = map[string]string{}
	}
	name, repeated := k.seen[key]
	k.mu.Unlock()
	events := k.Client.CoreV1().Events(ns)
	if repeated {
		if ev, err := events.Get(ctx, name, metav1.GetOptions{}); err == nil {
			ev.Count++
			ev.LastTimestamp = metav1.NewTime(now)
			if _, err := events.Update(ctx, ev, metav1.UpdateOptions{}); err == nil {
				return
			}
		}
	}
	annotations := map[string]string{}
	for k, v := range e.Metadata {
		annotations[k] = v
	}
	if e.Revision != "" {
		annotations[RevisionAnnotation(e.Object.APIVersion)] = e.Revision
	}
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:        fmt.Sprintf("%s.%x", e.Object.Name, now.UnixNano()),
			Namespace:   ns,
			Annotations: annotations,
		},
		InvolvedObject:      e.Object,
		Reason:              e.Reason,
		Message:             truncate(e.Message, 1024),
		FirstTimestamp:      metav1.NewTime(now),
		LastTimestamp:       metav1.NewTime(now),
		Count:               1,
		Type:                typ,
		Source:              corev1.EventSource{Component: e.Controller, Host: k.Host},
		ReportingController: e.Controller,
		ReportingInstance:   k.Host,
	}
	created, err := events.Create(ctx, ev, metav1.CreateOptions{})
	if err != nil {
		return
	}
	k.mu.Lock()
	if len(k.seen) > 10000 {
		k.seen = map[string]string{}
	}
	k.seen[key] = created.Name
	k.mu.Unlock()
}

func (k *Kubernetes) now() time.Time {
	return k.Clock.Now()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// AnnotationPrefix marks the annotations of a Flux object that its events carry in their metadata, as
// Flux's controllers do (e.g. event.toolkit.fluxcd.io/change_request for the pull request comments).
const AnnotationPrefix = "event.toolkit.fluxcd.io/"

// MetadataFromAnnotations returns the annotations of an object that go into its events' metadata (keys
// kept whole), or nil when there are none.
func MetadataFromAnnotations(annotations map[string]string) map[string]string {
	var md map[string]string
	for k, v := range annotations {
		if strings.HasPrefix(k, AnnotationPrefix) && len(k) > len(AnnotationPrefix) {
			if md == nil {
				md = map[string]string{}
			}
			md[k] = v
		}
	}
	return md
}
