// Command converge is the converge CLI and agent.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/converge-gitops/converge/commands/cmdutil"
)

var (
	version = "dev"
	commit  = "none"
	date    = "unknown"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	io := cmdutil.System()
	f := cmdutil.NewFactory(io, cmdutil.BuildInfo{Version: version, Commit: commit, Date: date})
	err := newRoot(f).ExecuteContext(ctx)
	stop()
	os.Exit(cmdutil.ExitCode(err, io.ErrOut))
}
