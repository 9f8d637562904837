// Package get implements `converge get`.
package get

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
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
	// Watch prints the table, then a row for every change until interrupted.
	Watch bool
	// StatusSelector keeps the objects whose condition has the given status ("ready=false").
	StatusSelector string
	selector       *inspect.StatusSelector
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
	cmd.PersistentFlags().BoolVarP(&opts.Watch, "watch", "w", false, "after listing, print a row for every change (until interrupted)")
	cmd.PersistentFlags().StringVar(&opts.StatusSelector, "status-selector", "", "only objects whose condition has this status, e.g. ready=false")

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
				sel, err := inspect.ParseStatusSelector(opts.StatusSelector)
				if err != nil {
					return cmdutil.FlagErrorf("--status-selector: %v", err)
				}
				opts.selector = sel
				if opts.Watch {
					if opts.Output != cmdutil.OutputTable {
						return cmdutil.FlagErrorf("--watch prints a table: it cannot be combined with -o %s", opts.Output)
					}
					return Run(cmd.Context(), opts) // until interrupted
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
		add("external", []string{"externalartifacts"}, "ExternalArtifacts", "external"),
	)
	images := &cobra.Command{Use: "images", Aliases: []string{"image"}, Short: "Show the status of image automation objects"}
	images.AddCommand(
		add("all", nil, "All image objects", "imagerepositories", "imagepolicies", "imageupdateautomations"),
		add("repository", []string{"repositories"}, "ImageRepositories", "imagerepositories"),
		add("policy", []string{"policies"}, "ImagePolicies", "imagepolicies"),
		add("update", []string{"updates"}, "ImageUpdateAutomations", "imageupdateautomations"),
	)
	cmd.AddCommand(
		add("alerts", []string{"alert"}, "Alerts", "alerts"),
		add("alert-providers", []string{"alert-provider", "providers"}, "Providers", "providers"),
		add("receivers", []string{"receiver"}, "Receivers", "receivers"),
		add("artifactgenerators", []string{"artifactgenerator", "generators"}, "ArtifactGenerators", "artifactgenerators"),
		images,
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
	versions := make([]string, len(opts.Kinds))
	for i, k := range opts.Kinds {
		rows, rv, err := inspect.ListFrom(ctx, client, k, ns)
		if err != nil {
			return err
		}
		versions[i] = rv
		for _, r := range rows {
			if opts.selector.Match(r) {
				all = append(all, r)
			}
		}
	}
	if opts.Watch {
		return watchRows(ctx, opts, client, ns, all, versions)
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
	fmt.Fprintln(tw, strings.Join(header(withNamespace), "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(columns(r, withNamespace, withKind), "\t"))
	}
	return tw.Flush()
}

func header(withNamespace bool) []string {
	var head []string
	if withNamespace {
		head = append(head, "NAMESPACE")
	}
	return append(head, "NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE")
}

func columns(r inspect.Row, withNamespace, withKind bool) []string {
	var cols []string
	if withNamespace {
		cols = append(cols, r.Namespace)
	}
	name := r.Name
	if withKind {
		name = strings.ToLower(r.Kind) + "/" + r.Name
	}
	return append(cols, name, r.Revision, strconv.FormatBool(r.Suspended), r.Ready, r.Message)
}

// watchRows prints the current rows, then one row per change, padded to the widths of the first table.
func watchRows(ctx context.Context, opts *Options, client dynamic.Interface, ns string, rows []inspect.Row, versions []string) error {
	withKind := len(opts.Kinds) > 1
	widths := make([]int, len(header(opts.AllNamespaces)))
	measure := func(cols []string) {
		for i, c := range cols {
			widths[i] = max(widths[i], len(c))
		}
	}
	measure(header(opts.AllNamespaces))
	for _, r := range rows {
		measure(columns(r, opts.AllNamespaces, withKind))
	}
	var mu sync.Mutex
	printRow := func(cols []string) error {
		mu.Lock()
		defer mu.Unlock()
		var b strings.Builder
		for i, c := range cols {
			if i == len(cols)-1 {
				b.WriteString(c)
				break
			}
			b.WriteString(c + strings.Repeat(" ", max(widths[i]-len(c), 0)+3))
		}
		_, err := fmt.Fprintln(opts.IO.Out, strings.TrimRight(b.String(), " "))
		return err
	}
	if err := printRow(header(opts.AllNamespaces)); err != nil {
		return err
	}
	for _, r := range rows {
		if err := printRow(columns(r, opts.AllNamespaces, withKind)); err != nil {
			return err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for i, k := range opts.Kinds {
		g.Go(func() error {
			return inspect.Watch(gctx, client, k, ns, versions[i], func(r inspect.Row, deleted bool) error {
				if !opts.selector.Match(r) {
					return nil
				}
				cols := columns(r, opts.AllNamespaces, withKind)
				if deleted {
					cols[len(cols)-1] = "deleted"
				}
				return printRow(cols)
			})
		})
	}
	err := g.Wait()
	if ctx.Err() != nil {
		return nil // interrupted (or --timeout): the watch simply ends
	}
	return err
}
