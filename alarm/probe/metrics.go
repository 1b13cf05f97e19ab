package probe

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the prober's Prometheus collectors. The endpoint label is
// bounded by the policy: a handful of user journeys, never hosts.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, eps []Endpoint) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shepherd_probe_requests_total",
			Help: "Synthetic requests completed by the continuous canary, by endpoint and result (success or failure).",
		}, []string{"endpoint", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shepherd_probe_request_duration_seconds",
			Help:    "Latency of the continuous canary's synthetic requests, failed ones included, by endpoint.",
			Buckets: prometheus.DefBuckets,
		}, []string{"endpoint"}),
	}
	cs := []prometheus.Collector{m.requests, m.duration}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			// Leave the registry as it was.
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("probe: registering metrics: %w", err)
		}
	}
	// Create every series up front so that a dashboard shows zero failures
	// rather than no data before the first failure.
	for _, e := range eps {
		m.requests.WithLabelValues(e.Name, "success")
		m.requests.WithLabelValues(e.Name, "failure")
		m.duration.WithLabelValues(e.Name)
	}
	return m, nil
}

func (m *metrics) observe(r Result) {
	res := "success"
	if !r.OK() {
		res = "failure"
	}
	m.requests.WithLabelValues(r.Endpoint, res).Inc()
	m.duration.WithLabelValues(r.Endpoint).Observe(r.Latency.Seconds())
}
