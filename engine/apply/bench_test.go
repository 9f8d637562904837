package apply

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// BenchmarkApply1000 measures converge against kubectl and against the API server itself on 1,000 objects
// (250 each of Deployments with replicas 0, Services, ConfigMaps and ServiceAccounts) in the package's
// local control plane. One iteration is the whole operation on all 1,000 objects; each sub-benchmark
// reports objects/s and the summary the ratios (converge's speed over kubectl's, and over the API
// server limit).
//
// First applies delete and recreate their namespace before every iteration, outside the timer, so
// converge, kubectl and the raw requests all apply the same 1,000 objects into an existing empty
// namespace (the Namespace object is not part of the timed work). Re-applies and diffs share a set
// applied once by converge (field manager "converge") or once by kubectl (field manager "bench"), in
// its own namespace, after the controllers are done with it (the deployment controller, throttled by
// kube-controller-manager's default client rate limit, takes most of a minute for 250 Deployments). Every namespace
// is deleted, and waited for, when the sub-benchmarks using it are done, so each measurement sees only
// its own 1,000 objects.
//
// converge runs in-process with a warm discovery cache and the client limits of `converge apply`
// (kube.DefaultQPS and kube.DefaultBurst), with a new client (a full burst) at the start of every sub-benchmark run; with
// these limits its request count sets its time: (requests - 400) / 200 seconds. kubectl is a new
// process per iteration with a warm disk discovery cache. The raw requests have no client-side limit.
//
// The whole run takes about five minutes, nearly all of it outside the timers (waiting for the
// controllers and for namespace deletion); every operation takes over a second, so the default
// -benchtime of 1s runs each once, as -benchtime=1x does.
func BenchmarkApply1000(b *testing.B) {
	e := newBenchEnv(b)

	applied := func(ns string, apply func(b *testing.B, s *benchSet)) *benchSet {
		s := e.newSet(b, ns)
		s.prepare = func(b *testing.B, s *benchSet) {
			e.recreateNamespace(b, s.ns)
			apply(b, s)
			e.waitSettled(b, s.ns)
		}
		return s
	}
	byConverge := applied("bench-converge-applied", func(b *testing.B, s *benchSet) {
		e.convergeApply(b, s.objs, map[Action]int{Created: benchObjectCount})
	})
	byKubectl := applied("bench-kubectl-applied", e.kubectlApply)
	firstApply := func(name string, op func(b *testing.B, s *benchSet)) benchCase {
		return benchCase{
			name:   name,
			set:    e.newSet(b, "bench-"+name),
			before: func(b *testing.B, s *benchSet) { e.recreateNamespace(b, s.ns) },
			op:     op,
			last:   true,
		}
	}

	cases := []benchCase{
		firstApply(benchConvergeFirst, func(b *testing.B, s *benchSet) {
			e.convergeApply(b, s.objs, map[Action]int{Created: benchObjectCount})
		}),
		firstApply(benchKubectlFirst, e.kubectlApply),
		firstApply(benchRawFirst, e.rawApply),

		{
			name: benchConvergeUnchanged,
			set:  byConverge,
			op: func(b *testing.B, s *benchSet) {
				e.convergeApply(b, s.objs, map[Action]int{Unchanged: benchObjectCount})
			},
		},
		{
			name: benchConvergeDiff,
			set:  byConverge,
			op: func(b *testing.B, s *benchSet) {
				diffs, err := e.m.Diff(e.ctx, s.objs)
				if err != nil {
					b.Fatal(err)
				}
				for _, d := range diffs {
					if d.Action != Unchanged {
						b.Fatalf("converge diff: %s %s in an unchanged set", d.Object, d.Action)
					}
				}
				if len(diffs) != benchObjectCount {
					b.Fatalf("converge diff: %d objects, want %d", len(diffs), benchObjectCount)
				}
			},
		},
		{
			// Ten ConfigMaps differ from the applied set; nothing is written.
			name: benchConvergeDiffTen,
			set:  byConverge,
			op: func(b *testing.B, s *benchSet) {
				diffs, err := e.m.Diff(e.ctx, tenChanged(s.objs))
				if err != nil {
					b.Fatal(err)
				}
				changed := 0
				for _, d := range diffs {
					if d.Action == Configured {
						changed++
					} else if d.Action != Unchanged {
						b.Fatalf("converge diff: %s %s", d.Object, d.Action)
					}
				}
				if changed != benchChangedCount || len(diffs) != benchObjectCount {
					b.Fatalf("converge diff: %d changed of %d objects, want %d of %d", changed, len(diffs), benchChangedCount, benchObjectCount)
				}
			},
		},
		{
			// Last on this set: it leaves one ConfigMap changed.
			name: benchConvergeOneChanged,
			set:  byConverge,
			before: func(b *testing.B, s *benchSet) {
				// A new value every iteration, so every iteration has exactly one change to write.
				s.changed = slices.Clone(s.objs)
				i := 2 * benchPerKind // the first ConfigMap
				cm := s.objs[i].DeepCopy()
				cm.Object["data"].(map[string]any)["REVISION"] = fmt.Sprint(s.iter)
				s.changed[i] = cm
			},
			op: func(b *testing.B, s *benchSet) {
				e.convergeApply(b, s.changed, map[Action]int{Configured: 1, Unchanged: benchObjectCount - 1})
			},
			last: true,
		},

		{name: benchKubectlUnchanged, set: byKubectl, op: e.kubectlApply},
		// The requests kubectl sends for an unchanged re-apply, in parallel: the fastest an unchanged
		// re-apply can be while it still sends one request per object.
		{name: benchRawUnchanged, set: byKubectl, op: e.rawApply},
		{name: benchKubectlDiff, set: byKubectl, op: e.kubectlDiff},
		{name: benchKubectlDiffTen, set: byKubectl, op: e.kubectlDiffTen, last: true},
	}
	for _, c := range cases {
		e.run(b, c)
	}
	// Sets whose last sub-benchmark a -bench filter left out.
	for _, s := range []*benchSet{byConverge, byKubectl} {
		if s.prepared {
			e.deleteNamespace(b, s.ns)
		}
	}
	b.Run("summary", e.summary)
}

