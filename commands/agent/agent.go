// Package agent implements `converge agent`, the long-running in-cluster reconciler.
package agent

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/commands/cmdutil"
	engineagent "github.com/converge-gitops/converge/engine/agent"
	"github.com/converge-gitops/converge/engine/reconcile"
	"github.com/converge-gitops/converge/engine/source"
)

// Options are the inputs of `converge agent`.
type Options struct {
	IO               *cmdutil.IOStreams
	Config           func() (*rest.Config, error)
	Workers          int
	WatchNamespace   string
	LabelSelector    string
	Shard            string
	StoragePath      string
	HTTPAddr         string
	ReceiverAddr     string
	ArtifactBaseURL  string
	LeaderElect      bool
	LeaseNamespace   string
	LeaseName        string
	LeaseDuration    time.Duration
	RenewDeadline    time.Duration
	RetryPeriod      time.Duration
	DetectDriftOnly  bool
	FeatureGates     map[string]string
	LogLevel         string
	LogFormat        string
	ShutdownGrace    time.Duration
	DependencyRetry  time.Duration
	JitterPercentage float64
	TrimMemory       bool
	// WatchAllNamespaces false limits the agent to its own namespace ($POD_NAMESPACE, else flux-system).
	WatchAllNamespaces bool
	Tenancy            reconcile.Tenancy
	// Host names this instance (the pod name); Identity names it in the Lease. Set by Complete.
	Host, Identity string
	// Clock times the agent's schedules, events and receivers (the factory's, set by Complete).
	Clock clock.WithTicker
}

// NewCmdAgent returns the agent command.
func NewCmdAgent(f *cmdutil.Factory) *cobra.Command { return newCmdAgent(f, &Options{IO: f.IO}) }

func newCmdAgent(f *cmdutil.Factory, opts *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Reconcile every Flux object continuously (the in-cluster reconciler)",
		Long: `Agent watches Flux's objects — sources, Kustomizations — and reconciles each on its interval, on a
spec change, on a new source revision and at once on a reconcile request (converge reconcile), with the
same engine as converge apply. It runs in the cluster as a Deployment (converge install) or outside it
with a kubeconfig.

Only one replica reconciles at a time: the others wait on a Lease and take over when the leader stops.
It serves /healthz, /readyz, Prometheus /metrics and the stored artifacts (/artifacts/) on --http-addr,
and the webhook Receivers (/hook/<digest>) on --receiver-addr. Events matching an Alert are sent to its
Provider. Logs are JSON lines on stderr.`,
		Example: `  converge agent --concurrent 8 --storage-path /data
  converge agent --kubeconfig ~/.kube/config --leader-elect=false --log-format text`,
		Args: cobra.NoArgs,
		RunE: cmdutil.RunE(f, opts, false),
	}
	fl := cmd.Flags()
	fl.IntVar(&opts.Workers, "concurrent", 4, "objects reconciled at once")
	fl.StringVar(&opts.WatchNamespace, "watch-namespace", "", "watch only this namespace (default: all)")
	fl.StringVar(&opts.LabelSelector, "watch-label-selector", "", "watch only the Flux objects this label selector matches (a shard), e.g. 'sharding.fluxcd.io/key notin (a,b)'")
	fl.StringVar(&opts.Shard, "shard", "", "watch only shard NAME: shorthand for --watch-label-selector sharding.fluxcd.io/key=NAME (the Lease defaults to converge-agent-NAME)")
	fl.BoolVar(&opts.WatchAllNamespaces, "watch-all-namespaces", true, "watch every namespace; false: only the agent's own ($POD_NAMESPACE, else flux-system)")
	cmdutil.AddTenancyFlags(fl, &opts.Tenancy)
	fl.StringVar(&opts.StoragePath, "storage-path", source.DefaultRoot(), "artifact store (a volume in the cluster)")
	fl.StringVar(&opts.HTTPAddr, "http-addr", ":8080", "address of /healthz, /readyz, /metrics and /artifacts/")
	fl.StringVar(&opts.ReceiverAddr, "receiver-addr", ":9292", "address of the webhook Receivers (/hook/...); empty disables them")
	fl.StringVar(&opts.ArtifactBaseURL, "artifact-base-url", "", "URL prefix of status.artifact.url (default: http://<http-addr>/artifacts)")
	fl.BoolVar(&opts.LeaderElect, "leader-elect", true, "hold a Lease so that only one replica reconciles")
	fl.StringVar(&opts.LeaseNamespace, "leader-election-namespace", "", "namespace of the Lease (default: $POD_NAMESPACE, else flux-system)")
	fl.StringVar(&opts.LeaseName, "leader-election-id", "converge-agent", "name of the Lease")
	fl.DurationVar(&opts.LeaseDuration, "leader-election-lease-duration", 15*time.Second, "how long a standby waits before taking over a Lease that is not renewed")
	fl.DurationVar(&opts.RenewDeadline, "leader-election-renew-deadline", 10*time.Second, "how long the leader tries to renew before giving up")
	fl.DurationVar(&opts.RetryPeriod, "leader-election-retry-period", 2*time.Second, "how often replicas try to acquire or renew the Lease")
	fl.BoolVar(&opts.DetectDriftOnly, "detect-drift-only", false, "report drift of Kustomizations as the Drifted condition and an event instead of correcting it (new revisions are still applied)")
	fl.StringToStringVar(&opts.FeatureGates, "feature-gates", nil, "Flux feature gates, e.g. AdditiveCELDependencyCheck=true (others are accepted and ignored)")
	fl.StringVar(&opts.LogLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&opts.LogFormat, "log-format", "json", "json or text")
	fl.DurationVar(&opts.ShutdownGrace, "shutdown-grace", 30*time.Second, "how long in-flight reconciliations may finish after SIGTERM")
	fl.DurationVar(&opts.DependencyRetry, "requeue-dependency", 30*time.Second, "retry delay for objects whose dependency or source is not ready")
	fl.BoolVar(&opts.TrimMemory, "trim-memory", true, "after start-up, let the kernel drop the executable's pages the agent does not use (Linux)")
	fl.Float64Var(&opts.JitterPercentage, "interval-jitter-percentage", 5, "spread of periodic reconciliations, in percent of the interval")
	return cmd
}

