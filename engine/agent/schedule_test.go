package agent

import (
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestScheduleNext(t *testing.T) {
	noJitter := func(d time.Duration) time.Duration { return d }
	fail := errors.New("boom")
	tests := []struct {
		name   string
		before int // consecutive failures so far
		out    outcome
		want   time.Duration
		after  int
	}{
		{"success waits the interval", 0, outcome{requeue: 10 * time.Minute}, 10 * time.Minute, 0},
		{"success resets failures", 3, outcome{requeue: time.Minute}, time.Minute, 0},
		{"first failure retries after 1s", 0, outcome{requeue: time.Minute, err: fail}, time.Second, 1},
		{"third failure after 4s", 2, outcome{requeue: time.Minute, err: fail}, 4 * time.Second, 3},
		{"backoff capped by the retry interval", 10, outcome{requeue: 30 * time.Second, err: fail}, 30 * time.Second, 11},
		{"waiting on a dependency: fixed delay, no backoff", 2, outcome{requeue: 30 * time.Second, err: fail, waiting: true}, 30 * time.Second, 2},
		{"suspended: off schedule", 0, outcome{skipped: true}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &schedule{failures: tt.before}
			if got := s.next(tt.out, noJitter); got != tt.want {
				t.Errorf("next = %s, want %s", got, tt.want)
			}
			if s.failures != tt.after {
				t.Errorf("failures = %d, want %d", s.failures, tt.after)
			}
		})
	}
}

func TestJitterStaysWithinBounds(t *testing.T) {
	a := &Agent{opts: Options{JitterPercent: 5}}
	seen := map[bool]bool{}
	for range 1000 {
		d := a.jitter(time.Hour)
		if d < 57*time.Minute || d > 63*time.Minute {
			t.Fatalf("jitter(1h) = %s, outside ±5%%", d)
		}
		seen[d > time.Hour] = true
	}
	if !seen[true] || !seen[false] {
		t.Error("jitter never spreads both ways")
	}
}

func TestNeedsReconcile(t *testing.T) {
	obj := func(gen int64, requested string, deleting bool) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{}}
		u.SetGeneration(gen)
		if requested != "" {
			u.SetAnnotations(map[string]string{"reconcile.fluxcd.io/requestedAt": requested})
		}
		if deleting {
			now := metav1Now()
			u.SetDeletionTimestamp(&now)
		}
		return u
	}
	tests := []struct {
		name     string
		old, new *unstructured.Unstructured
		want     bool
	}{
		{"status write", obj(1, "", false), obj(1, "", false), false},
		{"spec change", obj(1, "", false), obj(2, "", false), true},
		{"reconcile request", obj(1, "a", false), obj(1, "b", false), true},
		{"same request", obj(1, "a", false), obj(1, "a", false), false},
		{"deletion", obj(1, "", false), obj(1, "", true), true},
	}
	for _, tt := range tests {
		if got := needsReconcile(tt.old, tt.new); got != tt.want {
			t.Errorf("%s: needsReconcile = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func metav1Now() metav1.Time { return metav1.Now() }
