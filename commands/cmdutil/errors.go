package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes, as kubectl diff uses them: 0 no change, 1 changes found, 2 and above errors. ExitFailure
// is what the process exits with for a failure outside diff, as Flux's CLI does (see ExitCodeFor).
const (
	ExitOK      = 0
	ExitChanges = 1
	ExitError   = 2
	ExitCancel  = 130
	ExitFailure = 1
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

// ExitCodeFor is the exit code of the converge process after cmd (the command that ran, nil if
// unknown) returned err, reported on w as ExitCode does. A failure exits 1, as Flux's CLI exits for
// every failure, so `alias flux=converge` keeps scripts' checks. Kept as the command returned it: under
// `diff` and `images`, whose 1 means changes found, a failure stays 2 (kubectl's and Flux's diff
// convention); a plugin's own exit code; any code other than ExitError a command chose.
func ExitCodeFor(cmd *cobra.Command, err error, w io.Writer) int {
	code := ExitCode(err, w)
	if code != ExitError || keepsCodes(cmd) {
		return code
	}
	return ExitFailure
}

// keepsCodes reports whether cmd's exit codes pass through unchanged: `diff`, `images` and their
// subcommands, and plugins.
func keepsCodes(cmd *cobra.Command) bool {
	if cmd == nil {
		return false
	}
	if cmd.GroupID == "plugin" {
		return true
	}
	path := strings.Fields(cmd.CommandPath())
	return len(path) > 1 && (path[1] == "diff" || path[1] == "images")
}
