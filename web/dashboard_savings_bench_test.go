package web

import (
	"context"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

// BenchmarkHostViewWithAMonthOfRecords measures one host's dashboard row
// (the event streams rebuild every row each refresh) when its savings are
// computed from a month of records: a wake every 45 minutes, 4 records
// each (about 4,000, near the store's cap). The history comes from the
// view's cache, as between two events.
func BenchmarkHostViewWithAMonthOfRecords(b *testing.B) {
	hosts := []dashHost{{name: "app.example.com", provider: "docker", fields: map[string]string{"container": "app"},
		price: controller.Price{Running: 0.06, Currency: "EUR"}}}
	s := newDashSetup(b, hosts, nil)
	ctx := context.Background()
	now := time.Now()
	n := 0
	for at := now.Add(-30 * 24 * time.Hour); at.Before(now); at = at.Add(45 * time.Minute) {
		for i, tr := range []controller.Transition{
			{From: controller.StateStopped, To: controller.StateStarting},
			{From: controller.StateStarting, To: controller.StateRunning},
			{From: controller.StateRunning, To: controller.StateStopping},
			{From: controller.StateStopping, To: controller.StateStopped},
		} {
			tr.Host, tr.At = "app.example.com", at.Add(time.Duration(i)*5*time.Minute)
			if err := s.store.AddTransition(ctx, tr); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	h, _ := s.ctl.Registry().Lookup("app.example.com")
	if v := s.admin.hostView(ctx, h); v.Savings == nil || v.Savings.Saved <= 0 {
		b.Fatalf("no savings: %+v", v.Savings)
	}
	b.ReportMetric(float64(n), "records")
	b.ReportAllocs()
	for b.Loop() {
		s.admin.hostView(ctx, h)
	}
}
