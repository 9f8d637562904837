// Package get implements `converge get`.
package get

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/inspect"
)

// Options are the inputs of `converge get`.
type Options struct {
	IO            *cmdutil.IOStreams
	Client        func() (dynamic.Interface, error)
	Namespace     string
	AllNamespaces bool
	Kinds         []inspect.Kind
	Output        string
}

// NewCmdGet returns the get command with its kind subcommands.
func NewCmdGet(f *cmdutil.Factory) *cobra.Command {
	opts := &Options{IO: f.IO}
	opts.Client = func() (dynamic.Interface, error) {
		cfg, err := f.RESTConfig()
		if err != nil {
			return nil, err
		}
		return dynamic.NewForConfig(cfg)
	}
	cmd := &cobra.Command{Use: "get", Short: "Show the status of Flux objects"}
	cmd.PersistentFlags().BoolVarP(&opts.AllNamespaces, "all-namespaces", "A", false, "list across all namespaces")
	cmd.PersistentFlags().StringVarP(&opts.Output, "output", "o", cmdutil.OutputTable, "output format, one of [table yaml json]")

	add := func(use string, aliases []string, short string, kinds ...string) *cobra.Command {
		c := &cobra.Command{Use: use, Aliases: aliases, Short: short, Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				opts.Namespace = f.Namespace()
				opts.Kinds = nil
				for _, k := range kinds {
					opts.Kinds = append(opts.Kinds, inspect.Kinds[k])
				}
				if err := cmdutil.ValidateOutput(opts.Output, cmdutil.OutputTable, cmdutil.OutputYAML, cmdutil.OutputJSON); err != nil {
					return err
				}
				ctx, cancel := context.WithTimeout(cmd.Context(), f.Timeout)
				defer cancel()
				return Run(ctx, opts)
			}}
		return c
	}
	sources := &cobra.Command{Use: "sources", Aliases: []string{"source"}, Short: "Show the status of sources"}
	sources.AddCommand(
		add("all", nil, "All sources", "git", "oci", "helm", "chart", "bucket"),
		add("git", nil, "GitRepositories", "git"),
		add("oci", nil, "OCIRepositories", "oci"),
		add("helm", nil, "HelmRepositories", "helm"),
		add("chart", nil, "HelmCharts", "chart"),
		add("bucket", nil, "Buckets", "bucket"),
	)
	cmd.AddCommand(
		add("kustomizations", []string{"kustomization", "ks"}, "Kustomizations", "kustomizations"),
		add("helmreleases", []string{"helmrelease", "hr"}, "HelmReleases", "helmreleases"),
		add("all", nil, "Every Flux object", "git", "oci", "helm", "chart", "bucket", "kustomizations", "helmreleases"),
		sources,
	)
	return cmd
}

// Run lists and prints.
func Run(ctx context.Context, opts *Options) error {
	client, err := opts.Client()
	if err != nil {
		return err
	}
	ns := opts.Namespace
	if opts.AllNamespaces {
		ns = ""
	}
	var all []inspect.Row
	for _, k := range opts.Kinds {
		rows, err := inspect.List(ctx, client, k, ns)
		if err != nil {
			return err
		}
		all = append(all, rows...)
	}
	if opts.Output != cmdutil.OutputTable {
		if all == nil {
			all = []inspect.Row{}
		}
		return cmdutil.WriteData(opts.IO.Out, opts.Output, all)
	}
	if len(all) == 0 {
		where := "namespace " + ns
		if ns == "" {
			where = "any namespace"
		}
		fmt.Fprintf(opts.IO.ErrOut, "no objects found in %s\n", where)
		return nil
	}
	return table(opts.IO.Out, all, opts.AllNamespaces, len(opts.Kinds) > 1)
}

func table(w io.Writer, rows []inspect.Row, withNamespace, withKind bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	var head []string
	if withNamespace {
		head = append(head, "NAMESPACE")
	}
	head = append(head, "NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE")
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, r := range rows {
		var cols []string
		if withNamespace {
			cols = append(cols, r.Namespace)
		}
		name := r.Name
		if withKind {
			name = strings.ToLower(r.Kind) + "/" + r.Name
		}
		cols = append(cols, name, r.Revision, strconv.FormatBool(r.Suspended), r.Ready, r.Message)
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
	}
	return tw.Flush()
}