// Sub-benchmark names.
const (
	benchConvergeFirst      = "converge-first-apply"
	benchKubectlFirst       = "kubectl-first-apply"
	benchRawFirst           = "apiserver-limit-first-apply"
	benchConvergeUnchanged  = "converge-reapply-unchanged"
	benchKubectlUnchanged   = "kubectl-reapply-unchanged"
	benchRawUnchanged       = "apiserver-limit-reapply-unchanged"
	benchConvergeOneChanged = "converge-reapply-one-changed"
	benchConvergeDiff       = "converge-diff-unchanged"
	benchKubectlDiff        = "kubectl-diff-unchanged"
	benchConvergeDiffTen    = "converge-diff-ten-changed"
	benchKubectlDiffTen     = "kubectl-diff-ten-changed"
)

// benchCase is one sub-benchmark on set: before runs before every iteration, outside the timer; op is
// the timed operation on all 1,000 objects. last says no later sub-benchmark uses set.
type benchCase struct {
	name   string
	set    *benchSet
	before func(b *testing.B, s *benchSet)
	op     func(b *testing.B, s *benchSet)
	last   bool
}

// run runs c as a sub-benchmark (Go may call it several times with growing b.N), records its objects/s
// for the summary and, when c is the set's last user, deletes the namespace and waits for that.
func (e *benchEnv) run(b *testing.B, c benchCase) {
	s := c.set
	b.Run(c.name, func(b *testing.B) {
		if !s.prepared {
			s.prepared = true
			if s.prepare != nil {
				s.prepare(b, s)
			}
		}
		e.freshManager(b)
		b.ResetTimer()
		for range b.N {
			s.iter++
			if c.before != nil {
				b.StopTimer()
				c.before(b, s)
				b.StartTimer()
			}
			c.op(b, s)
		}
		b.StopTimer()
		rate := float64(benchObjectCount*b.N) / b.Elapsed().Seconds()
		b.ReportMetric(rate, "objects/s")
		e.rate[c.name] = rate
	})
	if c.last && s.prepared {
		e.deleteNamespace(b, s.ns)
		s.prepared = false
	}
}

// summary reports how converge compares: speed-ups over kubectl (above 1: converge is faster) and the
// fraction of the API server limit each reaches. It measures nothing itself.
func (e *benchEnv) summary(b *testing.B) {
	for b.Loop() {
	}
	b.ReportMetric(0, "ns/op")
	var lines []string
	ratio := func(unit, num, den string) {
		n, d := e.rate[num], e.rate[den]
		if n == 0 || d == 0 {
			return // one of them did not run (-bench filter) or failed
		}
		b.ReportMetric(n/d, unit)
		lines = append(lines, fmt.Sprintf("%-38s %6.0f / %6.0f objects/s = %5.2fx", unit, n, d, n/d))
	}
	ratio("first-apply-converge/kubectl", benchConvergeFirst, benchKubectlFirst)
	ratio("reapply-unchanged-converge/kubectl", benchConvergeUnchanged, benchKubectlUnchanged)
	ratio("reapply-one-changed-converge/kubectl", benchConvergeOneChanged, benchKubectlUnchanged)
	ratio("diff-unchanged-converge/kubectl", benchConvergeDiff, benchKubectlDiff)
	ratio("diff-ten-changed-converge/kubectl", benchConvergeDiffTen, benchKubectlDiffTen)
	ratio("first-apply-converge/apiserver-limit", benchConvergeFirst, benchRawFirst)
	ratio("first-apply-kubectl/apiserver-limit", benchKubectlFirst, benchRawFirst)
	ratio("reapply-converge/apiserver-limit", benchConvergeUnchanged, benchRawUnchanged)
	ratio("reapply-kubectl/apiserver-limit", benchKubectlUnchanged, benchRawUnchanged)
	if len(lines) > 0 {
		b.Logf("converge against kubectl and the API server limit (numerator / denominator):\n%s", strings.Join(lines, "\n"))
	}
}
