package cmdutil

import (
	"bytes"
	"io"
	"testing"
)

// TestColor: colour only on a terminal, and never with NO_COLOR or TERM=dumb; without colour the
// styles leave text as it is. Progress redraws only on a terminal stderr, NO_COLOR or not, never with TERM=dumb.
func TestColor(t *testing.T) {
	out, errOut := &bytes.Buffer{}, &bytes.Buffer{}
	tests := []struct {
		name           string
		env            map[string]string
		terminal       []io.Writer
		wantOut, wantE string
		wantLive       bool
	}{
		{name: "terminals", terminal: []io.Writer{out, errOut}, wantOut: "\x1b[32m✔\x1b[0m ok", wantE: "\x1b[31m✗\x1b[0m ok", wantLive: true},
		{name: "stdout piped", terminal: []io.Writer{errOut}, wantOut: "✔ ok", wantE: "\x1b[31m✗\x1b[0m ok", wantLive: true},
		{name: "not terminals", wantOut: "✔ ok", wantE: "✗ ok"},
		{name: "NO_COLOR", env: map[string]string{"NO_COLOR": "1"}, terminal: []io.Writer{out, errOut}, wantOut: "✔ ok", wantE: "✗ ok", wantLive: true},
		{name: "TERM=dumb", env: map[string]string{"TERM": "dumb"}, terminal: []io.Writer{out, errOut}, wantOut: "✔ ok", wantE: "✗ ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isTerm := func(w io.Writer) bool {
				for _, x := range tt.terminal {
					if x == w {
						return true
					}
				}
				return false
			}
			s := newIOStreams(nil, out, errOut, func(k string) string { return tt.env[k] }, isTerm)
			if got := s.Styles().SuccessLine("ok"); got != tt.wantOut {
				t.Errorf("stdout %q, want %q", got, tt.wantOut)
			}
			if got := s.ErrStyles().FailureLine("ok"); got != tt.wantE {
				t.Errorf("stderr %q, want %q", got, tt.wantE)
			}
			if s.ColorEnabled() != (tt.wantOut != "✔ ok") {
				t.Errorf("ColorEnabled %v", s.ColorEnabled())
			}
			if s.ErrLive() != tt.wantLive {
				t.Errorf("ErrLive %v, want %v", s.ErrLive(), tt.wantLive)
			}
		})
	}
	if got := newStyles(true).Header.Render("a\nb"); got != "\x1b[1ma\x1b[0m\n\x1b[1mb\x1b[0m" {
		t.Errorf("multi-line %q", got)
	}
}
