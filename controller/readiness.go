package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Readiness is one rule, applied wherever a host can become running (a
// wake, a takeover of an orphaned wake, a reconcile, an adoption, an engine
// event) and wherever a running host is checked again (Recheck): the backend
// is ready when
//
//   - its provider's Status says StateRunning (for Docker that includes a
//     healthy health check when the container has one), and
//   - its ready_url, when set, answers 2xx or 3xx within ProbeTimeout.
//
// When the provider cannot answer (an error, or StateUnknown from an exec
// host without a status command) a ready_url without address placeholders
// decides alone, as it is the stronger signal. See docs/READINESS.md.

// check is one look at a host's backend.
type check struct {
	status Status // what the provider reported (StateUnknown when it could not)
	ready  bool
	why    string // why it is not ready, in words an operator can act on
	// final: the provider says the backend failed, or ready_url cannot be
	// probed at all: waiting longer will not make it ready.
	final bool
	err   error // the provider could not be asked
	// byURL: the provider could not say (StateUnknown), so ready_url
	// decided alone.
	byURL bool
}

// checkBackend asks the provider for the backend's Status and judges it.
func (c *Controller) checkBackend(ctx context.Context, h Host, p Provider) check {
	st, err := c.providerStatus(ctx, h, p)
	return c.judge(ctx, h, st, err)
}

// providerStatus asks the provider, bounded, and remembers the answer
// (LastStatus).
func (c *Controller) providerStatus(ctx context.Context, h Host, p Provider) (Status, error) {
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	st, err := p.Status(sctx, h.Target)
	cancel()
	if err == nil {
		c.rememberStatus(h.Name, st)
	}
	return st, err
}

// statusEvery is how often a readiness wait asks the provider again once
// it says running while ready_url does not answer yet: the probe is the
// fast signal, the Status (a remote API call for GCE, a command for exec)
// only has to catch a backend that stops meanwhile. Engine events ask at
// once.
const statusEvery = time.Second

// judge applies the readiness rule to a Status the provider reported (or
// failed to report: stErr).
func (c *Controller) judge(ctx context.Context, h Host, st Status, stErr error) check {
	if stErr != nil {
		st = Status{State: StateUnknown, Reason: stErr.Error()}
	}
	ck := check{status: st, err: stErr}
	switch st.State {
	case StateRunning:
		if h.ReadyURL == "" {
			ck.ready = true
			return ck
		}
		u, err := ExpandReadyURL(h.ReadyURL, st)
		if err != nil {
			ck.why = err.Error()
			return ck
		}
		ck.ready, ck.why, ck.final = c.probeURL(ctx, u)
	case StateFailed:
		ck.why, ck.final = st.Reason, true
		if ck.why == "" {
			ck.why = "the provider reports the backend failed"
		}
	case StateUnknown:
		if h.ReadyURL != "" && !needsAddress(h.ReadyURL) {
			ck.byURL = true
			ck.ready, ck.why, ck.final = c.probeURL(ctx, h.ReadyURL)
			return ck
		}
		ck.why = "backend state unknown"
		if st.Reason != "" {
			ck.why += ": " + st.Reason
		}
	default: // starting, stopped, stopping
		ck.why = st.Reason
		if ck.why == "" {
			ck.why = "backend is " + string(st.State)
		}
	}
	return ck
}

// up reports whether the provider sees the backend's process up (booting
// or running), whether or not it answers yet.
func (ck check) up() bool {
	return ck.status.State == StateRunning || ck.status.State == StateStarting
}

// unanswering reports whether a backend recorded running may still be up
// but does not answer: the provider sees it up, or cannot say while
// ready_url, deciding alone, does not answer (an exec host without a status
// command after a restart of waitingroom, or on another replica).
func (ck check) unanswering() bool {
	return !ck.ready && (ck.up() || ck.byURL)
}

// down reports whether the provider sees the backend stopped.
func (ck check) down() bool {
	return ck.status.State == StateStopped || ck.status.State == StateStopping
}

// probeURL GETs u once, bounded by ProbeTimeout. 2xx and 3xx are ready (a
// redirect to a login page means the application answers). final is true
// when u cannot be probed at all.
func (c *Controller) probeURL(ctx context.Context, u string) (ready bool, why string, final bool) {
	pctx, cancel := context.WithTimeout(ctx, c.probeTO)
	defer cancel()
	req, err := http.NewRequestWithContext(pctx, http.MethodGet, u, nil)
	if err != nil {
		return false, fmt.Sprintf("ready_url %q: %v", u, err), true
	}
	req.Header.Set("User-Agent", "waitingroom-probe")
	resp, err := c.probe.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return false, fmt.Sprintf("ready_url %s did not answer within %s", u, c.probeTO), false
		}
		return false, fmt.Sprintf("ready_url %s: %v", u, err), false
	}
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		return true, "", false
	}
	return false, fmt.Sprintf("ready_url %s answered %s", u, resp.Status), false
}

