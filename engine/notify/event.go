package notify

import (
	"regexp"
	"strings"
	"unicode"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	notificationv1beta3 "github.com/converge-gitops/converge/crds/notification/v1beta3"
	"github.com/converge-gitops/converge/engine/events"
)

// eventGroup prefixes metadata keys meant for notifications whatever the object's group (Flux's
// event.toolkit.fluxcd.io).
const eventGroup = "event.toolkit.fluxcd.io/"

// Event is an event as Flux's controllers post it to notification-controller and as the generic
// providers forward it: the JSON shape of Flux's event API (event.toolkit.fluxcd.io/v1beta1 Event).
type Event struct {
	InvolvedObject      corev1.ObjectReference `json:"involvedObject"`
	Severity            string                 `json:"severity"`
	Timestamp           metav1.Time            `json:"timestamp"`
	Message             string                 `json:"message"`
	Reason              string                 `json:"reason"`
	Metadata            map[string]string      `json:"metadata,omitempty"`
	ReportingController string                 `json:"reportingController"`
	ReportingInstance   string                 `json:"reportingInstance,omitempty"`
}

// notification turns e into what alert sends: the metadata keys of the object's group and of Flux's
// event group without their prefix, the revision, then the Alert's eventMetadata and summary.
func notification(e events.Event, alert *notificationv1beta3.Alert, instance string) Event {
	group, _, _ := strings.Cut(e.Object.APIVersion, "/")
	md := map[string]string{}
	for k, v := range e.Metadata {
		if rest, ok := strings.CutPrefix(k, eventGroup); ok {
			md[rest] = v
		}
	}
	for k, v := range alert.Spec.EventMetadata {
		md[k] = v
	}
	if alert.Spec.Summary != "" {
		md["summary"] = alert.Spec.Summary
	}
	for k, v := range e.Metadata {
		if rest, ok := strings.CutPrefix(k, group+"/"); ok && !strings.Contains(rest, "/") {
			md[rest] = v
		}
	}
	if e.Revision != "" {
		md["revision"] = e.Revision
	}
	delete(md, "token")
	if len(md) == 0 {
		md = nil
	}
	return Event{
		InvolvedObject:      e.Object,
		Severity:            e.Severity,
		Timestamp:           metav1.NewTime(e.Timestamp.UTC()),
		Message:             e.Message,
		Reason:              e.Reason,
		Metadata:            md,
		ReportingController: e.Controller,
		ReportingInstance:   instance,
	}
}

var hexSHA = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)

// CommitSHA extracts the Git commit of a Flux revision: `main@sha1:<sha>`, `sha1:<sha>`,
// `sha256:<sha>`, the legacy `main/<sha>`, or a bare hash; ok is false for anything else (a chart
// version, an OCI digest without a Git commit).
func CommitSHA(revision string) (sha string, ok bool) {
	r := revision
	if i := strings.LastIndex(r, "@"); i >= 0 {
		r = r[i+1:]
	}
	switch {
	case strings.HasPrefix(r, "sha1:"):
		r = strings.TrimPrefix(r, "sha1:")
	case strings.HasPrefix(r, "sha256:"):
		if strings.Contains(revision, "@") && !strings.HasPrefix(revision, "sha256:") {
			r = strings.TrimPrefix(r, "sha256:")
		} else {
			return "", false // an OCI digest, not a commit
		}
	case strings.Contains(r, "/"):
		r = r[strings.LastIndex(r, "/")+1:]
	}
	if !hexSHA.MatchString(r) {
		return "", false
	}
	return r, true
}

// describe returns Flux's commit status name and description of e: `kind/name` lowercased and the
// reason split into lowercase words ("ReconciliationSucceeded" -> "reconciliation succeeded").
func describe(e Event) (name, desc string) {
	name = strings.ToLower(e.InvolvedObject.Kind + "/" + e.InvolvedObject.Name)
	return name, strings.ToLower(strings.Join(splitCamel(e.Reason), " "))
}

func splitCamel(s string) []string {
	var words []string
	rs := []rune(s)
	start := 0
	for i := 1; i < len(rs); i++ {
		lowerToUpper := unicode.IsLower(rs[i-1]) && unicode.IsUpper(rs[i])
		acronymEnd := i+1 < len(rs) && unicode.IsUpper(rs[i-1]) && unicode.IsUpper(rs[i]) && unicode.IsLower(rs[i+1])
		digitEdge := unicode.IsDigit(rs[i-1]) != unicode.IsDigit(rs[i])
		if lowerToUpper || acronymEnd || digitEdge {
			words = append(words, string(rs[start:i]))
			start = i
		}
	}
	if start < len(rs) {
		words = append(words, string(rs[start:]))
	}
	return words
}

// commitStatusID is Flux's default commit status context: kind/name/<first part of the provider UID>,
// lowercased.
func commitStatusID(providerUID string, e Event) string {
	uid, _, _ := strings.Cut(providerUID, "-")
	return strings.ToLower(e.InvolvedObject.Kind + "/" + e.InvolvedObject.Name + "/" + uid)
}
