package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/engine/events"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/notify"
	"github.com/converge-gitops/converge/engine/receiver"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/githubapp"
)

// ProcessOptions configure the agent process: the Agent and, around it, the HTTP servers, the webhook
// receivers, leader election and the event pipeline.
type ProcessOptions struct {
	// Config reaches the API server. Watches are long-lived: its Timeout should be 0.
	Config *rest.Config
	// Logger receives the process's log, client-go's (leader election's) included.
	Logger *slog.Logger
	// Agent configures the reconciler; its Clients, Store, Logger, Metrics, Events and ArtifactBaseURL
	// are set by the process.
	Agent Options
	// StoragePath is the artifact store's directory.
	StoragePath string
	// HTTPAddr serves /healthz, /readyz, /metrics and /artifacts/.
	HTTPAddr string
	// ReceiverAddr serves the webhook Receivers (/hook/...); empty serves none. A port that cannot be
	// bound is logged, not fatal: it costs the webhooks, not the reconciliation.
	ReceiverAddr string
	// ArtifactBaseURL prefixes status.artifact.url; empty means http://<HTTPAddr>/artifacts.
	ArtifactBaseURL string
	// LeaderElection, when set, makes the process reconcile only while it holds the Lease; its Client
	// and Log are set by the process.
	LeaderElection *LeaderElection
	// Host names this instance in events and notifications (the pod name).
	Host string
	// TrimMemory lets the kernel drop the executable's pages mapped at start-up (Linux).
	TrimMemory bool
	// IgnoredFeatureGates are feature gates given but not implemented: logged once at start.
	IgnoredFeatureGates []string
}

// Process is a running `converge agent`: NewProcess connects and binds the listeners, Run serves and
// reconciles until its context ends.
type Process struct {
	opts     ProcessOptions
	log      *slog.Logger
	metrics  *Metrics
	clients  *kube.Clients
	store    *source.Store
	httpLn   net.Listener
	hookLn   net.Listener
	ran      bool
	closeLns sync.Once
}

