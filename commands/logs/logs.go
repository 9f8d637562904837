// Package logs implements `converge logs`: the agent's logs through the API, filtered.
package logs

import (
	"context"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/converge-gitops/converge/commands/cmdutil"
	"github.com/converge-gitops/converge/engine/inspect"
	"github.com/converge-gitops/converge/engine/install"
)

// Options are the inputs of `converge logs`.
type Options struct {
	IO             *cmdutil.IOStreams
	Core           func() (kubernetes.Interface, error)
	AgentNamespace string
	Filter         inspect.LogFilter
	AllNamespaces  bool
	Follow         bool
	Since          time.Duration
	// SinceTime (RFC 3339) keeps the lines after that instant; only one of Since and SinceTime.
	SinceTime string
	sinceTime *metav1.Time
	Tail      int64
	Output    string
	// OpenLogs opens a pod's log stream (default: the API's pods/log).
	OpenLogs func(ctx context.Context, core kubernetes.Interface, pod *corev1.Pod, opts *corev1.PodLogOptions) (io.ReadCloser, error)
}

// NewCmdLogs returns the logs command.
func NewCmdLogs(f *cmdutil.Factory) *cobra.Command {
	return newCmd(f, &Options{})
}

func newCmd(f *cmdutil.Factory, opts *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "logs",
		Short: "Show the agent's logs, filtered by level, kind, namespace and name",
		Long: `Logs reads the logs of the agent's pods (label app=converge-agent in --agent-namespace) through the API
and keeps the lines about the objects selected: -n (default flux-system) or -A, --kind, --name, --level.
Lines about the agent itself (no object) pass the namespace filter.`,
		Example: `  converge logs --level error -A
  converge logs --kind Kustomization --name apps -f`,
		Args: cobra.NoArgs,
		RunE: cmdutil.RunE(f, opts, true),
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.AgentNamespace, "agent-namespace", install.DefaultNamespace, "namespace the agent runs in")
	fl.StringVar(&opts.AgentNamespace, "flux-namespace", install.DefaultNamespace, "namespace the agent runs in (Flux's name of --agent-namespace)")
	fl.StringVar(&opts.Filter.Level, "level", "", "only lines of this level (debug, info, warn, error)")
	fl.StringVar(&opts.Filter.Kind, "kind", "", "only lines about objects of this kind, e.g. Kustomization")
	fl.StringVar(&opts.Filter.Name, "name", "", "only lines about objects with this name")
	fl.BoolVarP(&opts.AllNamespaces, "all-namespaces", "A", false, "lines about objects in every namespace")
	fl.BoolVarP(&opts.Follow, "follow", "f", false, "stream new lines (until interrupted)")
	fl.DurationVar(&opts.Since, "since", 0, "only lines newer than this, e.g. 5m")
	fl.StringVar(&opts.SinceTime, "since-time", "", "only lines after this instant (RFC 3339, e.g. 2026-12-07T18:00:00Z); not with --since")
	fl.Int64Var(&opts.Tail, "tail", -1, "only the last N lines of each pod (before filtering)")
	cmdutil.AddOutputFlag(cmd, &opts.Output, "text", cmdutil.OutputJSON)
	_ = cmd.RegisterFlagCompletionFunc("level", cobra.FixedCompletions([]string{"debug", "info", "warn", "error"}, cobra.ShellCompDirectiveNoFileComp))
	cmdutil.CompleteKinds(cmd, "kind")
	return cmd
}

// Complete fills the streams, the client (a following client has no request timeout) and the
// namespace filter.
func (o *Options) Complete(f *cmdutil.Factory, _ *cobra.Command, _ []string) error {
	if o.IO == nil {
		o.IO = f.IO
	}
	if o.Core == nil {
		o.Core = func() (kubernetes.Interface, error) {
			cfg, err := f.RESTConfig()
			if err != nil {
				return nil, err
			}
			if o.Follow {
				cfg.Timeout = 0
			}
			return kubernetes.NewForConfig(cfg)
		}
	}
	if o.OpenLogs == nil {
		o.OpenLogs = openLogs
	}
	o.Filter.Namespace = ""
	if !o.AllNamespaces {
		o.Filter.Namespace = f.Namespace()
	}
	return nil
}

// Validate checks the output format and the level.
func (o *Options) Validate() error {
	if err := cmdutil.ValidateOutput(o.Output, "text", cmdutil.OutputJSON); err != nil {
		return err
	}
	switch o.Filter.Level {
	case "", "debug", "info", "warn", "error":
	default:
		return cmdutil.FlagErrorf("--level %q: want debug, info, warn or error", o.Filter.Level)
	}
	if o.SinceTime != "" {
		if o.Since != 0 {
			return cmdutil.FlagErrorf("only one of --since and --since-time")
		}
		t, err := time.Parse(time.RFC3339, o.SinceTime)
		if err != nil {
			return cmdutil.FlagErrorf("--since-time %q: want an RFC 3339 time such as 2026-12-07T18:00:00Z", o.SinceTime)
		}
		o.sinceTime = &metav1.Time{Time: t}
	}
	return nil
}

// Streaming is true with --follow: it runs until interrupted.
func (o *Options) Streaming() bool { return o.Follow }

func openLogs(ctx context.Context, core kubernetes.Interface, pod *corev1.Pod, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	return core.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, opts).Stream(ctx)
}

// Run reads the logs of every agent pod and prints the selected lines.
func (o *Options) Run(ctx context.Context) error {
	core, err := o.Core()
	if err != nil {
		return err
	}
	pods, err := core.CoreV1().Pods(o.AgentNamespace).List(ctx, metav1.ListOptions{LabelSelector: install.AppLabel + "=" + install.AgentName})
	if err != nil {
		return fmt.Errorf("listing the agent's pods in %s: %w", o.AgentNamespace, err)
	}
	if len(pods.Items) == 0 {
		return fmt.Errorf("no agent pods (label %s=%s) in namespace %s", install.AppLabel, install.AgentName, o.AgentNamespace)
	}
	sort.Slice(pods.Items, func(i, j int) bool { return pods.Items[i].Name < pods.Items[j].Name })
	logOpts := &corev1.PodLogOptions{Container: "agent", Follow: o.Follow}
	logOpts.SinceTime = o.sinceTime
	if o.Since > 0 {
		secs := int64(o.Since.Seconds())
		logOpts.SinceSeconds = &secs
	}
	if o.Tail >= 0 {
		logOpts.TailLines = &o.Tail
	}
	var mu sync.Mutex
	emit := func(pod string) func(inspect.LogLine) error {
		return func(l inspect.LogLine) error {
			mu.Lock()
			defer mu.Unlock()
			if o.Output == cmdutil.OutputJSON {
				_, err := fmt.Fprintln(o.IO.Out, l.Raw)
				return err
			}
			prefix := ""
			if len(pods.Items) > 1 {
				prefix = pod + " "
			}
			_, err := fmt.Fprintln(o.IO.Out, prefix+l.Format())
			return err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for i := range pods.Items {
		pod := &pods.Items[i]
		g.Go(func() error {
			rc, err := o.OpenLogs(gctx, core, pod, logOpts)
			if err != nil {
				return fmt.Errorf("logs of pod %s/%s: %w", pod.Namespace, pod.Name, err)
			}
			defer rc.Close()
			return inspect.FilterLogs(rc, o.Filter, emit(pod.Name))
		})
	}
	err = g.Wait()
	if o.Follow && ctx.Err() != nil {
		return nil
	}
	return err
}
