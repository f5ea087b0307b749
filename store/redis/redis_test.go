package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/poll"
	"github.com/waitingroom/waitingroom/internal/testutil/redistest"
	redisstore "github.com/waitingroom/waitingroom/store/redis"
	"github.com/waitingroom/waitingroom/store/storetest"
)

// quiet keeps expected connection warnings out of the test output.
var quiet = slog.New(slog.DiscardHandler)

func newStore(t testing.TB, url string, opts ...redisstore.Option) *redisstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := redisstore.New(ctx, url, append([]redisstore.Option{redisstore.WithLogger(quiet)}, opts...)...)
	if err != nil {
		t.Fatalf("redisstore.New(%s): %v", url, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// rawClient inspects the server behind the store's back.
func rawClient(t testing.TB, srv *redistest.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), DisableIdentity: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestContract(t *testing.T) {
	srv := redistest.Start(t)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) controller.Store {
		// One server for the suite; a prefix per test keeps them apart
		// (and proves the prefix isolates keys and events).
		return newStore(t, srv.URL(), redisstore.WithPrefix(fmt.Sprintf("contract%d:", n.Add(1))))
	})
}

func sampleRecord(host string) controller.Record {
	return controller.Record{
		Host: host, State: controller.StateRunning, Changed: time.Unix(1900000000, 123456789),
		Reason: "ready", WakeID: "w-9", Failures: 1, RetryAt: time.Unix(1900000100, 0),
	}
}

