package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/crds"
	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	kustomizev1 "github.com/converge-gitops/converge/crds/kustomize/v1"
	"github.com/converge-gitops/converge/crds/meta"
	notificationv1 "github.com/converge-gitops/converge/crds/notification/v1"
	sourcev1 "github.com/converge-gitops/converge/crds/source/v1"
	"github.com/converge-gitops/converge/crds/sourceext/v1beta1"
	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/build"
	"github.com/converge-gitops/converge/engine/events"
	"github.com/converge-gitops/converge/engine/fetch"
	"github.com/converge-gitops/converge/engine/health"
	"github.com/converge-gitops/converge/engine/helmrelease"
	"github.com/converge-gitops/converge/engine/kinds"
	"github.com/converge-gitops/converge/engine/kube"
	"github.com/converge-gitops/converge/engine/reconcile"
	"github.com/converge-gitops/converge/engine/source"
	"github.com/converge-gitops/converge/engine/source/helmchart"
)

// Finalizer is the finalizer Flux puts on the objects it reconciles.
const Finalizer = "finalizers.fluxcd.io"

// Key names one object the agent reconciles.
type Key struct {
	Kind      string
	Namespace string
	Name      string
}

func (k Key) String() string { return k.Kind + "/" + k.Namespace + "/" + k.Name }

type watchedKind struct {
	kind       string
	gvr        schema.GroupVersionResource
	controller string
	// lookupOnly kinds are cached for lookups (a HelmRelease's chartRef) but not reconciled.
	lookupOnly bool
}

// watchedKinds are the kinds the kinds registry has the agent watch; reconciled kinds report events as
// their Flux component.
func watchedKinds() []watchedKind {
	var out []watchedKind
	for _, k := range kinds.All() {
		switch k.Agent {
		case kinds.Reconciled:
			out = append(out, watchedKind{kind: k.Kind, gvr: k.Resource, controller: k.Component})
		case kinds.LookedUp:
			out = append(out, watchedKind{kind: k.Kind, gvr: k.Resource, lookupOnly: true})
		}
	}
	return out
}

// Options configure an Agent.
type Options struct {
	Clients *kube.Clients
	Store   *source.Store
	// Workers is how many objects are reconciled at once (default 4).
	Workers int
	// Namespace limits the agent to one namespace; empty watches all.
	Namespace string
	// LabelSelector limits the agent to the Flux objects it matches (a shard, as Flux's
	// --watch-label-selector); empty watches all. A source or dependency outside it is read from the API
	// server, and its artifact downloaded from its status.artifact.url (the shard that serves it).
	LabelSelector string
	Clock         clock.WithTicker
	Logger        *slog.Logger
	Metrics       *Metrics
	Events        events.Sink
	// ArtifactBaseURL prefixes the sources' status.artifact.url.
	ArtifactBaseURL string
	// JitterPercent spreads periodic reconciliations by ±this share of their interval (default 5).
	JitterPercent float64
	// DependencyRequeue is how long to wait before retrying an object whose dependency or source is not
	// ready (default 30s, as Flux).
	DependencyRequeue time.Duration
	// DetectDriftOnly reports drift instead of correcting it, for every Kustomization.
	DetectDriftOnly bool
	// AdditiveCELDependencyCheck is Flux's feature gate: a dependsOn readyExpr is checked in addition to
	// the dependency's Ready condition instead of replacing it.
	AdditiveCELDependencyCheck bool
	// ShutdownGrace is how long in-flight reconciliations may run after the context ends (default 30s).
	ShutdownGrace time.Duration
	// Tenancy is Flux's multi-tenancy lockdown (--no-cross-namespace-refs, --default-service-account,
	// --no-remote-bases), the same value `converge apply` and `diff` take.
	Tenancy reconcile.Tenancy
}

// Agent reconciles every watched Flux object continuously.
type Agent struct {
	opts           Options
	log            *slog.Logger
	clock          clock.WithTicker
	sources        *reconcile.Sources
	kustomizations *reconcile.Kustomizations
	helmReleases   *reconcile.HelmReleases
	charts         *fetch.Charts
	fetchers       *fetch.Fetchers
	builder        *build.Builder
	scheme         *runtime.Scheme
	queue          workqueue.TypedRateLimitingInterface[Key]
	informers      map[string]cache.SharedIndexInformer
	controllers    map[string]string
	resources      map[string]schema.GroupVersionResource
	selector       labels.Selector

	mu       sync.Mutex
	schedule map[Key]*schedule
	// waiting holds, per source, the objects waiting for its first artifact.
	waiting map[Key]map[Key]bool
	ready   atomic.Bool
}

