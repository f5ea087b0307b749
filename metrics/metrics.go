// Package metrics exposes waitingroom's Prometheus metrics. Every metric is
// named waitingroom_*; they live on a prometheus.Registry the caller owns
// (never the global one), served by Handler on the admin listener.
//
// The hooks (OnWake, OnEvent, PageResponse, BudgetRejected, ...) are safe
// on a nil *Metrics, so components can call them whether or not metrics are
// wired. The wrappers (WrapProvider, WrapStore, WrapGate, InstrumentPublic)
// count at the one place each thing happens, so nothing is counted twice or
// forgotten.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/waitingroom/waitingroom/controller"
)

// wakeBuckets are the wake duration histogram's buckets, in seconds: a
// container wakes in a second or two, a VM in tens of seconds to minutes.
var wakeBuckets = []float64{0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600}

// allStates are the states host_state reports, one series each.
var allStates = []controller.State{
	controller.StateUnknown, controller.StateStopped, controller.StateStarting,
	controller.StateRunning, controller.StateStopping, controller.StateFailed,
}

// StateSource is where host_state reads the current state of every host
// at scrape time. *controller.Controller implements it.
type StateSource interface {
	Registry() *controller.Registry
	Store() controller.Store
}

var _ StateSource = (*controller.Controller)(nil)

// Metrics holds waitingroom's collectors.
type Metrics struct {
	wakes          *prometheus.CounterVec
	wakeDuration   *prometheus.HistogramVec
	pageResponses  *prometheus.CounterVec
	budgetRejected *prometheus.CounterVec
	providerErrors *prometheus.CounterVec
	storeErrors    prometheus.Counter
	touches        *prometheus.CounterVec
	states         *stateCollector
	savings        *savingsCollector
}

// New registers waitingroom's metrics on reg.
func New(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("metrics: a prometheus.Registerer is required")
	}
	m := &Metrics{
		wakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waitingroom_wakes_total",
			Help: "Finished wakes by host and result (running or failed).",
		}, []string{"host", "result"}),
		wakeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "waitingroom_wake_duration_seconds",
			Help:    "Time from the wake request to the backend being ready (or the wake failing).",
			Buckets: wakeBuckets,
		}, []string{"host"}),
		pageResponses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waitingroom_page_responses_total",
			Help: "Responses of the public listener (waiting page, status, events) by HTTP status code.",
		}, []string{"code"}),
		budgetRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waitingroom_budget_rejections_total",
			Help: "Wakes refused by a wake budget or rate limit, by budget.",
		}, []string{"budget"}),
		providerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waitingroom_provider_errors_total",
			Help: "Errors returned by a provider's Start, Stop or Status, by provider name.",
		}, []string{"provider"}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "waitingroom_store_errors_total",
			Help: "Errors returned by the state store.",
		}),
		touches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waitingroom_activity_touches_total",
			Help: "Activity recorded for hosts, by source (page, traefik-metrics, traefik-forwardauth, wake, ...).",
		}, []string{"source"}),
	}
	m.states = &stateCollector{
		desc: prometheus.NewDesc("waitingroom_host_state",
			"Current state of each registered host: 1 for the state it is in, 0 for the others.",
			[]string{"host", "state"}, nil),
		local: map[string]controller.State{},
	}
	m.savings = newSavingsCollector()
	for _, c := range []prometheus.Collector{m.wakes, m.wakeDuration, m.pageResponses, m.budgetRejected,
		m.providerErrors, m.storeErrors, m.touches, m.states, m.savings} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: register: %w", err)
		}
	}
	return m, nil
}

// Handler serves the metrics gathered by g (the registry given to New) in
// the Prometheus text format.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// TrackStates makes host_state read the state of every registered host
// from src's store at scrape time, which covers every replica and hosts no
// event has mentioned yet. It is separate from New because the controller
// (the usual src) is built after the metrics, whose hooks it takes. Until
// it is called, host_state reflects the events passed to OnEvent.
func (m *Metrics) TrackStates(src StateSource) {
	if m == nil || src == nil {
		return
	}
	m.states.src.Store(&src)
}

