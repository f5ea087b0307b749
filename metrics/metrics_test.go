package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/fake"
	"github.com/waitingroom/waitingroom/store/memory"
)

type checkingProvider struct {
	fake.Provider
	checks int
}

func (p *checkingProvider) Check(context.Context) error { p.checks++; return nil }

type budgetGate struct{}

func (budgetGate) AllowWake(context.Context, controller.Host, controller.Client) error {
	return &controller.BudgetError{Budget: "host per day", RetryAfter: time.Hour}
}

type setup struct {
	reg  *prometheus.Registry
	m    *Metrics
	ctl  *controller.Controller
	prov map[string]*fake.Provider
	srv  *httptest.Server
}

func newSetup(t *testing.T, gate controller.WakeGate) *setup {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	// "bad" fails every start and stop: its engine is down.
	down := errors.New("engine down")
	bad := &fake.Provider{}
	bad.SetStartErr(down)
	bad.SetStopErr(down)
	s := &setup{reg: reg, m: m, prov: map[string]*fake.Provider{"good": {}, "bad": bad}}
	providers := map[string]controller.Provider{}
	for name, p := range s.prov {
		providers[name] = WrapProvider(name, p, m)
	}
	hosts := []controller.Host{
		{Name: "a.example.com", Provider: "good", StartTimeout: 5 * time.Second, IdleTimeout: time.Hour},
		{Name: "b.example.com", Provider: "bad", StartTimeout: 5 * time.Second, IdleTimeout: time.Hour},
	}
	s.ctl = controller.New(controller.Options{
		Store:    WrapStore(memory.New(nil), m),
		Registry: controller.NewRegistry(hosts, providers),
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Gate:     WrapGate(gate, m),
		OnWake:   m.OnWake,
		OnEvent:  m.OnEvent,
		// A failed wake may be retried at once.
		RetryBase: time.Millisecond, RetryMax: time.Millisecond,
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.ctl.Shutdown(ctx)
	})
	m.TrackStates(s.ctl)
	s.srv = httptest.NewServer(Handler(reg))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *setup) scrape(t *testing.T) string {
	t.Helper()
	res, err := http.Get(s.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("scrape: %d %v", res.StatusCode, err)
	}
	return string(b)
}

func waitState(t *testing.T, ctl *controller.Controller, host string, want controller.State) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		_, rec, _ := ctl.Status(context.Background(), host)
		if rec.State == want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	_, rec, err := ctl.Status(context.Background(), host)
	t.Fatalf("%s: state %s (%v) after 10 s, want %s", host, rec.State, err, want)
}

