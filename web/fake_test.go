package web

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

// fakeController is a PublicController whose answers the test sets. It
// counts calls, so tests prove what did not happen (no wake for an unknown
// host).
type fakeController struct {
	reg *controller.Registry

	mu          sync.Mutex
	records     map[string]controller.Record
	wakeRecord  *controller.Record // what Wake moves a host to; nil: starting
	wakeErr     error
	statusErr   error
	estimate    time.Duration
	hasEstimate bool
	now         time.Time
	clients     []controller.Client
	subs        map[chan controller.Event]string

	wakes    atomic.Int64
	statuses atomic.Int64
}

var _ PublicController = (*fakeController)(nil)

func newFakeController(hosts ...string) *fakeController {
	hs := make([]controller.Host, 0, len(hosts))
	for _, h := range hosts {
		hs = append(hs, controller.Host{Name: h, Provider: "fake"})
	}
	return newFakeControllerOf(hs...)
}

// newFakeControllerOf registers hosts as they are (a wake mode, ...).
func newFakeControllerOf(hs ...controller.Host) *fakeController {
	return &fakeController{
		reg:     controller.NewRegistry(hs, nil),
		records: map[string]controller.Record{},
		now:     time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC),
		subs:    map[chan controller.Event]string{},
	}
}

func (f *fakeController) Registry() *controller.Registry { return f.reg }

func (f *fakeController) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeController) set(rec controller.Record) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.records[rec.Host] = rec
}

func (f *fakeController) record(host string) controller.Record {
	rec, ok := f.records[host]
	if !ok {
		rec = controller.Record{Host: host, State: controller.StateStopped}
	}
	return rec
}

func (f *fakeController) Wake(_ context.Context, host string, c controller.Client) (controller.Record, error) {
	f.wakes.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clients = append(f.clients, c)
	if _, ok := f.reg.Lookup(host); !ok {
		return controller.Record{}, fmt.Errorf("%q: %w", host, controller.ErrUnknownHost)
	}
	if f.wakeErr != nil {
		return f.record(host), f.wakeErr
	}
	rec := f.record(host)
	if f.wakeRecord != nil {
		rec = *f.wakeRecord
		rec.Host = host
	} else if rec.State == controller.StateStopped || rec.State == controller.StateUnknown {
		rec.State, rec.Changed = controller.StateStarting, f.now
	}
	f.records[host] = rec
	return rec, nil
}

func (f *fakeController) Status(_ context.Context, host string) (controller.Host, controller.Record, error) {
	f.statuses.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	h, ok := f.reg.Lookup(host)
	if !ok {
		return controller.Host{}, controller.Record{}, fmt.Errorf("%q: %w", host, controller.ErrUnknownHost)
	}
	if f.statusErr != nil {
		return h, controller.Record{Host: host, State: controller.StateUnknown}, f.statusErr
	}
	return h, f.record(host), nil
}

func (f *fakeController) Estimate(context.Context, string) (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.estimate, f.hasEstimate
}

func (f *fakeController) Subscribe(ctx context.Context, host string) <-chan controller.Event {
	ch := make(chan controller.Event, 16)
	f.mu.Lock()
	f.subs[ch] = host
	f.mu.Unlock()
	context.AfterFunc(ctx, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.subs, ch)
		close(ch)
	})
	return ch
}

// subscribers counts open subscriptions.
func (f *fakeController) subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// publish moves a host to a new state and tells subscribers.
func (f *fakeController) publish(host string, to controller.State, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rec := f.record(host)
	e := controller.Event{Host: host, From: rec.State, To: to, Reason: reason, At: f.now}
	rec.State, rec.Reason, rec.Changed = to, reason, f.now
	f.records[host] = rec
	for ch, h := range f.subs {
		if h == "" || h == host {
			select {
			case ch <- e:
			default:
			}
		}
	}
}
