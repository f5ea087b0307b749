package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/fake"
	"github.com/waitingroom/waitingroom/internal/testutil/poll"
	"github.com/waitingroom/waitingroom/store/memory"
)

// flakyStore is the memory store with an off switch, standing in for a
// Redis that went away.
type flakyStore struct {
	*memory.Store
	down atomic.Bool
}

func (s *flakyStore) unavailable() error {
	return fmt.Errorf("dial tcp 127.0.0.1:6379: connect: connection refused: %w", controller.ErrStoreUnavailable)
}

func (s *flakyStore) Get(ctx context.Context, host string) (controller.Record, error) {
	if s.down.Load() {
		return controller.Record{}, s.unavailable()
	}
	return s.Store.Get(ctx, host)
}

func (s *flakyStore) CompareAndSwap(ctx context.Context, v uint64, next controller.Record) (controller.Record, bool, error) {
	if s.down.Load() {
		return controller.Record{}, false, s.unavailable()
	}
	return s.Store.CompareAndSwap(ctx, v, next)
}

func (s *flakyStore) Wakes(ctx context.Context, host string, limit int) ([]controller.WakeRecord, error) {
	if s.down.Load() {
		return nil, s.unavailable()
	}
	return s.Store.Wakes(ctx, host, limit)
}

func (s *flakyStore) Ping(ctx context.Context) error {
	if s.down.Load() {
		return s.unavailable()
	}
	return s.Store.Ping(ctx)
}

// realSetup is the real controller on the memory store with one host,
// app.example.com, behind a provider whose backend starts when asked and
// becomes ready when the test says so.
type realSetup struct {
	ctl   *controller.Controller
	store *flakyStore
	prov  *fake.Provider
}

func newRealSetup(tb testing.TB) *realSetup {
	tb.Helper()
	prov := &fake.Provider{}
	prov.SetStartState(controller.StateStarting)
	st := &flakyStore{Store: memory.New(nil)}
	reg := controller.NewRegistry([]controller.Host{{
		Name: "app.example.com", Provider: "test",
		Target:       controller.Target{Host: "app.example.com", Provider: "test"},
		StartTimeout: time.Hour, IdleTimeout: time.Hour,
	}}, map[string]controller.Provider{"test": prov})
	ctl := controller.New(controller.Options{Store: st, Registry: reg, Logger: discardLogger()})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); _ = ctl.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		<-ran
		// A wake still waiting for readiness is cut short, not waited for.
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer scancel()
		ctl.Shutdown(sctx)
	})
	return &realSetup{ctl: ctl, store: st, prov: prov}
}

