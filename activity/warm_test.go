package activity_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/waitingroom/waitingroom/activity"
	"github.com/waitingroom/waitingroom/config"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/poll"
)

func paris(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func newWarm(t *testing.T, ctrl *controller.Controller, clock clockwork.Clock, hosts func() []controller.Host) *activity.Warm {
	t.Helper()
	w, err := activity.NewWarm(activity.WarmOptions{Waker: ctrl, Hosts: hosts, Logger: quietLogger(), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Shutdown() })
	return w
}

// blockUntilTimers waits until n timers wait on the fake clock: gocron has
// armed its jobs, so advancing the clock fires them.
func blockUntilTimers(t *testing.T, fc *clockwork.FakeClock, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := fc.BlockUntilContext(ctx, n); err != nil {
		t.Fatalf("gocron did not arm %d timer(s) within 5s: %v", n, err)
	}
}

// A window opening two (fake) seconds from now wakes its host exactly at
// its start, and while it is open the sweep never stops the host however
// long it has been idle; after it closes the host sleeps again.
func TestWarmWindowWakesOnTimeAndHoldsHostAwake(t *testing.T) {
	loc := paris(t)
	fc := clockwork.NewFakeClockAt(time.Date(2025, 3, 5, 8, 59, 58, 0, loc)) // a Wednesday
	h := testHost("app.example.com", 10*time.Minute, config.ActivityOptions{
		Warm: []string{"0 9 * * 1-5 for 9h"}, TimeZone: "Europe/Paris",
	})
	var w *activity.Warm
	busy := controller.BusyChecker(busyFunc(func(ctx context.Context, h controller.Host, now time.Time) (bool, string) {
		return w.Busy(ctx, h, now)
	}))
	e := newEnv(t, fc, []controller.BusyChecker{busy}, h)
	w = newWarm(t, e.ctrl, fc, e.reg.Hosts)
	if err := w.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	blockUntilTimers(t, fc, 1)
	if n := len(e.prov.StartTimes()); n != 0 {
		t.Fatalf("%d starts before the window opened", n)
	}

	fc.Advance(2 * time.Second)
	poll.Until(t, 5*time.Second, "warm wake", func() bool { return len(e.prov.StartTimes()) == 1 })
	if got, want := e.prov.StartTimes()[0], time.Date(2025, 3, 5, 9, 0, 0, 0, loc); !got.Equal(want) {
		t.Fatalf("started at %s, want the window's start %s", got, want)
	}
	waitState(t, e, h.Name, controller.StateRunning)

	// Inside the window: idle far longer than the timeout, never stopped.
	for i := range 8 {
		fc.Advance(time.Hour) // 10:00 … 17:00
		if sweep(t, e, h.Name) {
			t.Fatalf("stopped inside the warm window at %s", fc.Now())
		}
		if i == 0 {
			busy, why := w.Busy(context.Background(), h, fc.Now())
			if !busy || why != "warm window until 18:00 Europe/Paris (0 9 * * 1-5 for 9h)" {
				t.Fatalf("Busy = %v %q", busy, why)
			}
		}
	}
	fc.Advance(time.Hour) // 18:00: the window has closed
	if !sweep(t, e, h.Name) {
		t.Fatal("not stopped after the warm window closed")
	}
	waitState(t, e, h.Name, controller.StateStopped)
	if n := len(e.prov.StartTimes()); n != 1 {
		t.Fatalf("%d starts, want 1", n)
	}
}

type busyFunc func(ctx context.Context, h controller.Host, now time.Time) (bool, string)

func (f busyFunc) Busy(ctx context.Context, h controller.Host, now time.Time) (bool, string) {
	return f(ctx, h, now)
}

// A process (re)started in the middle of a window wakes the host at once.
func TestWarmStartInsideOpenWindowWakesAtOnce(t *testing.T) {
	loc := paris(t)
	fc := clockwork.NewFakeClockAt(time.Date(2025, 3, 5, 11, 30, 0, 0, loc))
	h := testHost("app.example.com", 10*time.Minute, config.ActivityOptions{
		Warm: []string{"0 9 * * 1-5 for 9h"}, TimeZone: "Europe/Paris",
	})
	e := newEnv(t, fc, nil, h)
	w := newWarm(t, e.ctrl, fc, e.reg.Hosts)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 5*time.Second, "catch-up wake", func() bool { return len(e.prov.StartTimes()) == 1 })
	waitState(t, e, h.Name, controller.StateRunning)
	ws, err := e.ctrl.Wakes(context.Background(), h.Name, 10)
	if err != nil || len(ws) != 1 || ws[0].Source != activity.SourceWarm || !strings.Contains(ws[0].Client, "warm window") {
		t.Fatalf("wake history %+v (err %v), want one wake from source warm", ws, err)
	}
}

