package web_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/redistest"
	"github.com/waitingroom/waitingroom/store/memory"
	redisstore "github.com/waitingroom/waitingroom/store/redis"
	"github.com/waitingroom/waitingroom/web"
)

// idleProvider must never be called: the benchmark's host is already
// waking when the requests arrive.
type idleProvider struct{}

func (idleProvider) Start(context.Context, controller.Target) error {
	return errors.New("unexpected start")
}

func (idleProvider) Stop(context.Context, controller.Target) error {
	return errors.New("unexpected stop")
}

func (idleProvider) Status(context.Context, controller.Target) (controller.Status, error) {
	return controller.Status{State: controller.StateStarting}, nil
}

// BenchmarkWaitingPageStore is the whole waiting-page handler for a host
// that is waking, with a wake history (so the page shows an estimate), on
// each store: what each of issue 11's scenario-1 requests costs the
// server, without the network. The parallel variants are the crowd: every
// core asking at once, as 256 connections do.
func BenchmarkWaitingPageStore(b *testing.B) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, bc := range []struct {
		name  string
		store func(*testing.B) controller.Store
	}{
		{"memory", func(*testing.B) controller.Store { return memory.New(nil) }},
		{"redis", func(b *testing.B) controller.Store {
			srv := redistest.Start(b)
			st, err := redisstore.New(context.Background(), srv.URL(), redisstore.WithLogger(log))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = st.Close() })
			return st
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			st := bc.store(b)
			const host = "app.bench.test"
			ctx := context.Background()
			now := time.Now()
			if _, ok, err := st.CompareAndSwap(ctx, 0, controller.Record{
				Host: host, State: controller.StateStarting, Changed: now, WakeID: "bench", Owner: "elsewhere",
			}); err != nil || !ok {
				b.Fatalf("seed: ok=%v err=%v", ok, err)
			}
			for i := range 10 {
				d := time.Duration(20+i) * time.Second
				if err := st.AddWake(ctx, controller.WakeRecord{
					ID: fmt.Sprint(i), Host: host, Requested: now.Add(-time.Hour), Finished: now.Add(-time.Hour + d),
					Duration: d, Result: controller.WakeRunning,
				}); err != nil {
					b.Fatal(err)
				}
			}
			reg := controller.NewRegistry([]controller.Host{{
				Name: host, Provider: "idle", Target: controller.Target{Host: host, Provider: "idle"},
				StartTimeout: time.Hour, IdleTimeout: time.Hour,
			}}, map[string]controller.Provider{"idle": idleProvider{}})
			ctl := controller.New(controller.Options{Store: st, Registry: reg, Logger: log})
			p, err := web.NewPublic(web.PublicOptions{Controller: ctl, Logger: log})
			if err != nil {
				b.Fatal(err)
			}
			newReq := func() *http.Request {
				r := httptest.NewRequest(http.MethodGet, "http://"+host+"/some/page", nil)
				r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130 Safari/537.36")
				r.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
				return r
			}
			serve := func(tb testing.TB, r *http.Request) {
				w := httptest.NewRecorder()
				p.ServeHTTP(w, r)
				if w.Code != http.StatusServiceUnavailable {
					tb.Fatalf("status %d, want 503", w.Code)
				}
			}
			b.Run("serial", func(b *testing.B) {
				r := newReq()
				b.ReportAllocs()
				for b.Loop() {
					serve(b, r)
				}
			})
			b.Run("parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.SetParallelism(16)
				b.RunParallel(func(pb *testing.PB) {
					r := newReq()
					for pb.Next() {
						serve(b, r)
					}
				})
			})
		})
	}
}
