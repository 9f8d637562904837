package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/engine/kinds"
	"github.com/converge-gitops/converge/engine/source"
)

// Probes reports the agent's health to Kubernetes: live while the process serves, ready once the agent
// leads and its caches are synced, or while it stands by for the leader.
type Probes struct {
	agent   atomic.Pointer[Agent]
	standby atomic.Bool
}

// Serve sets the agent whose readiness /readyz reports.
func (p *Probes) Serve(a *Agent) { p.agent.Store(a) }

// Standby marks the process as a healthy replica waiting for leadership.
func (p *Probes) Standby(v bool) { p.standby.Store(v) }

func (p *Probes) ready() bool {
	if p.standby.Load() {
		return true
	}
	a := p.agent.Load()
	return a != nil && a.Ready()
}

// Handler serves /healthz, /readyz, /metrics (when m is set) and, under /artifacts/, the stored source
// artifacts at the path their status.artifact.url names.
func Handler(p *Probes, m *Metrics, store *source.Store) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !p.ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	if m != nil {
		mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	}
	if store != nil {
		mux.HandleFunc("/artifacts/", func(w http.ResponseWriter, r *http.Request) {
			serveArtifact(w, r, store, strings.TrimPrefix(r.URL.Path, "/artifacts/"))
		})
	}
	return mux
}

// artifactKind returns the kind whose artifacts are served under /artifacts/<kind in lower case>/.
func artifactKind(path string) (string, bool) {
	for _, k := range kinds.Select(func(k kinds.Kind) bool { return k.Artifact }) {
		if strings.ToLower(k.Kind) == path {
			return k.Kind, true
		}
	}
	return "", false
}

// serveArtifact serves kind/namespace/name/digest.tar.gz when it is the current artifact of that source.
func serveArtifact(w http.ResponseWriter, r *http.Request, store *source.Store, path string) {
	parts := strings.Split(path, "/")
	kind, ok := artifactKind(parts[0])
	if len(parts) != 4 || !ok {
		http.NotFound(w, r)
		return
	}
	art, err := store.Current(source.Ref{Kind: kind, Namespace: parts[1], Name: parts[2]})
	if err != nil || art == nil || art.Archive == "" {
		http.NotFound(w, r)
		return
	}
	_, digest, _ := strings.Cut(art.Digest, ":")
	if parts[3] != digest+".tar.gz" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/gzip")
	http.ServeFile(w, r, art.Archive)
}

// LeaderElection configures the Lease that keeps two replicas from reconciling at once.
type LeaderElection struct {
	Client    kubernetes.Interface
	Namespace string
	Name      string
	Identity  string
	// LeaseDuration, RenewDeadline and RetryPeriod default to 15s, 10s and 2s.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	Log                                       *slog.Logger
	// Clock times the wait for the Lease's namespace (client-go's elector keeps its own); default real.
	Clock clock.Clock
}

// ErrLeadershipLost ends RunLeader when another replica took the Lease over.
var ErrLeadershipLost = errors.New("leader election lost")

