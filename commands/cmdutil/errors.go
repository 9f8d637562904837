package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Exit codes, as kubectl diff uses them: 0 no change, 1 changes found, 2 and above errors.
const (
	ExitOK      = 0
	ExitChanges = 1
	ExitError   = 2
	ExitCancel  = 130
)

// FlagError is a usage error: a wrong flag or argument.
type FlagError struct{ Err error }

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

// FlagErrorf returns a usage error.
func FlagErrorf(format string, args ...any) error {
	return &FlagError{Err: fmt.Errorf(format, args...)}
}

// ErrChanges is returned by commands that found changes and already reported them (exit code 1).
var ErrChanges = errors.New("changes found")

// SilentError carries an exit code for a failure the command already reported.
type SilentError struct{ Code int }

func (e *SilentError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// ExitCode reports err on w (unless already reported) and returns the process exit code for it.
func ExitCode(err error, w io.Writer) int {
	if err == nil {
		return ExitOK
	}
	if errors.Is(err, ErrChanges) {
		return ExitChanges
	}
	var silent *SilentError
	if errors.As(err, &silent) {
		return silent.Code
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(w, "✗ interrupted")
		return ExitCancel
	}
	fmt.Fprintf(w, "✗ %v\n", err)
	var flagErr *FlagError
	if errors.As(err, &flagErr) {
		fmt.Fprintln(w, "Run with --help for usage.")
	}
	return ExitError
}