// supportedFeatureGates are the Flux feature gates the agent implements.
func supportedFeatureGates() []string { return []string{"AdditiveCELDependencyCheck"} }

// featureGate returns the value of a supported gate (false when not set).
func (o *Options) featureGate(name string) bool {
	v, _ := strconv.ParseBool(o.FeatureGates[name])
	return v
}

// Complete derives the REST config (read when the agent runs), the Lease's namespace ($POD_NAMESPACE,
// else flux-system), the watched namespace with --watch-all-namespaces=false (the same) and the
// instance's identity.
func (o *Options) Complete(f *cmdutil.Factory, cmd *cobra.Command, _ []string) error {
	if o.Clock == nil {
		o.Clock = f.Clock
	}
	o.Config = func() (*rest.Config, error) {
		cfg, err := f.RESTConfig()
		if err != nil {
			return nil, err
		}
		cfg.Timeout = 0 // watches are long-lived
		cfg.UserAgent = "converge-agent/" + f.Build.Version
		return cfg, nil
	}
	runtimeNamespace := os.Getenv("POD_NAMESPACE")
	if runtimeNamespace == "" {
		runtimeNamespace = cmdutil.DefaultNamespace
	}
	if o.LeaseNamespace == "" {
		o.LeaseNamespace = runtimeNamespace
	}
	if !o.WatchAllNamespaces && o.WatchNamespace == "" {
		o.WatchNamespace = runtimeNamespace
	}
	if o.Shard != "" && !cmd.Flags().Changed("leader-election-id") {
		o.LeaseName += "-" + o.Shard
	}
	o.Host, _ = os.Hostname()
	o.Identity = o.Host + "_" + strconv.Itoa(os.Getpid())
	return nil
}

