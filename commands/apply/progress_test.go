package apply

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/converge-gitops/converge/commands/cmdutil"
	engineapply "github.com/converge-gitops/converge/engine/apply"
)

func TestSchedule(t *testing.T) {
	// 0 is the root; 1, 2 and 3 depend on it only; 4 depends on 1 and 2; 5 on 4.
	deps := [][]int{nil, {0}, {0}, {0}, {1, 2}, {4}}
	for _, tc := range []struct {
		name        string
		workers     int
		fail        map[int]bool
		maxParallel int32
		ran         []int
		skipped     []string
	}{
		{"independent ones together", 4, nil, 3, []int{0, 1, 2, 3, 4, 5}, nil},
		{"bounded", 2, nil, 2, []int{0, 1, 2, 3, 4, 5}, nil},
		{"one at a time", 1, nil, 1, []int{0, 1, 2, 3, 4, 5}, nil},
		{"a failed dependency skips its dependents", 4, map[int]bool{2: true}, 3, []int{0, 1, 2, 3}, []string{"4 after 2", "5 after 4"}},
		{"a failed root skips everything", 4, map[int]bool{0: true}, 1, []int{0}, []string{"1 after 0", "2 after 0", "3 after 0", "4 after 1", "5 after 4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var running, maxRunning atomic.Int32
			var mu sync.Mutex
			finished := map[int]bool{}
			var ran []int
			var skipped []string
			run := func(i int) bool {
				n := running.Add(1)
				for {
					m := maxRunning.Load()
					if n <= m || maxRunning.CompareAndSwap(m, n) {
						break
					}
				}
				mu.Lock()
				for _, d := range deps[i] {
					if !finished[d] {
						t.Errorf("%d started before its dependency %d finished", i, d)
					}
				}
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
				running.Add(-1)
				mu.Lock()
				finished[i] = true
				ran = append(ran, i)
				mu.Unlock()
				return !tc.fail[i]
			}
			skip := func(i, dep int) {
				mu.Lock()
				defer mu.Unlock()
				skipped = append(skipped, fmt.Sprintf("%d after %d", i, dep))
			}
			schedule(len(deps), deps, tc.workers, run, skip)
			if maxRunning.Load() != tc.maxParallel {
				t.Errorf("at most %d at once, want %d", maxRunning.Load(), tc.maxParallel)
			}
			if fmt.Sprint(sorted(ran)) != fmt.Sprint(tc.ran) || strings.Join(skipped, ",") != strings.Join(tc.skipped, ",") {
				t.Errorf("ran %v skipped %v, want %v %v", sorted(ran), skipped, tc.ran, tc.skipped)
			}
		})
	}
}

func sorted(in []int) []int {
	out := append([]int{}, in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// Plain output groups each Kustomization's lines, in the given order whatever order they finish in,
// with one line per phase (never the running counts).
func TestDisplayPlainIsGroupedAndOrdered(t *testing.T) {
	var buf bytes.Buffer
	ios, _, _, _ := cmdutil.Test()
	d := newDisplay(&buf, ios.ErrStyles(), false, []string{"a", "b", "c"})
	d.line(2, "c: start")
	d.phase(2, engineapply.Progress{Phase: engineapply.PhaseValidating, Total: 3})
	d.phase(1, engineapply.Progress{Phase: engineapply.PhaseApplying, Total: 2})
	d.phase(1, engineapply.Progress{Phase: engineapply.PhaseApplying, Done: 1, Total: 2})
	d.line(1, "b: done")
	d.finish(2)
	d.finish(1)
	if buf.Len() != 0 {
		t.Fatalf("printed before the first Kustomization finished:\n%s", buf.String())
	}
	d.line(0, "a: done")
	d.phase(0, engineapply.Progress{Phase: engineapply.PhaseWaiting, Total: 1})
	d.finish(0)
	d.close()
	want := "a: done\n  waiting for health of 1 objects\n  applying 2 changed objects\nb: done\nc: start\n  validating 3 objects\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

// On a terminal the running phases show on one redrawn spinner line, cleared before blocks are printed.
func TestDisplayLive(t *testing.T) {
	var buf syncBuffer
	ios, _, _, _ := cmdutil.Test()
	d := newDisplay(&buf, ios.ErrStyles(), true, []string{"flux-system/apps", "flux-system/infra"})
	d.phase(0, engineapply.Progress{Phase: engineapply.PhaseApplying, Done: 1, Total: 2})
	d.phase(1, engineapply.Progress{Phase: engineapply.PhaseWaiting, Total: 4})
	time.Sleep(250 * time.Millisecond)
	d.line(0, "apps: done")
	d.finish(0)
	d.line(1, "infra: done")
	d.finish(1)
	d.close()
	out := buf.String()
	for _, want := range []string{"flux-system/apps: applying 1/2 · flux-system/infra: waiting for health of 4 objects", "\r\033[Kapps: done\n", "infra: done\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%q", want, out)
		}
	}
	if !strings.HasSuffix(out, "infra: done\n") {
		t.Errorf("the spinner line was left behind: %q", out)
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
