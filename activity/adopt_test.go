package activity_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/activity"
	"github.com/waitingroom/waitingroom/config"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/fake"
	"github.com/waitingroom/waitingroom/internal/testutil/poll"
	execprovider "github.com/waitingroom/waitingroom/providers/exec"
	"github.com/waitingroom/waitingroom/store/memory"
)

// A backend started by hand (outside waitingroom) is found by Reconcile.
// With adopt: true (the default) its idle timer starts then and it is
// stopped when idle; with adopt: false it is left alone.
func TestBackendStartedOutsideIsAdoptedOrLeftAlone(t *testing.T) {
	for _, adopt := range []bool{true, false} {
		name := "adopt false leaves it alone"
		if adopt {
			name = "adopt true stops it when idle"
		}
		t.Run(name, func(t *testing.T) {
			clock := fake.NewClock(time.Date(2025, 3, 5, 12, 0, 0, 0, time.UTC))
			h := testHost("legacy.example.com", 10*time.Minute, config.ActivityOptions{})
			var filter *activity.AdoptFilter
			e := newEnv(t, clock, []controller.BusyChecker{busyFunc(func(ctx context.Context, h controller.Host, now time.Time) (bool, string) {
				return filter.Busy(ctx, h, now)
			})}, h)
			var err error
			filter, err = activity.NewAdoptFilter(activity.AdoptFilterOptions{
				Status: e.ctrl,
				Adopt:  func(provider string) bool { return provider != "fake" || adopt },
			})
			if err != nil {
				t.Fatal(err)
			}

			e.prov.SetState(controller.StateRunning) // started by hand
			clock.Advance(time.Hour)                 // long before waitingroom looks
			if err := e.ctrl.Reconcile(context.Background()); err != nil {
				t.Fatal(err)
			}
			rec := waitState(t, e, h.Name, controller.StateRunning)
			if !rec.LastActivity.Equal(clock.Now()) {
				t.Fatalf("idle timer starts at %s, want now (%s)", rec.LastActivity, clock.Now())
			}
			clock.Advance(5 * time.Minute)
			if sweep(t, e, h.Name) {
				t.Fatal("stopped before its idle timeout")
			}
			clock.Advance(6 * time.Minute)
			stopped := sweep(t, e, h.Name)
			if stopped != adopt {
				t.Fatalf("stopped = %v after the idle timeout, want %v", stopped, adopt)
			}
			if !adopt {
				busy, why := filter.Busy(context.Background(), h, clock.Now())
				if !busy || why != `started outside waitingroom; provider "fake" has adopt: false` {
					t.Fatalf("Busy = %v %q", busy, why)
				}
			}
		})
	}
}

// A host waitingroom woke itself is never held by the filter.
func TestAdoptFilterIgnoresOwnWakes(t *testing.T) {
	clock := fake.NewClock(time.Date(2025, 3, 5, 12, 0, 0, 0, time.UTC))
	h := testHost("app.example.com", 10*time.Minute, config.ActivityOptions{})
	e := newEnv(t, clock, nil, h)
	filter, err := activity.NewAdoptFilter(activity.AdoptFilterOptions{Status: e.ctrl, Adopt: func(string) bool { return false }})
	if err != nil {
		t.Fatal(err)
	}
	wakeAndWait(t, e, h.Name)
	if busy, why := filter.Busy(context.Background(), h, clock.Now()); busy {
		t.Fatalf("own wake held: %q", why)
	}
	// Found booting: remembered from the event until it stops.
	filter.Observe(controller.Event{Host: h.Name, From: controller.StateStopped, To: controller.StateStarting, Reason: "found starting"})
	if busy, _ := filter.Busy(context.Background(), h, clock.Now()); !busy {
		t.Fatal("backend found starting is not held")
	}
	filter.Observe(controller.Event{Host: h.Name, From: controller.StateRunning, To: controller.StateStopping, Reason: "stopped by operator"})
	if busy, _ := filter.Busy(context.Background(), h, clock.Now()); busy {
		t.Fatal("still held after it stopped")
	}
}

// The same with the real exec provider: a service started by hand (here a
// marker file its status command checks) is adopted and stopped by its
// stop command once idle.
func TestExecBackendStartedOutsideIsAdoptedAndStopped(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "up")
	h := controller.Host{
		Name: "legacy.example.com", Provider: "exec", IdleTimeout: 10 * time.Minute, StartTimeout: 30 * time.Second,
		Target: controller.Target{
			Host: "legacy.example.com", Provider: "exec",
			Backend: execprovider.Target{
				Start:  []string{"touch", marker},
				Stop:   []string{"rm", "-f", marker},
				Status: []string{"sh", "-c", `test -e "$0" || exit 3`, marker},
			},
		},
	}
	clock := fake.NewClock(time.Date(2025, 3, 5, 12, 0, 0, 0, time.UTC))
	st := memory.New(clock)
	t.Cleanup(func() { _ = st.Close() })
	reg := controller.NewRegistry([]controller.Host{h}, map[string]controller.Provider{
		"exec": execprovider.New(execprovider.Options{Timeout: 10 * time.Second, Logger: quietLogger()}),
	})
	ctrl := controller.New(controller.Options{Store: st, Registry: reg, Clock: clock, Logger: quietLogger()})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ctrl.Shutdown(ctx)
	})

	if err := os.WriteFile(marker, nil, 0o644); err != nil { // started by hand
		t.Fatal(err)
	}
	if err := ctrl.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, rec, err := ctrl.Status(context.Background(), h.Name)
	if err != nil || rec.State != controller.StateRunning {
		t.Fatalf("after reconcile: %s (err %v), want running", rec.State, err)
	}
	clock.Advance(11 * time.Minute)
	stopped, err := ctrl.SweepIdle(context.Background())
	if err != nil || len(stopped) != 1 {
		t.Fatalf("sweep stopped %v (err %v), want the adopted host", stopped, err)
	}
	poll.Until(t, 10*time.Second, "stop command ran", func() bool {
		_, err := os.Stat(marker)
		return os.IsNotExist(err)
	})
}