// OnWake records a finished wake: controller.Options.OnWake.
func (m *Metrics) OnWake(w controller.WakeRecord) {
	if m == nil {
		return
	}
	result := string(w.Result)
	if result == "" {
		result = "unknown"
	}
	m.wakes.WithLabelValues(w.Host, result).Inc()
	m.wakeDuration.WithLabelValues(w.Host).Observe(w.Duration.Seconds())
}

// OnEvent records a state change: controller.Options.OnEvent.
func (m *Metrics) OnEvent(e controller.Event) {
	if m == nil || e.Host == "" {
		return
	}
	m.states.mu.Lock()
	m.states.local[e.Host] = e.To
	m.states.mu.Unlock()
}

// PageResponse counts one answer of the public listener.
func (m *Metrics) PageResponse(code int) {
	if m == nil {
		return
	}
	m.pageResponses.WithLabelValues(strconv.Itoa(code)).Inc()
}

// BudgetRejected counts a wake refused by the named budget
// (controller.BudgetError.Budget).
func (m *Metrics) BudgetRejected(budget string) {
	if m == nil {
		return
	}
	m.budgetRejected.WithLabelValues(budget).Inc()
}

// ProviderError counts an error of the named provider.
func (m *Metrics) ProviderError(provider string) {
	if m == nil {
		return
	}
	m.providerErrors.WithLabelValues(provider).Inc()
}

// StoreError counts an error of the state store.
func (m *Metrics) StoreError() {
	if m == nil {
		return
	}
	m.storeErrors.Inc()
}

// Touch counts recorded activity by source. WrapStore calls it for every
// Store.Touch; call it yourself only for activity that bypasses the store.
func (m *Metrics) Touch(source string) {
	if m == nil {
		return
	}
	if source == "" {
		source = "unknown"
	}
	m.touches.WithLabelValues(source).Inc()
}

// stateCollector produces host_state at scrape time.
type stateCollector struct {
	desc *prometheus.Desc
	src  atomic.Pointer[StateSource]

	mu    sync.Mutex
	local map[string]controller.State // from OnEvent: the fallback
}

var _ prometheus.Collector = (*stateCollector)(nil)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// scrapeTimeout bounds the store read of one scrape; Prometheus' own
// scrape timeout is 10 s by default.
const scrapeTimeout = 3 * time.Second

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	current := c.current()
	for host, st := range current {
		for _, s := range allStates {
			v := 0.0
			if s == st {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, host, string(s))
		}
	}
}

// current is the state of every host: from the store when a source is
// tracked and reachable, else from the events seen.
func (c *stateCollector) current() map[string]controller.State {
	c.mu.Lock()
	out := make(map[string]controller.State, len(c.local))
	for h, s := range c.local {
		out[h] = s
	}
	c.mu.Unlock()
	p := c.src.Load()
	if p == nil {
		return out
	}
	src := *p
	hosts := src.Registry().Hosts()
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	recs, err := src.Store().List(ctx)
	if err != nil {
		// The store's unreachability shows in store_errors_total (counted
		// by WrapStore) and /readyz; the states fall back to what this
		// process saw.
		for _, h := range hosts {
			if _, ok := out[h.Name]; !ok {
				out[h.Name] = controller.StateUnknown
			}
		}
		return out
	}
	stored := make(map[string]controller.State, len(recs))
	for _, r := range recs {
		stored[r.Host] = r.State
	}
	// Registered hosts only: a host removed from the registry leaves the
	// metric instead of reporting a stale state forever.
	out = make(map[string]controller.State, len(hosts))
	for _, h := range hosts {
		st, ok := stored[h.Name]
		if !ok || !st.Valid() {
			st = controller.StateUnknown
		}
		out[h.Name] = st
	}
	return out
}