// Validate refuses bad flags before the agent touches the cluster.
func (o *Options) Validate() error {
	for name, v := range o.FeatureGates {
		if _, err := strconv.ParseBool(v); err != nil {
			return cmdutil.FlagErrorf("--feature-gates %s=%s: the value must be true or false", name, v)
		}
	}
	if o.Shard != "" && o.LabelSelector != "" {
		return cmdutil.FlagErrorf("--shard and --watch-label-selector: give one (--shard %s is --watch-label-selector %s=%s)", o.Shard, engineagent.ShardKey, o.Shard)
	}
	if o.Shard != "" {
		if errs := validation.IsValidLabelValue(o.Shard); len(errs) > 0 {
			return cmdutil.FlagErrorf("--shard %q: not a label value: %s", o.Shard, strings.Join(errs, "; "))
		}
	}
	if _, err := labels.Parse(o.LabelSelector); err != nil {
		return cmdutil.FlagErrorf("--watch-label-selector %q: %v", o.LabelSelector, err)
	}
	if o.Workers < 1 {
		return cmdutil.FlagErrorf("--concurrent must be at least 1")
	}
	if o.LogFormat != "json" && o.LogFormat != "text" {
		return cmdutil.FlagErrorf("--log-format %q: want json or text", o.LogFormat)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.LogLevel)); err != nil {
		return cmdutil.FlagErrorf("--log-level %q: want debug, info, warn or error", o.LogLevel)
	}
	if o.LeaderElect && !(o.LeaseDuration > o.RenewDeadline && o.RenewDeadline > o.RetryPeriod && o.RetryPeriod > 0) {
		return cmdutil.FlagErrorf("leader election needs lease duration > renew deadline > retry period > 0")
	}
	if o.JitterPercentage < 0 || o.JitterPercentage >= 100 {
		return cmdutil.FlagErrorf("--interval-jitter-percentage must be in [0, 100)")
	}
	return nil
}

// selector is the label selector the agent watches: --watch-label-selector, or --shard's.
func (o *Options) selector() string {
	if o.Shard != "" {
		return engineagent.ShardKey + "=" + o.Shard
	}
	return o.LabelSelector
}

func (o *Options) logger() *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(o.LogLevel))
	hopts := &slog.HandlerOptions{Level: lvl}
	if o.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(o.IO.ErrOut, hopts))
	}
	return slog.New(slog.NewJSONHandler(o.IO.ErrOut, hopts))
}

// Run runs the agent process until ctx ends (SIGTERM), or until it loses leadership.
func (o *Options) Run(ctx context.Context) error {
	log := o.logger()
	// client-go logs through klog's global logger where it has no context (informers, the REST client):
	// the process's only logger, so that every line is in the agent's format.
	klog.SetSlogLogger(log)
	cfg, err := o.Config()
	if err != nil {
		return err
	}
	var ignored []string
	for name := range o.FeatureGates {
		if !slices.Contains(supportedFeatureGates(), name) {
			ignored = append(ignored, name)
		}
	}
	slices.Sort(ignored)
	po := engineagent.ProcessOptions{
		Config: cfg, Logger: log, StoragePath: o.StoragePath, HTTPAddr: o.HTTPAddr, ReceiverAddr: o.ReceiverAddr,
		ArtifactBaseURL: o.ArtifactBaseURL, Host: o.Host, TrimMemory: o.TrimMemory, IgnoredFeatureGates: ignored,
		Agent: engineagent.Options{
			Workers: o.Workers, Namespace: o.WatchNamespace, LabelSelector: o.selector(), JitterPercent: o.JitterPercentage,
			DependencyRequeue: o.DependencyRetry, DetectDriftOnly: o.DetectDriftOnly, ShutdownGrace: o.ShutdownGrace,
			AdditiveCELDependencyCheck: o.featureGate("AdditiveCELDependencyCheck"), Clock: o.Clock, Tenancy: o.Tenancy,
		},
	}
	if o.LeaderElect {
		po.LeaderElection = &engineagent.LeaderElection{Namespace: o.LeaseNamespace, Name: o.LeaseName, Identity: o.Identity,
			LeaseDuration: o.LeaseDuration, RenewDeadline: o.RenewDeadline, RetryPeriod: o.RetryPeriod}
	}
	p, err := engineagent.NewProcess(po)
	if err != nil {
		return err
	}
	err = p.Run(ctx)
	if errors.Is(err, engineagent.ErrLeadershipLost) {
		return &cmdutil.SilentError{Code: cmdutil.ExitError}
	}
	return err
}