type schedule struct {
	due       time.Time
	triggered bool
	failures  int
}

// New returns an agent for opts.
func New(opts Options) (*Agent, error) {
	if opts.Clients == nil || opts.Store == nil {
		return nil, errors.New("agent: clients and store are required")
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.JitterPercent == 0 {
		opts.JitterPercent = 5
	}
	if opts.DependencyRequeue == 0 {
		opts.DependencyRequeue = 30 * time.Second
	}
	if opts.ShutdownGrace == 0 {
		opts.ShutdownGrace = 30 * time.Second
	}
	selector, err := labels.Parse(opts.LabelSelector)
	if err != nil {
		return nil, fmt.Errorf("agent: label selector %q: %w", opts.LabelSelector, err)
	}
	c := opts.Clients
	a := &Agent{opts: opts, log: opts.Logger, clock: opts.Clock, schedule: map[Key]*schedule{}, waiting: map[Key]map[Key]bool{},
		informers: map[string]cache.SharedIndexInformer{}, controllers: map[string]string{},
		resources: map[string]schema.GroupVersionResource{}, selector: selector}
	a.fetchers = fetch.NewFetchers(opts.Store, c)
	a.fetchers.Git.ResolveInclude = func(_ context.Context, namespace, name string) (*source.Artifact, error) {
		return opts.Store.Current(source.Ref{Kind: sourcev1.GitRepositoryKind, Namespace: namespace, Name: name})
	}
	a.sources = &reconcile.Sources{Client: c.Dynamic, Git: a.fetchers.Git, OCI: a.fetchers.OCI, Bucket: a.fetchers.Bucket,
		Helm: helmchart.New(opts.Store, c), BaseURL: opts.ArtifactBaseURL, Clock: opts.Clock}
	a.sources.Helm.Cloud = a.fetchers.Cloud
	a.kustomizations = reconcile.NewKustomizations(c, opts.Clock)
	a.builder = &build.Builder{ConfigMaps: c, Secrets: c, Strict: true, Cloud: a.fetchers.Cloud}
	if !opts.Tenancy.NoRemoteBases {
		// Remote bases are fetched as GitRepositories are, into the same store (Flux's default).
		a.builder.Remote = &build.RemoteBases{Fetch: func(ctx context.Context, gr *sourcev1.GitRepository) (string, error) {
			art, err := a.fetchers.Git.Fetch(ctx, gr)
			if err != nil {
				return "", err
			}
			return art.Dir, nil
		}}
	}
	renderer := &helmrelease.Renderer{ConfigMaps: c, Secrets: c, KustomizeLock: a.builder.KustomizeLock(), IsNamespaced: c.IsNamespaced}
	a.builder.Helm = renderer
	a.scheme = crds.NewScheme()
	a.helmReleases = reconcile.NewHelmReleases(c, renderer, opts.Clock)
	a.kustomizations.Tenancy, a.helmReleases.Tenancy = opts.Tenancy, opts.Tenancy
	a.kustomizations.ReadyExprs.Additive = opts.AdditiveCELDependencyCheck
	a.helmReleases.ReadyExprs.Additive = opts.AdditiveCELDependencyCheck
	a.sources.Chart = a.fetchHelmChart
	a.charts = &fetch.Charts{Sources: &fetch.Resolver{Lookup: a.lookupSource, Remote: a.storedDir}, Fetcher: a.sources.Helm,
		Stored: a.storedChart}
	a.queue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[Key](),
		workqueue.TypedRateLimitingQueueConfig[Key]{Name: "converge", Clock: opts.Clock})
	return a, nil
}

// Ready reports whether the caches are synced and workers run.
func (a *Agent) Ready() bool { return a.ready.Load() }

