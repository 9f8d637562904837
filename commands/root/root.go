// Package root is converge's root command: global flags, settings from the environment and the config
// file, completion. cmd/converge hands it the subcommands, so no command package imports another.
package root

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/converge-gitops/converge/commands/cmdutil"
)

// NewCmdRoot returns the root command over subcommands. Flags take precedence over CONVERGE_*
// environment variables, which take precedence over the config file.
func NewCmdRoot(f *cmdutil.Factory, subcommands ...*cobra.Command) *cobra.Command {
	var configFile string
	var nsFollowsContext bool
	cmd := &cobra.Command{
		Use:   "converge",
		Short: "Flux-compatible GitOps: build, diff and apply Flux objects, or run them as an agent",
		Long: `converge reads Flux's custom resources (GitRepository, Kustomization, HelmRelease, ...) and
reconciles them with one engine, once from CI or a laptop (build, diff, apply) or continuously in the
cluster (agent).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if nsFollowsContext || os.Getenv("FLUX_NS_FOLLOWS_KUBE_CONTEXT") != "" {
				if err := namespaceFromContext(cmd, f); err != nil {
					return err
				}
			}
			if err := loadSettings(cmd, configFile); err != nil {
				return err
			}
			if errs := validation.IsDNS1123Label(f.Namespace()); len(errs) > 0 {
				return cmdutil.FlagErrorf("namespace must be a valid DNS label: %q", f.Namespace())
			}
			return nil
		},
	}
	cmd.SetOut(f.IO.Out)
	cmd.SetErr(f.IO.ErrOut)
	cmd.SetIn(f.IO.In)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &cmdutil.FlagError{Err: err} })

	pf := cmd.PersistentFlags()
	pf.StringVar(&configFile, "config", "", "config file (default "+defaultConfigPath()+")")
	pf.DurationVar(&f.Timeout, "timeout", f.Timeout, "timeout for operations against the cluster and sources")
	pf.BoolVar(&f.Verbose, "verbose", false, "print more detail")
	pf.BoolVar(&nsFollowsContext, "ns-follows-kube-context", false,
		"use the namespace of the kubeconfig context instead of flux-system (also FLUX_NS_FOLLOWS_KUBE_CONTEXT)")
	pf.Float32Var(&f.KubeAPIQPS, "kube-api-qps", f.KubeAPIQPS, "requests per second to the Kubernetes API server")
	pf.IntVar(&f.KubeAPIBurst, "kube-api-burst", f.KubeAPIBurst, "burst of requests to the Kubernetes API server")
	systemNamespaceFromEnv(f)
	// As Flux: --server has no short form, -s is --silent for the commands that have it.
	server := ""
	f.KubeFlags.AddFlags(pf)
	f.KubeFlags.APIServer = &server
	pf.StringVar(f.KubeFlags.APIServer, "server", "", "the address and port of the Kubernetes API server")

	cmd.AddCommand(subcommands...)
	cmd.CompletionOptions.HiddenDefaultCmd = false
	return cmd
}

// systemNamespaceFromEnv makes FLUX_SYSTEM_NAMESPACE the default namespace, as Flux's CLI does; a
// value that is no namespace name is ignored with a warning.
func systemNamespaceFromEnv(f *cmdutil.Factory) {
	ns := os.Getenv("FLUX_SYSTEM_NAMESPACE")
	if ns == "" {
		return
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		fmt.Fprintf(f.IO.ErrOut, "warning: ignoring FLUX_SYSTEM_NAMESPACE %q: not a namespace name: %s\n", ns, strings.Join(errs, "; "))
		return
	}
	*f.KubeFlags.Namespace = ns
}

// namespaceFromContext makes the namespace of the selected kubeconfig context the default namespace
// (--ns-follows-kube-context). -n given on the command line wins; a context without a namespace
// leaves the default.
func namespaceFromContext(cmd *cobra.Command, f *cmdutil.Factory) error {
	if fl := cmd.Flags().Lookup("namespace"); fl != nil && fl.Changed {
		return nil
	}
	raw, err := f.KubeFlags.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return fmt.Errorf("--ns-follows-kube-context: reading the kubeconfig: %w", err)
	}
	name := raw.CurrentContext
	if f.KubeFlags.Context != nil && *f.KubeFlags.Context != "" {
		name = *f.KubeFlags.Context
	}
	if c, ok := raw.Contexts[name]; ok && c.Namespace != "" {
		*f.KubeFlags.Namespace = c.Namespace
	}
	return nil
}

func defaultConfigPath() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return filepath.Join("~", ".config", "converge", "config.yaml")
	}
	return filepath.Join(dir, "converge", "config.yaml")
}

// loadSettings fills every flag the user did not set from CONVERGE_<FLAG> or the config file (YAML,
// keys named like the flags). A key that names no flag of any command is refused: it is a typo.
func loadSettings(cmd *cobra.Command, configFile string) error {
	explicit := configFile != ""
	if !explicit {
		configFile = defaultConfigPath()
	}
	file, err := readConfigFile(configFile, explicit, knownFlags(cmd.Root()))
	if err != nil {
		return fmt.Errorf("config file %s: %w", configFile, err)
	}
	var firstErr error
	cmd.Flags().VisitAll(func(fl *pflag.Flag) {
		if fl.Changed || firstErr != nil || fl.Name == "config" {
			return
		}
		var value any
		source := envName(fl.Name)
		if v, ok := os.LookupEnv(source); ok && v != "" {
			value = v
		} else if v, ok := file[fl.Name]; ok {
			value, source = v, configFile
		} else {
			return
		}
		if err := setFlag(fl, value); err != nil {
			firstErr = fmt.Errorf("setting --%s from %s: %w", fl.Name, source, err)
		}
	})
	return firstErr
}

// envName is the environment variable that sets a flag: CONVERGE_ and the flag's name in upper case,
// dashes as underscores.
func envName(flag string) string {
	return "CONVERGE_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// knownFlags are the names of the flags of every command of the tree.
func knownFlags(root *cobra.Command) map[string]bool {
	names := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, fs := range []*pflag.FlagSet{c.PersistentFlags(), c.LocalNonPersistentFlags(), c.Flags()} {
			fs.VisitAll(func(fl *pflag.Flag) { names[fl.Name] = true })
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return names
}

// readConfigFile reads the settings of a YAML (or JSON) config file, keys in lower case. A missing file
// is an error only when it was named explicitly.
func readConfigFile(path string, explicit bool, known map[string]bool) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if !explicit && errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml", ".json":
	default:
		return nil, errors.New("only YAML (.yaml, .yml) or JSON (.json) config files are supported")
	}
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	settings := make(map[string]any, len(raw))
	for k, v := range raw {
		name := strings.ToLower(k)
		if !known[name] || name == "config" {
			return nil, fmt.Errorf("%q is not a flag of any converge command", k)
		}
		if _, dup := settings[name]; dup {
			return nil, fmt.Errorf("%q is set twice", name)
		}
		settings[name] = v
	}
	return settings, nil
}

func setFlag(fl *pflag.Flag, value any) error {
	if sv, ok := fl.Value.(pflag.SliceValue); ok {
		var items []string
		switch t := value.(type) {
		case []any:
			for _, it := range t {
				items = append(items, fmt.Sprint(it))
			}
		case string:
			items = strings.Split(t, ",")
		default:
			items = []string{fmt.Sprint(t)}
		}
		return sv.Replace(items)
	}
	return fl.Value.Set(fmt.Sprint(value))
}
