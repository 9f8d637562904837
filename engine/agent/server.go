package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

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
}

// ErrLeadershipLost ends RunLeader when another replica took the Lease over.
var ErrLeadershipLost = errors.New("leader election lost")

// RunLeader runs lead while this process holds the Lease; it returns when ctx ends (the Lease is
// released) or with ErrLeadershipLost.
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
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: le.Namespace, Name: le.Name},
		Client:     le.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: le.Identity},
	}
	var led, lost atomic.Bool
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   le.LeaseDuration,
		RenewDeadline:   le.RenewDeadline,
		RetryPeriod:     le.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            le.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				led.Store(true)
				log.Info("leading", "lease", le.Namespace+"/"+le.Name, "identity", le.Identity)
				lead(ctx)
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
	if lost.Load() {
		return ErrLeadershipLost
	}
	return nil
}
