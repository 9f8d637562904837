package create

import (
	"github.com/spf13/cobra"

	"github.com/converge-gitops/converge/commands/cmdutil"
)

// imageCommands returns `create image repository|policy|update`.
func imageCommands(f *cmdutil.Factory) []*cobra.Command {
	return nil
}
