package v1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// HistoryMaxSize is the number of snapshots kept in a History.
const HistoryMaxSize = 5

// History records recent reconciliations, most recent first.
type History []Snapshot

// Snapshot records the reconciliation of one set of resources, identified by its digest.
type Snapshot struct {
	// Digest identifies the reconciled resources, "<algo>:<hex>".
	// +required
	Digest string `json:"digest"`

	// FirstReconciled is when this digest was first reconciled.
	// +required
	FirstReconciled metav1.Time `json:"firstReconciled"`

	// LastReconciled is when this digest was last reconciled.
	// +required
	LastReconciled metav1.Time `json:"lastReconciled"`

	// LastReconciledDuration is how long the last reconciliation took.
	// +kubebuilder:validation:Type=string
	// +required
	LastReconciledDuration metav1.Duration `json:"lastReconciledDuration"`

	// LastReconciledStatus is the outcome of the last reconciliation.
	// +required
	LastReconciledStatus string `json:"lastReconciledStatus"`

	// TotalReconciliations counts the reconciliations recorded in this snapshot.
	// +required
	TotalReconciliations int64 `json:"totalReconciliations"`

	// Metadata holds extra details about the snapshot.
	// +optional
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Latest returns the most recent snapshot, or nil for an empty history.
func (h History) Latest() *Snapshot {
	if len(h) == 0 {
		return nil
	}
	return &h[0]
}

// Upsert records a reconciliation. A snapshot with the same digest and status is updated and
// moved to the front; otherwise a new snapshot is put in front. The history is then cut to
// HistoryMaxSize entries.
func (h *History) Upsert(digest string, at time.Time, took time.Duration, status string, metadata map[string]string) {
	now := metav1.NewTime(at)
	for i, s := range *h {
		if s.Digest != digest || s.LastReconciledStatus != status {
			continue
		}
		s.LastReconciled = now
		s.LastReconciledDuration = metav1.Duration{Duration: took}
		s.TotalReconciliations++
		s.Metadata = metadata
		copy((*h)[1:i+1], (*h)[:i])
		(*h)[0] = s
		return
	}
	*h = append(History{{
		Digest:                 digest,
		FirstReconciled:        now,
		LastReconciled:         now,
		LastReconciledDuration: metav1.Duration{Duration: took},
		LastReconciledStatus:   status,
		TotalReconciliations:   1,
		Metadata:               metadata,
	}}, *h...)
	if len(*h) > HistoryMaxSize {
		*h = (*h)[:HistoryMaxSize]
	}
}
