package main

import (
	"github.com/spf13/cobra"

	"github.com/converge-gitops/converge/commands/agent"
	"github.com/converge-gitops/converge/commands/apply"
	"github.com/converge-gitops/converge/commands/artifact"
	"github.com/converge-gitops/converge/commands/bootstrap"
	"github.com/converge-gitops/converge/commands/build"
	"github.com/converge-gitops/converge/commands/check"
	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/commands/create"
	"github.com/converge-gitops/converge/commands/debug"
	deletecmd "github.com/converge-gitops/converge/commands/delete"
	"github.com/converge-gitops/converge/commands/diff"
	"github.com/converge-gitops/converge/commands/envsubst"
	"github.com/converge-gitops/converge/commands/events"
	"github.com/converge-gitops/converge/commands/export"
	"github.com/converge-gitops/converge/commands/get"
	"github.com/converge-gitops/converge/commands/images"
	"github.com/converge-gitops/converge/commands/install"
	"github.com/converge-gitops/converge/commands/logs"
	"github.com/converge-gitops/converge/commands/migrate"
	plugincmd "github.com/converge-gitops/converge/commands/plugin"
	"github.com/converge-gitops/converge/commands/push"
	"github.com/converge-gitops/converge/commands/reconcile"
	"github.com/converge-gitops/converge/commands/root"
	"github.com/converge-gitops/converge/commands/stats"
	"github.com/converge-gitops/converge/commands/suspend"
	"github.com/converge-gitops/converge/commands/trace"
	"github.com/converge-gitops/converge/commands/tree"
	"github.com/converge-gitops/converge/commands/trigger"
	"github.com/converge-gitops/converge/commands/uninstall"
	versioncmd "github.com/converge-gitops/converge/commands/version"
)

// newRoot assembles the command tree: the root command and every command package under it.
func newRoot(f *cmdutil.Factory) *cobra.Command {
	return newRootWithPlugins(f, plugincmd.SystemEnv())
}

// newRootWithPlugins is newRoot with the plugins env finds added as commands.
func newRootWithPlugins(f *cmdutil.Factory, env plugincmd.Env) *cobra.Command {
	buildCmd := build.NewCmdBuild(f)
	buildCmd.AddCommand(artifact.NewCmdBuildArtifact(f))
	diffCmd := diff.NewCmdDiff(f)
	diffCmd.AddCommand(artifact.NewCmdDiffArtifact(f))
	var rootCmd *cobra.Command
	builtins := func() []string {
		var names []string
		for _, c := range rootCmd.Commands() {
			if c.GroupID != "plugin" {
				names = append(names, c.Name())
			}
		}
		return names
	}
	rootCmd = root.NewCmdRoot(f,
		versioncmd.NewCmdVersion(f),
		check.NewCmdCheck(f),
		buildCmd,
		apply.NewCmdApply(f),
		diffCmd,
		get.NewCmdGet(f),
		push.NewCmdPush(f),
		agent.NewCmdAgent(f),
		install.NewCmdInstall(f),
		bootstrap.NewCmdBootstrap(f),
		uninstall.NewCmdUninstall(f),
		reconcile.NewCmdReconcile(f),
		suspend.NewCmdSuspend(f),
		suspend.NewCmdResume(f),
		events.NewCmdEvents(f),
		export.NewCmdExport(f),
		tree.NewCmdTree(f),
		trace.NewCmdTrace(f),
		logs.NewCmdLogs(f),
		create.NewCmdCreate(f),
		deletecmd.NewCmdDelete(f),
		images.NewCmdImages(f),
		artifact.NewCmdPull(f),
		artifact.NewCmdTag(f),
		artifact.NewCmdList(f),
		envsubst.NewCmdEnvsubst(f),
		debug.NewCmdDebug(f),
		stats.NewCmdStats(f),
		migrate.NewCmdMigrate(f),
		trigger.NewCmdTrigger(f),
		plugincmd.NewCmdPlugin(f, env, builtins),
	)
	plugincmd.AddDiscovered(f, rootCmd, env)
	return rootCmd
}
