package activity_test

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/config"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/store/memory"
)

// fakeProvider is a Provider whose backend is a flag. It records the
// clock's time of every start.
type fakeProvider struct {
	clock controller.Clock

	mu       sync.Mutex
	state    controller.State
	startsAt []time.Time
	stops    atomic.Int32
}

func (p *fakeProvider) Start(context.Context, controller.Target) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.startsAt = append(p.startsAt, p.clock.Now())
	p.state = controller.StateRunning
	return nil
}

func (p *fakeProvider) Stop(context.Context, controller.Target) error {
	p.stops.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state = controller.StateStopped
	return nil
}

func (p *fakeProvider) Status(context.Context, controller.Target) (controller.Status, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.state
	if s == "" {
		s = controller.StateStopped
	}
	return controller.Status{State: s, InternalIP: "127.0.0.1"}, nil
}

func (p *fakeProvider) set(s controller.State) {
	p.mu.Lock()
	p.state = s
	p.mu.Unlock()
}

func (p *fakeProvider) starts() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.startsAt)
}

// fakeClock is a controller.Clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{now: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// env is a real controller on the memory store with one fake provider.
type env struct {
	ctrl  *controller.Controller
	store controller.Store
	prov  *fakeProvider
	reg   *controller.Registry
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newEnv(t *testing.T, clock controller.Clock, busy []controller.BusyChecker, hosts ...controller.Host) *env {
	t.Helper()
	prov := &fakeProvider{clock: clock}
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

// waitFor polls cond until it holds, failing after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func splitHostPort(t *testing.T, rawURL string) (scheme, port, host string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Scheme, u.Port(), u.Hostname()
}
