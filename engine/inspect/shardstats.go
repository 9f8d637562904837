package inspect

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/converge-gitops/converge/engine/install"
	"github.com/converge-gitops/converge/engine/kinds"
)

// ShardStatsRow counts the Flux objects of one shard (every kind `flux stats` reports) and, when its
// agent runs, how fast it reconciles.
type ShardStatsRow struct {
	// Shard is the sharding.fluxcd.io/key label value; empty for the default agent's objects.
	Shard     string `json:"shard"`
	Running   int    `json:"running"`
	Failing   int    `json:"failing"`
	Suspended int    `json:"suspended"`
	// Agent is the pod leading the shard (its Lease's holder), empty when none is installed or leads.
	Agent string `json:"agent,omitempty"`
	// Reconciles is the leading agent's converge_reconciles_total, ReconcilesPerMinute that over its
	// uptime; RateError says why they are unknown.
	Reconciles          float64 `json:"reconciles"`
	ReconcilesPerMinute float64 `json:"reconcilesPerMinute"`
	RateError           string  `json:"rateError,omitempty"`
}

// ShardStats counts the Flux objects in namespace ("" for all) per shard label, one row per shard
// agent installed in installNamespace (`converge install --shards`) even without objects, and reads the
// reconcile rate of each shard's leading agent from its /metrics (through the API server's pod proxy).
// now is the time the rate is computed at. Sorted by shard, the default ("") first.
func ShardStats(ctx context.Context, dyn dynamic.Interface, core kubernetes.Interface, namespace, installNamespace string, now time.Time) ([]ShardStatsRow, error) {
	rows := map[string]*ShardStatsRow{}
	row := func(shard string) *ShardStatsRow {
		if rows[shard] == nil {
			rows[shard] = &ShardStatsRow{Shard: shard}
		}
		return rows[shard]
	}
	for _, name := range statsKinds {
		k, ok := kinds.Named(name)
		if !ok {
			return nil, fmt.Errorf("stats: kind %s is not registered", name)
		}
		list, err := dyn.Resource(k.Resource).Namespace(namespace).List(ctx, metav1.ListOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", k.Resource.Resource, err)
		}
		for _, item := range list.Items {
			r := row(item.GetLabels()[ShardLabel])
			if s, _, _ := unstructured.NestedBool(item.Object, "spec", "suspend"); s {
				r.Suspended++
			} else {
				r.Running++
			}
			if RowOf(k, &item).Conditions["Ready"] == "False" {
				r.Failing++
			}
		}
	}
	deploys, err := core.AppsV1().Deployments(installNamespace).List(ctx, metav1.ListOptions{LabelSelector: install.ComponentLabel + "=" + install.AgentName})
	if err != nil {
		return nil, fmt.Errorf("listing the agents' Deployments in %s: %w", installNamespace, err)
	}
	for _, d := range deploys.Items {
		r := row(d.Labels[ShardLabel])
		r.Agent, r.Reconciles, r.ReconcilesPerMinute, err = agentRate(ctx, core, installNamespace, d.Name, d.Spec.Selector, now)
		if err != nil {
			r.RateError = err.Error()
		}
	}
	out := make([]ShardStatsRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Shard < out[j].Shard })
	return out, nil
}

// agentRate reads the metrics of the pod holding the Lease of Deployment name (the agent's Lease is
// named as its Deployment; its holder is "<pod>_<pid>").
func agentRate(ctx context.Context, core kubernetes.Interface, ns, name string, sel *metav1.LabelSelector, now time.Time) (pod string, total, perMinute float64, err error) {
	lease, err := core.CoordinationV1().Leases(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", 0, 0, fmt.Errorf("Lease %s/%s: %w", ns, name, err)
	}
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
		return "", 0, 0, fmt.Errorf("Lease %s/%s has no holder", ns, name)
	}
	pod, _, _ = strings.Cut(*lease.Spec.HolderIdentity, "_")
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return pod, 0, 0, fmt.Errorf("Deployment %s/%s: selector: %w", ns, name, err)
	}
	p, err := core.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return pod, 0, 0, fmt.Errorf("pod %s/%s holding Lease %s: %w", ns, pod, name, err)
	}
	if !selector.Matches(labels.Set(p.Labels)) {
		return pod, 0, 0, fmt.Errorf("pod %s/%s holding Lease %s is not Deployment %s's", ns, pod, name, name)
	}
	port := ""
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == "http" {
				port = fmt.Sprint(cp.ContainerPort)
			}
		}
	}
	if port == "" {
		return pod, 0, 0, fmt.Errorf("pod %s/%s has no port named http", ns, pod)
	}
	body, err := core.CoreV1().Pods(ns).ProxyGet("http", pod, port, "/metrics", nil).DoRaw(ctx)
	if err != nil {
		return pod, 0, 0, fmt.Errorf("reading the metrics of pod %s/%s: %w", ns, pod, err)
	}
	total, perMinute, err = ReconcileRate(string(body), now)
	if err != nil {
		return pod, 0, 0, fmt.Errorf("the metrics of pod %s/%s: %w", ns, pod, err)
	}
	return pod, total, perMinute, nil
}

// ReconcileRate reads an agent's /metrics (Prometheus text): its converge_reconciles_total over every
// kind and result, and that per minute since process_start_time_seconds, at now.
func ReconcileRate(metrics string, now time.Time) (total, perMinute float64, err error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(metrics))
	if err != nil {
		return 0, 0, fmt.Errorf("parsing: %w", err)
	}
	start, ok := families["process_start_time_seconds"]
	if !ok || len(start.GetMetric()) == 0 {
		return 0, 0, fmt.Errorf("no process_start_time_seconds")
	}
	// A gauge, or untyped when the text has no TYPE line.
	sec := start.GetMetric()[0].GetGauge().GetValue() + start.GetMetric()[0].GetUntyped().GetValue()
	started := model.Time(sec * 1000).Time()
	if f, ok := families["converge_reconciles_total"]; ok {
		for _, m := range f.GetMetric() {
			total += m.GetCounter().GetValue() + m.GetUntyped().GetValue()
		}
	}
	up := now.Sub(started)
	if up <= 0 {
		return total, 0, fmt.Errorf("process started at %s, after %s", started.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return total, total / up.Minutes(), nil
}
