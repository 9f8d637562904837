package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
)

// ExitError is a plugin's non-zero exit status.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("plugin exited with status %d", e.Code) }

// Run runs the plugin executable with args and the given streams and environment; a non-zero exit is
// an *ExitError with its code.
func Run(ctx context.Context, path string, args, env []string, in io.Reader, out, errOut io.Writer) error {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr, cmd.Env = in, out, errOut, env
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() > 0 {
		return &ExitError{Code: exit.ExitCode()}
	}
	if err != nil {
		return fmt.Errorf("running plugin %s: %w", path, err)
	}
	return nil
}

// Complete asks a plugin for completions as cobra's hidden __complete command answers: one word a
// line, then ":<directive>".
func Complete(ctx context.Context, path string, args []string, toComplete string) ([]string, int, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	out, err := exec.CommandContext(ctx, path, append(append([]string{"__complete"}, args...), toComplete)...).Output()
	if err != nil {
		return nil, 0, fmt.Errorf("completing with plugin %s: %w", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, ":") {
		return nil, 0, fmt.Errorf("completing with plugin %s: no directive line", path)
	}
	directive, err := strconv.Atoi(last[1:])
	if err != nil {
		return nil, 0, fmt.Errorf("completing with plugin %s: directive %q", path, last)
	}
	var words []string
	for _, l := range lines[:len(lines)-1] {
		if l != "" {
			words = append(words, l)
		}
	}
	return words, directive, nil
}
