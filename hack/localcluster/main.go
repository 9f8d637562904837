// Command localcluster runs the local control plane of engine/testenv until interrupted, writing its
// admin kubeconfig once it is ready. `make demo` starts it in the background.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/converge-gitops/converge/engine/testenv"
)

func main() {
	fs := flag.NewFlagSet("localcluster", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", "", "where to write the admin kubeconfig once the cluster is ready")
	_ = fs.Parse(os.Args[1:])
	if *kubeconfig == "" {
		fmt.Fprintln(os.Stderr, "localcluster: --kubeconfig is required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *kubeconfig); err != nil {
		fmt.Fprintln(os.Stderr, "localcluster:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, kubeconfig string) error {
	_ = os.Remove(kubeconfig)
	c, err := testenv.Start(ctx, testenv.Options{Log: os.Stderr})
	if err != nil {
		return err
	}
	defer func() {
		_ = os.Remove(kubeconfig)
		_ = c.Stop()
	}()
	if err := c.WriteKubeconfig(kubeconfig); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "localcluster: API server %s ready, kubeconfig %s\n", c.Host(), kubeconfig)
	<-ctx.Done()
	return nil
}
