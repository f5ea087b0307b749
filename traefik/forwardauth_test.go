package traefik

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/internal/testutil/fake"
	"github.com/waitingroom/waitingroom/internal/testutil/poll"
)

var knownHosts = map[string]bool{"app.example.com": true, "vm.example.com": true, "sentinel.example.com": true}

func known(h string) bool { return knownHosts[h] }

// startForwardAuth builds the endpoint and runs its writer until the test ends.
func startForwardAuth(t *testing.T, rec *recorder, opts ForwardAuthOptions) *ForwardAuth {
	t.Helper()
	f := newForwardAuthNoRun(rec, opts)
	runForwardAuth(t, f)
	return f
}

func newForwardAuthNoRun(rec *recorder, opts ForwardAuthOptions) *ForwardAuth {
	if opts.Known == nil {
		opts.Known = known
	}
	if opts.Logger == nil {
		opts.Logger = (&logBuffer{}).logger()
	}
	return NewForwardAuth(rec, opts)
}

func runForwardAuth(t *testing.T, f *ForwardAuth) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
}

func touchRequest(forwardedHost string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://waitingroom:8080"+TouchPath, nil)
	if forwardedHost != "" {
		r.Header.Set("X-Forwarded-Host", forwardedHost)
	}
	return r
}

func serve(t *testing.T, f http.Handler, forwardedHost string) {
	t.Helper()
	w := httptest.NewRecorder()
	f.ServeHTTP(w, touchRequest(forwardedHost))
	if w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Fatalf("%s: got %d with %d body bytes, want 200 and an empty body", forwardedHost, w.Code, w.Body.Len())
	}
}

// flush waits until every touch queued before it has been written: the
// single writer works in order, so once the sentinel's touch is recorded,
// everything queued earlier is too.
func flush(t *testing.T, f http.Handler, rec *recorder, clock *fake.Clock) {
	t.Helper()
	n := len(rec.all())
	serve(t, f, "sentinel.example.com")
	poll.Until(t, 5*time.Second, "the sentinel touch", func() bool {
		return slices.Contains(rec.hosts()[n:], "sentinel.example.com")
	})
	if clock != nil {
		// Let the sentinel be touched again next time.
		clock.Advance(time.Hour)
	}
}

func withoutSentinel(hosts []string) []string {
	return slices.DeleteFunc(hosts, func(h string) bool { return h == "sentinel.example.com" })
}

func TestForwardAuthCoalescesTouchesPerWindow(t *testing.T) {
	clock := fake.NewClock(time.Unix(1_700_000_000, 0))
	rec := &recorder{}
	f := startForwardAuth(t, rec, ForwardAuthOptions{Window: 5 * time.Second, Clock: clock})

	for range 500 {
		serve(t, f, "app.example.com")
	}
	flush(t, f, rec, nil)
	if got := withoutSentinel(rec.hosts()); !slices.Equal(got, []string{"app.example.com"}) {
		t.Fatalf("after 500 requests in one window: touched %v, want app.example.com once", got)
	}
	if src := rec.all()[0].source; src != SourceForwardAuth {
		t.Errorf("source %q, want %q", src, SourceForwardAuth)
	}

	n := len(rec.all())
	clock.Advance(4 * time.Second)
	serve(t, f, "app.example.com")
	clock.Advance(time.Second) // now exactly one window after the touch
	serve(t, f, "app.example.com")
	serve(t, f, "app.example.com")
	flush(t, f, rec, clock)
	if got := withoutSentinel(rec.hosts()[n:]); !slices.Equal(got, []string{"app.example.com"}) {
		t.Fatalf("over the next window: touched %v, want app.example.com once", got)
	}
}

func TestForwardAuthCoalescesConcurrentRequests(t *testing.T) {
	rec := &recorder{}
	f := startForwardAuth(t, rec, ForwardAuthOptions{Window: time.Hour})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				w := httptest.NewRecorder()
				f.ServeHTTP(w, touchRequest("App.Example.com:443"))
			}
		})
	}
	wg.Wait()
	flush(t, f, rec, nil)
	if got := withoutSentinel(rec.hosts()); !slices.Equal(got, []string{"app.example.com"}) {
		t.Fatalf("1600 concurrent requests: touched %v, want app.example.com once", got)
	}
}