// RunLeader runs lead while this process holds the Lease; it returns when ctx ends (the Lease is
// released) or with ErrLeadershipLost. While the Lease's namespace does not exist, it says so once and
// waits for it, as Flux's controllers keep retrying their Lease.
func RunLeader(ctx context.Context, le LeaderElection, lead func(ctx context.Context)) error {
	if le.LeaseDuration == 0 {
		le.LeaseDuration = 15 * time.Second
	}
	if le.RenewDeadline == 0 {
		le.RenewDeadline = 10 * time.Second
	}
	if le.RetryPeriod == 0 {
		le.RetryPeriod = 2 * time.Second
	}
	log := le.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if le.Clock == nil {
		le.Clock = clock.RealClock{}
	}
	if err := awaitLeaseNamespace(ctx, le, log); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	lock := &renewalClock{Interface: &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: le.Namespace, Name: le.Name},
		Client:     le.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: le.Identity},
	}, clock: le.Clock}
	held := func() bool { return lock.since(le.RenewDeadline) }
	var led, lost atomic.Bool
	// client-go starts OnStartedLeading in a goroutine it does not wait for: RunLeader waits for lead
	// itself, so that in-flight work ends (within the agent's grace) before it returns. A lead that
	// would start after the election ended does not run.
	var (
		leadMu   sync.Mutex
		leading  sync.WaitGroup
		finished bool
	)
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   le.LeaseDuration,
		RenewDeadline:   le.RenewDeadline,
		RetryPeriod:     le.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            le.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				leadMu.Lock()
				if finished {
					leadMu.Unlock()
					return
				}
				leading.Add(1)
				leadMu.Unlock()
				defer leading.Done()
				led.Store(true)
				log.Info("leading", "lease", le.Namespace+"/"+le.Name, "identity", le.Identity)
				lead(context.WithValue(ctx, leaseKey{}, held))
			},
			OnStoppedLeading: func() {
				if led.Load() && ctx.Err() == nil {
					lost.Store(true)
				}
			},
			OnNewLeader: func(identity string) {
				if identity != le.Identity {
					log.Info("standing by", "leader", identity)
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	elector.Run(ctx)
	leadMu.Lock()
	finished = true
	leadMu.Unlock()
	leading.Wait()
	if lost.Load() {
		return ErrLeadershipLost
	}
	return nil
}

// renewalClock is the Lease lock noting when this process last wrote the Lease (acquired or renewed it),
// on its own monotonic clock, from just before the write: other replicas count the Lease's duration
// from when they see that write, never earlier.
type renewalClock struct {
	resourcelock.Interface
	clock clock.PassiveClock
	mu    sync.Mutex
	last  time.Time
}

func (r *renewalClock) Create(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	start := r.clock.Now()
	err := r.Interface.Create(ctx, ler)
	r.wrote(start, err)
	return err
}

func (r *renewalClock) Update(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	start := r.clock.Now()
	err := r.Interface.Update(ctx, ler)
	r.wrote(start, err)
	return err
}

func (r *renewalClock) wrote(start time.Time, err error) {
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = start
}

// since reports whether the Lease was written less than d ago.
func (r *renewalClock) since(d time.Duration) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.last.IsZero() && r.clock.Since(r.last) < d
}

type leaseKey struct{}

// leaseHeld reports whether the leader election ctx runs under (if any) may still act: this process
// renewed the Lease within the renew deadline. A process frozen past it (SIGSTOP, a paused VM or a
// long GC stop) may have lost the Lease to another replica without knowing yet: it must not start a
// reconciliation until its elector has renewed the Lease or given up, so that two replicas never
// reconcile at once (the one in flight when it froze cannot be stopped).
func leaseHeld(ctx context.Context) bool {
	held, ok := ctx.Value(leaseKey{}).(func() bool)
	return !ok || held()
}

// awaitLeaseNamespace returns once a Lease can be created in le.Namespace (checked by a dry-run create,
// which needs no permission beyond the Lease's). A namespace that does not exist is logged once, naming
// it, then checked again every RetryPeriod until it appears or ctx ends. Other errors are left to the
// leader election, which reports and retries them.
func awaitLeaseNamespace(ctx context.Context, le LeaderElection, log *slog.Logger) error {
	leases := le.Client.CoordinationV1().Leases(le.Namespace)
	probe := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: le.Name, Namespace: le.Namespace}}
	missing := false
	for {
		_, err := leases.Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if !namespaceNotFound(err) {
			if missing {
				log.Info("leader election namespace exists now", "namespace", le.Namespace)
			}
			return nil
		}
		if !missing {
			missing = true
			log.Error(fmt.Sprintf("leader election: namespace %q does not exist: the Lease %s cannot be created; waiting for the namespace (checked every %s)",
				le.Namespace, le.Name, le.RetryPeriod), "namespace", le.Namespace, "lease", le.Name)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-le.Clock.After(le.RetryPeriod):
		}
	}
}

// namespaceNotFound is true when err says the namespace of the request does not exist.
func namespaceNotFound(err error) bool {
	if !apierrors.IsNotFound(err) {
		return false
	}
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return false
	}
	d := st.Status().Details
	return d != nil && d.Kind == "namespaces"
}