// Sync after a reload keeps unchanged windows' jobs, drops removed ones,
// schedules added ones, and reports a bad window without losing the rest.
func TestWarmSyncFollowsReloads(t *testing.T) {
	fc := clockwork.NewFakeClockAt(time.Date(2025, 3, 5, 6, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	hosts := []controller.Host{
		testHost("a.example.com", time.Minute, config.ActivityOptions{Warm: []string{"0 9 * * * for 1h", "0 13 * * * for 1h"}}),
		testHost("b.example.com", time.Minute, config.ActivityOptions{Warm: []string{"30 7 * * * for 1h"}, TimeZone: "Asia/Tokyo"}),
	}
	get := func() []controller.Host {
		mu.Lock()
		defer mu.Unlock()
		return hosts
	}
	e := newEnv(t, fc, nil, hosts...)
	w := newWarm(t, e.ctrl, fc, get)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"warm a.example.com 0 13 * * * for 1h",
		"warm a.example.com 0 9 * * * for 1h",
		"warm b.example.com 30 7 * * * for 1h",
	}
	if got := activity.WarmJobNames(w); !equalStrings(got, want) {
		t.Fatalf("jobs %q, want %q", got, want)
	}
	ids := activity.WarmJobIDs(w)

	mu.Lock()
	hosts = []controller.Host{
		testHost("a.example.com", time.Minute, config.ActivityOptions{Warm: []string{"0 9 * * * for 1h", "0 25 * * * for 1h"}}),
		testHost("c.example.com", time.Minute, config.ActivityOptions{Warm: []string{"0 20 * * * for 1h"}, TimeZone: "Mars/Olympus"}),
	}
	mu.Unlock()
	err := w.Sync()
	if err == nil || !strings.Contains(err.Error(), "hours are 0-23") || !strings.Contains(err.Error(), `"Mars/Olympus"`) {
		t.Fatalf("Sync error %v, want the bad hour and the bad zone", err)
	}
	want = []string{"warm a.example.com 0 9 * * * for 1h"}
	if got := activity.WarmJobNames(w); !equalStrings(got, want) {
		t.Fatalf("jobs after reload %q, want %q", got, want)
	}
	if after := activity.WarmJobIDs(w); after["warm a.example.com 0 9 * * * for 1h"] != ids["warm a.example.com 0 9 * * * for 1h"] {
		t.Fatal("an unchanged window got a new job on reload")
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestWarmNextWake(t *testing.T) {
	fc := clockwork.NewFakeClockAt(time.Date(2025, 3, 7, 19, 0, 0, 0, time.UTC)) // Friday
	h := testHost("a.example.com", time.Minute, config.ActivityOptions{Warm: []string{"0 9 * * 1-5 for 9h", "0 10 * * 6 for 2h"}})
	e := newEnv(t, fc, nil, h)
	w := newWarm(t, e.ctrl, fc, e.reg.Hosts)
	if got, want := w.NextWake(h, fc.Now()), time.Date(2025, 3, 8, 10, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("NextWake = %s, want %s", got, want)
	}
	if got := w.NextWake(testHost("b.example.com", time.Minute, config.ActivityOptions{}), fc.Now()); !got.IsZero() {
		t.Fatalf("NextWake without windows = %s, want zero", got)
	}
}

func TestNewWarmRequiresDependencies(t *testing.T) {
	if _, err := activity.NewWarm(activity.WarmOptions{Hosts: func() []controller.Host { return nil }}); err == nil {
		t.Fatal("NewWarm without a Waker succeeded")
	}
}