// Run watches, schedules and reconciles until ctx ends, then lets in-flight reconciliations finish
// within ShutdownGrace.
func (a *Agent) Run(ctx context.Context) error {
	defer a.queue.ShutDown()
	if n, err := a.opts.Store.Sweep(); err != nil {
		a.log.Warn("sweeping the artifact store", "error", err.Error())
	} else if n > 0 {
		a.log.Info("removed unreferenced artifacts from the store", "count", n)
	}
	factory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(a.opts.Clients.Dynamic, 0, a.opts.Namespace,
		func(o *metav1.ListOptions) { o.LabelSelector = a.opts.LabelSelector })
	for _, w := range watchedKinds() {
		if _, err := a.opts.Clients.Discovery.ServerResourcesForGroupVersion(w.gvr.GroupVersion().String()); err != nil {
			if apierrors.IsNotFound(err) {
				a.log.Warn("kind not served by the cluster: not watched", "kind", w.kind, "groupVersion", w.gvr.GroupVersion().String())
				continue
			}
			return fmt.Errorf("discovering %s: %w", w.gvr.GroupVersion(), err)
		}
		inf := factory.ForResource(w.gvr).Informer()
		if err := inf.SetTransform(dropManagedFields); err != nil {
			return err
		}
		a.informers[w.kind] = inf
		a.resources[w.kind] = w.gvr
		if w.lookupOnly {
			// Produced elsewhere: a new artifact revision wakes the objects built from it.
			kind := w.kind
			if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{UpdateFunc: func(oldObj, newObj any) {
				o, ok1 := oldObj.(*unstructured.Unstructured)
				n, ok2 := newObj.(*unstructured.Unstructured)
				if ok1 && ok2 && artifactRevision(o) != artifactRevision(n) {
					a.triggerConsumers(keyOf(kind, n))
					a.wake(keyOf(kind, n))
				}
			}, DeleteFunc: func(obj any) {
				if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
					obj = d.Obj
				}
				if u, ok := obj.(*unstructured.Unstructured); ok {
					a.dropArtifact(keyOf(kind, u))
				}
			}}); err != nil {
				return err
			}
			continue
		}
		kind := w.kind
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: func(obj any) {
				if u, ok := obj.(*unstructured.Unstructured); ok {
					a.trigger(keyOf(kind, u))
				}
			},
			UpdateFunc: func(oldObj, newObj any) {
				o, ok1 := oldObj.(*unstructured.Unstructured)
				n, ok2 := newObj.(*unstructured.Unstructured)
				if ok1 && ok2 && needsReconcile(o, n) {
					a.trigger(keyOf(kind, n))
				}
			},
			DeleteFunc: func(obj any) {
				if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
					obj = d.Obj
				}
				if u, ok := obj.(*unstructured.Unstructured); ok {
					a.forget(keyOf(kind, u))
					a.dropArtifact(keyOf(kind, u))
				}
			},
		}); err != nil {
			return err
		}
		a.controllers[kind] = w.controller
	}
	factory.Start(ctx.Done())
	for kind, inf := range a.informers {
		if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
			// ctx ended before the caches synced: a stop, not a failure (nothing was reconciled).
			factory.Shutdown()
			a.log.Info("stopped before the caches synced", "kind", kind)
			return nil
		}
	}
	a.log.Info("caches synced, reconciling", "workers", a.opts.Workers, "kinds", len(a.informers))
	a.ready.Store(true)
	defer a.ready.Store(false)

	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	// Health checks of Kustomizations read the objects they wait for from watches, not by polling.
	a.kustomizations.Health.Cache = health.NewCache(workCtx, a.opts.Clients.Dynamic, a.opts.Namespace)
	a.helmReleases.HealthCache = a.kustomizations.Health.Cache
	var wg, inflight sync.WaitGroup
	for range a.opts.Workers {
		wg.Go(func() {
			for a.next(workCtx, &inflight) {
			}
		})
	}
	var gauges sync.WaitGroup
	gauges.Go(func() { a.gauges(ctx) })
	defer gauges.Wait()
	<-ctx.Done()
	a.log.Info("shutting down: finishing in-flight reconciliations", "grace", a.opts.ShutdownGrace.String())
	a.queue.ShutDown()
	done := make(chan struct{})
	go func() { wg.Wait(); inflight.Wait(); close(done) }()
	select {
	case <-done:
	case <-a.clock.After(a.opts.ShutdownGrace):
		cancelWork()
		<-done
	}
	factory.Shutdown()
	return nil
}

func (a *Agent) gauges(ctx context.Context) {
	t := a.clock.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		for kind, inf := range a.informers {
			a.opts.Metrics.setObjects(kind, len(inf.GetStore().ListKeys()))
		}
		a.opts.Metrics.setQueue(a.queue.Len())
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

func keyOf(kind string, u *unstructured.Unstructured) Key {
	return Key{Kind: kind, Namespace: u.GetNamespace(), Name: u.GetName()}
}

// needsReconcile is true when an update asks for a reconciliation: a spec change (generation), a new
// reconcile request, a deletion. Status writes (the agent's own) are not.
func needsReconcile(o, n *unstructured.Unstructured) bool {
	if o.GetGeneration() != n.GetGeneration() {
		return true
	}
	if o.GetAnnotations()[meta.ReconcileRequestAnnotation] != n.GetAnnotations()[meta.ReconcileRequestAnnotation] ||
		o.GetAnnotations()[meta.ForceRequestAnnotation] != n.GetAnnotations()[meta.ForceRequestAnnotation] {
		return true
	}
	return o.GetDeletionTimestamp() == nil && n.GetDeletionTimestamp() != nil
}

func dropManagedFields(obj any) (any, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		u.SetManagedFields(nil)
	}
	return obj, nil
}

