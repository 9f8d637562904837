package reconcile

import (
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	"github.com/converge-gitops/converge/engine/apply"
	"github.com/converge-gitops/converge/engine/health"
	"github.com/converge-gitops/converge/engine/helmrelease"
	"github.com/converge-gitops/converge/engine/kube"
)

// NewKustomizations returns the Kustomization reconciler over c that `converge apply` and the agent share:
// spec.serviceAccountName through impersonation.
func NewKustomizations(c *kube.Clients, clk clock.PassiveClock) *Kustomizations {
	managers := func(cc *kube.Clients) (*apply.Manager, *health.Checker) {
		return &apply.Manager{Client: cc.Dynamic, Mapper: cc.Mapper}, &health.Checker{Client: cc.Dynamic, Mapper: cc.Mapper}
	}
	am, hc := managers(c)
	return &Kustomizations{Client: c.Dynamic, Apply: am, Health: hc, Clock: clk, ReadyExprs: &ReadyExprs{}, Remotes: &RemoteClients{},
		Impersonate: func(namespace, name string) (*apply.Manager, *health.Checker, error) {
			sa, err := c.Impersonating(namespace, name)
			if err != nil {
				return nil, nil, err
			}
			am, hc := managers(&kube.Clients{Dynamic: sa.Dynamic, Mapper: c.Mapper})
			return am, hc, nil
		},
	}
}

// NewHelmReleases returns the HelmRelease reconciler over c that `converge apply` and the agent share;
// renderer computes values and post-renders as `converge build` does.
func NewHelmReleases(c *kube.Clients, renderer *helmrelease.Renderer, clk clock.PassiveClock) *HelmReleases {
	return &HelmReleases{Client: c.Dynamic, Config: c.Config, Renderer: renderer, Clock: clk, ReadyExprs: &ReadyExprs{}, Remotes: &RemoteClients{},
		Impersonate: func(namespace, name string) (*rest.Config, error) {
			sa, err := c.Impersonating(namespace, name)
			if err != nil {
				return nil, err
			}
			return sa.Config, nil
		}}
}