func TestScrapeAfterWakeShowsCountersAndHistogram(t *testing.T) {
	s := newSetup(t, nil)
	before := s.scrape(t)
	for _, line := range []string{
		`waitingroom_host_state{host="a.example.com",state="unknown"} 1`,
		`waitingroom_host_state{host="b.example.com",state="unknown"} 1`,
	} {
		if !strings.Contains(before, line) {
			t.Errorf("before any wake, missing %q in\n%s", line, before)
		}
	}
	if strings.Contains(before, "waitingroom_wakes_total{") {
		t.Errorf("wakes counted before any wake:\n%s", before)
	}

	ctx := context.Background()
	if _, err := s.ctl.Wake(ctx, "a.example.com", controller.Client{Source: "api"}); err != nil {
		t.Fatal(err)
	}
	waitState(t, s.ctl, "a.example.com", controller.StateRunning)
	if _, err := s.ctl.Wake(ctx, "b.example.com", controller.Client{Source: "api"}); err != nil {
		t.Fatal(err)
	}
	waitState(t, s.ctl, "b.example.com", controller.StateFailed)
	if err := s.ctl.Touch(ctx, "a.example.com", "page"); err != nil {
		t.Fatal(err)
	}

	want := []string{
		`waitingroom_wakes_total{host="a.example.com",result="running"} 1`,
		`waitingroom_wakes_total{host="b.example.com",result="failed"} 1`,
		`waitingroom_wake_duration_seconds_count{host="a.example.com"} 1`,
		`waitingroom_wake_duration_seconds_bucket{host="a.example.com",le="+Inf"} 1`,
		`waitingroom_host_state{host="a.example.com",state="running"} 1`,
		`waitingroom_host_state{host="a.example.com",state="stopped"} 0`,
		`waitingroom_host_state{host="b.example.com",state="failed"} 1`,
		`waitingroom_provider_errors_total{provider="bad"} 1`,
		`waitingroom_activity_touches_total{source="page"} 1`,
		`waitingroom_activity_touches_total{source="wake"} 1`,
	}
	// The wake's counters move just after its state changes: poll.
	var after string
	var missing []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		after, missing = s.scrape(t), nil
		for _, line := range want {
			if !strings.Contains(after, line) {
				missing = append(missing, line)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(missing) > 0 {
		t.Errorf("after the wakes, missing %q in\n%s", missing, after)
	}
	for _, line := range strings.Split(after, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.HasPrefix(line, "waitingroom_") {
			t.Errorf("metric not named waitingroom_*: %s", line)
		}
	}
	problems, err := testutil.GatherAndLint(s.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestBudgetRejectionsCounted(t *testing.T) {
	s := newSetup(t, budgetGate{})
	_, err := s.ctl.Wake(context.Background(), "a.example.com", controller.Client{Source: "page"})
	if !errors.Is(err, controller.ErrBudgetExceeded) {
		t.Fatalf("wake: %v, want the budget error", err)
	}
	if got := testutil.ToFloat64(s.m.budgetRejected.WithLabelValues("host per day")); got != 1 {
		t.Errorf("budget_rejections_total = %v, want 1", got)
	}
}

// failingStore is a store that cannot be reached.
type failingStore struct{ controller.Store }

func (failingStore) List(context.Context) ([]controller.Record, error) {
	return nil, fmt.Errorf("dial tcp: refused: %w", controller.ErrStoreUnavailable)
}

func (failingStore) Get(context.Context, string) (controller.Record, error) {
	return controller.Record{}, fmt.Errorf("dial tcp: refused: %w", controller.ErrStoreUnavailable)
}

type source struct {
	reg *controller.Registry
	st  controller.Store
}

func (s source) Registry() *controller.Registry { return s.reg }
func (s source) Store() controller.Store        { return s.st }

func TestStoreErrorsCountedAndStatesFallBackToEvents(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	st := WrapStore(failingStore{memory.New(nil)}, m)
	hosts := controller.NewRegistry([]controller.Host{{Name: "a.example.com"}, {Name: "b.example.com"}}, nil)
	m.TrackStates(source{hosts, st})
	m.OnEvent(controller.Event{Host: "a.example.com", From: controller.StateStopped, To: controller.StateStarting})
	if _, err := st.Get(context.Background(), "a.example.com"); err == nil {
		t.Fatal("failing store answered")
	}
	want := `
# HELP waitingroom_host_state Current state of each registered host: 1 for the state it is in, 0 for the others.
# TYPE waitingroom_host_state gauge
waitingroom_host_state{host="a.example.com",state="failed"} 0
waitingroom_host_state{host="a.example.com",state="running"} 0
waitingroom_host_state{host="a.example.com",state="starting"} 1
waitingroom_host_state{host="a.example.com",state="stopped"} 0
waitingroom_host_state{host="a.example.com",state="stopping"} 0
waitingroom_host_state{host="a.example.com",state="unknown"} 0
waitingroom_host_state{host="b.example.com",state="failed"} 0
waitingroom_host_state{host="b.example.com",state="running"} 0
waitingroom_host_state{host="b.example.com",state="starting"} 0
waitingroom_host_state{host="b.example.com",state="stopped"} 0
waitingroom_host_state{host="b.example.com",state="stopping"} 0
waitingroom_host_state{host="b.example.com",state="unknown"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "waitingroom_host_state"); err != nil {
		t.Error(err)
	}
	// One Get above, one List per scrape (GatherAndCompare scraped once).
	if got := testutil.ToFloat64(m.storeErrors); got != 2 {
		t.Errorf("store_errors_total = %v, want 2", got)
	}
}

func TestWrapProviderKeepsOptionalInterfaces(t *testing.T) {
	m, err := New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	p := &checkingProvider{}
	w := WrapProvider("docker", p, m)
	c, ok := w.(controller.Checker)
	if !ok {
		t.Fatal("the wrapper hides controller.Checker")
	}
	_ = c.Check(context.Background())
	if p.checks != 1 {
		t.Error("Check did not reach the provider")
	}
	if _, ok := w.(controller.Watcher); ok {
		t.Error("the wrapper claims controller.Watcher, which the provider lacks")
	}
	if u, ok := w.(interface{ Unwrap() controller.Provider }); !ok || u.Unwrap() != p {
		t.Error("Unwrap does not return the provider")
	}
	if WrapProvider("x", p, nil) != controller.Provider(p) {
		t.Error("without metrics the provider should be returned as it is")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.SetStartErr(context.Canceled)
	_ = w.Start(ctx, controller.Target{})
	if got := testutil.ToFloat64(m.providerErrors.WithLabelValues("docker")); got != 0 {
		t.Errorf("a cancelled call counted as a provider error (%v)", got)
	}
}

func TestInstrumentPublicCountsCodesAndKeepsStreaming(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	h := InstrumentPublic(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			http.Error(w, "no", http.StatusNotFound)
		case "/stream":
			_, _ = w.Write([]byte("data: x\n\n"))
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("flush through the recorder: %v", err)
			}
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}), m)
	for _, path := range []string{"/", "/", "/missing", "/stream"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}
	for code, want := range map[string]float64{"503": 2, "404": 1, "200": 1} {
		if got := testutil.ToFloat64(m.pageResponses.WithLabelValues(code)); got != want {
			t.Errorf("page_responses_total{code=%s} = %v, want %v", code, got, want)
		}
	}
}

func TestNilMetricsHooksAreSafe(t *testing.T) {
	var m *Metrics
	m.OnWake(controller.WakeRecord{Host: "a"})
	m.OnEvent(controller.Event{Host: "a"})
	m.PageResponse(503)
	m.BudgetRejected("x")
	m.ProviderError("x")
	m.StoreError()
	m.Touch("page")
	m.TrackStates(nil)
	if _, err := New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
}

type closingProvider struct {
	checkingProvider
	closed int
}

func (c *closingProvider) Close() error { c.closed++; return nil }

// The wrapper is an io.Closer whatever it wraps: closing it closes a
// provider that holds a client, and is harmless for one that does not.
func TestWrapProviderCloses(t *testing.T) {
	m, err := New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	closing := &closingProvider{}
	tests := []struct {
		name   string
		p      controller.Provider
		closed func() int
	}{
		{"provider with a client", closing, func() int { return closing.closed }},
		{"provider without one", &checkingProvider{}, func() int { return 1 }},
	}
	for _, tt := range tests {
		c, ok := WrapProvider("p", tt.p, m).(io.Closer)
		if !ok {
			t.Fatalf("%s: the wrapper is not an io.Closer", tt.name)
		}
		if err := c.Close(); err != nil || tt.closed() != 1 {
			t.Errorf("%s: Close = %v, provider closed %d times, want once", tt.name, err, tt.closed())
		}
	}
}
