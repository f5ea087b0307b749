package metrics

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/fake"
	"github.com/waitingroom/waitingroom/store/memory"
)

// TestSavingsMetricsFollowTheLedger: /metrics shows the figures of
// controller.Account, read from the store's records at scrape time.
func TestSavingsMetricsFollowTheLedger(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	// Noon on the 30th day after a midnight: 29.5 days in the window.
	day0 := time.Date(2030, 3, 1, 0, 0, 0, 0, time.UTC)
	clock := fake.NewClock(day0.AddDate(0, 0, 40).Add(12 * time.Hour))
	st := memory.New(clock)
	hosts := []controller.Host{
		{Name: "vm.example.com", Provider: "p", Price: controller.Price{Running: 0.5, Suspended: 0.05, Currency: "EUR"}},
		{Name: "free.example.com", Provider: "p"},
	}
	ctl := controller.New(controller.Options{
		Store: st, Registry: controller.NewRegistry(hosts, nil), Clock: clock,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	ctx := t.Context()
	// vm: asleep for 50 days but 10 hours today; free: asleep since 20
	// days.
	for _, tr := range []controller.Transition{
		{Host: "vm.example.com", At: day0.AddDate(0, 0, -10), From: controller.StateStopping, To: controller.StateStopped},
		{Host: "vm.example.com", At: day0.AddDate(0, 0, 40), From: controller.StateStopped, To: controller.StateRunning},
		{Host: "vm.example.com", At: day0.AddDate(0, 0, 40).Add(10 * time.Hour), From: controller.StateRunning, To: controller.StateStopped},
		{Host: "free.example.com", At: day0.AddDate(0, 0, 20).Add(12 * time.Hour), From: controller.StateStopping, To: controller.StateStopped},
	} {
		if err := st.AddTransition(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(""), "waitingroom_host_saved_30d"); err != nil {
		t.Errorf("before TrackSavings: %v", err)
	}
	m.TrackSavings(ctl)
	// vm: 29.5 days = 708 h, 10 awake, 698 asleep.
	want := `
# HELP waitingroom_host_asleep_seconds_30d Time each host slept in the last 30 UTC days (today up to now), from the stops and wakes the store records.
# TYPE waitingroom_host_asleep_seconds_30d gauge
waitingroom_host_asleep_seconds_30d{host="free.example.com"} 1.728e+06
waitingroom_host_asleep_seconds_30d{host="vm.example.com"} 2.5128e+06
# HELP waitingroom_host_awake_seconds_30d Time each host ran (starting, running, stopping or failed) in the last 30 UTC days, from the store's records.
# TYPE waitingroom_host_awake_seconds_30d gauge
waitingroom_host_awake_seconds_30d{host="free.example.com"} 0
waitingroom_host_awake_seconds_30d{host="vm.example.com"} 36000
# HELP waitingroom_host_saved_30d What sleeping saved each priced host in the last 30 UTC days, in its price's currency.
# TYPE waitingroom_host_saved_30d gauge
waitingroom_host_saved_30d{currency="EUR",host="vm.example.com"} 314.1
# HELP waitingroom_host_spent_30d What each priced host cost in the last 30 UTC days, in its price's currency.
# TYPE waitingroom_host_spent_30d gauge
waitingroom_host_spent_30d{currency="EUR",host="vm.example.com"} 39.9
# HELP waitingroom_host_saved_today What sleeping saved each priced host today (UTC), in its price's currency.
# TYPE waitingroom_host_saved_today gauge
waitingroom_host_saved_today{currency="EUR",host="vm.example.com"} 0.9
# HELP waitingroom_host_spent_today What each priced host cost today (UTC), in its price's currency.
# TYPE waitingroom_host_spent_today gauge
waitingroom_host_spent_today{currency="EUR",host="vm.example.com"} 5.1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"waitingroom_host_asleep_seconds_30d", "waitingroom_host_awake_seconds_30d",
		"waitingroom_host_saved_30d", "waitingroom_host_spent_30d", "waitingroom_host_saved_today", "waitingroom_host_spent_today"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}