// trigger reconciles key as soon as a worker is free.
func (a *Agent) trigger(key Key) {
	a.mu.Lock()
	s := a.stateLocked(key)
	s.triggered = true
	a.mu.Unlock()
	a.queue.Add(key)
}

func (a *Agent) forget(key Key) {
	a.mu.Lock()
	delete(a.schedule, key)
	a.mu.Unlock()
	a.queue.Forget(key)
	a.opts.Metrics.forget(key.Kind, key.Namespace, key.Name)
	// An object deleted without passing our finalizer leaves no compiled readyExprs behind either.
	switch key.Kind {
	case kustomizev1.KustomizationKind:
		a.kustomizations.ReadyExprs.Forget(key.Kind, key.Namespace, key.Name)
	case helmv2.HelmReleaseKind:
		a.helmReleases.ReadyExprs.Forget(key.Kind, key.Namespace, key.Name)
	}
}

// waitFor records that consumer waits for source's first artifact; it reports whether it already did.
func (a *Agent) waitFor(source, consumer Key) (again bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.waiting[source] == nil {
		a.waiting[source] = map[Key]bool{}
	}
	again = a.waiting[source][consumer]
	a.waiting[source][consumer] = true
	return again
}

// wake reconciles the objects waiting for source.
func (a *Agent) wake(source Key) {
	a.mu.Lock()
	keys := a.waiting[source]
	delete(a.waiting, source)
	a.mu.Unlock()
	for k := range keys {
		a.trigger(k)
	}
}

func (a *Agent) stateLocked(key Key) *schedule {
	s, ok := a.schedule[key]
	if !ok {
		s = &schedule{}
		a.schedule[key] = s
	}
	return s
}

// next processes one queued key; false once the queue is shut down. A reconciliation that only waits
// for the health of what it applied releases the worker (the key stays in process, so that it is not
// reconciled twice at once) and finishes in inflight.
func (a *Agent) next(ctx context.Context, inflight *sync.WaitGroup) bool {
	key, shutdown := a.queue.Get()
	if shutdown {
		return false
	}
	released := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(released) }) }
	pctx := apply.WithProgress(ctx, func(p apply.Progress) {
		if p.Phase == apply.PhaseWaiting {
			release()
		}
	})
	inflight.Go(func() {
		defer release()
		a.process(pctx, key)
	})
	<-released
	return true
}

// process reconciles key and schedules its next reconciliation.
func (a *Agent) process(ctx context.Context, key Key) {
	defer a.queue.Done(key)
	if !leaseHeld(ctx) {
		// Not renewed in time: another replica may lead. Checked again until the elector decides.
		a.log.Debug("lease not renewed in time: not reconciling", "kind", key.Kind, "namespace", key.Namespace, "name", key.Name)
		a.queue.AddAfter(key, time.Second)
		return
	}
	a.mu.Lock()
	s := a.stateLocked(key)
	if now := a.clock.Now(); !s.triggered && now.Before(s.due) {
		// An earlier schedule superseded by a later one. The queue keeps one pending time per key (the
		// earliest), so the later one is put back.
		wait := s.due.Sub(now)
		a.mu.Unlock()
		a.queue.AddAfter(key, wait)
		return
	}
	s.triggered = false
	a.mu.Unlock()

	inf, ok := a.informers[key.Kind]
	if !ok {
		return
	}
	item, exists, err := inf.GetStore().GetByKey(cacheKey(key))
	if err != nil || !exists {
		a.forget(key)
		return
	}
	u := item.(*unstructured.Unstructured).DeepCopy()
	start := a.clock.Now()
	out := a.reconcile(ctx, key, u)
	took := a.clock.Since(start)
	result := "success"
	switch {
	case out.skipped:
		result = "skipped"
	case out.err != nil:
		result = "failure"
	}
	a.opts.Metrics.observe(key.Kind, result, took)
	log := a.log.With("kind", key.Kind, "namespace", key.Namespace, "name", key.Name, "duration", took.String())
	switch {
	case out.skipped && out.err != nil:
		log.Debug("waiting", "reason", out.err.Error())
	case out.err != nil:
		log.Error("reconciliation failed", "error", out.err.Error(), "requeueAfter", out.requeue.String())
	case !out.skipped:
		log.Info("reconciled", "revision", out.revision, "requeueAfter", out.requeue.String())
	}

	a.mu.Lock()
	s = a.stateLocked(key)
	delay := s.next(out, a.jitter)
	if delay > 0 {
		s.due = a.clock.Now().Add(delay)
	} else {
		s.due = time.Time{}
	}
	a.mu.Unlock()
	if delay > 0 {
		a.queue.AddAfter(key, delay)
	}
}

