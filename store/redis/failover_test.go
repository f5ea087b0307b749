package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/fake"
	"github.com/waitingroom/waitingroom/internal/testutil/poll"
	"github.com/waitingroom/waitingroom/internal/testutil/redistest"
	redisstore "github.com/waitingroom/waitingroom/store/redis"
)

const failoverHost = "app.example.com"

// replica is one controller on its own sentinel-backed store, as one
// waitingroom process would run it. No scheduler runs: a host that leaves
// starting does so through the wake's own work, not a reconcile.
func replica(t *testing.T, top *redistest.Topology, prov controller.Provider) (*controller.Controller, *redisstore.Store) {
	t.Helper()
	st := sentinelStore(t, top, redisstore.WithPrefix("failover:"))
	reg := controller.NewRegistry([]controller.Host{{
		Name: failoverHost, Provider: "fake",
		Target:       controller.Target{Host: failoverHost, Provider: "fake"},
		IdleTimeout:  time.Hour,
		StartTimeout: 2 * time.Minute,
	}}, map[string]controller.Provider{"fake": prov})
	c := controller.New(controller.Options{Store: st, Registry: reg, Logger: quiet})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		c.Shutdown(sctx)
		cancel()
		<-done
	})
	return c, st
}

// gatedProvider is a provider whose Start, once called, closes started
// and does not return before release is closed.
func gatedProvider() (prov *fake.Provider, started, release chan struct{}) {
	prov = &fake.Provider{}
	started, release = make(chan struct{}), make(chan struct{})
	var once sync.Once
	prov.OnStart(func() {
		once.Do(func() { close(started) })
		<-release
	})
	return prov, started, release
}

// stateOf reads the host's state through c ("" while the store does not
// answer).
func stateOf(c *controller.Controller) controller.State {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, rec, err := c.Status(ctx, failoverHost)
	if err != nil {
		return ""
	}
	return rec.State
}

