package controller_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/poll"
	"github.com/waitingroom/waitingroom/store/memory"
)

// outageStore is the memory store with an off switch for the calls a wake
// or stop makes, standing in for a Redis failing over. leaseFailures makes
// that many AcquireLease calls fail first.
type outageStore struct {
	*memory.Store
	down          atomic.Bool
	leaseFailures atomic.Int32
}

func (s *outageStore) unavailable() error {
	return fmt.Errorf("dial tcp 127.0.0.1:6379: connect: connection refused: %w", controller.ErrStoreUnavailable)
}

func (s *outageStore) Get(ctx context.Context, host string) (controller.Record, error) {
	if s.down.Load() {
		return controller.Record{}, s.unavailable()
	}
	return s.Store.Get(ctx, host)
}

func (s *outageStore) CompareAndSwap(ctx context.Context, v uint64, next controller.Record) (controller.Record, bool, error) {
	if s.down.Load() {
		return controller.Record{}, false, s.unavailable()
	}
	return s.Store.CompareAndSwap(ctx, v, next)
}

func (s *outageStore) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	if s.down.Load() || s.leaseFailures.Add(-1) >= 0 {
		return false, s.unavailable()
	}
	return s.Store.AcquireLease(ctx, name, owner, ttl)
}

// outageFor takes the store down now and brings it back after d.
func (s *outageStore) outageFor(d time.Duration) {
	s.down.Store(true)
	time.AfterFunc(d, func() { s.down.Store(false) })
}

func withOutageStore(st *outageStore) envOpt {
	return func(o *controller.Options, _ *controller.Host) { o.Store = st }
}

// Tests that do not reconcile: a host that leaves starting or stopping did
// so through the job's own retries, not through Reconcile's takeover.

func TestWakeWaitsOutAStoreOutageBeforeRecordingItsResult(t *testing.T) {
	st := &outageStore{Store: memory.New(nil)}
	e := newEnv(t, withOutageStore(st))
	e.prov.OnStart(func() { st.outageFor(300 * time.Millisecond) })
	if _, err := e.ctrl.Wake(t.Context(), "app.example.com", controller.Client{Source: "page"}); err != nil {
		t.Fatal(err)
	}
	waitState(t, e.ctrl, "app.example.com", controller.StateRunning)
	if n := e.prov.Starts(); n != 1 {
		t.Fatalf("provider started %d times, want 1", n)
	}
	// The history entry follows the running record.
	poll.Until(t, 5*time.Second, "the wake in the history", func() bool {
		ws, err := st.Wakes(t.Context(), "app.example.com", 0)
		return err == nil && len(ws) == 1 && ws[0].Result == controller.WakeRunning
	})
}

func TestWakeWaitsOutAStoreOutageForItsLease(t *testing.T) {
	st := &outageStore{Store: memory.New(nil)}
	st.leaseFailures.Store(3)
	e := newEnv(t, withOutageStore(st))
	if _, err := e.ctrl.Wake(t.Context(), "app.example.com", controller.Client{Source: "page"}); err != nil {
		t.Fatal(err)
	}
	waitState(t, e.ctrl, "app.example.com", controller.StateRunning)
	if n := e.prov.Starts(); n != 1 {
		t.Fatalf("provider started %d times, want 1", n)
	}
}

func TestStopWaitsOutAStoreOutageBeforeRecordingItsResult(t *testing.T) {
	st := &outageStore{Store: memory.New(nil)}
	e := newEnv(t, withOutageStore(st))
	if _, err := e.ctrl.Wake(t.Context(), "app.example.com", controller.Client{Source: "page"}); err != nil {
		t.Fatal(err)
	}
	waitState(t, e.ctrl, "app.example.com", controller.StateRunning)
	release := e.prov.GateStops()
	if _, err := e.ctrl.Stop(t.Context(), "app.example.com", "test"); err != nil {
		t.Fatal(err)
	}
	st.outageFor(300 * time.Millisecond)
	release()
	waitState(t, e.ctrl, "app.example.com", controller.StateStopped)
	if n := e.prov.Stops(); n != 1 {
		t.Fatalf("provider stopped %d times, want 1", n)
	}
}
