package preflight

import (
	"context"
	"fmt"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/converge-gitops/converge/engine/install"
)

// ShardCheck is the health of one shard's agent (`converge install --shards`): its Deployment, who
// holds its Lease, and whether its artifact Service has a ready endpoint (the other shards download the
// shard's sources' artifacts through it).
type ShardCheck struct {
	Shard string     `json:"shard"`
	Agent AgentCheck `json:"agent"`
	// LeaseHolder is the holderIdentity of the shard's Lease (empty: none, the agent is not leading).
	LeaseHolder string `json:"leaseHolder,omitempty"`
	// Service is the artifact Service; ServiceEndpoints its ready endpoints.
	Service          string `json:"service"`
	ServiceEndpoints int    `json:"serviceEndpoints"`
	OK               bool   `json:"ok"`
	// Problems say what is not OK.
	Problems []string `json:"problems,omitempty"`
}

// Shards checks every shard agent installed in namespace (the Deployments of the agent component with
// a sharding.fluxcd.io/key label), sorted by shard. None: no shards are installed.
func Shards(ctx context.Context, client kubernetes.Interface, namespace string) ([]ShardCheck, error) {
	list, err := client.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{
		LabelSelector: install.ComponentLabel + "=" + install.AgentName + "," + install.ShardKey})
	if err != nil {
		return nil, fmt.Errorf("listing the shard agents' Deployments in %s: %w", namespace, err)
	}
	var out []ShardCheck
	for _, d := range list.Items {
		name := d.Name
		sc := ShardCheck{Shard: d.Labels[install.ShardKey], Service: namespace + "/" + name}
		if sc.Agent, err = Agent(ctx, client, namespace, name); err != nil {
			return nil, err
		}
		if !sc.Agent.OK {
			sc.Problems = append(sc.Problems, "Deployment "+namespace+"/"+name+": "+sc.Agent.Message)
		}
		// The shard's agent runs with --shard, which names its Lease as its Deployment (converge-agent-<shard>).
		lease, err := client.CoordinationV1().Leases(namespace).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			sc.Problems = append(sc.Problems, "Lease "+namespace+"/"+name+" not found: no agent of the shard leads")
		case err != nil:
			return nil, fmt.Errorf("reading Lease %s/%s: %w", namespace, name, err)
		case lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "":
			sc.Problems = append(sc.Problems, "Lease "+namespace+"/"+name+" has no holder: no agent of the shard leads")
		default:
			sc.LeaseHolder = *lease.Spec.HolderIdentity
		}
		if _, err := client.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{}); err != nil {
			if !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("reading Service %s/%s: %w", namespace, name, err)
			}
			sc.Problems = append(sc.Problems, "artifact Service "+sc.Service+" not found: other shards cannot download its artifacts")
		} else {
			slices, err := client.DiscoveryV1().EndpointSlices(namespace).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + name})
			if err != nil {
				return nil, fmt.Errorf("listing the EndpointSlices of Service %s: %w", sc.Service, err)
			}
			for _, s := range slices.Items {
				for _, e := range s.Endpoints {
					if e.Conditions.Ready == nil || *e.Conditions.Ready {
						sc.ServiceEndpoints++
					}
				}
			}
			if sc.ServiceEndpoints == 0 {
				sc.Problems = append(sc.Problems, "artifact Service "+sc.Service+" has no ready endpoint: other shards cannot download its artifacts")
			}
		}
		sc.OK = len(sc.Problems) == 0
		out = append(out, sc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Shard < out[j].Shard })
	return out, nil
}
