// Package plugin implements `converge plugin` (install, list, search, uninstall, update) and the
// commands that run the discovered plugins, as Flux's CLI does.
package plugin

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/plugin"
)

// Env is where the plugin commands read their settings: FLUXCD_PLUGINS, FLUXCD_PLUGIN_CATALOG, the
// home directory, GOOS/GOARCH. Tests set their own.
type Env struct {
	Getenv       func(string) string
	Home         func() (string, error)
	GOOS, GOARCH string
	HTTPClient   *http.Client
}

// SystemEnv is the process environment.
func SystemEnv() Env {
	return Env{Getenv: os.Getenv, Home: os.UserHomeDir, GOOS: runtime.GOOS, GOARCH: runtime.GOARCH,
		HTTPClient: &http.Client{Timeout: 5 * time.Minute}}
}

// Dir is the plugin directory.
func (e Env) Dir() string { return plugin.Dir(e.Getenv, e.Home) }

// Client is the catalog client: FLUXCD_PLUGIN_CATALOG, else Flux's catalog.
func (e Env) Client() *plugin.Client {
	base := plugin.DefaultCatalog
	if v := e.Getenv(plugin.EnvCatalog); v != "" {
		base = v
	}
	return &plugin.Client{BaseURL: base, HTTPClient: e.HTTPClient}
}

// Options are the inputs of the plugin subcommands.
type Options struct {
	IO    *cmdutil.IOStreams
	Env   Env
	Clock func() time.Time
	// Builtins are the names of converge's own commands, never plugins.
	Builtins func() []string
	action   string
	Name     string
	Ref      string
	Query    string
}

// NewCmdPlugin returns `plugin` with its subcommands; builtins lists the root's own command names.
func NewCmdPlugin(f *cmdutil.Factory, env Env, builtins func() []string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "Manage Flux CLI plugins",
		Long: `The plugin subcommands manage CLI plugins: executables named flux-<name> (or converge-<name>) in
$FLUXCD_PLUGINS (default ~/.fluxcd/plugins) that run as 'converge <name>'. Plugins are installed from
Flux's plugin catalog, or from $FLUXCD_PLUGIN_CATALOG (a base URL holding catalog.yaml and <name>.yaml).`,
		// As Flux: plugin commands do not need a valid namespace or settings.
		PersistentPreRunE: func(*cobra.Command, []string) error { return nil },
	}
	sub := func(action, use string, aliases []string, short, example string, args cobra.PositionalArgs) {
		o := &Options{Env: env, Builtins: builtins, action: action}
		c := &cobra.Command{Use: use, Aliases: aliases, Short: short, Example: example, Args: args,
			RunE: cmdutil.RunE(f, o, true)}
		if action == "uninstall" || action == "update" {
			c.ValidArgsFunction = func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
				var names []cobra.Completion
				for _, p := range plugin.Discover(env.Dir(), builtins()) {
					names = append(names, p.Name)
				}
				return names, cobra.ShellCompDirectiveNoFileComp
			}
		}
		cmd.AddCommand(c)
	}
	sub("install", "install NAME[@VERSION|@DIGEST]", nil, "Install a plugin from the catalog",
		`  # Install the newest version of a plugin
  converge plugin install operator

  # Install a version
  converge plugin install operator@0.45.0`, cobra.ExactArgs(1))
	sub("list", "list", []string{"ls"}, "List installed plugins", `  converge plugin list`, cobra.NoArgs)
	sub("search", "search [QUERY]", nil, "Search the plugin catalog", `  converge plugin search operator`, cobra.MaximumNArgs(1))
	sub("uninstall", "uninstall NAME", []string{"delete"}, "Uninstall a plugin", `  converge plugin uninstall operator`, cobra.ExactArgs(1))
	sub("update", "update [NAME]", []string{"upgrade"}, "Update installed plugins to the newest catalog version",
		`  # Update every plugin installed from the catalog
  converge plugin update`, cobra.MaximumNArgs(1))
	return cmd
}

// Complete fills the streams, clock and arguments.
func (o *Options) Complete(f *cmdutil.Factory, _ *cobra.Command, args []string) error {
	if o.IO == nil {
		o.IO = f.IO
	}
	if o.Clock == nil {
		o.Clock = f.Clock.Now
	}
	if len(args) == 1 {
		o.Name = args[0]
		if o.action == "install" {
			o.Name, o.Ref, _ = strings.Cut(args[0], "@")
		}
		if o.action == "search" {
			o.Query, o.Name = strings.ToLower(args[0]), ""
		}
	}
	return nil
}

