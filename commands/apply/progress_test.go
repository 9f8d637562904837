package apply

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/converge-gitops/converge/commands/cmdutil"
	engineapply "github.com/converge-gitops/converge/engine/apply"
)

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
