package driver

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
