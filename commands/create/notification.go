package create

import (
	"github.com/spf13/cobra"

	"github.com/converge-gitops/converge/commands/cmdutil"
)

// notificationCommands returns `create alert`, `create alert-provider` and `create receiver`.
func notificationCommands(f *cmdutil.Factory) []*cobra.Command {
	return nil
}
