package traefik

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/internal/testutil/poll"
)

// traefikMetrics is a fake Traefik /metrics endpoint whose answer the test
// changes between scrapes.
type traefikMetrics struct {
	mu     sync.Mutex
	status int
	body   string
	delay  time.Duration
	hits   int
}

func (m *traefikMetrics) set(status int, body string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.status, m.body = status, body
}

func (m *traefikMetrics) setDelay(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.delay = d
}

func (m *traefikMetrics) scrapes() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hits
}

func (m *traefikMetrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	status, body, delay := m.status, m.body, m.delay
	m.hits++
	m.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

// exposition renders request counters the way Traefik does: several series
// per service (code, method, protocol), plus unrelated metrics.
func exposition(counts map[string][2]float64) string {
	var b strings.Builder
	b.WriteString("# HELP traefik_open_connections How many open connections exist.\n")
	b.WriteString("# TYPE traefik_open_connections gauge\n")
	b.WriteString(`traefik_open_connections{entrypoint="web",protocol="HTTP"} 3` + "\n")
	b.WriteString("# HELP traefik_service_requests_total How many HTTP requests processed on a service, partitioned by status code, protocol, and method.\n")
	b.WriteString("# TYPE traefik_service_requests_total counter\n")
	services := make([]string, 0, len(counts))
	for s := range counts {
		services = append(services, s)
	}
	slices.Sort(services)
	for _, s := range services {
		c := counts[s]
		fmt.Fprintf(&b, "traefik_service_requests_total{code=\"200\",method=\"GET\",protocol=\"http\",service=%q} %g\n", s, c[0])
		fmt.Fprintf(&b, "traefik_service_requests_total{code=\"502\",method=\"POST\",protocol=\"http\",service=%q} %g\n", s, c[1])
	}
	b.WriteString("# HELP traefik_service_server_up service server is up, described by gauge value of 0 or 1.\n")
	b.WriteString("# TYPE traefik_service_server_up gauge\n")
	b.WriteString(`traefik_service_server_up{service="app-example-com-backend@http",url="http://app:80"} 1` + "\n")
	return b.String()
}

var metricsHosts = []string{"app.example.com", "vm.example.com", "legacy.example.com"}

func newTestMetricsSource(t *testing.T, url string, rec *recorder, logs *logBuffer, interval time.Duration) *MetricsSource {
	t.Helper()
	s, err := NewMetricsSource(MetricsOptions{
		URL: url, Interval: interval, Timeout: 300 * time.Millisecond,
		HostOf: BackendHostOf(metricsHosts), Toucher: rec, Logger: logs.logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMetricsTouchesHostsWhoseCountersMoved(t *testing.T) {
	m := &traefikMetrics{}
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	rec, logs := &recorder{}, &logBuffer{}
	s := newTestMetricsSource(t, srv.URL, rec, logs, time.Hour)
	ctx := t.Context()

	steps := []struct {
		name   string
		counts map[string][2]float64
		want   []string
	}{
		{"first scrape sets baselines only", map[string][2]float64{
			"app-example-com-backend@http": {10, 1},
			"vm-example-com-backend@http":  {5, 0},
			"waitingroom@http":             {100, 0},
		}, nil},
		{"nothing moved", map[string][2]float64{
			"app-example-com-backend@http": {10, 1},
			"vm-example-com-backend@http":  {5, 0},
			"waitingroom@http":             {100, 0},
		}, nil},
		{"one backend moved, waiting-room traffic ignored", map[string][2]float64{
			"app-example-com-backend@http": {10, 1},
			"vm-example-com-backend@http":  {6, 0},
			"waitingroom@http":             {250, 0},
		}, []string{"vm.example.com"}},
		{"errors count as traffic too; the file provider's name maps as well", map[string][2]float64{
			"app-example-com-backend@http":    {10, 2},
			"vm-example-com-backend@http":     {6, 0},
			"legacy-example-com-backend@file": {1, 0},
			"waitingroom@http":                {250, 0},
		}, []string{"app.example.com", "legacy.example.com"}},
		{"Traefik restarted: lower counts above zero are activity", map[string][2]float64{
			"app-example-com-backend@http": {3, 0},
			"vm-example-com-backend@http":  {0, 0},
			"waitingroom@http":             {0, 0},
		}, []string{"app.example.com"}},
		{"after the reset, deltas count from the new values", map[string][2]float64{
			"app-example-com-backend@http": {3, 0},
			"vm-example-com-backend@http":  {2, 0},
		}, []string{"vm.example.com"}},
		{"unknown services are not hosts", map[string][2]float64{
			"app-example-com-backend@http": {3, 0},
			"vm-example-com-backend@http":  {2, 0},
			"dashboard@internal":           {99, 0},
			"other-backend@docker":         {7, 0},
		}, nil},
	}
	for _, st := range steps {
		m.set(http.StatusOK, exposition(st.counts))
		rec.reset()
		if err := s.scrape(ctx); err != nil {
			t.Fatalf("%s: scrape: %v", st.name, err)
		}
		got := rec.hosts()
		if !slices.Equal(got, st.want) {
			t.Errorf("%s: touched %v, want %v", st.name, got, st.want)
		}
		for _, tc := range rec.all() {
			if tc.source != SourceMetrics {
				t.Errorf("%s: source %q, want %q", st.name, tc.source, SourceMetrics)
			}
		}
	}
}

func TestMetricsScrapeFailuresAreLoggedAndRetried(t *testing.T) {
	base := map[string][2]float64{"app-example-com-backend@http": {10, 0}}
	moved := map[string][2]float64{"app-example-com-backend@http": {11, 0}}
	failures := []struct {
		name  string
		setup func(m *traefikMetrics)
		log   string
	}{
		{"500", func(m *traefikMetrics) { m.set(http.StatusInternalServerError, "boom") }, "status 500"},
		{"garbage", func(m *traefikMetrics) { m.set(http.StatusOK, "<html>not metrics</html>\n{{{") }, "parsing metrics"},
		{"timeout", func(m *traefikMetrics) { m.set(http.StatusOK, exposition(moved)); m.setDelay(2 * time.Second) }, "deadline exceeded"},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			m := &traefikMetrics{}
			srv := httptest.NewServer(m)
			t.Cleanup(srv.Close)
			rec, logs := &recorder{}, &logBuffer{}
			s := newTestMetricsSource(t, srv.URL, rec, logs, 50*time.Millisecond)
			m.set(http.StatusOK, exposition(base))

			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			t.Cleanup(func() {
				cancel()
				select {
				case err := <-done:
					if err != nil {
						t.Errorf("Run returned %v after cancel, want nil", err)
					}
				case <-time.After(5 * time.Second):
					t.Error("Run did not return after cancel")
				}
			})

			poll.Until(t, 5*time.Second, "the baseline scrape", func() bool { return m.scrapes() >= 1 })
			f.setup(m)
			poll.Until(t, 5*time.Second, "a logged scrape failure", func() bool {
				return strings.Contains(logs.String(), "scraping traefik metrics failed") && strings.Contains(logs.String(), f.log)
			})
			if len(rec.all()) != 0 {
				t.Fatalf("touched %v during failures", rec.all())
			}
			// Traefik answers again; the last good baseline still holds,
			// so the requests served meanwhile are seen.
			m.setDelay(0)
			m.set(http.StatusOK, exposition(moved))
			poll.Until(t, 5*time.Second, "a touch after recovery", func() bool { return len(rec.all()) > 0 })
			if got := rec.hosts(); got[0] != "app.example.com" {
				t.Errorf("touched %v, want app.example.com", got)
			}
		})
	}
}

func TestMetricsSourceChecksOptions(t *testing.T) {
	hostOf := BackendHostOf(nil)
	cases := []struct {
		name string
		opts MetricsOptions
		want string
	}{
		{"no url", MetricsOptions{HostOf: hostOf, Toucher: &recorder{}}, "metrics url"},
		{"relative url", MetricsOptions{URL: "traefik:8082/metrics", HostOf: hostOf, Toucher: &recorder{}}, "metrics url"},
		{"no mapping", MetricsOptions{URL: "http://traefik:8082/metrics", Toucher: &recorder{}}, "HostOf"},
		{"no toucher", MetricsOptions{URL: "http://traefik:8082/metrics", HostOf: hostOf}, "Toucher"},
	}
	for _, c := range cases {
		if _, err := NewMetricsSource(c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one containing %q", c.name, err, c.want)
		}
	}
}
