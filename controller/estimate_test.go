package controller_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/fake"
	"github.com/waitingroom/waitingroom/store/memory"
)

// wakesCountingStore counts reads of the wake history.
type wakesCountingStore struct {
	controller.Store
	reads atomic.Int64
}

func (s *wakesCountingStore) Wakes(ctx context.Context, host string, limit int) ([]controller.WakeRecord, error) {
	s.reads.Add(1)
	return s.Store.Wakes(ctx, host, limit)
}

// settableClock is a clock the test moves by hand.
type settableClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *settableClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *settableClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestEstimateCachedUntilEvent(t *testing.T) {
	const host = "app.example.com"
	clock := &settableClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	st := &wakesCountingStore{Store: memory.New(clock)}
	reg := controller.NewRegistry([]controller.Host{{
		Name: host, Provider: "fake", Target: controller.Target{Host: host, Provider: "fake"},
	}}, map[string]controller.Provider{"fake": &fake.Provider{}})
	c := controller.New(controller.Options{
		Store: st, Registry: reg, Clock: clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; _ = st.Close() })
	select {
	case <-c.Relaying():
	case <-time.After(5 * time.Second):
		t.Fatal("controller did not subscribe to the store's events")
	}
	events := c.Subscribe(ctx, host)
	// event publishes a transition as another replica would and waits
	// until the relay has passed it on.
	event := func(to controller.State) {
		t.Helper()
		if err := st.Publish(ctx, controller.Event{Host: host, To: to, At: clock.Now()}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-events:
		case <-time.After(5 * time.Second):
			t.Fatal("event not relayed")
		}
	}
	estimate := func(wantD time.Duration, wantOK bool, wantReads int64) {
		t.Helper()
		d, ok := c.Estimate(ctx, host)
		if d != wantD || ok != wantOK {
			t.Fatalf("estimate = %v, %v; want %v, %v", d, ok, wantD, wantOK)
		}
		if n := st.reads.Load(); n != wantReads {
			t.Fatalf("%d reads of the wake history, want %d", n, wantReads)
		}
	}

	// No event seen yet: nothing proves a change would be noticed.
	estimate(0, false, 1)
	estimate(0, false, 2)

	event(controller.StateStarting)
	estimate(0, false, 3)
	estimate(0, false, 3) // cached, also "no estimate"

	// A finished wake: history first, then the event (as finishWake does).
	if err := st.AddWake(ctx, controller.WakeRecord{Host: host, Result: controller.WakeRunning, Duration: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	estimate(0, false, 3) // no event yet: still the cached answer
	event(controller.StateRunning)
	estimate(3*time.Second, true, 4)
	estimate(3*time.Second, true, 4)

	// The TTL is a safety net for lost events.
	clock.Add(6 * time.Second)
	estimate(3*time.Second, true, 5)
	estimate(3*time.Second, true, 5)
}

func TestEstimateConcurrentCallersShareOneRead(t *testing.T) {
	const host = "app.example.com"
	st := &wakesCountingStore{Store: memory.New(nil)}
	reg := controller.NewRegistry([]controller.Host{{
		Name: host, Provider: "fake", Target: controller.Target{Host: host, Provider: "fake"},
	}}, map[string]controller.Provider{"fake": &fake.Provider{}})
	c := controller.New(controller.Options{Store: st, Registry: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; _ = st.Close() })
	select {
	case <-c.Relaying():
	case <-time.After(5 * time.Second):
		t.Fatal("controller did not subscribe to the store's events")
	}
	events := c.Subscribe(ctx, host)
	if err := st.Publish(ctx, controller.Event{Host: host, To: controller.StateStarting}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-events:
	case <-time.After(5 * time.Second):
		t.Fatal("event not relayed")
	}
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() { c.Estimate(ctx, host) })
	}
	wg.Wait()
	// The TTL is 5 s of the system clock: far longer than this test.
	if n := st.reads.Load(); n < 1 || n > 32 {
		t.Fatalf("%d reads", n)
	}
	before := st.reads.Load()
	c.Estimate(ctx, host)
	if n := st.reads.Load(); n != before {
		t.Fatalf("a cached estimate read the store (%d → %d)", before, n)
	}
}
