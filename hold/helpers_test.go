package hold_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/waitingroom/waitingroom/config"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/hold"
	"github.com/waitingroom/waitingroom/internal/testutil/poll"
	"github.com/waitingroom/waitingroom/store/memory"
)

const testHost = "api.example.com"

// fakeProvider "starts" the test backend: Start flips the backend's
// readiness flag after a delay (or when release is closed), so the
// controller's readiness probe sees it answer.
type fakeProvider struct {
	up      *atomic.Bool
	delay   time.Duration
	release chan struct{} // when set, Start waits for it to close
	never   bool          // Start succeeds but the backend never answers
	fail    error         // Start fails with it
	status  controller.Status

	mu          sync.Mutex
	starts      map[string]int
	state       controller.State
	statusCalls int
}

func (p *fakeProvider) Start(ctx context.Context, t controller.Target) error {
	p.mu.Lock()
	p.starts[t.Host]++
	p.mu.Unlock()
	if p.fail != nil {
		return p.fail
	}
	if p.never {
		p.mu.Lock()
		p.state = controller.StateStarting
		p.mu.Unlock()
		return nil
	}
	if p.release != nil {
		select {
		case <-p.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if p.delay > 0 {
		timer := time.NewTimer(p.delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.mu.Lock()
	p.state = controller.StateRunning
	p.mu.Unlock()
	p.up.Store(true)
	return nil
}

func (p *fakeProvider) Stop(context.Context, controller.Target) error {
	p.mu.Lock()
	p.state = controller.StateStopped
	p.mu.Unlock()
	p.up.Store(false)
	return nil
}

func (p *fakeProvider) Status(context.Context, controller.Target) (controller.Status, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.statusCalls++
	st := p.status
	st.State = p.state
	return st, nil
}

// StatusCalls counts the provider's Status calls (reconcile, recheck).
func (p *fakeProvider) StatusCalls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.statusCalls
}

func (p *fakeProvider) Starts(host string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts[host]
}

var _ controller.Provider = (*fakeProvider)(nil)

// envOptions shape one test environment.
type envOptions struct {
	hold         hold.Options
	hosts        []string      // default: testHost
	delay        time.Duration // how long a start takes
	release      chan struct{}
	never        bool
	failStart    error
	holdTimeout  time.Duration // default 30s
	startTimeout time.Duration // default 5m
	gate         controller.WakeGate
	// backend handles requests once the backend is up; default echo.
	backend http.Handler
	// readyURL overrides the hosts' ready_url ("" keeps the default: the
	// backend's /healthz); noReadyURL leaves it empty.
	readyURL   string
	noReadyURL bool
	status     controller.Status
	// front, when set, adjusts the front server before it starts.
	front     func(*http.Server)
	running   bool // wake the hosts and wait for running before returning
	quietLogs bool
}

// env is a real controller (memory store) with a fake provider, a real
// backend server, and a front server handing every request to the Holder.
type env struct {
	tb       testing.TB
	up       atomic.Bool
	prov     *fakeProvider
	store    *memory.Store
	ctl      *controller.Controller
	holder   *hold.Holder
	reg      *prometheus.Registry
	backend  *httptest.Server
	front    *httptest.Server
	client   *http.Client
	backendN atomic.Int64 // requests the backend answered while up
}

func newEnv(tb testing.TB, o envOptions) *env {
	tb.Helper()
	e := &env{tb: tb, reg: prometheus.NewRegistry()}
	if len(o.hosts) == 0 {
		o.hosts = []string{testHost}
	}
	if o.holdTimeout == 0 {
		o.holdTimeout = 30 * time.Second
	}
	if o.startTimeout == 0 {
		o.startTimeout = 5 * time.Minute
	}
	if o.backend == nil {
		o.backend = echoHandler()
	}
	level := slog.LevelWarn
	if o.quietLogs {
		level = slog.LevelError + 4
	}
	log := slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: level}))

	backend := o.backend
	e.backend = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !e.up.Load() {
			http.Error(w, "booting", http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path == "/healthz" {
			return
		}
		e.backendN.Add(1)
		backend.ServeHTTP(w, r)
	}))
	tb.Cleanup(e.backend.Close)

	e.prov = &fakeProvider{
		up: &e.up, delay: o.delay, release: o.release, never: o.never, fail: o.failStart,
		status: o.status, starts: map[string]int{}, state: controller.StateStopped,
	}
	readyURL := e.backend.URL + "/healthz"
	if o.readyURL != "" {
		readyURL = o.readyURL
	}
	if o.noReadyURL {
		readyURL = ""
	}
	var hosts []controller.Host
	for _, name := range o.hosts {
		hosts = append(hosts, controller.Host{
			Name: name, Provider: "fake", Target: controller.Target{Host: name, Provider: "fake"},
			ReadyURL: readyURL, IdleTimeout: time.Hour, StartTimeout: o.startTimeout, Wait: "hold",
			Extra: map[string]any{config.ExtraHoldTimeout: o.holdTimeout},
		})
	}
	e.store = memory.New(nil)
	e.ctl = controller.New(controller.Options{
		Store:    e.store,
		Registry: controller.NewRegistry(hosts, map[string]controller.Provider{"fake": e.prov}),
		Logger:   log,
		Gate:     o.gate,
	})
	runCtx, stopRun := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() { defer close(runDone); _ = e.ctl.Run(runCtx) }()
	tb.Cleanup(func() {
		// Tests leave wakes that never finish: cancel them at once.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		e.ctl.Shutdown(ctx)
		stopRun()
		<-runDone
		_ = e.store.Close()
	})
	select {
	case <-e.ctl.Relaying():
	case <-time.After(5 * time.Second):
		tb.Fatal("controller did not start relaying events within 5s")
	}

	ho := o.hold
	ho.Controller = e.ctl
	ho.Registerer = e.reg
	if ho.Logger == nil {
		ho.Logger = log
	}
	h, err := hold.New(ho)
	if err != nil {
		tb.Fatalf("hold.New: %v", err)
	}
	e.holder = h

	e.front = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, ok := e.ctl.Registry().Lookup(r.Host)
		if !ok {
			// What the public handler does for unregistered names; Serve
			// also copes (ErrUnknownHost → 404), see TestUnknownHost.
			host = controller.Host{Name: r.Host}
		}
		e.holder.Serve(w, r, host, controller.Client{Display: "127.0.0.x", Class: "api"})
	}))
	if o.front != nil {
		o.front(e.front.Config)
	}
	e.front.Start()
	tb.Cleanup(e.front.Close)
	tb.Cleanup(e.holder.Close) // before front.Close: held requests end at once

	tr := &http.Transport{MaxIdleConnsPerHost: 1000, Proxy: nil}
	e.client = &http.Client{Transport: tr}
	tb.Cleanup(tr.CloseIdleConnections)

	if o.running {
		for _, name := range o.hosts {
			if _, err := e.ctl.Wake(context.Background(), name, controller.Client{Source: "test"}); err != nil {
				tb.Fatalf("wake %s: %v", name, err)
			}
			e.waitState(name, controller.StateRunning, 10*time.Second)
		}
	}
	return e
}

