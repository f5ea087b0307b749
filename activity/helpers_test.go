package activity_test

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/config"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/fake"
	"github.com/waitingroom/waitingroom/store/memory"
)

// env is a real controller on the memory store with one fake provider.
type env struct {
	ctrl  *controller.Controller
	store controller.Store
	prov  *fake.Provider
	reg   *controller.Registry
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newEnv(t *testing.T, clock controller.Clock, busy []controller.BusyChecker, hosts ...controller.Host) *env {
	t.Helper()
	prov := &fake.Provider{}
	prov.SetClock(clock)
	reg := controller.NewRegistry(hosts, map[string]controller.Provider{"fake": prov})
	st := memory.New(clock)
	t.Cleanup(func() { _ = st.Close() })
	ctrl := controller.New(controller.Options{
		Store: st, Registry: reg, Clock: clock, Logger: quietLogger(), Busy: busy,
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ctrl.Shutdown(ctx)
	})
	return &env{ctrl: ctrl, store: st, prov: prov, reg: reg}
}

// testHost is a host of the fake provider with activity options.
func testHost(name string, idle time.Duration, a config.ActivityOptions) controller.Host {
	return controller.Host{
		Name: name, Provider: "fake", IdleTimeout: idle, StartTimeout: 10 * time.Second,
		Target: controller.Target{Host: name, Provider: "fake"},
		Extra:  map[string]any{config.ExtraActivity: a},
	}
}

// waitState polls the host's record until it is in state want.
func waitState(t *testing.T, e *env, host string, want controller.State) controller.Record {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, rec, err := e.ctrl.Status(context.Background(), host)
		if err == nil && rec.State == want {
			return rec
		}
		if time.Now().After(deadline) {
			t.Fatalf("host %s: state %q (err %v), want %q within 5s", host, rec.State, err, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wakeAndWait wakes the host and waits until it runs.
func wakeAndWait(t *testing.T, e *env, host string) {
	t.Helper()
	if _, err := e.ctrl.Wake(context.Background(), host, controller.Client{Source: "test"}); err != nil {
		t.Fatalf("wake %s: %v", host, err)
	}
	waitState(t, e, host, controller.StateRunning)
}

// sweep runs the idle sweep and reports whether it stopped host.
func sweep(t *testing.T, e *env, host string) bool {
	t.Helper()
	stopped, err := e.ctrl.SweepIdle(context.Background())
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	return slices.Contains(stopped, host)
}

func splitHostPort(t *testing.T, rawURL string) (scheme, port, host string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Scheme, u.Port(), u.Hostname()
}
