package cmdutil

import (
	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/clock"
)

// NamedObjects is what a command acting on named objects of one kind (or --all of them) completes and
// validates alike: embedded in its Options, it gives them Complete and Validate.
type NamedObjects struct {
	IO        *IOStreams
	Client    func() (dynamic.Interface, error)
	Clock     clock.PassiveClock
	Namespace string
	Names     []string
	All       bool
}

// Complete fills the streams, client and clock the factory holds where not set, the namespace, and
// the names from the arguments.
func (o *NamedObjects) Complete(f *Factory, _ *cobra.Command, args []string) error {
	if o.IO == nil {
		o.IO = f.IO
	}
	if o.Client == nil {
		o.Client = f.DynamicClient
	}
	if o.Clock == nil {
		o.Clock = f.Clock
	}
	o.Namespace, o.Names = f.Namespace(), args
	return nil
}

// Validate wants names or --all.
func (o *NamedObjects) Validate() error {
	if o.All == (len(o.Names) > 0) {
		return FlagErrorf("give object names or --all, not both or neither")
	}
	return nil
}
