package agent

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Metrics are the agent's Prometheus metrics, on their own registry.
type Metrics struct {
	Registry   *prometheus.Registry
	duration   *prometheus.HistogramVec
	reconciles *prometheus.CounterVec
	condition  *prometheus.GaugeVec
	suspended  *prometheus.GaugeVec
	objects    *prometheus.GaugeVec
	queue      prometheus.Gauge
	requests   *prometheus.CounterVec
}

// NewMetrics registers the agent's metrics, with the Go runtime and process collectors, on a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "converge_reconcile_duration_seconds",
			Help:    "Duration of one reconciliation, by kind.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"kind"}),
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "converge_reconciles_total",
			Help: "Reconciliations, by kind and result (success, failure, skipped).",
		}, []string{"kind", "result"}),
		condition: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "converge_reconcile_condition",
			Help: "The Ready condition of each object: 1 for the status it has, 0 for the others.",
		}, []string{"kind", "namespace", "name", "type", "status"}),
		suspended: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "converge_suspend_status",
			Help: "1 when the object is suspended.",
		}, []string{"kind", "namespace", "name"}),
		objects: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "converge_objects",
			Help: "Objects the agent watches, by kind.",
		}, []string{"kind"}),
		queue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "converge_workqueue_depth",
			Help: "Objects waiting to be reconciled now.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "converge_api_requests_total",
			Help: "Requests to the Kubernetes API server, by method (watches count once, when opened).",
		}, []string{"method"}),
	}
	m.Registry.MustRegister(m.duration, m.reconciles, m.condition, m.suspended, m.objects, m.queue, m.requests,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// WrapTransport counts the requests rt sends to the API server (set it as rest.Config.WrapTransport).
func (m *Metrics) WrapTransport(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		m.requests.WithLabelValues(r.Method).Inc()
		return rt.RoundTrip(r)
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (m *Metrics) observe(kind, result string, took time.Duration) {
	if m == nil {
		return
	}
	m.duration.WithLabelValues(kind).Observe(took.Seconds())
	m.reconciles.WithLabelValues(kind, result).Inc()
}

func (m *Metrics) setReady(kind, namespace, name string, status metav1.ConditionStatus, suspended bool) {
	if m == nil {
		return
	}
	for _, s := range []metav1.ConditionStatus{metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionUnknown} {
		v := 0.0
		if s == status {
			v = 1
		}
		m.condition.WithLabelValues(kind, namespace, name, "Ready", string(s)).Set(v)
	}
	v := 0.0
	if suspended {
		v = 1
	}
	m.suspended.WithLabelValues(kind, namespace, name).Set(v)
}

func (m *Metrics) forget(kind, namespace, name string) {
	if m == nil {
		return
	}
	for _, s := range []metav1.ConditionStatus{metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionUnknown} {
		m.condition.DeleteLabelValues(kind, namespace, name, "Ready", string(s))
	}
	m.suspended.DeleteLabelValues(kind, namespace, name)
}

func (m *Metrics) setObjects(kind string, n int) {
	if m == nil {
		return
	}
	m.objects.WithLabelValues(kind).Set(float64(n))
}

func (m *Metrics) setQueue(n int) {
	if m == nil {
		return
	}
	m.queue.Set(float64(n))
}
