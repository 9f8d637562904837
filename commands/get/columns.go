package get

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/converge-gitops/converge/engine/inspect"
)

// kindTable is how `get` shows one kind, column for column as Flux's `flux get` does.
type kindTable struct {
	// head are the column headers after NAME (and SOURCE with --show-source), as Flux capitalises them
	// before the table upper-cases them.
	head []string
	// cells returns the row's cells for head.
	cells func(u *unstructured.Unstructured, tz *time.Location) []string
	// source returns the SOURCE column of --show-source (nil: the kind has no such column).
	source func(u *unstructured.Unstructured) string
	// alwaysReady marks kinds Flux shows as ready without reading a condition (alerts, providers); their
	// status selector matches ready=true only.
	alwaysReady bool
}

// longHex is a digest or commit hash in a revision or message: Flux shows its first 8 characters.
var longHex = regexp.MustCompile(`\b[a-f0-9]{40,128}\b`)

func shortHex(s string) string {
	return longHex.ReplaceAllStringFunc(s, func(h string) string { return h[:8] })
}

// readyAndMessage are the READY and MESSAGE cells: the Ready condition's status and message, or False
// "waiting to be reconciled" while the object has no Ready condition.
func readyAndMessage(u *unstructured.Unstructured) (string, string) {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		cm, _ := c.(map[string]any)
		if cm["type"] == "Ready" {
			status, _ := cm["status"].(string)
			msg, _ := cm["message"].(string)
			return status, msg
		}
	}
	return "False", "waiting to be reconciled"
}

// title is a bool as Flux prints it: True or False.
func title(b bool) string {
	s := strconv.FormatBool(b)
	return strings.ToUpper(s[:1]) + s[1:]
}

func str(u *unstructured.Unstructured, path ...string) string {
	s, _, _ := unstructured.NestedString(u.Object, path...)
	return s
}

func suspended(u *unstructured.Unstructured) string {
	b, _, _ := unstructured.NestedBool(u.Object, "spec", "suspend")
	return title(b)
}

// timestamp formats an RFC 3339 time of the status in tz, as Flux prints scan and run times.
func timestamp(u *unstructured.Unstructured, tz *time.Location, path ...string) string {
	s := str(u, path...)
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return s
	}
	return t.In(tz).Format(time.RFC3339)
}

// ref formats a reference as Kind/namespace/name; the namespace defaults to the object's when
// defaultNS is set.
func ref(u *unstructured.Unstructured, defaultNS bool, path ...string) string {
	m, _, _ := unstructured.NestedStringMap(u.Object, path...)
	ns := m["namespace"]
	if ns == "" && defaultNS {
		ns = u.GetNamespace()
	}
	return fmt.Sprintf("%s/%s/%s", m["kind"], ns, m["name"])
}

// artifactCells are the columns of the sources: artifact revision, suspended, ready, message, digests
// shortened in the revision when shortRevision is set and always in the message.
func artifactCells(shortRevision bool) func(*unstructured.Unstructured, *time.Location) []string {
	return func(u *unstructured.Unstructured, _ *time.Location) []string {
		rev := str(u, "status", "artifact", "revision")
		if shortRevision {
			rev = shortHex(rev)
		}
		ready, msg := readyAndMessage(u)
		return []string{rev, suspended(u), ready, shortHex(msg)}
	}
}

var revisionHead = []string{"Revision", "Suspended", "Ready", "Message"}

