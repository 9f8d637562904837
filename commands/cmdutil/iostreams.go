package cmdutil

import (
	"bytes"
	"io"
	"os"

	"strings"

	"github.com/mattn/go-isatty"
)

// IOStreams are the standard streams a command reads and writes, and whether its output may be coloured.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	colorOut bool
	colorErr bool
	// errLive: stderr is a terminal that can redraw a line.
	errLive bool
}

// System returns the process's streams; colour is on only for terminals and when NO_COLOR is unset.
func System() *IOStreams {
	return newIOStreams(os.Stdin, os.Stdout, os.Stderr, os.Getenv, isTerminal)
}

func newIOStreams(in io.Reader, out, errOut io.Writer, getenv func(string) string, terminal func(io.Writer) bool) *IOStreams {
	noColor := getenv("NO_COLOR") != "" || getenv("TERM") == "dumb"
	return &IOStreams{
		In:       in,
		Out:      out,
		ErrOut:   errOut,
		colorOut: !noColor && terminal(out),
		colorErr: !noColor && terminal(errOut),
		errLive:  getenv("TERM") != "dumb" && terminal(errOut),
	}
}

// Test returns streams backed by buffers, never coloured, for tests.
func Test() (*IOStreams, *bytes.Buffer, *bytes.Buffer, *bytes.Buffer) {
	in, out, errOut := &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut}, in, out, errOut
}

// ColorEnabled reports whether stdout may be coloured.
func (s *IOStreams) ColorEnabled() bool { return s.colorOut }

// ErrLive reports whether stderr is a terminal that can redraw a line (progress displays).
func (s *IOStreams) ErrLive() bool { return s.errLive }

// Styles returns the styles for stdout.
func (s *IOStreams) Styles() Styles { return newStyles(s.colorOut) }

// ErrStyles returns the styles for stderr, where progress and check lines go.
func (s *IOStreams) ErrStyles() Styles { return newStyles(s.colorErr) }

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// Styles are the only place colours and symbols are chosen.
type Styles struct {
	Success Style
	Failure Style
	Warning Style
	Action  Style
	Waiting Style
	Header  Style
	Added   Style
	Removed Style
	Dim     Style
}

// Style is an ANSI SGR attribute (a colour, bold, faint), applied only where colour is enabled.
type Style struct {
	sgr string
}

// Render returns s styled, each line on its own so that a line stays whole; s as it is without colour.
func (st Style) Render(s string) string {
	if st.sgr == "" {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = "\x1b[" + st.sgr + "m" + l + "\x1b[0m"
	}
	return strings.Join(lines, "\n")
}

func newStyles(color bool) Styles {
	if !color {
		return Styles{}
	}
	return Styles{
		Success: Style{"32"},
		Failure: Style{"31"},
		Warning: Style{"33"},
		Action:  Style{"36"},
		Waiting: Style{"34"},
		Header:  Style{"1"},
		Added:   Style{"32"},
		Removed: Style{"31"},
		Dim:     Style{"2"},
	}
}

// Line prefixes of progress output, as Flux's CLI prints them.
func (s Styles) ActionLine(msg string) string  { return s.Action.Render("►") + " " + msg }
func (s Styles) SuccessLine(msg string) string { return s.Success.Render("✔") + " " + msg }
func (s Styles) FailureLine(msg string) string { return s.Failure.Render("✗") + " " + msg }
func (s Styles) WarningLine(msg string) string { return s.Warning.Render("⚠️") + " " + msg }
func (s Styles) WaitingLine(msg string) string { return s.Waiting.Render("◎") + " " + msg }
