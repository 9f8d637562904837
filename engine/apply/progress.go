package apply

import "context"

// Phase is a step of one reconciliation, for progress displays.
type Phase string

// Phases, in the order they happen.
const (
	PhaseValidating Phase = "validating"
	PhaseApplying   Phase = "applying"
	PhasePruning    Phase = "pruning"
	PhaseWaiting    Phase = "waiting for health"
)

// Progress is where a reconciliation is: its phase and, when counted, how many of Total are done.
type Progress struct {
	Phase Phase
	Done  int
	Total int
}

type progressKey struct{}

// WithProgress returns a context whose Apply, Prune and reconciliation calls report their progress to fn.
// fn may be called from several goroutines at once and must return quickly.
func WithProgress(ctx context.Context, fn func(Progress)) context.Context {
	return context.WithValue(ctx, progressKey{}, fn)
}

// Report sends p to the progress function of ctx, if any.
func Report(ctx context.Context, p Progress) {
	if fn, ok := ctx.Value(progressKey{}).(func(Progress)); ok && fn != nil {
		fn(p)
	}
}
