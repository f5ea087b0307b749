package controller_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/redistest"
	"github.com/waitingroom/waitingroom/store/memory"
	redisstore "github.com/waitingroom/waitingroom/store/redis"
)

// sweepHosts is the registry size of issue 11's scenario 4.
const sweepHosts = 10_000

// benchProvider fails the benchmark if the sweep stops anything: every
// iteration must do the same work, so no host may be idle.
type benchProvider struct{ tb testing.TB }

func (p benchProvider) Start(context.Context, controller.Target) error {
	p.tb.Error("benchmark provider: unexpected Start")
	return errors.New("unexpected start")
}

func (p benchProvider) Stop(context.Context, controller.Target) error {
	p.tb.Error("benchmark provider: unexpected Stop")
	return errors.New("unexpected stop")
}

func (benchProvider) Status(context.Context, controller.Target) (controller.Status, error) {
	return controller.Status{State: controller.StateStopped}, nil
}

var _ controller.Provider = benchProvider{}

func benchLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// benchRedisStore starts a real redis-server for the benchmark and opens
// the store on it; both are closed when the benchmark ends.
func benchRedisStore(b *testing.B) controller.Store {
	b.Helper()
	srv := redistest.Start(b)
	st, err := redisstore.New(context.Background(), srv.URL(), redisstore.WithLogger(benchLogger()))
	if err != nil {
		b.Fatalf("redis store: %v", err)
	}
	b.Cleanup(func() { _ = st.Close() })
	return st
}

// seedSweep registers n hosts and stores a record for each: one in ten
// running with fresh activity (inspected, never idle), the rest stopped —
// a fleet that is mostly asleep, as waitingroom's fleets are.
func seedSweep(b *testing.B, st controller.Store, n int) *controller.Registry {
	b.Helper()
	hosts := make([]controller.Host, n)
	for i := range hosts {
		name := fmt.Sprintf("h%05d.sweep.test", i)
		hosts[i] = controller.Host{
			Name: name, Provider: "bench",
			Target:      controller.Target{Host: name, Provider: "bench"},
			IdleTimeout: 30 * time.Minute, StartTimeout: time.Minute,
		}
	}
	now := time.Now()
	// A few writers: seeding 10,000 records through Redis one by one
	// would dominate the benchmark's wall time.
	var wg sync.WaitGroup
	const writers = 8
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := w; i < n; i += writers {
				state := controller.StateStopped
				if i%10 == 0 {
					state = controller.StateRunning
				}
				rec := controller.Record{Host: hosts[i].Name, State: state, Changed: now, Reason: "seeded"}
				if _, ok, err := st.CompareAndSwap(context.Background(), 0, rec); err != nil || !ok {
					errs <- fmt.Errorf("seed %s: ok=%v err=%v", rec.Host, ok, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return controller.NewRegistry(hosts, map[string]controller.Provider{"bench": benchProvider{tb: b}})
}

// BenchmarkSweepIdle is one idle sweep over 10,000 registered hosts, each
// with a stored record (issue 11, scenario 4: memory ≤ 50 ms, Redis ≤
// 500 ms per sweep). Nothing is idle, so every iteration reads and judges
// every record and stops none.
func BenchmarkSweepIdle(b *testing.B) {
	for _, bc := range []struct {
		name  string
		store func(*testing.B) controller.Store
	}{
		{"memory", func(*testing.B) controller.Store { return memory.New(nil) }},
		{"redis", benchRedisStore},
	} {
		b.Run(bc.name, func(b *testing.B) {
			st := bc.store(b)
			reg := seedSweep(b, st, sweepHosts)
			c := controller.New(controller.Options{Store: st, Registry: reg, Logger: benchLogger()})
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				stopped, err := c.SweepIdle(ctx)
				if err != nil || len(stopped) != 0 {
					b.Fatalf("sweep = %v, %v; want nothing stopped", stopped, err)
				}
			}
			b.ReportMetric(sweepHosts, "hosts")
		})
	}
}
