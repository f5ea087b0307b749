package metrics

import (
	"context"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/waitingroom/waitingroom/controller"
)

// LedgerSource is where the savings metrics read each host's account at
// scrape time. *controller.Controller implements it.
type LedgerSource interface {
	Registry() *controller.Registry
	Ledger(ctx context.Context, host string, days int) (controller.Ledger, error)
}

var _ LedgerSource = (*controller.Controller)(nil)

// savingsCollector reports, per host, the figures the dashboard and
// /api/hosts show (controller.Account over controller.LedgerDays): hours
// asleep and awake, and for a priced host the money saved and spent.
type savingsCollector struct {
	src atomic.Pointer[LedgerSource]

	asleep, awake, saved, spent, savedToday, spentToday *prometheus.Desc
}

func newSavingsCollector() *savingsCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append([]string{"host"}, labels...), nil)
	}
	return &savingsCollector{
		asleep: desc("waitingroom_host_asleep_seconds_30d",
			"Time each host slept in the last 30 UTC days (today up to now), from the stops and wakes the store records."),
		awake: desc("waitingroom_host_awake_seconds_30d",
			"Time each host ran (starting, running, stopping or failed) in the last 30 UTC days, from the store's records."),
		saved: desc("waitingroom_host_saved_30d",
			"What sleeping saved each priced host in the last 30 UTC days, in its price's currency.", "currency"),
		spent: desc("waitingroom_host_spent_30d",
			"What each priced host cost in the last 30 UTC days, in its price's currency.", "currency"),
		savedToday: desc("waitingroom_host_saved_today",
			"What sleeping saved each priced host today (UTC), in its price's currency.", "currency"),
		spentToday: desc("waitingroom_host_spent_today",
			"What each priced host cost today (UTC), in its price's currency.", "currency"),
	}
}

var _ prometheus.Collector = (*savingsCollector)(nil)

func (c *savingsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.asleep, c.awake, c.saved, c.spent, c.savedToday, c.spentToday} {
		ch <- d
	}
}

// Collect reads every registered host's ledger; a host whose records
// cannot be read is left out of this scrape (the store's trouble shows in
// store_errors_total and /readyz).
func (c *savingsCollector) Collect(ch chan<- prometheus.Metric) {
	p := c.src.Load()
	if p == nil {
		return
	}
	src := *p
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	for _, h := range src.Registry().Hosts() {
		l, err := src.Ledger(ctx, h.Name, controller.LedgerDays)
		if err != nil {
			continue
		}
		gauge := func(d *prometheus.Desc, v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{h.Name}, labels...)...)
		}
		gauge(c.asleep, l.Total.Asleep.Seconds())
		gauge(c.awake, l.Total.Awake.Seconds())
		if !l.Price.Priced() {
			continue
		}
		today := l.Days[len(l.Days)-1]
		gauge(c.saved, l.Total.Saved, l.Price.Currency)
		gauge(c.spent, l.Total.Spent, l.Price.Currency)
		gauge(c.savedToday, today.Saved, l.Price.Currency)
		gauge(c.spentToday, today.Spent, l.Price.Currency)
	}
}

// TrackSavings makes the savings metrics read every registered host's
// ledger from src at scrape time. Until it is called they are absent.
func (m *Metrics) TrackSavings(src LedgerSource) {
	if m == nil || src == nil {
		return
	}
	m.savings.src.Store(&src)
}
