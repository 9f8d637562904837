package apply

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/converge-gitops/converge/commands/cmdutil"
	engineapply "github.com/converge-gitops/converge/engine/apply"
)

// display prints the output of concurrent reconciliations grouped per Kustomization and in the order
// given (so CI logs read the same every run): each Kustomization's lines are held until it and every
// earlier one are done. On a terminal a spinner line shows what the running ones are doing; elsewhere
// each phase is a plain line of its block.
type display struct {
	w     io.Writer
	st    cmdutil.Styles
	live  bool
	names []string

	mu     sync.Mutex
	blocks [][]string
	done   []bool
	next   int
	status map[int]string
	frame  int
	drawn  bool
	stop   chan struct{}
	exited chan struct{}
}

func newDisplay(w io.Writer, st cmdutil.Styles, live bool, names []string) *display {
	d := &display{w: w, st: st, live: live, names: names, blocks: make([][]string, len(names)), done: make([]bool, len(names)),
		status: map[int]string{}, stop: make(chan struct{}), exited: make(chan struct{})}
	if live {
		go d.spin()
	} else {
		close(d.exited)
	}
	return d
}

var spinnerFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

func (d *display) spin() {
	defer close(d.exited)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-d.stop:
			d.mu.Lock()
			d.clearLine()
			d.mu.Unlock()
			return
		case <-tick.C:
			d.mu.Lock()
			d.frame++
			d.redraw()
			d.mu.Unlock()
		}
	}
}

// clearLine removes the spinner line; mu must be held.
func (d *display) clearLine() {
	if d.drawn {
		fmt.Fprint(d.w, "\r\033[K")
		d.drawn = false
	}
}

// redraw writes the spinner line; mu must be held.
func (d *display) redraw() {
	d.clearLine()
	if len(d.status) == 0 {
		return
	}
	keys := make([]int, 0, len(d.status))
	for i := range d.status {
		keys = append(keys, i)
	}
	sort.Ints(keys)
	parts := make([]string, 0, len(keys))
	for _, i := range keys {
		parts = append(parts, d.names[i]+": "+d.status[i])
	}
	line := strings.Join(parts, " · ")
	if r := []rune(line); len(r) > 150 {
		line = string(r[:149]) + "…"
	}
	fmt.Fprint(d.w, d.st.Waiting.Render(spinnerFrames[d.frame%len(spinnerFrames)])+" "+line)
	d.drawn = true
}

// line adds a line to the block of Kustomization i.
func (d *display) line(i int, s string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.blocks[i] = append(d.blocks[i], s)
}

// phase records what Kustomization i is doing: the spinner shows it; in plain output a phase change
// (not every count) is a line of the block, so that the log is the same every run.
func (d *display) phase(i int, p engineapply.Progress) {
	d.mu.Lock()
	defer d.mu.Unlock()
	text := string(p.Phase)
	switch {
	case p.Phase == engineapply.PhaseApplying && p.Total > 0:
		text = fmt.Sprintf("applying %d/%d", p.Done, p.Total)
	case p.Phase == engineapply.PhaseWaiting && p.Total > 0:
		text = fmt.Sprintf("waiting for health of %d objects", p.Total)
	case p.Total > 0:
		text = fmt.Sprintf("%s %d objects", p.Phase, p.Total)
	}
	if d.live {
		d.status[i] = text
		d.redraw()
		return
	}
	if p.Done == 0 && (p.Total > 0 || p.Phase == engineapply.PhaseWaiting) {
		if p.Phase == engineapply.PhaseApplying {
			text = fmt.Sprintf("applying %d changed objects", p.Total)
		}
		d.blocks[i] = append(d.blocks[i], "  "+text)
	}
}

// finish marks Kustomization i done and prints every block that is now next in order.
func (d *display) finish(i int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.done[i] = true
	delete(d.status, i)
	d.clearLine()
	for d.next < len(d.done) && d.done[d.next] {
		for _, l := range d.blocks[d.next] {
			fmt.Fprintln(d.w, l)
		}
		d.blocks[d.next] = nil
		d.next++
	}
	if d.live {
		d.redraw()
	}
}

// close stops the spinner and prints whatever is left.
func (d *display) close() {
	if d.live {
		close(d.stop)
	}
	<-d.exited
	d.mu.Lock()
	defer d.mu.Unlock()
	for ; d.next < len(d.done); d.next++ {
		for _, l := range d.blocks[d.next] {
			fmt.Fprintln(d.w, l)
		}
	}
}