// request builds a request for host through the front server.
func (e *env) request(ctx context.Context, method, host, path string, body io.Reader) *http.Request {
	e.tb.Helper()
	req, err := http.NewRequestWithContext(ctx, method, e.front.URL+path, body)
	if err != nil {
		e.tb.Fatalf("new request: %v", err)
	}
	req.Host = host
	return req
}

// do sends req and returns the status, headers and body.
func (e *env) do(req *http.Request) (int, http.Header, []byte, error) {
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

func (e *env) waitState(host string, want controller.State, within time.Duration) {
	e.tb.Helper()
	poll.Until(e.tb, within, "host "+host+" "+string(want), func() bool {
		_, rec, err := e.ctl.Status(context.Background(), host)
		return err == nil && rec.State == want
	})
}

// metricValue sums the samples of a metric family whose labels include
// the given ones (counter, gauge, or a histogram's sample count).
func (e *env) metricValue(name string, labels map[string]string) float64 {
	e.tb.Helper()
	fams, err := e.reg.Gather()
	if err != nil {
		e.tb.Fatalf("gather: %v", err)
	}
	var sum float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for k, v := range labels {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return sum
}

// echoHandler answers with the request's own body, and its method and a
// few headers as X-Echo-* headers.
func echoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h := w.Header()
		h.Set("X-Echo-Method", r.Method)
		h.Set("X-Echo-Path", r.URL.RequestURI())
		h.Set("X-Echo-Host", r.Host)
		h.Set("X-Echo-Content-Type", r.Header.Get("Content-Type"))
		h.Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(b)
	})
}

// refusalBody is the Holder's JSON answer.
type refusalBody struct {
	Host       string `json:"host"`
	State      string `json:"state"`
	RetryAfter int    `json:"retry_after"`
	Message    string `json:"message"`
	Reason     string `json:"reason"`
}

func decodeRefusal(tb testing.TB, b []byte) refusalBody {
	tb.Helper()
	var r refusalBody
	if err := json.Unmarshal(b, &r); err != nil {
		tb.Fatalf("answer is not the JSON refusal: %v: %q", err, b)
	}
	return r
}

// testWriter sends logs to the test's output.
type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

var errBoom = errors.New("boom: no such container")

// deadURL is the address of a port nothing listens on: connections to it
// are refused, like those to a backend that was killed.
func deadURL(tb testing.TB) *url.URL {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return &url.URL{Scheme: "http", Host: l.Addr().String()}
}
