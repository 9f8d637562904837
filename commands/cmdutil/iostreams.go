package cmdutil

import (
	"bytes"
	"io"
	"os"

	"github.com/charmbracelet/lipgloss"
	"github.com/mattn/go-isatty"
	"github.com/muesli/termenv"
)

// IOStreams are the standard streams a command reads and writes, and whether its output may be coloured.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	colorOut bool
	colorErr bool
}

// System returns the process's streams; colour is on only for terminals and when NO_COLOR is unset.
func System() *IOStreams {
	noColor := os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb"
	return &IOStreams{
		In:       os.Stdin,
		Out:      os.Stdout,
		ErrOut:   os.Stderr,
		colorOut: !noColor && isTerminal(os.Stdout),
		colorErr: !noColor && isTerminal(os.Stderr),
	}
}

// Test returns streams backed by buffers, never coloured, for tests.
func Test() (*IOStreams, *bytes.Buffer, *bytes.Buffer, *bytes.Buffer) {
	in, out, errOut := &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut}, in, out, errOut
}

// ColorEnabled reports whether stdout may be coloured.
func (s *IOStreams) ColorEnabled() bool { return s.colorOut }

// Styles returns the styles for stdout.
func (s *IOStreams) Styles() Styles { return newStyles(s.Out, s.colorOut) }

// ErrStyles returns the styles for stderr, where progress and check lines go.
func (s *IOStreams) ErrStyles() Styles { return newStyles(s.ErrOut, s.colorErr) }

func isTerminal(f *os.File) bool {
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}

// Styles are the only place colours and symbols are chosen.
type Styles struct {
	Success lipgloss.Style
	Failure lipgloss.Style
	Warning lipgloss.Style
	Action  lipgloss.Style
	Waiting lipgloss.Style
	Header  lipgloss.Style
	Added   lipgloss.Style
	Removed lipgloss.Style
	Dim     lipgloss.Style
}

func newStyles(w io.Writer, color bool) Styles {
	r := lipgloss.NewRenderer(w)
	if color {
		r.SetColorProfile(termenv.ANSI256)
	} else {
		r.SetColorProfile(termenv.Ascii)
	}
	st := r.NewStyle()
	return Styles{
		Success: st.Foreground(lipgloss.Color("2")),
		Failure: st.Foreground(lipgloss.Color("1")),
		Warning: st.Foreground(lipgloss.Color("3")),
		Action:  st.Foreground(lipgloss.Color("6")),
		Waiting: st.Foreground(lipgloss.Color("4")),
		Header:  st.Bold(true),
		Added:   st.Foreground(lipgloss.Color("2")),
		Removed: st.Foreground(lipgloss.Color("1")),
		Dim:     st.Faint(true),
	}
}

// Line prefixes of progress output, as Flux's CLI prints them.
func (s Styles) ActionLine(msg string) string  { return s.Action.Render("►") + " " + msg }
func (s Styles) SuccessLine(msg string) string { return s.Success.Render("✔") + " " + msg }
func (s Styles) FailureLine(msg string) string { return s.Failure.Render("✗") + " " + msg }
func (s Styles) WarningLine(msg string) string { return s.Warning.Render("⚠️") + " " + msg }
func (s Styles) WaitingLine(msg string) string { return s.Waiting.Render("◎") + " " + msg }
