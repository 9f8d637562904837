// Command hello is a small static program the agentimage tests put in an image instead of converge
// (building converge for two platforms takes minutes). It imports a module so that its build information,
// and so the SBOM, lists a dependency.
package main

import (
	"fmt"

	"golang.org/x/sync/errgroup"
)

func main() {
	var g errgroup.Group
	g.Go(func() error { fmt.Println("hello"); return nil })
	_ = g.Wait()
}
