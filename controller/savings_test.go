package controller_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/fake"
)

// day0 is a midnight UTC; the cases count from it.
var day0 = time.Date(2030, 3, 1, 0, 0, 0, 0, time.UTC)

func at(day int, hour float64) time.Time {
	return day0.AddDate(0, 0, day).Add(time.Duration(hour * float64(time.Hour)))
}

func tr(day int, hour float64, from, to controller.State) controller.Transition {
	return controller.Transition{Host: "app.example.com", At: at(day, hour), From: from, To: to}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

const (
	stopped  = controller.StateStopped
	starting = controller.StateStarting
	running  = controller.StateRunning
	stopping = controller.StateStopping
	failed   = controller.StateFailed
)

func TestAccountFromRecords(t *testing.T) {
	vm := controller.Price{Running: 0.50, Suspended: 0.05, Currency: "EUR"}
	container := controller.Price{Running: 0.10}
	tests := []struct {
		name  string
		ts    []controller.Transition
		cur   controller.Record
		price controller.Price
		now   time.Time
		days  int
		// totals over the ledger, in hours and money
		awake, asleep, unknown float64
		spent, saved           float64
		// lastDay is today's tally (awake, asleep hours)
		todayAwake, todayAsleep float64
	}{
		{
			// The bug of the estimate: a process minutes old claimed a
			// week asleep. Records say 10 minutes, the rest is unknown.
			name:  "fresh store: only the current record, minutes old",
			cur:   controller.Record{State: stopped, Version: 1, Changed: at(6, 11.5)},
			price: container, now: at(6, 11.5+1.0/6), days: 7,
			awake: 0, asleep: 1.0 / 6, unknown: 6*24 + 11.5, spent: 0, saved: 0.1 / 6,
			todayAwake: 0, todayAsleep: 1.0 / 6,
		},
		{
			name:  "asleep all month, told by the record kept from before the retention",
			ts:    []controller.Transition{tr(-40, 3, stopping, stopped)},
			cur:   controller.Record{State: stopped, Version: 9, Changed: at(-40, 3)},
			price: container, now: at(29, 12), days: 30,
			asleep: 29*24 + 12, spent: 0, saved: (29*24 + 12) * 0.10,
			todayAsleep: 12,
		},
		{
			name: "a suspended VM pays its disks and memory while asleep",
			ts: []controller.Transition{
				tr(-1, 0, stopping, stopped),
				tr(0, 9, stopped, starting), tr(0, 9.25, starting, running),
				tr(0, 17, running, stopping), tr(0, 17.25, stopping, stopped),
			},
			// At midnight, today is still empty.
			price: vm, now: at(1, 0), days: 2,
			// day0: 9h + 6.75h asleep, 8.25h awake (starting and stopping cost too)
			awake: 8.25, asleep: 15.75, spent: 8.25*0.50 + 15.75*0.05, saved: 15.75 * 0.45,
		},
		{
			name: "a run across midnight is split between the days",
			ts: []controller.Transition{
				tr(0, 0, stopping, stopped),
				tr(0, 22, stopped, running), tr(1, 2, running, stopped),
			},
			price: container, now: at(1, 12), days: 2,
			awake: 4, asleep: 32, spent: 0.4, saved: 3.2,
			todayAwake: 2, todayAsleep: 10,
		},
		{
			name: "a failed wake counts as awake until the next change",
			ts: []controller.Transition{
				tr(0, 0, stopping, stopped),
				tr(0, 6, stopped, starting), tr(0, 6.5, starting, failed),
				tr(0, 12, failed, stopped),
			},
			price: container, now: at(0, 23), days: 1,
			awake: 6, asleep: 17, spent: 0.6, saved: 1.7,
			todayAwake: 6, todayAsleep: 17,
		},
		{
			name: "records begin inside the window: time before them is unknown",
			ts: []controller.Transition{
				tr(1, 12, running, stopping), tr(1, 12, stopping, stopped),
			},
			price: container, now: at(2, 12), days: 3,
			unknown: 36, asleep: 24, saved: 2.4,
			todayAsleep: 12,
		},
		{
			name: "without a price: hours, no money",
			ts: []controller.Transition{
				tr(0, 0, stopping, stopped), tr(0, 8, stopped, running),
			},
			now: at(0, 10), days: 1,
			awake: 2, asleep: 8,
			todayAwake: 2, todayAsleep: 8,
		},
		{
			name:  "a current record newer than the last transition (its record was lost) counts from its change",
			ts:    []controller.Transition{tr(0, 0, stopping, stopped)},
			cur:   controller.Record{State: running, Version: 7, Changed: at(0, 20)},
			price: container, now: at(0, 22), days: 1,
			awake: 2, asleep: 20, spent: 0.2, saved: 2.0,
			todayAwake: 2, todayAsleep: 20,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := controller.Account("app.example.com", tc.ts, tc.cur, tc.price, tc.now, tc.days)
			if len(l.Days) != tc.days {
				t.Fatalf("%d days; want %d", len(l.Days), tc.days)
			}
			if first, want := l.Days[0].Start, time.Date(tc.now.Year(), tc.now.Month(), tc.now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 1-tc.days); !first.Equal(want) {
				t.Errorf("first day starts %v; want %v", first, want)
			}
			got := l.Total
			if !near(got.Awake.Hours(), tc.awake) || !near(got.Asleep.Hours(), tc.asleep) || !near(got.Unknown.Hours(), tc.unknown) {
				t.Errorf("hours awake/asleep/unknown = %.3f/%.3f/%.3f; want %.3f/%.3f/%.3f",
					got.Awake.Hours(), got.Asleep.Hours(), got.Unknown.Hours(), tc.awake, tc.asleep, tc.unknown)
			}
			if !near(got.Spent, tc.spent) || !near(got.Saved, tc.saved) {
				t.Errorf("spent/saved = %.4f/%.4f; want %.4f/%.4f", got.Spent, got.Saved, tc.spent, tc.saved)
			}
			today := l.Days[len(l.Days)-1]
			if !near(today.Awake.Hours(), tc.todayAwake) || !near(today.Asleep.Hours(), tc.todayAsleep) {
				t.Errorf("today awake/asleep = %.3f/%.3f h; want %.3f/%.3f", today.Awake.Hours(), today.Asleep.Hours(), tc.todayAwake, tc.todayAsleep)
			}
			var sum controller.Tally
			for _, d := range l.Days {
				sum.Awake += d.Awake
				sum.Asleep += d.Asleep
				sum.Saved += d.Saved
			}
			if sum.Awake != got.Awake || sum.Asleep != got.Asleep || !near(sum.Saved, got.Saved) {
				t.Errorf("the days do not add up to the total: %+v vs %+v", sum, got)
			}
			span := tc.now.Sub(l.Days[0].Start)
			if covered := got.Awake + got.Asleep + got.Unknown; covered != span {
				t.Errorf("the tally covers %s of the %s window", covered, span)
			}
		})
	}
}