// kindTables are the tables of the kinds Flux's `flux get` lists, by kinds registry key. A kind not
// listed (none today) is shown with revisionHead and the inspect row's values.
var kindTables = map[string]kindTable{
	"git":    {head: revisionHead, cells: artifactCells(true)},
	"oci":    {head: revisionHead, cells: artifactCells(true)},
	"bucket": {head: revisionHead, cells: artifactCells(true)},
	"chart":  {head: revisionHead, cells: artifactCells(false)}, // a chart revision is a SemVer, never shortened
	"helm": {head: revisionHead, cells: func(u *unstructured.Unstructured, tz *time.Location) []string {
		cells := artifactCells(true)(u, tz)
		if str(u, "spec", "type") == "oci" { // an OCI HelmRepository is not reconciled: shown ready
			cells[2], cells[3] = "True", "Helm repository is Ready"
		}
		return cells
	}},
	"external": {head: []string{"Revision", "Source", "Ready", "Message"}, cells: func(u *unstructured.Unstructured, _ *time.Location) []string {
		var source string
		if _, ok, _ := unstructured.NestedMap(u.Object, "spec", "sourceRef"); ok {
			source = ref(u, false, "spec", "sourceRef")
		}
		ready, msg := readyAndMessage(u)
		return []string{shortHex(str(u, "status", "artifact", "revision")), source, ready, shortHex(msg)}
	}},
	"kustomizations": {head: revisionHead,
		cells: func(u *unstructured.Unstructured, _ *time.Location) []string {
			ready, msg := readyAndMessage(u)
			return []string{shortHex(str(u, "status", "lastAppliedRevision")), suspended(u), ready, shortHex(msg)}
		},
		source: func(u *unstructured.Unstructured) string { return ref(u, true, "spec", "sourceRef") },
	},
	"helmreleases": {head: revisionHead,
		cells: func(u *unstructured.Unstructured, _ *time.Location) []string {
			rev := str(u, "status", "lastAttemptedRevision")
			if history, _, _ := unstructured.NestedSlice(u.Object, "status", "history"); len(history) > 0 {
				if latest, ok := history[0].(map[string]any); ok {
					rev, _ = latest["chartVersion"].(string)
				}
			}
			ready, msg := readyAndMessage(u)
			return []string{rev, suspended(u), ready, msg}
		},
		source: func(u *unstructured.Unstructured) string {
			if _, ok, _ := unstructured.NestedMap(u.Object, "spec", "chartRef"); ok {
				return ref(u, true, "spec", "chartRef")
			}
			return ref(u, true, "spec", "chart", "spec", "sourceRef")
		},
	},
	"artifactgenerators": {head: []string{"Suspended", "Ready", "Message"}, cells: func(u *unstructured.Unstructured, _ *time.Location) []string {
		// An ArtifactGenerator is suspended by its reconcile annotation, not a spec field.
		disabled := strings.EqualFold(u.GetAnnotations()["source.extensions.fluxcd.io/reconcile"], "disabled")
		ready, msg := readyAndMessage(u)
		return []string{title(disabled), ready, msg}
	}},
	"alerts": {head: []string{"Suspended", "Ready", "Message"}, alwaysReady: true, cells: func(u *unstructured.Unstructured, _ *time.Location) []string {
		return []string{suspended(u), "True", "Alert is Ready"}
	}},
	"providers": {head: []string{"Ready", "Message"}, alwaysReady: true, cells: func(*unstructured.Unstructured, *time.Location) []string {
		return []string{"True", "Provider is Ready"}
	}},
	"receivers": {head: []string{"Suspended", "Ready", "Message"}, cells: func(u *unstructured.Unstructured, _ *time.Location) []string {
		ready, msg := readyAndMessage(u)
		return []string{suspended(u), ready, msg}
	}},
	"imagerepositories": {head: []string{"Last scan", "Suspended", "Ready", "Message"}, cells: func(u *unstructured.Unstructured, tz *time.Location) []string {
		ready, msg := readyAndMessage(u)
		return []string{timestamp(u, tz, "status", "lastScanResult", "scanTime"), suspended(u), ready, msg}
	}},
	"imagepolicies": {head: []string{"Image", "Tag", "Ready", "Message"}, cells: func(u *unstructured.Unstructured, _ *time.Location) []string {
		ready, msg := readyAndMessage(u)
		return []string{str(u, "status", "latestRef", "name"), str(u, "status", "latestRef", "tag"), ready, msg}
	}},
	"imageupdateautomations": {head: []string{"Last run", "Suspended", "Ready", "Message"}, cells: func(u *unstructured.Unstructured, tz *time.Location) []string {
		ready, msg := readyAndMessage(u)
		return []string{timestamp(u, tz, "status", "lastAutomationRunTime"), suspended(u), ready, msg}
	}},
}

// tableOf returns the table of the kind with registry key key.
func tableOf(key string) kindTable {
	if t, ok := kindTables[key]; ok {
		return t
	}
	return kindTable{head: revisionHead}
}

// layout is one table's shape: the kind's columns and the flags that add columns.
type layout struct {
	table                   kindTable
	namespace, kind, source bool
	// shard adds the SHARD column after the name (--show-shard, converge's addition).
	shard bool
	tz    *time.Location
}

func (l layout) header() []string {
	var head []string
	if l.namespace {
		head = append(head, "Namespace")
	}
	head = append(head, "Name")
	if l.shard {
		head = append(head, "Shard")
	}
	if l.source && l.table.source != nil {
		head = append(head, "Source")
	}
	return append(head, l.table.head...)
}

func (l layout) row(r inspect.Row) []string {
	var cols []string
	if l.namespace {
		cols = append(cols, r.Namespace)
	}
	name := r.Name
	if l.kind {
		name = strings.ToLower(r.Kind) + "/" + r.Name
	}
	cols = append(cols, name)
	if l.shard {
		cols = append(cols, r.Shard)
	}
	if l.source && l.table.source != nil {
		cols = append(cols, l.table.source(r.Object))
	}
	if l.table.cells == nil || r.Object == nil {
		return append(cols, r.Revision, title(r.Suspended), r.Ready, r.Message)
	}
	return append(cols, l.table.cells(r.Object, l.tz)...)
}

// selects reports whether r passes the status selector as Flux judges it: the condition of that type
// has that status (a missing condition matches no status), negated by !=. Kinds shown as always ready
// match ready=true only.
func (l layout) selects(sel *inspect.StatusSelector, r inspect.Row) bool {
	if sel == nil {
		return true
	}
	var match bool
	if l.table.alwaysReady {
		match = strings.EqualFold(sel.Type, "Ready") && strings.EqualFold(sel.Status, "True")
	} else {
		for t, status := range r.Conditions {
			if strings.EqualFold(t, sel.Type) {
				match = strings.EqualFold(status, sel.Status)
			}
		}
	}
	return match != sel.Negate
}
