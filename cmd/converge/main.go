// Command converge is the converge CLI and agent.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/converge-gitops/converge/commands/cmdutil"
)

var (
	version = "dev"
	commit  = "none"
	date    = "unknown"
)

// cpuProfileEnv names a file to write the whole process's CPU profile to (go tool pprof reads it).
const cpuProfileEnv = "CONVERGE_CPUPROFILE"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	io := cmdutil.System()
	stopProfile, err := startCPUProfile(os.Getenv(cpuProfileEnv))
	if err != nil {
		fmt.Fprintf(io.ErrOut, "%s: %v\n", cpuProfileEnv, err)
		os.Exit(2)
	}
	f := cmdutil.NewFactory(io, cmdutil.BuildInfo{Version: version, Commit: commit, Date: date})
	cmd, err := newRoot(f).ExecuteContextC(ctx)
	stop()
	stopProfile()
	os.Exit(cmdutil.ExitCodeFor(cmd, err, io.ErrOut))
}

// startCPUProfile profiles the process into path until the returned function is called; nothing when
// path is empty.
func startCPUProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	out, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		out.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return func() {
		pprof.StopCPUProfile()
		out.Close()
	}, nil
}