// seed writes a record, activity and wake history through s.
func seed(t *testing.T, s controller.Store, host string) controller.Record {
	t.Helper()
	ctx := t.Context()
	if _, ok, err := s.CompareAndSwap(ctx, 0, sampleRecord(host)); err != nil || !ok {
		t.Fatalf("seed CAS: %v %v", ok, err)
	}
	if err := s.Touch(ctx, host, controller.Activity{At: time.Unix(1900000050, 5), Source: "forwardauth"}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		w := controller.WakeRecord{ID: fmt.Sprint("w", i), Host: host, Duration: time.Duration(i+1) * time.Second, Result: controller.WakeRunning}
		if err := s.AddWake(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := s.Get(ctx, host)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func checkSeeded(t *testing.T, s controller.Store, host string, want controller.Record) {
	t.Helper()
	ctx := t.Context()
	got, err := s.Get(ctx, host)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != want.Version || got.State != want.State || !got.Changed.Equal(want.Changed) ||
		!got.LastActivity.Equal(want.LastActivity) || got.ActivitySource != want.ActivitySource || got.WakeID != want.WakeID {
		t.Errorf("record after restart:\n got  %+v\n want %+v", got, want)
	}
	ws, err := s.Wakes(ctx, host, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 3 || ws[0].ID != "w2" || ws[2].ID != "w0" {
		t.Errorf("wake history after restart = %+v; want w2, w1, w0", ws)
	}
	recs, err := s.List(ctx)
	if err != nil || len(recs) != 1 || recs[0].Host != host {
		t.Errorf("List after restart = %+v, %v", recs, err)
	}
}

func TestWaitingroomRestartKeepsStateActivityAndHistory(t *testing.T) {
	srv := redistest.Start(t)
	first := newStore(t, srv.URL())
	want := seed(t, first, "app.example.com")
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second := newStore(t, srv.URL())
	checkSeeded(t, second, "app.example.com", want)
}

func TestRedisRestartWithPersistenceKeepsDataAndStoreReconnects(t *testing.T) {
	srv := redistest.Start(t, redistest.WithPersistence())
	s := newStore(t, srv.URL())
	want := seed(t, s, "app.example.com")
	srv.Restart()
	poll.Every(t, 50*time.Millisecond, 10*time.Second, "the store to reach the restarted Redis", func() bool { return s.Ping(t.Context()) == nil })
	checkSeeded(t, s, "app.example.com", want)
}

// operations calls every Store method once; each returns its error.
func operations(s controller.Store) map[string]func(ctx context.Context) error {
	rec := sampleRecord("app.example.com")
	return map[string]func(ctx context.Context) error{
		"Get":  func(ctx context.Context) error { _, err := s.Get(ctx, "app.example.com"); return err },
		"List": func(ctx context.Context) error { _, err := s.List(ctx); return err },
		"CompareAndSwap": func(ctx context.Context) error {
			cur, err := s.Get(ctx, rec.Host)
			if err != nil {
				return err
			}
			_, ok, err := s.CompareAndSwap(ctx, cur.Version, rec)
			if err == nil && !ok {
				return errors.New("refused")
			}
			return err
		},
		"Touch": func(ctx context.Context) error {
			return s.Touch(ctx, "app.example.com", controller.Activity{At: time.Now(), Source: "page"})
		},
		"Delete": func(ctx context.Context) error { return s.Delete(ctx, "gone.example.com") },
		"AddWake": func(ctx context.Context) error {
			return s.AddWake(ctx, controller.WakeRecord{ID: "w", Host: "app.example.com"})
		},
		"Wakes": func(ctx context.Context) error { _, err := s.Wakes(ctx, "app.example.com", 10); return err },
		"Incr":  func(ctx context.Context) error { _, _, err := s.Incr(ctx, "k", time.Hour); return err },
		"Count": func(ctx context.Context) error { _, err := s.Count(ctx, "k", time.Hour); return err },
		"AcquireLease": func(ctx context.Context) error {
			ok, err := s.AcquireLease(ctx, "lease", "me", time.Second)
			if err == nil && !ok {
				return errors.New("refused")
			}
			return err
		},
		"ReleaseLease": func(ctx context.Context) error { return s.ReleaseLease(ctx, "lease", "me") },
		"Publish":      func(ctx context.Context) error { return s.Publish(ctx, controller.Event{Host: "app.example.com"}) },
		"Subscribe": func(ctx context.Context) error {
			sctx, cancel := context.WithCancel(ctx)
			defer cancel()
			_, err := s.Subscribe(sctx)
			return err
		},
		"Ping": func(ctx context.Context) error { return s.Ping(ctx) },
	}
}

// checkUnavailable runs every operation at once against a Redis that is
// gone or hung: each must fail with ErrStoreUnavailable within limit.
func checkUnavailable(t *testing.T, s controller.Store, limit time.Duration) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	slowest := time.Duration(0)
	for name, op := range operations(s) {
		wg.Go(func() {
			start := time.Now()
			err := op(context.Background())
			took := time.Since(start)
			mu.Lock()
			slowest = max(slowest, took)
			mu.Unlock()
			if !errors.Is(err, controller.ErrStoreUnavailable) {
				t.Errorf("%s: err = %v; want ErrStoreUnavailable", name, err)
			}
			if took > limit {
				t.Errorf("%s took %s to fail; want under %s", name, took, limit)
			}
		})
	}
	wg.Wait()
	t.Logf("slowest failure: %s", slowest)
}

func checkAvailable(t *testing.T, s controller.Store) {
	t.Helper()
	poll.Every(t, 50*time.Millisecond, 10*time.Second, "the store to reach Redis again", func() bool { return s.Ping(t.Context()) == nil })
	for name, op := range operations(s) {
		if err := op(t.Context()); err != nil {
			t.Errorf("%s after recovery: %v", name, err)
		}
	}
}

func TestRedisKilledIsUnavailableQuicklyThenRecovers(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, srv.URL())
	checkAvailable(t, s) // fills the pool with connections that are about to die
	srv.Stop()
	checkUnavailable(t, s, 3*time.Second)
	srv.Restart()
	checkAvailable(t, s)
}

func TestRedisHungIsUnavailableQuicklyThenRecovers(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, srv.URL())
	checkAvailable(t, s)
	srv.Pause()
	checkUnavailable(t, s, 3*time.Second)
	srv.Resume()
	checkAvailable(t, s)
}

func TestNewWithRedisDownStillStartsAndReportsIt(t *testing.T) {
	srv := redistest.Start(t)
	srv.Stop()
	start := time.Now()
	s := newStore(t, srv.URL()) // fails the test on error
	if err := s.Ping(t.Context()); !errors.Is(err, controller.ErrStoreUnavailable) {
		t.Errorf("Ping with Redis down = %v; want ErrStoreUnavailable", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("New and Ping with Redis down took %s", took)
	}
	srv.Restart()
	checkAvailable(t, s)
}

func TestNewRefusesWhatWaitingCannotFix(t *testing.T) {
	srv := redistest.Start(t)
	if err := rawClient(t, srv).ConfigSet(t.Context(), "requirepass", "s3cret").Err(); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, url string }{
		{"not a redis URL", "http://" + srv.Addr()},
		{"bad port", "redis://127.0.0.1:notaport/0"},
		{"wrong password", "redis://:wrong@" + srv.Addr() + "/0"},
		{"no password", srv.URL()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := redisstore.New(t.Context(), tc.url, redisstore.WithLogger(quiet))
			if err == nil {
				_ = s.Close()
				t.Fatalf("New(%s) succeeded; want an error", tc.url)
			}
			if errors.Is(err, controller.ErrStoreUnavailable) {
				t.Errorf("New(%s) = %v; want a configuration error, not ErrStoreUnavailable", tc.url, err)
			}
			if strings.Contains(err.Error(), "wrong") && strings.Contains(tc.url, ":wrong@") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
	s := newStore(t, "redis://:s3cret@"+srv.Addr()+"/0")
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("with the right password: %v", err)
	}
}

func TestSubscriptionClosesWhenRedisDiesAndResubscribeWorks(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, srv.URL())
	sub, err := s.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	storetest.WaitClosed(t, sub, "after Redis died", 5*time.Second)
	if _, err := s.Subscribe(t.Context()); !errors.Is(err, controller.ErrStoreUnavailable) {
		t.Errorf("Subscribe with Redis down = %v; want ErrStoreUnavailable", err)
	}
	srv.Restart()
	var again <-chan controller.Event
	poll.Every(t, 50*time.Millisecond, 10*time.Second, "Subscribe to work after the restart", func() bool {
		again, err = s.Subscribe(t.Context())
		return err == nil
	})
	want := controller.Event{Host: "app.example.com", From: controller.StateStarting, To: controller.StateRunning}
	if err := s.Publish(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	if got := storetest.Recv(t, again); got.Host != want.Host || got.To != want.To {
		t.Errorf("event after resubscribing = %+v", got)
	}
}

func TestSubscriptionClosesWhenRedisHangs(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, srv.URL(), redisstore.WithTimeout(500*time.Millisecond))
	sub, err := s.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	srv.Pause()
	storetest.WaitClosed(t, sub, "after Redis hung", 10*time.Second)
	t.Logf("hung Redis noticed after %s", time.Since(start))
	srv.Resume()
}

func TestEventsReachEveryReplica(t *testing.T) {
	srv := redistest.Start(t)
	replicas := []*redisstore.Store{newStore(t, srv.URL()), newStore(t, srv.URL()), newStore(t, srv.URL())}
	var subs []<-chan controller.Event
	for _, r := range replicas {
		ch, err := r.Subscribe(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, ch)
	}
	e := controller.Event{Host: "app.example.com", From: controller.StateStopped, To: controller.StateStarting, At: time.Unix(1900000000, 42)}
	if err := replicas[1].Publish(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	for i, ch := range subs {
		if got := storetest.Recv(t, ch); got.Host != e.Host || got.To != e.To || !got.At.Equal(e.At) {
			t.Errorf("replica %d got %+v; want %+v", i, got, e)
		}
	}
}

// Replicas racing through separate connections still make one winner.
func TestCompareAndSwapAcrossReplicasHasOneWinner(t *testing.T) {
	srv := redistest.Start(t)
	replicas := []*redisstore.Store{newStore(t, srv.URL()), newStore(t, srv.URL()), newStore(t, srv.URL())}
	host := "app.example.com"
	if _, ok, err := replicas[0].CompareAndSwap(t.Context(), 0, controller.Record{Host: host, State: controller.StateStopped}); err != nil || !ok {
		t.Fatal(ok, err)
	}
	var wins atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 90 {
		wg.Go(func() {
			<-start
			_, ok, err := replicas[i%3].CompareAndSwap(context.Background(), 1, controller.Record{Host: host, State: controller.StateStarting, Owner: fmt.Sprint(i % 3)})
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d winners; want 1", wins.Load())
	}
}

func TestKeysStayUnderPrefix(t *testing.T) {
	srv := redistest.Start(t)
	raw := rawClient(t, srv)
	tests := []struct {
		name   string
		opts   []redisstore.Option
		prefix string
	}{
		{"default", nil, "waitingroom:"},
		{"custom", []redisstore.Option{redisstore.WithPrefix("bench-7:")}, "bench-7:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := raw.FlushAll(t.Context()).Err(); err != nil {
				t.Fatal(err)
			}
			s := newStore(t, srv.URL(), tc.opts...)
			sub, err := s.Subscribe(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for name, op := range operations(s) {
				if err := op(t.Context()); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
			}
			seed(t, s, "seeded.example.com")
			storetest.Recv(t, sub)

			keys, err := raw.Keys(t.Context(), "*").Result()
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) < 5 {
				t.Errorf("only %d keys written: %v", len(keys), keys)
			}
			for _, k := range keys {
				if !strings.HasPrefix(k, tc.prefix) {
					t.Errorf("key %q is outside the prefix %q", k, tc.prefix)
				}
			}
			channels, err := raw.PubSubChannels(t.Context(), "*").Result()
			if err != nil {
				t.Fatal(err)
			}
			if len(channels) != 1 || channels[0] != tc.prefix+"events" {
				t.Errorf("pub/sub channels = %v; want [%sevents]", channels, tc.prefix)
			}
		})
	}
}

func TestCounterKeysExpireWithTheirWindow(t *testing.T) {
	srv := redistest.Start(t)
	raw := rawClient(t, srv)
	s := newStore(t, srv.URL(), redisstore.WithPrefix("exp:"))
	const win = time.Second
	// Windows are aligned to the clock: an Incr landing at the very end of
	// one sees its key expire at once. Take one that leaves time to look.
	var keys []string
	var ttl time.Duration
	for attempt := 0; attempt < 5; attempt++ {
		if _, resets, err := s.Incr(t.Context(), "client:abc", win); err != nil {
			t.Fatal(err)
		} else if time.Until(resets) < 200*time.Millisecond {
			time.Sleep(time.Until(resets) + 10*time.Millisecond)
			continue
		}
		var err error
		keys, err = raw.Keys(t.Context(), "exp:count:*").Result()
		if err != nil || len(keys) != 1 {
			t.Fatalf("counter keys = %v, %v; want one", keys, err)
		}
		ttl, err = raw.PTTL(t.Context(), keys[0]).Result()
		if err != nil || ttl <= 0 || ttl > win {
			t.Errorf("counter TTL = %s, %v; want within (0, %s]", ttl, err, win)
		}
		break
	}
	if len(keys) != 1 {
		t.Fatal("no counter key with time left in its window")
	}
	poll.Every(t, 50*time.Millisecond, 5*time.Second, "the counter key to expire", func() bool {
		n, err := raw.Exists(t.Context(), keys[0]).Result()
		return err == nil && n == 0
	})
}

func TestWakeHistoryIsCapped(t *testing.T) {
	srv := redistest.Start(t)
	raw := rawClient(t, srv)
	s := newStore(t, srv.URL(), redisstore.WithWakeHistory(150))
	for i := range 160 {
		if err := s.AddWake(t.Context(), controller.WakeRecord{ID: fmt.Sprint(i), Host: "a.example.com"}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := raw.LLen(t.Context(), "waitingroom:wakes:a.example.com").Result(); err != nil || n != 150 {
		t.Errorf("stored history = %d, %v; want 150", n, err)
	}
}

func BenchmarkList10k(b *testing.B) {
	srv := redistest.Start(b)
	s := newStore(b, srv.URL())
	const hosts = 10_000
	// Seed with pipelined script calls through a few goroutines.
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < hosts; i += 8 {
				rec := sampleRecord(fmt.Sprintf("host%05d.example.com", i))
				if _, _, err := s.CompareAndSwap(context.Background(), 0, rec); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ResetTimer()
	for b.Loop() {
		recs, err := s.List(context.Background())
		if err != nil || len(recs) != hosts {
			b.Fatalf("List = %d, %v", len(recs), err)
		}
	}
}

func BenchmarkCompareAndSwap(b *testing.B) {
	srv := redistest.Start(b)
	s := newStore(b, srv.URL())
	ctx := context.Background()
	rec := sampleRecord("app.example.com")
	var version uint64
	for b.Loop() {
		stored, ok, err := s.CompareAndSwap(ctx, version, rec)
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
		version = stored.Version
	}
}