func cacheKey(k Key) string {
	if k.Namespace == "" {
		return k.Name
	}
	return k.Namespace + "/" + k.Name
}

// next records out and returns when to reconcile again (0: not on a schedule): the interval with
// jitter after a success, a doubling backoff capped by the retry interval after failures, a fixed delay
// while a dependency or source is not ready.
func (s *schedule) next(out outcome, jitter func(time.Duration) time.Duration) time.Duration {
	switch {
	case out.waiting:
		return out.requeue
	case out.err != nil:
		s.failures++
		return jitter(backoff(s.failures, out.requeue))
	}
	s.failures = 0
	if out.requeue <= 0 {
		return 0
	}
	return jitter(out.requeue)
}

// backoff doubles from one second per consecutive failure, up to limit (the retry interval).
func backoff(failures int, limit time.Duration) time.Duration {
	d := time.Second
	for i := 1; i < failures && d < limit; i++ {
		d *= 2
	}
	if limit > 0 && d > limit {
		d = limit
	}
	return d
}

func (a *Agent) jitter(d time.Duration) time.Duration {
	spread := float64(d) * a.opts.JitterPercent / 100
	return d + time.Duration((rand.Float64()*2-1)*spread)
}

// outcome is what a reconciliation tells the scheduler.
type outcome struct {
	requeue  time.Duration // 0: not on a schedule (suspended, deleted)
	err      error
	skipped  bool // suspended or nothing to do
	waiting  bool // a dependency or source is not ready: requeue at the fixed delay, no backoff
	revision string
}

func (a *Agent) reconcile(ctx context.Context, key Key, u *unstructured.Unstructured) outcome {
	switch key.Kind {
	case kustomizev1.KustomizationKind:
		return a.reconcileKustomization(ctx, u)
	case helmv2.HelmReleaseKind:
		return a.reconcileHelmRelease(ctx, u)
	case v1beta1.ArtifactGeneratorKind:
		return a.reconcileGenerator(ctx, u)
	case notificationv1.ReceiverKind:
		return a.reconcileReceiver(ctx, u)
	case imageRepositoryKind, imagePolicyKind, imageAutomationKind:
		return a.reconcileImage(ctx, key, u)
	default:
		return a.reconcileSource(ctx, key, u)
	}
}

func (a *Agent) emit(ctx context.Context, ref corev1.ObjectReference, severity, reason, msg, revision string) {
	if a.opts.Events == nil {
		return
	}
	a.opts.Events.Emit(ctx, events.Event{
		Object:     ref,
		Severity:   severity,
		Reason:     reason,
		Message:    msg,
		Revision:   revision,
		Metadata:   a.eventMetadata(ref),
		Timestamp:  a.clock.Now(),
		Controller: a.controllers[ref.Kind],
	})
}

// emitEvents sends evs, built by the engine for a result, to the agent's event sink.
func (a *Agent) emitEvents(ctx context.Context, evs []events.Event) {
	if a.opts.Events == nil {
		return
	}
	for _, e := range evs {
		a.opts.Events.Emit(ctx, e)
	}
}

// eventMetadata returns the event.toolkit.fluxcd.io annotations of the object ref names, from the cache.
func (a *Agent) eventMetadata(ref corev1.ObjectReference) map[string]string {
	inf, ok := a.informers[ref.Kind]
	if !ok {
		return nil
	}
	item, exists, err := inf.GetStore().GetByKey(cacheKey(Key{Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name}))
	if err != nil || !exists {
		return nil
	}
	u, ok := item.(*unstructured.Unstructured)
	if !ok {
		return nil
	}
	return events.MetadataFromAnnotations(u.GetAnnotations())
}

func intervalOf(u *unstructured.Unstructured, fallback time.Duration) time.Duration {
	s, _, _ := unstructured.NestedString(u.Object, "spec", "interval")
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d
	}
	return fallback
}

func readyStatus(u *unstructured.Unstructured) metav1.ConditionStatus {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == meta.ReadyCondition {
			s, _ := m["status"].(string)
			return metav1.ConditionStatus(s)
		}
	}
	return metav1.ConditionUnknown
}

func artifactRevision(u *unstructured.Unstructured) string {
	r, _, _ := unstructured.NestedString(u.Object, "status", "artifact", "revision")
	return r
}
