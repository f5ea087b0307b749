// Package fake holds the test doubles shared by the packages' tests: a
// clock moved by hand and a provider whose backend is a flag. Both are safe
// for concurrent use, since the controller calls them from its own
// goroutines while the test drives them.
package fake

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

// Clock is a controller.Clock the test moves by hand.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

var _ controller.Clock = (*Clock)(nil)

// NewClock returns a clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set puts the clock at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// ErrStart is what Start returns for the failures FailStarts asks for.
var ErrStart = errors.New("fake provider: start failed")

// Provider is a controller.Provider whose backend is one flag shared by
// every target: Start sets it running, Stop sets it stopped, Status reads
// it (stopped until first set) with InternalIP 127.0.0.1. It counts calls
// and can be told to make Start slow, hang or fail, and Stop wait. The zero
// value is a backend that starts at once.
type Provider struct {
	mu         sync.Mutex
	state      controller.State
	startState controller.State
	reason     string
	exited     bool
	statusN    int
	startErr   error
	stopErr    error
	failN      int
	delay      time.Duration
	hang       bool
	onStart    func()
	stopGate   chan struct{}
	clock      controller.Clock
	startTimes []time.Time
	starts     map[string]int
	stops      map[string]int
}

var _ controller.Provider = (*Provider)(nil)

// Start counts the call, then, as configured, waits (SetDelay, SetHang)
// or fails (SetStartErr, FailStarts); otherwise it moves the backend to the
// start state (SetStartState, default running) and calls the OnStart hook.
// A running backend stays running.
func (p *Provider) Start(ctx context.Context, t controller.Target) error {
	p.mu.Lock()
	if p.starts == nil {
		p.starts = map[string]int{}
	}
	p.starts[t.Host]++
	p.startTimes = append(p.startTimes, p.now())
	hang, delay, err := p.hang, p.delay, p.startErr
	if p.failN > 0 {
		p.failN--
		err = ErrStart
	}
	p.mu.Unlock()
	if hang {
		<-ctx.Done()
		return ctx.Err()
	}
	if delay > 0 {
		timer := time.NewTimer(delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err != nil {
		return err
	}
	p.mu.Lock()
	if p.state != controller.StateRunning {
		p.state = p.startState
		if p.state == "" {
			p.state = controller.StateRunning
		}
	}
	onStart := p.onStart
	p.mu.Unlock()
	if onStart != nil {
		onStart()
	}
	return nil
}

// Stop counts the call, waits for the gate GateStops set up, then stops
// the backend and returns the SetStopErr error.
func (p *Provider) Stop(ctx context.Context, t controller.Target) error {
	p.mu.Lock()
	if p.stops == nil {
		p.stops = map[string]int{}
	}
	p.stops[t.Host]++
	gate := p.stopGate
	p.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state = controller.StateStopped
	return p.stopErr
}

// Status reports the flag (and counts the call).
func (p *Provider) Status(context.Context, controller.Target) (controller.Status, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.statusN++
	s := p.state
	if s == "" {
		s = controller.StateStopped
	}
	return controller.Status{State: s, Reason: p.reason, Exited: p.exited && s == controller.StateStopped, InternalIP: "127.0.0.1"}, nil
}

// StatusCalls returns how many times Status was called.
func (p *Provider) StatusCalls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.statusN
}

// SetExited makes a stopped backend report Exited (it ran and ended, like
// a container that exited), with the SetReason reason.
func (p *Provider) SetExited(exited bool) { set(p, &p.exited, exited) }

// SetState sets the backend's state, as if changed outside waitingroom.
func (p *Provider) SetState(s controller.State) { set(p, &p.state, s) }

// SetReason sets the reason Status reports.
func (p *Provider) SetReason(r string) { set(p, &p.reason, r) }

// SetStartState sets the state a successful Start leaves a backend that
// was not running in: StateStarting for one that becomes ready only when the
// test calls SetState(StateRunning).
func (p *Provider) SetStartState(s controller.State) { set(p, &p.startState, s) }

// SetStartErr makes every Start fail with err (nil: succeed again).
func (p *Provider) SetStartErr(err error) { set(p, &p.startErr, err) }

// SetStopErr makes every Stop return err after stopping the backend.
func (p *Provider) SetStopErr(err error) { set(p, &p.stopErr, err) }

// FailStarts makes the next n starts fail with ErrStart.
func (p *Provider) FailStarts(n int) { set(p, &p.failN, n) }

// SetDelay makes Start take d (or until its context ends).
func (p *Provider) SetDelay(d time.Duration) { set(p, &p.delay, d) }

// SetHang makes Start block until its context ends: a backend that never
// finishes booting.
func (p *Provider) SetHang(hang bool) { set(p, &p.hang, hang) }

// OnStart sets a hook called after each successful Start.
func (p *Provider) OnStart(f func()) { set(p, &p.onStart, f) }

// GateStops makes Stop block until release is called (or its context
// ends).
func (p *Provider) GateStops() (release func()) {
	gate := make(chan struct{})
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopGate = gate
	return sync.OnceFunc(func() { close(gate) })
}

// SetClock makes StartTimes read c instead of the wall clock.
func (p *Provider) SetClock(c controller.Clock) { set(p, &p.clock, c) }

// Starts returns how many times Start was called, for any target.
func (p *Provider) Starts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return sum(p.starts)
}

// Stops returns how many times Stop was called, for any target.
func (p *Provider) Stops() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return sum(p.stops)
}

// StartsOf returns how many times Start was called for host.
func (p *Provider) StartsOf(host string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts[host]
}

// StopsOf returns how many times Stop was called for host.
func (p *Provider) StopsOf(host string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stops[host]
}

// StartTimes returns when each Start was called, by the SetClock clock.
func (p *Provider) StartTimes() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.startTimes)
}

// now is the time a start is stamped with; p.mu is held.
func (p *Provider) now() time.Time {
	if p.clock == nil {
		return time.Now()
	}
	return p.clock.Now()
}

// set stores v in the field f of p under p.mu.
func set[T any](p *Provider, f *T, v T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	*f = v
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
