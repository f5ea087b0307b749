package controller_test

import (
	"context"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/store/memory"
)

// benchStores are the stores the hot-path benchmarks run on.
var benchStores = []struct {
	name  string
	store func(*testing.B) controller.Store
}{
	{"memory", func(*testing.B) controller.Store { return memory.New(nil) }},
	{"redis", benchRedisStore},
}

// startingController is a controller whose one host is waking (the state
// a crowd on a sleeping host sees), recorded directly in the store so no
// provider runs.
func startingController(b *testing.B, st controller.Store) *controller.Controller {
	b.Helper()
	const host = "app.bench.test"
	h := controller.Host{
		Name: host, Provider: "bench", Target: controller.Target{Host: host, Provider: "bench"},
		IdleTimeout: 30 * time.Minute, StartTimeout: time.Hour,
	}
	reg := controller.NewRegistry([]controller.Host{h}, map[string]controller.Provider{"bench": benchProvider{tb: b}})
	rec := controller.Record{Host: host, State: controller.StateStarting, Changed: time.Now(), WakeID: "bench", Owner: "elsewhere"}
	if _, ok, err := st.CompareAndSwap(context.Background(), 0, rec); err != nil || !ok {
		b.Fatalf("seed: ok=%v err=%v", ok, err)
	}
	return controller.New(controller.Options{Store: st, Registry: reg, Logger: benchLogger()})
}

// BenchmarkStatus is the state read behind /.waitingroom/status and every
// event stream's first event.
func BenchmarkStatus(b *testing.B) {
	for _, bc := range benchStores {
		b.Run(bc.name, func(b *testing.B) {
			c := startingController(b, bc.store(b))
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, rec, err := c.Status(ctx, "app.bench.test"); err != nil || rec.State != controller.StateStarting {
					b.Fatalf("status = %q, %v", rec.State, err)
				}
			}
		})
	}
}

// BenchmarkWakeStarting is what every waiting-page request does to a host
// that is already waking: look at the record and leave it be.
func BenchmarkWakeStarting(b *testing.B) {
	for _, bc := range benchStores {
		b.Run(bc.name, func(b *testing.B) {
			c := startingController(b, bc.store(b))
			ctx := context.Background()
			cl := controller.Client{Source: "page", Class: "browser"}
			b.ReportAllocs()
			for b.Loop() {
				if rec, err := c.Wake(ctx, "app.bench.test", cl); err != nil || rec.State != controller.StateStarting {
					b.Fatalf("wake = %q, %v", rec.State, err)
				}
			}
		})
	}
}

// BenchmarkTouch is one activity write, what the ForwardAuth and metrics
// activity sources do (coalesced to once per host per window).
func BenchmarkTouch(b *testing.B) {
	for _, bc := range benchStores {
		b.Run(bc.name, func(b *testing.B) {
			c := startingController(b, bc.store(b))
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Touch(ctx, "app.bench.test", "bench"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