// NewProcess connects to the API server, opens the artifact store and binds the listeners (so that
// HTTPAddr and ReceiverAddr name the bound ports). Call Run, which closes them when it returns.
func NewProcess(opts ProcessOptions) (*Process, error) {
	if opts.Config == nil {
		return nil, errors.New("agent process: a REST config is required")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Process{opts: opts, log: log, metrics: NewMetrics()}
	cfg := rest.CopyConfig(opts.Config)
	cfg.WrapTransport = p.metrics.WrapTransport
	cfg.WarningHandlerWithContext = warningLogger{log}
	clients, err := kube.New(cfg)
	if err != nil {
		return nil, err
	}
	p.clients = clients
	if p.store, err = source.OpenStore(opts.StoragePath); err != nil {
		return nil, fmt.Errorf("opening the artifact store %s: %w", opts.StoragePath, err)
	}
	if p.httpLn, err = net.Listen("tcp", opts.HTTPAddr); err != nil {
		return nil, fmt.Errorf("http address %s: %w", opts.HTTPAddr, err)
	}
	if opts.ReceiverAddr != "" {
		if p.hookLn, err = net.Listen("tcp", opts.ReceiverAddr); err != nil {
			log.Error("webhook receivers not served", "addr", opts.ReceiverAddr, "error", err.Error())
		}
	}
	return p, nil
}

// HTTPAddr is the address /healthz, /readyz, /metrics and /artifacts/ are served on.
func (p *Process) HTTPAddr() string { return p.httpLn.Addr().String() }

// ReceiverAddr is the address the webhook Receivers are served on; empty when none are.
func (p *Process) ReceiverAddr() string {
	if p.hookLn == nil {
		return ""
	}
	return p.hookLn.Addr().String()
}

func (p *Process) closeListeners() {
	p.closeLns.Do(func() {
		_ = p.httpLn.Close()
		if p.hookLn != nil {
			_ = p.hookLn.Close()
		}
	})
}

// Run serves and reconciles until ctx ends (SIGTERM), or until the process loses leadership
// (ErrLeadershipLost). When it returns, its servers are shut down, its goroutines have ended, the last
// events have been delivered and, with leader election, the Lease is released.
func (p *Process) Run(ctx context.Context) error {
	if p.ran {
		return errors.New("agent process: Run called twice")
	}
	p.ran = true
	defer p.closeListeners()
	log, opts := p.log, p.opts
	// client-go's contextual logging (leader election's) goes to the same handler as the agent's.
	ctx = klog.NewContext(ctx, logr.FromSlogHandler(log.Handler()))

	var servers []*http.Server
	var wg sync.WaitGroup
	serve := func(srv *http.Server, ln net.Listener) {
		servers = append(servers, srv)
		wg.Go(func() { _ = srv.Serve(ln) })
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		for _, srv := range servers {
			_ = srv.Shutdown(sctx)
		}
		wg.Wait()
	}()

	probes := &Probes{}
	serve(&http.Server{Handler: Handler(probes, p.metrics, p.store), ReadHeaderTimeout: 10 * time.Second}, p.httpLn)
	baseURL := opts.ArtifactBaseURL
	if baseURL == "" {
		baseURL = "http://" + p.HTTPAddr() + "/artifacts"
	}
	if opts.TrimMemory {
		if n, err := trimBinaryPages(); err != nil {
			log.Warn("could not release the executable's start-up pages", "error", err.Error())
		} else {
			log.Debug("released the executable's start-up pages", "mappings", n)
		}
	}
	log.Info("starting", "http", p.HTTPAddr(), "storage", opts.StoragePath, "workers", opts.Agent.Workers, "leaderElection", opts.LeaderElection != nil)
	for _, name := range opts.IgnoredFeatureGates {
		log.Warn("feature gate not implemented by converge: ignored", "gate", name)
	}

	// Events are written, and matched against Alerts, from their own goroutine: a reconciliation never
	// waits on them. It outlives the agent so that the last reconciliations' events are delivered too.
	clk := opts.Agent.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	kubeEvents := &events.Kubernetes{Client: p.clients.Core, Host: opts.Host, Clock: clk}
	notifier := &notify.Notifier{Clock: clk, Warnings: kubeEvents, Metrics: notify.NewMetrics(p.metrics.Registry), Logger: log, Instance: opts.Host,
		NoCrossNamespaceRefs: opts.Agent.Tenancy.NoCrossNamespaceRefs, GitHubApp: &githubapp.Tokens{Clock: clk}}
	recorder := events.NewAsync(events.Sinks{kubeEvents, notifier}, 1024)

	ao := opts.Agent
	ao.Clock = clk
	ao.Clients, ao.Store, ao.Logger, ao.Metrics, ao.Events, ao.ArtifactBaseURL = p.clients, p.store, log, p.metrics, recorder, baseURL
	agent, err := New(ao)
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
	if p.hookLn != nil {
		serve(&http.Server{
			Handler: &receiver.Handler{Receivers: agent.ReceiverLookup(), Secrets: p.clients, Dynamic: p.clients.Dynamic,
				Mapper: p.clients.Mapper, Clock: clk, Logger: log.With("component", "receiver"),
				NoCrossNamespaceRefs: opts.Agent.Tenancy.NoCrossNamespaceRefs},
			ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, MaxHeaderBytes: 256 << 10,
		}, p.hookLn)
		log.Info("serving webhook receivers", "addr", p.ReceiverAddr())
	}
	probes.Serve(agent)
	if opts.LeaderElection == nil {
		return agent.Run(ctx)
	}
	le := *opts.LeaderElection
	le.Client, le.Log = p.clients.Core, log
	if le.Clock == nil {
		le.Clock = ao.Clock
	}
	probes.Standby(true)
	var runErr error
	err = RunLeader(ctx, le, func(lctx context.Context) {
		probes.Standby(false)
		runErr = agent.Run(lctx)
	})
	if errors.Is(err, ErrLeadershipLost) {
		log.Error("leadership lost: exiting so that a fresh process stands by")
		return err
	}
	if err != nil {
		return err
	}
	log.Info("stopped")
	return runErr
}

// warningLogger sends the API server's warnings to the log at debug level.
type warningLogger struct{ log *slog.Logger }

func (w warningLogger) HandleWarningHeaderWithContext(_ context.Context, code int, _, text string) {
	w.log.Debug("API server warning", "code", code, "text", text)
}
