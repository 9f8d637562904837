//go:build linux

package node

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Main starts one node environment for a test binary, stores it in *env, runs the tests and stops it,
// also when tests fail or the binary gets SIGINT or SIGTERM. Use it from TestMain:
// os.Exit(node.Main(m, &env)).
func Main(m interface{ Run() int }, env **Env) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	var mu sync.Mutex
	var running *Env
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case s := <-sig:
			// While starting, the cancelled context makes Start fail and clean up after itself.
			cancel()
			mu.Lock()
			e := running
			mu.Unlock()
			if e == nil {
				return
			}
			fmt.Fprintf(os.Stderr, "node: %v: stopping the node environment\n", s)
			if err := e.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "node: stopping:", err)
			}
			os.Exit(130)
		case <-done:
		}
	}()
	e, err := Start(ctx, Options{Log: logWriter()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		return 2
	}
	mu.Lock()
	running = e
	mu.Unlock()
	defer func() {
		if err := e.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "node: stopping the node environment:", err)
		}
	}()
	if ctx.Err() != nil {
		return 130
	}
	*env = e
	fmt.Fprintf(os.Stderr, "node: control plane %s, registry+containerd %s, node Ready %s after kubelet start, total %s\n",
		e.Timings.ControlPlane.Round(1e6), e.Timings.Runtime.Round(1e6), e.Timings.NodeReady.Round(1e6), e.Timings.Total.Round(1e6))
	return m.Run()
}

// logWriter sends the components' output to stderr when CONVERGE_NODE_LOG=1 (their log files are removed
// with the environment).
func logWriter() io.Writer {
	if os.Getenv("CONVERGE_NODE_LOG") == "1" {
		return os.Stderr
	}
	return nil
}
