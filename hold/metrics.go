package hold

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Holder's Prometheus collectors. They always exist, so
// the code paths do not branch on them; they are registered only when
// Options.Registerer is set.
type metrics struct {
	held       *prometheus.GaugeVec
	wait       *prometheus.HistogramVec
	rejections *prometheus.CounterVec
	handoffs   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		held: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "waitingroom_held_requests",
			Help: "Requests held right now while their host's backend wakes.",
		}, []string{"host"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "waitingroom_hold_wait_seconds",
			Help: "How long requests were held, until forwarded or answered by waitingroom.",
			// From a backend already running (milliseconds) to a VM
			// boot near the default hold_timeout of 60s.
			Buckets: []float64{0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120},
		}, []string{"host"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waitingroom_hold_rejections_total",
			Help: "Held requests answered by waitingroom instead of the backend, by reason.",
		}, []string{"host", "reason"}),
		handoffs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waitingroom_handoffs_total",
			Help: "Requests for a running host forwarded straight to its backend (the handoff), by result: forwarded or backend_down.",
		}, []string{"host", "result"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.held, m.wait, m.rejections, m.handoffs} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("hold: registering metrics: %w", err)
		}
	}
	return m, nil
}