func TestForwardAuthIgnoresUnknownHosts(t *testing.T) {
	clock := fake.NewClock(time.Unix(1_700_000_000, 0))
	rec := &recorder{}
	f := startForwardAuth(t, rec, ForwardAuthOptions{Clock: clock})
	for _, h := range []string{"evil.example.com", "", "[::1]:80", "10.0.0.1", "app.example.com.evil.com"} {
		serve(t, f, h)
	}
	flush(t, f, rec, clock)
	if got := withoutSentinel(rec.hosts()); len(got) != 0 {
		t.Errorf("touched %v for unknown hosts", got)
	}
	if n := len(*f.entries.Load()); n != 1 { // the sentinel only
		t.Errorf("%d coalescing entries, want 1: unknown hosts must cost no state", n)
	}
}

func TestForwardAuthNormalisesForwardedHost(t *testing.T) {
	cases := map[string]string{
		"app.example.com":                   "app.example.com",
		"APP.Example.COM":                   "app.example.com",
		"app.example.com:8443":              "app.example.com",
		"app.example.com.":                  "app.example.com",
		" app.example.com , proxy.internal": "app.example.com",
		"[2001:db8::1]:443":                 "",
		"":                                  "",
	}
	for in, want := range cases {
		if got := normalizeHost(in); got != want {
			t.Errorf("normalizeHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestForwardAuthNeverWaitsForTheStore(t *testing.T) {
	rec := &recorder{block: make(chan struct{})}
	f := startForwardAuth(t, rec, ForwardAuthOptions{Queue: 2, TouchTimeout: time.Minute})
	t.Cleanup(func() { close(rec.block) })

	// The writer is stuck in Touch, the queue fills, and requests still
	// answer at once.
	start := time.Now()
	for i := range 100 {
		w := httptest.NewRecorder()
		h := []string{"app.example.com", "vm.example.com", "sentinel.example.com"}[i%3]
		f.ServeHTTP(w, touchRequest(h))
		if w.Code != http.StatusOK {
			t.Fatalf("status %d", w.Code)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("100 requests took %s with a hung store", d)
	}
}

func TestForwardAuthRetriesATouchDroppedOnAFullQueue(t *testing.T) {
	rec := &recorder{}
	f := newForwardAuthNoRun(rec, ForwardAuthOptions{Queue: 1, Window: time.Hour})
	serve(t, f, "app.example.com") // queued
	serve(t, f, "vm.example.com")  // queue full: dropped, not coalesced away
	runForwardAuth(t, f)
	poll.Until(t, 5*time.Second, "the queued touch", func() bool { return len(rec.all()) == 1 })
	serve(t, f, "vm.example.com")
	flush(t, f, rec, nil)
	if got := withoutSentinel(rec.hosts()); !slices.Equal(got, []string{"app.example.com", "vm.example.com"}) {
		t.Errorf("touched %v, want app then vm", got)
	}
}

// discardWriter is the cheapest ResponseWriter, so the benchmark measures
// the handler, not httptest's recorder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkForwardAuth measures the request path of the touch endpoint:
// "coalesced" is the steady state under traffic (a touch within the window
// already queued), "unknown" a host not in the registry, "mixed-case" a
// Host that needs lower-casing, and "parallel" the coalesced path from
// every core at once.
func BenchmarkForwardAuth(b *testing.B) {
	rec := &recorder{}
	f := NewForwardAuth(rec, ForwardAuthOptions{Known: known, Window: time.Hour, Logger: (&logBuffer{}).logger()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = f.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })

	for _, c := range []struct{ name, host string }{
		{"coalesced", "app.example.com"},
		{"unknown", "nobody.example.com"},
		{"mixed-case", "App.Example.com:443"},
	} {
		b.Run(c.name, func(b *testing.B) {
			w := &discardWriter{h: http.Header{}}
			r := touchRequest(c.host)
			f.ServeHTTP(w, r) // the first touch of the window
			b.ReportAllocs()
			for b.Loop() {
				f.ServeHTTP(w, r)
			}
		})
	}
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			w := &discardWriter{h: http.Header{}}
			r := touchRequest("app.example.com")
			for pb.Next() {
				f.ServeHTTP(w, r)
			}
		})
	})
}

// BenchmarkForwardAuthHTTP is the whole ForwardAuth subrequest over
// loopback HTTP/1.1 keep-alive, as Traefik makes it: the handler's share is
// the BenchmarkForwardAuth figure, the rest is net/http.
func BenchmarkForwardAuthHTTP(b *testing.B) {
	rec := &recorder{}
	f := NewForwardAuth(rec, ForwardAuthOptions{Known: known, Window: time.Hour, Logger: (&logBuffer{}).logger()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = f.Run(ctx); close(done) }()
	srv := httptest.NewServer(f)
	b.Cleanup(func() { srv.Close(); cancel(); <-done })
	client := srv.Client()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+TouchPath, nil)
	req.Header.Set("X-Forwarded-Host", "app.example.com")
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