// waitReady checks the backend until it is ready. The interval starts small
// and backs off gently, so readiness is noticed within a fraction of a
// second of the backend answering without hammering a booting machine; a
// nudge (an engine event about the host) checks at once, interrupting a
// probe in flight (one to a container that just died can hang until
// ProbeTimeout).
//
// It runs after Start has returned, or for a backend found booting: a
// backend then seen stopped after it ran — the provider says it exited, or
// it was seen up earlier in this wait — fails the wake at once rather than
// at start_timeout.
func (c *Controller) waitReady(ctx context.Context, h Host, p Provider, nudge chan struct{}) error {
	ctx, stop := context.WithCancel(ctx)
	in := newInterrupter(ctx, nudge)
	defer in.release(stop)
	interval := 50 * time.Millisecond
	const maxInterval = 200 * time.Millisecond
	var (
		last   string
		seenUp bool
		st     Status
		stErr  error
		asked  time.Time // when the provider was last asked; zero: never
	)
	for {
		nudged := in.take()
		if asked.IsZero() || nudged || stErr != nil || st.State != StateRunning || time.Since(asked) >= statusEvery {
			st, stErr = c.providerStatus(ctx, h, p)
			asked = time.Now()
		}
		pctx, done := in.probing(ctx)
		ck := c.judge(pctx, h, st, stErr)
		interrupted := done()
		switch {
		case ck.ready:
			return nil
		case ck.final:
			return errors.New(ck.why)
		case ck.down() && (ck.status.Exited || seenUp):
			why := ck.status.Reason
			if why == "" {
				why = "the backend stopped"
			}
			return fmt.Errorf("%s during its wake", why)
		case interrupted:
			continue // something changed: look again at once
		}
		seenUp = seenUp || ck.up()
		if ck.why != "" && ctx.Err() == nil {
			last = ck.why
		}
		timer := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			timer.Stop()
			if last != "" {
				return fmt.Errorf("not ready within start_timeout %s: %s", h.StartTimeout, last)
			}
			return fmt.Errorf("not ready within start_timeout %s", h.StartTimeout)
		case <-in.wake:
			timer.Stop()
		case <-timer.C:
		}
		interval = min(interval*5/4, maxInterval)
	}
}

// interrupter turns nudges into an immediate new look at the backend: it
// cancels the probe in flight and wakes the wait between probes.
type interrupter struct {
	wake  chan struct{}
	nudge chan struct{}
	done  chan struct{} // closed when the follower goroutine has returned

	mu      sync.Mutex
	pending bool               // a nudge arrived since the last take
	cancel  context.CancelFunc // of the probe in flight, if any
}

// newInterrupter follows nudge until ctx ends (a nil nudge never fires).
func newInterrupter(ctx context.Context, nudge chan struct{}) *interrupter {
	in := &interrupter{wake: make(chan struct{}, 1), nudge: nudge, done: make(chan struct{})}
	if nudge == nil {
		close(in.done)
	} else {
		go func() {
			defer close(in.done)
			for {
				select {
				case <-ctx.Done():
					return
				case <-nudge:
					in.mu.Lock()
					in.pending = true
					if in.cancel != nil {
						in.cancel()
					}
					in.mu.Unlock()
					select {
					case in.wake <- struct{}{}:
					default:
					}
				}
			}
		}()
	}
	return in
}

// release ends the interrupter once the wait is over (stop cancels its
// context) and hands a nudge that arrived after the wait's last look back
// to the job's channel: the event is news the wait never acted on, and the
// job looks again when it ends (launch) instead of losing it.
func (in *interrupter) release(stop context.CancelFunc) {
	stop()
	<-in.done
	if in.take() {
		select {
		case in.nudge <- struct{}{}:
		default: // one pending nudge is enough
		}
	}
}

// take reports whether a nudge arrived since the last take.
func (in *interrupter) take() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	n := in.pending
	in.pending = false
	return n
}

// probing returns a context for one probe that a nudge cancels, and a
// function to call after the probe: it reports whether a nudge cut it short.
func (in *interrupter) probing(ctx context.Context) (context.Context, func() bool) {
	pctx, cancel := context.WithCancel(ctx)
	in.mu.Lock()
	in.cancel = cancel
	in.mu.Unlock()
	return pctx, func() bool {
		in.mu.Lock()
		in.cancel = nil
		in.mu.Unlock()
		cut := pctx.Err() != nil && ctx.Err() == nil
		cancel()
		return cut
	}
}
