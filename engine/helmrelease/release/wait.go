package release

import (
	"context"
	"fmt"
	"time"

	"helm.sh/helm/v4/pkg/kube"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"

	helmv2 "github.com/converge-gitops/converge/crds/helm/v2"
	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/health"
)

func init() {
	// Helm names the field manager of what it applies from this variable of its own (the program's name
	// when unset); converge's objects are managed by "converge", as helm-controller's are by its name.
	kube.ManagedFieldsManager = apply.FieldManager
}

// kubeClient is Helm's Kubernetes client with the poller wait strategy of helm-controller: Helm's
// "watcher" strategy waits by polling kstatus with spec.healthCheckExprs for custom kinds (the
// evaluator Kustomizations use); the legacy and hook-only strategies are Helm's own.
type kubeClient struct {
	*kube.Client
	ctx    context.Context
	getter *restGetter
	hr     *helmv2.HelmRelease
	// healthCache, when set, serves the poller's reads after the first from watches.
	healthCache *health.Cache
}

var _ kube.InterfaceWaitOptions = (*kubeClient)(nil)

func (c *kubeClient) GetWaiter(ws kube.WaitStrategy) (kube.Waiter, error) {
	return c.GetWaiterWithOptions(ws)
}

func (c *kubeClient) GetWaiterWithOptions(ws kube.WaitStrategy, opts ...kube.WaitOption) (kube.Waiter, error) {
	opts = append([]kube.WaitOption{kube.WithWaitContext(c.ctx)}, opts...)
	hw, err := c.Client.GetWaiterWithOptions(ws, opts...)
	if err != nil || ws != kube.StatusWatcherStrategy {
		return hw, err
	}
	checker, err := c.checker()
	if err != nil {
		return nil, err
	}
	return &poller{Waiter: hw, ctx: c.ctx, checker: checker}, nil
}

// checker is the health checker of the release's objects, with the HelmRelease's healthCheckExprs.
func (c *kubeClient) checker() (*health.Checker, error) {
	mapper, err := c.getter.ToRESTMapper()
	if err != nil {
		return nil, err
	}
	dc, err := dynamic.NewForConfig(c.getter.config)
	if err != nil {
		return nil, err
	}
	hc := &health.Checker{Client: dc, Mapper: mapper, Interval: time.Second, Cache: c.healthCache}
	exprs := make([]health.Expressions, 0, len(c.hr.Spec.HealthCheckExprs))
	for _, e := range c.hr.Spec.HealthCheckExprs {
		exprs = append(exprs, health.Expressions{APIVersion: e.APIVersion, Kind: e.Kind, Current: e.Current, InProgress: e.InProgress, Failed: e.Failed})
	}
	hc, err = hc.WithExpressions(exprs)
	if err != nil {
		return nil, fmt.Errorf("spec.healthCheckExprs: %w", err)
	}
	return hc, nil
}

// poller waits for the release's objects by polling their kstatus until all are Current, one Failed,
// or the timeout passes. Hooks (WatchUntilReady) and deletions are waited for by Helm's watcher.
type poller struct {
	kube.Waiter
	ctx     context.Context
	checker *health.Checker
}

func (p *poller) Wait(resources kube.ResourceList, timeout time.Duration) error {
	return p.wait(resources, timeout, false)
}

func (p *poller) WaitWithJobs(resources kube.ResourceList, timeout time.Duration) error {
	return p.wait(resources, timeout, true)
}

var (
	deploymentGVK = appsv1.SchemeGroupVersion.WithKind("Deployment")
	jobGVK        = batchv1.SchemeGroupVersion.WithKind("Job")
)

// wait skips paused Deployments, as Helm does, and Jobs unless jobs is set.
func (p *poller) wait(resources kube.ResourceList, timeout time.Duration, jobs bool) error {
	objs := make([]health.Object, 0, len(resources))
	for _, r := range resources {
		gvk := r.Object.GetObjectKind().GroupVersionKind()
		if gvk.Empty() && r.Mapping != nil {
			gvk = r.Mapping.GroupVersionKind
		}
		switch gvk {
		case jobGVK:
			if !jobs {
				continue
			}
		case deploymentGVK:
			if paused(r.Object) {
				continue
			}
		}
		objs = append(objs, health.Object{GVK: gvk, Namespace: r.Namespace, Name: r.Name})
	}
	if len(objs) == 0 {
		return nil
	}
	// Only waiting from here: a caller that runs several reconciliations (the agent) may release the
	// worker of this one (see apply.WithProgress).
	apply.Report(p.ctx, apply.Progress{Phase: apply.PhaseWaiting, Total: len(objs)})
	if rm, ok := p.checker.Mapper.(apimeta.ResettableRESTMapper); ok {
		rm.Reset() // kinds of CRDs the release just created
	}
	_, err := p.checker.Wait(p.ctx, objs, timeout)
	return err
}

func paused(obj runtime.Object) bool {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return false
	}
	spec, _ := u["spec"].(map[string]any)
	p, _ := spec["paused"].(bool)
	return p
}
