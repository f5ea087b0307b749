package scheduler

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/fake"
	"github.com/waitingroom/waitingroom/internal/testutil/poll"
	"github.com/waitingroom/waitingroom/store/memory"
)

// The real controller is what the scheduler drives in production.
var _ Controller = (*controller.Controller)(nil)

// hostProvider reports every backend running, counts stops per host, and
// holds starts until their context ends: a backend that is slow to boot.
type hostProvider struct {
	mu    sync.Mutex
	stops map[string]int
}

func (p *hostProvider) Start(ctx context.Context, _ controller.Target) error {
	<-ctx.Done()
	return ctx.Err()
}

func (p *hostProvider) Stop(_ context.Context, t controller.Target) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stops[t.Host]++
	return nil
}

func (p *hostProvider) Status(context.Context, controller.Target) (controller.Status, error) {
	return controller.Status{State: controller.StateRunning}, nil
}

func (p *hostProvider) stopped(host string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stops[host]
}

// countingController counts sweeps of the real controller.
type countingController struct {
	*controller.Controller
	sweeps atomic.Int64
}

func (c *countingController) SweepIdle(ctx context.Context) ([]string, error) {
	defer c.sweeps.Add(1)
	return c.Controller.SweepIdle(ctx)
}

func TestSchedulerStopsIdleHostsButNeverStartingOrBusyOnes(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	clock := fake.NewClock(t0)
	store := memory.New(clock)
	prov := &hostProvider{stops: map[string]int{}}
	host := func(name string) controller.Host {
		return controller.Host{
			Name: name, Provider: "fake", Target: controller.Target{Host: name, Provider: "fake"},
			IdleTimeout: 30 * time.Minute, StartTimeout: 5 * time.Hour,
		}
	}
	reg := controller.NewRegistry(
		[]controller.Host{host("idle.test"), host("busy.test"), host("slow.test")},
		map[string]controller.Provider{"fake": prov},
	)
	ctrl := controller.New(controller.Options{Store: store, Registry: reg, Clock: clock, Logger: quietLogger()})
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		ctrl.Shutdown(sctx)
	})

	// At t0: idle.test and busy.test are running with activity; a wake of
	// slow.test is under way (its start never finishes).
	for _, name := range []string{"idle.test", "busy.test"} {
		if _, ok, err := store.CompareAndSwap(ctx, 0, controller.Record{Host: name, State: controller.StateRunning, Changed: t0}); err != nil || !ok {
			t.Fatalf("seed %s: ok=%v err=%v", name, ok, err)
		}
		if err := store.Touch(ctx, name, controller.Activity{At: t0, Source: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	if rec, err := ctrl.Wake(ctx, "slow.test", controller.Client{Source: "test"}); err != nil || rec.State != controller.StateStarting {
		t.Fatalf("wake slow.test: %+v, %v", rec, err)
	}
	// Two hours later only busy.test has seen traffic.
	clock.Set(t0.Add(2 * time.Hour))
	if err := ctrl.Touch(ctx, "busy.test", "test"); err != nil {
		t.Fatal(err)
	}

	cc := &countingController{Controller: ctrl}
	s := newScheduler(t, cc, Options{
		SweepInterval: 50 * time.Millisecond, ReconcileInterval: time.Hour,
		Leases: store, Owner: ctrl.ReplicaID(),
	})
	s.Start()

	poll.Until(t, 10*time.Second, "idle.test to be stopped", func() bool {
		rec, _ := store.Get(ctx, "idle.test")
		return prov.stopped("idle.test") == 1 && rec.State == controller.StateStopped
	})
	// A few more sweeps, during which nothing else may be stopped.
	after := cc.sweeps.Load()
	poll.Until(t, 10*time.Second, "3 more sweeps", func() bool { return cc.sweeps.Load() >= after+3 })
	if n := prov.stopped("slow.test"); n != 0 {
		t.Errorf("the starting host was stopped %d times", n)
	}
	if n := prov.stopped("busy.test"); n != 0 {
		t.Errorf("the busy host was stopped %d times", n)
	}
	if n := prov.stopped("idle.test"); n != 1 {
		t.Errorf("the idle host was stopped %d times; want once", n)
	}
	for name, want := range map[string]controller.State{"slow.test": controller.StateStarting, "busy.test": controller.StateRunning} {
		if rec, _ := store.Get(ctx, name); rec.State != want {
			t.Errorf("%s is %s; want %s", name, rec.State, want)
		}
	}
}
