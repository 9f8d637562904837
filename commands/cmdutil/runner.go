package cmdutil

import (
	"context"

	"github.com/spf13/cobra"
)

// Runner is the shape of every command's Options, as kubectl's: Complete fills what the flags leave
// (arguments, namespace, clients, defaults derived from other flags), Validate refuses bad combinations
// before anything is read or written, Run does the one engine call and renders its result.
type Runner interface {
	Complete(f *Factory, cmd *cobra.Command, args []string) error
	Validate() error
	Run(ctx context.Context) error
}

// Streamer is a Runner that may run until interrupted (--watch, --follow): while Streaming reports true
// (after Complete), RunE applies no --timeout.
type Streamer interface {
	Streaming() bool
}

// RunE returns a cobra RunE that completes, validates and runs o, in that order, under the factory's
// --timeout when withTimeout is set (and o is not streaming).
func RunE(f *Factory, o Runner, withTimeout bool) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := o.Complete(f, cmd, args); err != nil {
			return err
		}
		if err := o.Validate(); err != nil {
			return err
		}
		ctx := cmd.Context()
		timeout := withTimeout && f.Timeout > 0
		if s, ok := o.(Streamer); ok && s.Streaming() {
			timeout = false
		}
		if timeout {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, f.Timeout)
			defer cancel()
		}
		return o.Run(ctx)
	}
}