// The primary dies (SIGKILL) while a wake's Start is under way, and Start
// returns during the failover: the wake waits the outage out and records
// running on the promoted replica, with no second Start, no reconcile, and
// everything written before still there.
func TestFailoverMidWake(t *testing.T) {
	top := redistest.StartTopology(t)
	prov, started, release := gatedProvider()
	c, st := replica(t, top, prov)
	before := seed(t, st, "other.example.com")

	if _, err := c.Wake(t.Context(), failoverHost, controller.Client{Source: "page"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("Start was never called")
	}
	// The wake's starting record is on the replica before the primary
	// dies (a write lost with the primary is
	// TestFailoverLosingAnAcknowledgedWakeLeavesNoHostStuck's).
	top.WaitReplicated(t.Context())
	top.KillPrimary()
	close(release)

	var last string
	deadline := time.Now().Add(90 * time.Second)
	for {
		_, rec, err := c.Status(t.Context(), failoverHost)
		if err == nil && rec.State == controller.StateRunning {
			break
		}
		last = fmt.Sprintf("%+v, %v", rec, err)
		if time.Now().After(deadline) {
			t.Fatalf("the host is not running 90 s after the primary died: %s; sentinels name %q as primary\nsentinel log:\n%s",
				last, top.PrimaryAddr(t.Context()), top.Sentinels[0].Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	top.WaitFailover(30 * time.Second) // every sentinel names the replica, the replica is primary
	if n := prov.Starts(); n != 1 {
		t.Fatalf("provider started %d times, want 1", n)
	}
	// The history entry follows the running record.
	poll.Every(t, 20*time.Millisecond, 10*time.Second, "the wake in the history after the failover", func() bool {
		ws, err := st.Wakes(t.Context(), failoverHost, 0)
		return err == nil && len(ws) == 1 && ws[0].Result == controller.WakeRunning
	})
	after, err := st.Get(t.Context(), "other.example.com")
	if err != nil || after.Version != before.Version || after.WakeID != before.WakeID || !after.LastActivity.Equal(before.LastActivity) {
		t.Fatalf("record written before the failover: %+v, %v; want %+v", after, err, before)
	}
}

// A stampede spread over two replicas; the primary dies right after the
// first wake is recorded. Requests during the failover fail with
// ErrStoreUnavailable (nothing else), the wake under way finishes on the
// promoted replica, and the provider is started once in all.
func TestFailoverMidStampedeStartsOnce(t *testing.T) {
	top := redistest.StartTopology(t)
	prov := &fake.Provider{}
	prov.SetDelay(500 * time.Millisecond)
	c1, _ := replica(t, top, prov)
	c2, _ := replica(t, top, prov)
	ctls := []*controller.Controller{c1, c2}

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	var (
		killOnce              sync.Once
		ok, unavailable, errs atomic.Int64
		wg                    sync.WaitGroup
		running               atomic.Bool
		firstErr              atomic.Value
	)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := ctls[w%len(ctls)]
			// Bounded: until the host runs, the test's deadline, or 5,000 calls.
			for i := 0; i < 5000 && ctx.Err() == nil && !running.Load(); i++ {
				rec, err := c.Wake(ctx, failoverHost, controller.Client{Source: "page"})
				switch {
				case err == nil:
					ok.Add(1)
					if rec.State == controller.StateStarting {
						killOnce.Do(func() {
							// Recorded means replicated here: a write lost
							// with the primary is another test's.
							if err := top.Replicated(ctx); err != nil {
								t.Error(err)
							}
							top.KillPrimary()
						})
					}
					if rec.State == controller.StateRunning {
						running.Store(true)
					}
				case errors.Is(err, controller.ErrStoreUnavailable):
					unavailable.Add(1)
				default:
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	if !running.Load() {
		t.Fatalf("the host never ran (ok %d, unavailable %d, other errors %d: %v)", ok.Load(), unavailable.Load(), errs.Load(), firstErr.Load())
	}
	t.Logf("wakes answered: %d ok, %d store unavailable, %d other", ok.Load(), unavailable.Load(), errs.Load())
	if errs.Load() != 0 {
		t.Errorf("%d wakes failed with something else than ErrStoreUnavailable, e.g. %v", errs.Load(), firstErr.Load())
	}
	top.WaitFailover(30 * time.Second) // every sentinel names the replica, the replica is primary
	if n := prov.Starts(); n != 1 {
		t.Fatalf("provider started %d times across 2 replicas, want 1", n)
	}
	// A replica whose store has not heard of the new primary yet may
	// fail a call or two more.
	for _, c := range ctls {
		poll.Every(t, 50*time.Millisecond, 30*time.Second, "every replica seeing the host running", func() bool {
			return stateOf(c) == controller.StateRunning
		})
	}
}

// Redis replicates asynchronously: a write the primary acknowledged but
// had not yet sent to the replica when it died is gone after the
// failover. This test makes that happen for real — the replica is frozen
// (SIGSTOP) and the primary's replication stream is stuffed with 40 MB, so
// the wake's compare-and-set stays in the dying primary's memory — and
// shows what waitingroom does about it: the wake already under way
// finds its record gone and stops recording; the host is not stuck in
// starting, and the next reconcile adopts the running backend, with no
// second Start.
func TestFailoverLosingAnAcknowledgedWakeLeavesNoHostStuck(t *testing.T) {
	top := redistest.StartTopology(t)
	prov, started, release := gatedProvider()
	c, st := replica(t, top, prov)
	ctx := t.Context()
	primary := rawClient(t, top.Primary)

	top.Replica.Pause()
	resumed := false
	defer func() {
		if !resumed {
			top.Replica.Resume()
		}
	}()
	filler := make([]byte, 1<<20)
	for i := range 40 {
		if err := primary.Set(ctx, "filler:"+string(rune('a'+i%26))+string(rune('a'+i/26)), filler, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := c.Wake(ctx, failoverHost, controller.Client{Source: "page"})
	if err != nil || rec.State != controller.StateStarting {
		t.Fatalf("wake = %+v, %v", rec, err)
	}
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("Start was never called")
	}
	top.KillPrimary()
	top.Replica.Resume()
	resumed = true
	top.WaitFailover(60 * time.Second)

	var lost controller.Record
	poll.Every(t, 50*time.Millisecond, 30*time.Second, "the store answering from the promoted replica", func() bool {
		lost, err = st.Get(ctx, failoverHost)
		return err == nil
	})
	if lost.State == controller.StateStarting {
		t.Fatalf("the replica got the write after all (%+v): the test did not make Redis lose it", lost)
	}
	t.Logf("after the failover the acknowledged wake is gone: %+v", lost)

	close(release)
	// The wake ends without recording anything over the record it no
	// longer finds; a reconcile (the scheduler runs one every
	// reconcile_interval) finds the backend running and adopts it.
	poll.Every(t, 50*time.Millisecond, 30*time.Second, "the wake job ending", func() bool {
		return c.Reconcile(ctx) == nil && stateOf(c) == controller.StateRunning
	})
	if n := prov.Starts(); n != 1 {
		t.Fatalf("provider started %d times, want 1", n)
	}
}
