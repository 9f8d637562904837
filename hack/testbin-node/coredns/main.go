// Command coredns is CoreDNS with only the plugins the node tests' cluster DNS uses (bind, errors,
// kubernetes): it answers the cluster domain from the API and nothing else, and builds in a fraction of the
// time of CoreDNS with every plugin.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
)

func init() {
	// The plugin order of a server block, as CoreDNS's plugin.cfg has it.
	dnsserver.Directives = []string{"bind", "errors", "kubernetes"}
}

func main() { coremain.Run() }
