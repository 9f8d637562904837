// Package migrate implements `converge migrate`: rewrite Flux objects to the API versions Flux serves.
package migrate

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/migrate"
)

// Options are the inputs of `converge migrate`.
type Options struct {
	IO         *cmdutil.IOStreams
	Path       string
	Extensions []string
	Version    string
	Yes        bool
	DryRun     bool

	engine migrate.Options
}

// NewCmdMigrate returns the migrate command.
func NewCmdMigrate(f *cmdutil.Factory) *cobra.Command {
	opts := &Options{}
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Migrate the Flux custom resources to their latest API version",
		Long: `Migrate rewrites Flux objects to the API versions a Flux minor release serves.

File system mode (-f): the apiVersion lines of Flux kinds in the YAML files under the path (a directory,
walked recursively, or one file) are rewritten in place; each rewrite is listed first.
Cluster mode (no -f) is not implemented yet and is refused.`,
		Example: `  # Migrate the Flux objects in a Git repository checked out in the current directory
  converge migrate -f . --yes

  # Show what would be migrated to the versions of Flux 2.6, without writing
  converge migrate -f . --version=2.6 --dry-run

  # Include Helm templates
  converge migrate -f . --extensions=.yml,.yaml,.tpl --yes`,
		Args: cobra.NoArgs,
		RunE: cmdutil.RunE(f, opts, false),
	}
	cmd.Flags().StringVarP(&opts.Path, "path", "f", "", "the path to the directory containing the manifests to migrate")
	cmd.Flags().StringSliceVarP(&opts.Extensions, "extensions", "e", []string{".yaml", ".yml"},
		"the file extensions to consider when migrating manifests, only applicable with --path")
	cmd.Flags().StringVarP(&opts.Version, "version", "v", "",
		"the target Flux minor version to migrate manifests to, only applicable with --path (defaults to "+migrate.Versions[0]+")")
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "skip confirmation prompts when migrating manifests, only applicable with --path")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false,
		"simulate the migration of manifests without making any changes, only applicable with --path")
	return cmd
}

// Complete fills the streams and the target versions.
func (o *Options) Complete(f *cmdutil.Factory, _ *cobra.Command, _ []string) error {
	if o.IO == nil {
		o.IO = f.IO
	}
	return nil
}

// Validate refuses the cluster mode and an unknown --version.
func (o *Options) Validate() error {
	if o.Path == "" {
		return errors.New("migrate: the cluster mode (no --path) is not implemented yet: " +
			"pass --path to migrate the manifests in files")
	}
	if len(o.Extensions) == 0 {
		return errors.New("--extensions: at least one file extension is required")
	}
	latest, err := migrate.LatestVersions(o.Version)
	if err != nil {
		return fmt.Errorf("--version: %w", err)
	}
	o.engine = migrate.Options{Path: o.Path, Extensions: o.Extensions, Latest: latest}
	return nil
}

// Run lists the upgrades, then rewrites the files unless --dry-run or the prompt is declined.
func (o *Options) Run(context.Context) error {
	st := o.IO.ErrStyles()
	w := o.IO.ErrOut
	fmt.Fprintln(w, st.ActionLine("starting migration of custom resources"))
	res, err := migrate.Detect(o.engine)
	if err != nil {
		return err
	}
	for _, msg := range res.Warnings {
		fmt.Fprintln(w, st.WarningLine(msg))
	}
	for _, fu := range res.Files {
		for _, u := range fu.Upgrades {
			fmt.Fprintf(w, "✚ %s:%d: %s %s -> %s\n", fu.File, u.Line, u.Kind, u.OldVersion, u.NewVersion)
		}
	}
	if len(res.Files) == 0 {
		fmt.Fprintln(w, st.SuccessLine("no custom resources found that require migration"))
		return nil
	}
	if o.DryRun {
		fmt.Fprintln(w, st.SuccessLine("dry-run mode enabled, no changes will be made"))
		return nil
	}
	if !o.Yes && !cmdutil.Confirm(o.IO, "Are you sure you want to proceed with the above upgrades") {
		return errors.New("migration aborted: not confirmed (pass --yes to skip the prompt)")
	}
	for _, fu := range res.Files {
		if err := migrate.Rewrite([]migrate.FileUpgrades{fu}); err != nil {
			return err
		}
		fmt.Fprintln(w, st.SuccessLine("file "+fu.File+" migrated successfully"))
	}
	fmt.Fprintln(w, st.SuccessLine("custom resources migrated successfully"))
	return nil
}