func get(t *testing.T, url, host, accept string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("User-Agent", browserUA)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

func TestWithControllerConcurrentVisitorsWakeOnceThenRunning(t *testing.T) {
	rs := newRealSetup(t)
	p := newTestPublic(t, rs.ctl, nil)
	ts := startServer(t, p)

	// Watching before anyone asks: asleep, and watching wakes nothing.
	s := openEvents(t, t.Context(), ts.URL, "app.example.com")
	if ev := s.nextState(); ev.State != controller.StateUnknown && ev.State != controller.StateStopped {
		t.Fatalf("first event %+v, want a sleeping host", ev)
	}

	const visitors = 50
	var wg sync.WaitGroup
	statuses := make(chan int, visitors)
	for range visitors {
		wg.Go(func() {
			res, body := get(t, ts.URL+"/index.html", "app.example.com", "")
			if !strings.Contains(body, "waking up") {
				t.Errorf("page without 'waking up':\n%s", body)
			}
			statuses <- res.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	for code := range statuses {
		if code != http.StatusServiceUnavailable {
			t.Errorf("a visitor got %d, want 503", code)
		}
	}
	if n := rs.prov.Starts(); n != 1 {
		t.Fatalf("%d provider starts for %d concurrent visitors, want 1", n, visitors)
	}
	if ev := s.nextState(); ev.State != controller.StateStarting {
		t.Fatalf("event %+v, want starting", ev)
	}

	rs.prov.SetState(controller.StateRunning)
	if ev := s.nextState(); ev.State != controller.StateRunning || ev.From != controller.StateStarting {
		t.Fatalf("event %+v, want starting → running", ev)
	}
	res, body := get(t, ts.URL+"/.waitingroom/status", "app.example.com", "")
	var st stateJSON
	if err := json.Unmarshal([]byte(body), &st); err != nil || res.StatusCode != 200 || st.State != controller.StateRunning {
		t.Fatalf("status %d %s (%v), want running", res.StatusCode, body, err)
	}
	// The next wake is measured: the page has an estimate now.
	est, ok := rs.ctl.Estimate(t.Context(), "app.example.com")
	if !ok || est <= 0 {
		t.Errorf("no estimate after a wake: %s %v", est, ok)
	}
}

func TestWithControllerStoreUnavailable(t *testing.T) {
	rs := newRealSetup(t)
	p := newTestPublic(t, rs.ctl, nil)
	ts := startServer(t, p)
	rs.store.down.Store(true)

	res, body := get(t, ts.URL+"/", "app.example.com", "")
	if res.StatusCode != 503 || !strings.Contains(body, "temporary problem") || strings.Contains(body, "dial tcp") {
		t.Fatalf("store down: %d\n%s", res.StatusCode, body)
	}
	if res.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After while the store is down")
	}
	res, body = get(t, ts.URL+"/", "app.example.com", "application/json")
	if res.StatusCode != 503 || !strings.Contains(body, `"problem"`) {
		t.Fatalf("store down, JSON: %d %s", res.StatusCode, body)
	}
	if n := rs.prov.Starts(); n != 0 {
		t.Fatalf("%d starts while the store was down", n)
	}

	rs.store.down.Store(false)
	res, body = get(t, ts.URL+"/", "app.example.com", "")
	if res.StatusCode != 503 || !strings.Contains(body, "waking up") {
		t.Fatalf("store back: %d\n%s", res.StatusCode, body)
	}
	poll.Until(t, 5*time.Second, "the provider start", func() bool { return rs.prov.Starts() == 1 })
}

// BenchmarkWaitingPage renders the waiting page for a host that is waking
// (the page every visitor of a sleeping host gets) with the real
// controller on the memory store, wake history included.
func BenchmarkWaitingPage(b *testing.B) {
	rs := newRealSetup(b)
	ctx := context.Background()
	now := time.Now()
	for i := range 10 {
		d := time.Duration(20+i) * time.Second
		if err := rs.store.AddWake(ctx, controller.WakeRecord{
			ID: fmt.Sprint(i), Host: "app.example.com", Requested: now.Add(-time.Hour), Finished: now.Add(-time.Hour + d),
			Duration: d, Result: controller.WakeRunning,
		}); err != nil {
			b.Fatal(err)
		}
	}
	p := newTestPublic(b, rs.ctl, nil)
	for _, bc := range []struct {
		name, path, accept, lang string
		brand                    bool
	}{
		{"html", "/", "text/html,application/xhtml+xml,*/*;q=0.8", "", false},
		{"html-ja", "/", "text/html,application/xhtml+xml,*/*;q=0.8", "ja-JP,ja;q=0.9,en-US;q=0.8,en;q=0.7", false},
		{"json", "/", "application/json", "", false},
		{"status", "/.waitingroom/status", "", "", false},
		// Last: from here on the host has its own looks (hosts[].page).
		{"html-branded", "/", "text/html,application/xhtml+xml,*/*;q=0.8", "", true},
	} {
		if bc.brand {
			br, err := LoadBrand(BrandOptions{Name: "Example Shop", LogoURL: "/logo.svg", Accent: "#0a7d4f", Background: "#eef6f1"})
			if err != nil {
				b.Fatal(err)
			}
			p.SetBrands(map[string]*Brand{"app.example.com": br})
		}
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "http://app.example.com"+bc.path, nil)
			req.Header.Set("User-Agent", browserUA)
			req.Header.Set("Accept", bc.accept)
			if bc.lang != "" {
				req.Header.Set("Accept-Language", bc.lang)
			}
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				p.ServeHTTP(w, req)
				if w.Code != http.StatusServiceUnavailable && w.Code != http.StatusOK {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
	if n := rs.prov.Starts(); n != 1 {
		b.Fatalf("%d starts, want 1", n)
	}
}