// Validate refuses a plugin name that is no file name.
func (o *Options) Validate() error {
	if o.Name != "" && (strings.ContainsAny(o.Name, `/\`) || o.Name == "." || o.Name == "..") {
		return cmdutil.FlagErrorf("invalid plugin name %q", o.Name)
	}
	if o.action == "install" && o.Name == "" {
		return cmdutil.FlagErrorf("a plugin name is required")
	}
	if o.Env.Dir() == "" && o.action != "search" {
		return fmt.Errorf("no plugin directory: set %s or HOME", plugin.EnvDir)
	}
	return nil
}

// Run does the subcommand's one action and reports it.
func (o *Options) Run(ctx context.Context) error {
	st := o.IO.ErrStyles()
	dir := o.Env.Dir()
	switch o.action {
	case "install":
		m, err := o.Env.Client().Manifest(ctx, o.Name)
		if err != nil {
			return err
		}
		v, p, err := m.Resolve(o.Ref, o.Env.GOOS, o.Env.GOARCH)
		if err != nil {
			return err
		}
		fmt.Fprintln(o.IO.ErrOut, st.ActionLine(fmt.Sprintf("installing %s v%s", o.Name, v.Version)))
		if err := o.Env.Client().Install(ctx, dir, m, v, p, o.Clock()); err != nil {
			return err
		}
		fmt.Fprintln(o.IO.ErrOut, st.SuccessLine(fmt.Sprintf("installed %s v%s", o.Name, v.Version)))
		return nil
	case "uninstall":
		if err := plugin.Uninstall(dir, o.Name); err != nil {
			return err
		}
		fmt.Fprintln(o.IO.ErrOut, st.SuccessLine("uninstalled "+o.Name))
		return nil
	case "list":
		plugins := plugin.Discover(dir, o.Builtins())
		if len(plugins) == 0 {
			fmt.Fprintln(o.IO.ErrOut, "No plugins found")
			return nil
		}
		var rows [][]string
		for _, p := range plugins {
			version := "manual"
			r, err := plugin.ReadReceipt(dir, p.Name)
			if err != nil {
				return err
			}
			if r != nil {
				version = r.Version
			}
			rows = append(rows, []string{p.Name, version, p.Path})
		}
		return cmdutil.WriteFluxTable(o.IO.Out, []string{"NAME", "VERSION", "PATH"}, rows)
	case "search":
		cat, err := o.Env.Client().Catalog(ctx)
		if err != nil {
			return err
		}
		var rows [][]string
		for _, e := range cat.Plugins {
			if o.Query != "" && !strings.Contains(strings.ToLower(e.Name), o.Query) && !strings.Contains(strings.ToLower(e.Description), o.Query) {
				continue
			}
			installed := ""
			if r, err := plugin.ReadReceipt(dir, e.Name); err == nil && r != nil {
				installed = r.Version
			}
			rows = append(rows, []string{e.Name, e.Description, installed})
		}
		if len(rows) == 0 {
			if o.Query != "" {
				fmt.Fprintf(o.IO.ErrOut, "No plugins matching %q found in catalog\n", o.Query)
			} else {
				fmt.Fprintln(o.IO.ErrOut, "No plugins found in catalog")
			}
			return nil
		}
		return cmdutil.WriteFluxTable(o.IO.Out, []string{"NAME", "DESCRIPTION", "INSTALLED"}, rows)
	case "update":
		return o.update(ctx, dir)
	}
	return fmt.Errorf("unknown plugin action %q", o.action)
}

func (o *Options) update(ctx context.Context, dir string) error {
	st := o.IO.ErrStyles()
	var names []string
	for _, p := range plugin.Discover(dir, o.Builtins()) {
		if o.Name == "" || p.Name == o.Name {
			names = append(names, p.Name)
		}
	}
	if o.Name != "" && len(names) == 0 {
		return fmt.Errorf("plugin %q is not installed", o.Name)
	}
	if len(names) == 0 {
		fmt.Fprintln(o.IO.ErrOut, "No plugins found")
		return nil
	}
	for _, r := range o.Env.Client().Update(ctx, dir, names, o.Env.GOOS, o.Env.GOARCH, o.Clock()) {
		switch r.Outcome {
		case plugin.Updated:
			fmt.Fprintln(o.IO.ErrOut, st.SuccessLine(fmt.Sprintf("updated %s v%s → v%s", r.Name, r.From, r.To)))
		case plugin.UpToDate:
			fmt.Fprintln(o.IO.ErrOut, st.SuccessLine(fmt.Sprintf("%s already up to date (v%s)", r.Name, r.From)))
		case plugin.Manual:
			fmt.Fprintln(o.IO.ErrOut, st.WarningLine(fmt.Sprintf("skipping %s (%s)", r.Name, plugin.Manual)))
		default:
			fmt.Fprintln(o.IO.ErrOut, st.FailureLine(fmt.Sprintf("error updating %s: %v", r.Name, r.Err)))
		}
	}
	// As `flux plugin update`: each failure is reported, the others are still updated, and the command
	// succeeds.
	return nil
}

// AddDiscovered adds one command per plugin of the plugin directory to root (names of root's own
// commands are never plugins): `converge <name> ARGS...` runs the plugin with ARGS untouched.
func AddDiscovered(f *cmdutil.Factory, root *cobra.Command, env Env) {
	var builtins []string
	for _, c := range root.Commands() {
		builtins = append(builtins, c.Name())
	}
	plugins := plugin.Discover(env.Dir(), builtins)
	if len(plugins) == 0 {
		return
	}
	root.AddGroup(&cobra.Group{ID: "plugin", Title: "Plugin Commands:"})
	for _, p := range plugins {
		root.AddCommand(&cobra.Command{
			Use:                p.Name,
			Short:              "Runs the " + p.Name + " plugin",
			Long:               fmt.Sprintf("This command runs the %s plugin (%s).\nUse 'converge %s --help' for the plugin's help.", p.Name, p.Path, p.Name),
			GroupID:            "plugin",
			DisableFlagParsing: true,
			PersistentPreRunE:  func(*cobra.Command, []string) error { return nil },
			ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
				words, directive, err := plugin.Complete(cmd.Context(), p.Path, args, toComplete)
				if err != nil {
					return nil, cobra.ShellCompDirectiveError
				}
				return words, cobra.ShellCompDirective(directive)
			},
			RunE: func(cmd *cobra.Command, args []string) error {
				err := plugin.Run(cmd.Context(), p.Path, args, os.Environ(), f.IO.In, f.IO.Out, f.IO.ErrOut)
				if exit, ok := err.(*plugin.ExitError); ok {
					return &cmdutil.SilentError{Code: exit.Code}
				}
				return err
			},
		})
	}
}
