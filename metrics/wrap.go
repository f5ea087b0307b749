package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

// counted tells which errors are worth counting: a caller that gave up
// (its context was cancelled) is not a failure of the dependency.
func counted(err error) bool {
	return err != nil && !errors.Is(err, context.Canceled)
}

// WrapProvider counts p's errors as provider_errors_total{provider=name}.
// The optional interfaces controller.Checker and controller.Watcher stay
// visible through the wrapper, io.Closer always is (closing p if it holds
// a client); Unwrap returns p for any other.
func WrapProvider(name string, p controller.Provider, m *Metrics) controller.Provider {
	if m == nil || p == nil {
		return p
	}
	base := &provider{p: p, name: name, m: m}
	c, isChecker := p.(controller.Checker)
	w, isWatcher := p.(controller.Watcher)
	switch {
	case isChecker && isWatcher:
		return &struct {
			*provider
			controller.Checker
			controller.Watcher
		}{base, c, w}
	case isChecker:
		return &struct {
			*provider
			controller.Checker
		}{base, c}
	case isWatcher:
		return &struct {
			*provider
			controller.Watcher
		}{base, w}
	}
	return base
}

type provider struct {
	p    controller.Provider
	name string
	m    *Metrics
}

var _ controller.Provider = (*provider)(nil)

func (p *provider) count(err error) error {
	if counted(err) {
		p.m.ProviderError(p.name)
	}
	return err
}

func (p *provider) Start(ctx context.Context, t controller.Target) error {
	return p.count(p.p.Start(ctx, t))
}

func (p *provider) Stop(ctx context.Context, t controller.Target) error {
	return p.count(p.p.Stop(ctx, t))
}

func (p *provider) Status(ctx context.Context, t controller.Target) (controller.Status, error) {
	st, err := p.p.Status(ctx, t)
	return st, p.count(err)
}

// Unwrap returns the wrapped provider.
func (p *provider) Unwrap() controller.Provider { return p.p }

// Close closes the wrapped provider when it holds a client (io.Closer), so
// whoever holds the wrapper can release it.
func (p *provider) Close() error {
	if c, ok := p.p.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// WrapStore counts st's errors as store_errors_total and every recorded
// activity as activity_touches_total{source}.
func WrapStore(st controller.Store, m *Metrics) controller.Store {
	if m == nil || st == nil {
		return st
	}
	return &store{st: st, m: m}
}

type store struct {
	st controller.Store
	m  *Metrics
}

var _ controller.Store = (*store)(nil)

func (s *store) count(err error) error {
	if counted(err) {
		s.m.StoreError()
	}
	return err
}

// Unwrap returns the wrapped store.
func (s *store) Unwrap() controller.Store { return s.st }

func (s *store) Get(ctx context.Context, host string) (controller.Record, error) {
	r, err := s.st.Get(ctx, host)
	return r, s.count(err)
}

func (s *store) List(ctx context.Context) ([]controller.Record, error) {
	r, err := s.st.List(ctx)
	return r, s.count(err)
}

func (s *store) CompareAndSwap(ctx context.Context, v uint64, next controller.Record) (controller.Record, bool, error) {
	r, ok, err := s.st.CompareAndSwap(ctx, v, next)
	return r, ok, s.count(err)
}

func (s *store) Touch(ctx context.Context, host string, a controller.Activity) error {
	err := s.st.Touch(ctx, host, a)
	if err == nil {
		s.m.Touch(a.Source)
	}
	return s.count(err)
}

func (s *store) Delete(ctx context.Context, host string) error {
	return s.count(s.st.Delete(ctx, host))
}

func (s *store) AddWake(ctx context.Context, w controller.WakeRecord) error {
	return s.count(s.st.AddWake(ctx, w))
}

func (s *store) Wakes(ctx context.Context, host string, limit int) ([]controller.WakeRecord, error) {
	r, err := s.st.Wakes(ctx, host, limit)
	return r, s.count(err)
}

func (s *store) AddTransition(ctx context.Context, t controller.Transition) error {
	return s.count(s.st.AddTransition(ctx, t))
}

func (s *store) Transitions(ctx context.Context, host string, since time.Time) ([]controller.Transition, error) {
	ts, err := s.st.Transitions(ctx, host, since)
	return ts, s.count(err)
}

func (s *store) Incr(ctx context.Context, key string, window time.Duration) (int64, time.Time, error) {
	n, resets, err := s.st.Incr(ctx, key, window)
	return n, resets, s.count(err)
}

func (s *store) Count(ctx context.Context, key string, window time.Duration) (int64, error) {
	n, err := s.st.Count(ctx, key, window)
	return n, s.count(err)
}

func (s *store) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	ok, err := s.st.AcquireLease(ctx, name, owner, ttl)
	return ok, s.count(err)
}

func (s *store) ReleaseLease(ctx context.Context, name, owner string) error {
	return s.count(s.st.ReleaseLease(ctx, name, owner))
}

func (s *store) Publish(ctx context.Context, e controller.Event) error {
	return s.count(s.st.Publish(ctx, e))
}

func (s *store) Subscribe(ctx context.Context) (<-chan controller.Event, error) {
	ch, err := s.st.Subscribe(ctx)
	return ch, s.count(err)
}

func (s *store) Ping(ctx context.Context) error { return s.count(s.st.Ping(ctx)) }

func (s *store) Close() error { return s.st.Close() }

// WrapGate counts wakes refused by a budget (a *controller.BudgetError) as
// budget_rejections_total{budget}.
func WrapGate(g controller.WakeGate, m *Metrics) controller.WakeGate {
	if m == nil || g == nil {
		return g
	}
	return &gate{g: g, m: m}
}

type gate struct {
	g controller.WakeGate
	m *Metrics
}

var _ controller.WakeGate = (*gate)(nil)

func (g *gate) AllowWake(ctx context.Context, h controller.Host, c controller.Client) error {
	err := g.g.AllowWake(ctx, h, c)
	var be *controller.BudgetError
	if errors.As(err, &be) {
		g.m.BudgetRejected(be.Budget)
	}
	return err
}

// Unwrap returns the wrapped gate.
func (g *gate) Unwrap() controller.WakeGate { return g.g }

// InstrumentPublic counts every answer of the public listener's handler as
// page_responses_total{code}. Event streams keep working: the recorder
// unwraps to the real ResponseWriter for http.ResponseController.
func InstrumentPublic(next http.Handler, m *Metrics) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		code := rec.code
		if code == 0 {
			code = http.StatusOK // nothing written: net/http answers 200
		}
		m.PageResponse(code)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 && code >= 200 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Flush keeps streaming handlers that assert http.Flusher working.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
