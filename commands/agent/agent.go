// Package agent implements `converge agent`, the long-running in-cluster reconciler.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/commands/cmdutil"
	engineagent "github.com/converge-gitops/converge/engine/agent"
	"github.com/converge-gitops/converge/engine/events"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/notify"
	"github.com/converge-gitops/converge/engine/receiver"
	"github.com/converge-gitops/converge/engine/source"
)

// Options are the inputs of `converge agent`.
type Options struct {
	IO               *cmdutil.IOStreams
	Config           func() (*rest.Config, error)
	Workers          int
	WatchNamespace   string
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
	Clock            clock.WithTicker
}

// NewCmdAgent returns the agent command.
func NewCmdAgent(f *cmdutil.Factory) *cobra.Command {
	opts := &Options{IO: f.IO, Clock: f.Clock}
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
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Config = func() (*rest.Config, error) {
				cfg, err := f.RESTConfig()
				if err != nil {
					return nil, err
				}
				cfg.Timeout = 0 // watches are long-lived
				cfg.UserAgent = "converge-agent/" + f.Build.Version
				return cfg, nil
			}
			if err := validate(opts); err != nil {
				return err
			}
			return Run(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&opts.Workers, "concurrent", 4, "objects reconciled at once")
	fl.StringVar(&opts.WatchNamespace, "watch-namespace", "", "watch only this namespace (default: all)")
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

func validate(opts *Options) error {
	for name, v := range opts.FeatureGates {
		if _, err := strconv.ParseBool(v); err != nil {
			return cmdutil.FlagErrorf("--feature-gates %s=%s: the value must be true or false", name, v)
		}
	}
	if opts.Workers < 1 {
		return cmdutil.FlagErrorf("--concurrent must be at least 1")
	}
	if opts.LogFormat != "json" && opts.LogFormat != "text" {
		return cmdutil.FlagErrorf("--log-format %q: want json or text", opts.LogFormat)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(opts.LogLevel)); err != nil {
		return cmdutil.FlagErrorf("--log-level %q: want debug, info, warn or error", opts.LogLevel)
	}
	if opts.LeaderElect && !(opts.LeaseDuration > opts.RenewDeadline && opts.RenewDeadline > opts.RetryPeriod && opts.RetryPeriod > 0) {
		return cmdutil.FlagErrorf("leader election needs lease duration > renew deadline > retry period > 0")
	}
	if opts.JitterPercentage < 0 || opts.JitterPercentage >= 100 {
		return cmdutil.FlagErrorf("--interval-jitter-percentage must be in [0, 100)")
	}
	return nil
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

// Run runs the agent until ctx ends (SIGTERM), or until it loses leadership.
func Run(ctx context.Context, opts *Options) error {
	log := opts.logger()
	metrics := engineagent.NewMetrics()
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	cfg.WrapTransport = metrics.WrapTransport
	cfg.WarningHandlerWithContext = warningLogger{log}
	clients, err := kube.New(cfg)
	if err != nil {
		return err
	}
	store, err := source.OpenStore(opts.StoragePath)
	if err != nil {
		return fmt.Errorf("opening the artifact store %s: %w", opts.StoragePath, err)
	}
	probes := &engineagent.Probes{}
	ln, err := net.Listen("tcp", opts.HTTPAddr)
	if err != nil {
		return fmt.Errorf("--http-addr: %w", err)
	}
	srv := &http.Server{Handler: engineagent.Handler(probes, metrics, store), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	baseURL := opts.ArtifactBaseURL
	if baseURL == "" {
		baseURL = "http://" + ln.Addr().String() + "/artifacts"
	}
	host, _ := os.Hostname()
	if opts.TrimMemory {
		if n, err := trimBinaryPages(); err != nil {
			log.Warn("could not release the executable's start-up pages", "error", err.Error())
		} else {
			log.Debug("released the executable's start-up pages", "mappings", n)
		}
	}
	log.Info("starting", "http", ln.Addr().String(), "storage", opts.StoragePath, "workers", opts.Workers, "leaderElection", opts.LeaderElect)
	for name := range opts.FeatureGates {
		if !slices.Contains(supportedFeatureGates(), name) {
			log.Warn("feature gate not implemented by converge: ignored", "gate", name)
		}
	}

	// Events are written, and matched against Alerts, from their own goroutine: a reconciliation never
	// waits on them. It outlives the agent so that the last reconciliations' events are delivered too.
	kubeEvents := &events.Kubernetes{Client: clients.Core, Host: host, Clock: opts.Clock}
	notifier := &notify.Notifier{Clock: opts.Clock, Warnings: kubeEvents, Metrics: notify.NewMetrics(metrics.Registry), Logger: log, Instance: host}
	recorder := events.NewAsync(events.Sinks{kubeEvents, notifier}, 1024)

	agent, err := engineagent.New(engineagent.Options{
		Clients: clients, Store: store, Workers: opts.Workers, Namespace: opts.WatchNamespace, Logger: log, Clock: opts.Clock,
		Metrics: metrics, Events: recorder,
		ArtifactBaseURL: baseURL, JitterPercent: opts.JitterPercentage, DependencyRequeue: opts.DependencyRetry,
		DetectDriftOnly: opts.DetectDriftOnly, ShutdownGrace: opts.ShutdownGrace,
		AdditiveCELDependencyCheck: opts.featureGate("AdditiveCELDependencyCheck"),
	})
	if err != nil {
		return err
	}
	notifier.Store = agent.NotificationStore()
	evCtx, stopEvents := context.WithCancel(context.WithoutCancel(ctx))
	evDone := make(chan struct{})
	go func() { recorder.Run(evCtx); close(evDone) }()
	defer func() {
		stopEvents()
		<-evDone
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := notifier.Wait(wctx); err != nil {
			log.Warn("notifications still in flight at exit", "error", err.Error())
		}
	}()
	if opts.ReceiverAddr != "" {
		// A busy receiver port costs the webhooks, not the reconciliation: reported, not fatal.
		if rln, err := net.Listen("tcp", opts.ReceiverAddr); err != nil {
			log.Error("webhook receivers not served", "addr", opts.ReceiverAddr, "error", err.Error())
		} else {
			serveReceivers(ctx, rln, agent, clients, log, opts.Clock)
		}
	}
	probes.Serve(agent)
	if !opts.LeaderElect {
		return agent.Run(ctx)
	}
	leaseNS := opts.LeaseNamespace
	if leaseNS == "" {
		leaseNS = os.Getenv("POD_NAMESPACE")
	}
	if leaseNS == "" {
		leaseNS = cmdutil.DefaultNamespace
	}
	identity := host + "_" + fmt.Sprint(os.Getpid())
	probes.Standby(true)
	var runErr error
	err = engineagent.RunLeader(ctx, engineagent.LeaderElection{
		Client: clients.Core, Namespace: leaseNS, Name: opts.LeaseName, Identity: identity, Log: log,
		LeaseDuration: opts.LeaseDuration, RenewDeadline: opts.RenewDeadline, RetryPeriod: opts.RetryPeriod,
	}, func(lctx context.Context) {
		probes.Standby(false)
		runErr = agent.Run(lctx)
	})
	if errors.Is(err, engineagent.ErrLeadershipLost) {
		log.Error("leadership lost: exiting so that a fresh process stands by")
		return &cmdutil.SilentError{Code: cmdutil.ExitError}
	}
	if err != nil {
		return err
	}
	log.Info("stopped")
	return runErr
}

// warningLogger sends the API server's warnings to the log at debug level.
type warningLogger struct{ log *slog.Logger }

func (w warningLogger) HandleWarningHeaderWithContext(_ context.Context, code int, agent, text string) {
	w.log.Debug("API server warning", "code", code, "text", text)
}

// serveReceivers serves the agent's webhook Receivers on ln until ctx ends.
func serveReceivers(ctx context.Context, ln net.Listener, agent *engineagent.Agent, clients *kube.Clients, log *slog.Logger, clk clock.PassiveClock) {
	srv := &http.Server{
		Handler: &receiver.Handler{Receivers: agent.ReceiverLookup(), Secrets: clients, Dynamic: clients.Dynamic,
			Mapper: clients.Mapper, Logger: log.With("component", "receiver"), Clock: clk},
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, MaxHeaderBytes: 256 << 10,
	}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("serving webhook receivers", "addr", ln.Addr().String())
}