// TestLedgerOverASimulatedMonth drives a controller through a month on a
// fake clock, a suspended VM woken every morning and stopped every evening,
// one wake failing, and checks the ledger it keeps from its own records.
func TestLedgerOverASimulatedMonth(t *testing.T) {
	clock := fake.NewClock(day0)
	price := controller.Price{Running: 0.50, Suspended: 0.05, Currency: "EUR"}
	e := newEnv(t, func(o *controller.Options, h *controller.Host) {
		o.Clock = clock
		h.Price = price
		h.Target.Sleep = "suspend"
	})
	ctx := t.Context()
	host := "app.example.com"
	if err := e.ctrl.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	waitState(t, e.ctrl, host, stopped) // found stopped at midnight of day 0

	set := func(day int, hour float64) { clock.Set(at(day, hour)) }
	for day := range 31 {
		set(day, 9)
		if _, err := e.ctrl.Wake(ctx, host, controller.Client{Source: "page", Display: "203.0.113.x", Class: "browser"}); err != nil {
			t.Fatalf("day %d: wake: %v", day, err)
		}
		waitState(t, e.ctrl, host, running)
		if day == 30 {
			break // the last day: still running at noon
		}
		set(day, 17)
		if _, err := e.ctrl.Stop(ctx, host, "stopped from the test"); err != nil {
			t.Fatalf("day %d: stop: %v", day, err)
		}
		waitState(t, e.ctrl, host, stopped)
		if day == 14 {
			set(day, 20)
			e.prov.SetStartErr(errors.New("zone out of resources"))
			if _, err := e.ctrl.Wake(ctx, host, controller.Client{Source: "api"}); err != nil {
				t.Fatalf("failing wake: %v", err)
			}
			waitState(t, e.ctrl, host, failed)
			e.prov.SetStartErr(nil)
		}
	}
	set(30, 12)
	l, err := e.ctrl.Ledger(ctx, host, controller.LedgerDays)
	if err != nil {
		t.Fatal(err)
	}
	// Days 1..30 (day 0 falls out of 30 days): 29 full days of 8 h awake,
	// the failed wake adding 13 h awake (20:00 to 09:00), and day 30 asleep
	// until 09:00 then awake until noon.
	awake, asleep := 29*8+13+3.0, 29*16-13+9.0
	wantSpent, wantSaved := awake*0.50+asleep*0.05, asleep*0.45
	if l.Total.Unknown != 0 || !near(l.Total.Awake.Hours(), awake) || !near(l.Total.Asleep.Hours(), asleep) {
		t.Errorf("hours awake/asleep/unknown = %.2f/%.2f/%.2f; want %.2f/%.2f/0",
			l.Total.Awake.Hours(), l.Total.Asleep.Hours(), l.Total.Unknown.Hours(), awake, asleep)
	}
	if !near(l.Total.Spent, wantSpent) || !near(l.Total.Saved, wantSaved) {
		t.Errorf("spent/saved = %.2f/%.2f; want %.2f/%.2f", l.Total.Spent, l.Total.Saved, wantSpent, wantSaved)
	}
	for _, d := range l.Days {
		wantAwake := 8.0
		switch d.Start {
		case at(14, 0):
			wantAwake = 12
		case at(15, 0):
			wantAwake = 17
		case at(30, 0):
			wantAwake = 3
		}
		if !near(d.Awake.Hours(), wantAwake) {
			t.Errorf("%s: %.2f h awake; want %.2f", d.Start.Format(time.DateOnly), d.Awake.Hours(), wantAwake)
		}
	}
	// The records say who woke it and why it stopped.
	var wakes, failures int
	for _, x := range l.Transitions {
		switch {
		case x.To == starting && x.By == "203.0.113.x (browser)":
			wakes++
		case x.To == failed && x.From == starting:
			failures++
			if x.Reason == "" {
				t.Errorf("failed wake recorded without a reason: %+v", x)
			}
		case x.To == stopping && x.Reason != "stopped from the test":
			t.Errorf("stop recorded with reason %q", x.Reason)
		}
	}
	if wakes != 31 || failures != 1 {
		t.Errorf("records hold %d wakes by the browser and %d failures; want 31 and 1", wakes, failures)
	}
}
