package clientapi

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the API's Prometheus collectors. Each API has its own set
// (tests run several servers in one process); the app registers them with
// Register.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	inFlight prometheus.Gauge
	// ParkedSyncs counts /sync requests waiting for new data. The sync
	// handler increments it when a request parks and decrements it when the
	// request returns.
	ParkedSyncs prometheus.Gauge
}

func newMetrics() *Metrics {
	return &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "scop", Subsystem: "clientapi", Name: "requests_total",
			Help: "Client-Server API requests by route pattern and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "scop", Subsystem: "clientapi", Name: "request_duration_seconds",
			Help:    "Client-Server API request latency by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10, 30, 60},
		}, []string{"route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "scop", Subsystem: "clientapi", Name: "requests_in_flight",
			Help: "Client-Server API requests being served, parked /sync included.",
		}),
		ParkedSyncs: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "scop", Subsystem: "clientapi", Name: "parked_syncs",
			Help: "Long-polling /sync requests currently waiting for data.",
		}),
	}
}

func (m *Metrics) observe(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

// Metrics returns the API's collectors.
func (a *API) Metrics() *Metrics { return a.metrics }

// Register adds the API's collectors to reg.
func (m *Metrics) Register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.inFlight, m.ParkedSyncs} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
