package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/waitingroom/waitingroom/internal/sleep"
)

// Reconcile asks every host's provider for the real state of its backend and
// brings the store in line: at boot (state unknown), after a crash (a host
// stuck in starting whose owner is gone), and when a backend was started or
// stopped outside waitingroom. It never interrupts work this process is
// doing, and it never calls Start on a backend nobody asked to wake.
func (c *Controller) Reconcile(ctx context.Context) error {
	hosts := c.registry.Hosts()
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, 8) // providers are remote APIs: bound the fan-out
	)
	for _, h := range hosts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := c.reconcileHost(ctx, h); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (c *Controller) reconcileHost(ctx context.Context, h Host) error {
	if c.working(h.Name) {
		return nil
	}
	rec, err := c.store.Get(ctx, h.Name)
	if err != nil {
		return fmt.Errorf("reconcile %s: %w", h.Name, err)
	}
	rec.Host = h.Name
	switch rec.State {
	case StateStarting:
		return c.resumeWake(ctx, h, rec)
	case StateStopping:
		return c.resumeStop(ctx, h, rec)
	}
	p, ok := c.registry.Provider(h.Provider)
	if !ok {
		return fmt.Errorf("reconcile %s: provider %q is not configured", h.Name, h.Provider)
	}
	ck := c.checkBackend(ctx, h, p)
	if ck.err != nil && !ck.ready {
		return fmt.Errorf("reconcile %s: status: %w", h.Name, ck.err)
	}
	c.apply(ctx, h, ck)
	return nil
}

// resumeWake takes over a wake whose owner is gone (crashed, restarted,
// or another replica whose lease expired): the start is idempotent, so the
// new owner simply runs it again and waits for readiness.
func (c *Controller) resumeWake(ctx context.Context, h Host, rec Record) error {
	lease := "wake:" + h.Name
	ok, err := c.store.AcquireLease(ctx, lease, c.replica, c.leaseTTL)
	if err != nil {
		return fmt.Errorf("reconcile %s: %w", h.Name, err)
	}
	if !ok {
		return nil // its owner is alive and renewing
	}
	// The lease is ours now; runWake will take it again (renewal by the
	// same owner) and release it when done.
	next := rec
	next.Owner = c.replica
	stored, swapped, err := c.store.CompareAndSwap(ctx, rec.Version, next)
	if err != nil || !swapped {
		_ = c.store.ReleaseLease(ctx, lease, c.replica)
		return err
	}
	c.log.Info("taking over an unfinished wake", "host", h.Name, "previous_owner", rec.Owner)
	c.goWake(h, stored, Client{Source: "reconcile"}, wakeResume)
	return nil
}

// resumeStop finishes a stop whose owner is gone: a replica that crashed
// between recording stopping and the provider's answer would otherwise
// leave the host stopping for good (and a wake arriving meanwhile pending
// for good). Stop is idempotent, so running it again is safe; the
// compare-and-set lets one replica take it over, and Changed restarts the
// grace so the others leave the new owner alone.
func (c *Controller) resumeStop(ctx context.Context, h Host, rec Record) error {
	if c.clock.Now().Sub(rec.Changed) < stopBudget(h)+30*time.Second {
		return nil // its owner may still be waiting for the provider
	}
	next := rec
	next.Owner = c.replica
	next.Changed = c.clock.Now()
	stored, swapped, err := c.store.CompareAndSwap(ctx, rec.Version, next)
	if err != nil {
		return fmt.Errorf("reconcile %s: %w", h.Name, err)
	}
	if !swapped {
		return nil
	}
	c.log.Info("taking over an unfinished stop", "host", h.Name, "previous_owner", rec.Owner)
	c.goStop(h, stored)
	return nil
}

// Observe applies a state a provider reported for a host outside any wake
// or stop of this process: pushed by a provider's event stream (a container
// stopped, killed or started by hand). A Status of running is judged by the
// readiness rule first (ready_url). When this process is waking or stopping
// the host, the event goes to that job instead: a wake checks the backend at
// once, so a container that dies during its wake fails it within moments; a
// job that ends with an event it did not act on checks the host then.
func (c *Controller) Observe(ctx context.Context, host string, st Status) {
	h, ok := c.registry.Lookup(host)
	if !ok || c.nudge(host) {
		return
	}
	c.rememberStatus(host, st)
	c.apply(ctx, h, c.judge(ctx, h, st, nil))
}

// ObserveEvent is Observe for engine event streams: it returns at once, so
// one host's readiness probe (up to a second, more when a backend that does
// not answer is looked at twice) never holds up the events of other hosts on
// the same stream. A host's events are applied one at a time, in order; while
// one is applied only the newest waiting status is kept, since an older one
// is stale by then.
func (c *Controller) ObserveEvent(host string, st Status) {
	c.eventsMu.Lock()
	if pending, busy := c.events[host]; busy {
		*pending = &st
		c.eventsMu.Unlock()
		return
	}
	if c.life.Err() != nil {
		c.eventsMu.Unlock()
		return
	}
	pending := new(*Status)
	c.events[host] = pending
	c.wg.Add(1)
	c.eventsMu.Unlock()
	go func() {
		defer c.wg.Done()
		for next := &st; next != nil; {
			c.Observe(c.life, host, *next)
			c.eventsMu.Lock()
			next, *pending = *pending, nil
			if next == nil || c.life.Err() != nil {
				next = nil
				delete(c.events, host)
			}
			c.eventsMu.Unlock()
		}
	}()
}

// stopSettle is how long after a stop of waitingroom's own a backend seen
// up is taken for one still winding down rather than started again.
const stopSettle = 30 * time.Second

// The reasons observed writes for a stopped backend that waitingroom did
// not stop itself.
const (
	reasonFoundStopped   = "found stopped"
	reasonStoppedOutside = "stopped outside waitingroom"
)

// stoppedByUs reports whether a stopped record is the end of a stop this
// controller (any replica) made, rather than one it observed.
func stoppedByUs(rec Record) bool {
	return rec.Reason != reasonFoundStopped && !strings.HasPrefix(rec.Reason, reasonStoppedOutside)
}

// confirmDelay is how long apply waits before checking a running backend
// that did not answer once more: one slow answer must not take a healthy
// host out of running.
const confirmDelay = 250 * time.Millisecond

// apply brings the stored record in line with a check of the backend made
// outside any wake or stop of this process.
func (c *Controller) apply(ctx context.Context, h Host, ck check) {
	host := h.Name
	confirmed := false
	for attempt := 0; attempt < 4; attempt++ {
		if c.working(host) {
			return // a wake or stop of this process settles it
		}
		rec, err := c.store.Get(ctx, host)
		if err != nil {
			c.log.Warn("observe: reading state failed", "host", host, "err", err)
			return
		}
		rec.Host = host
		next, why, change := c.observed(rec, ck)
		if !change {
			return
		}
		if rec.State == StateRunning && next.State != StateRunning && ck.unanswering() && !confirmed {
			// Up but not answering: look once more before believing it.
			confirmed = true
			if sleep.For(ctx, confirmDelay) != nil {
				return
			}
			if p, ok := c.registry.Provider(h.Provider); ok {
				if ck = c.checkBackend(ctx, h, p); ck.err != nil && !ck.ready {
					return
				}
			}
			attempt--
			continue
		}
		next.Changed = c.clock.Now()
		next.Reason = why
		stored, swapped, err := c.store.CompareAndSwap(ctx, rec.Version, next)
		if err != nil {
			c.log.Warn("observe: recording state failed", "host", host, "err", err)
			return
		}
		if !swapped {
			continue
		}
		if stored.State == StateRunning && rec.State != StateRunning {
			// Adopted: its idle timer starts now.
			_ = c.store.Touch(ctx, host, Activity{At: stored.Changed, Source: "adopted"})
		}
		c.log.Info("observed", "host", host, "from", rec.State, "to", stored.State, "reason", why)
		c.published(ctx, rec.State, stored)
		if stored.State == StateStarting {
			c.goWake(h, stored, Client{Source: "external"}, wakeFollow)
		}
		return
	}
}

// observed decides what the stored record becomes given a check of the
// backend. Starting and stopping are transitions in progress: their owners
// settle them. A backend is recorded running only when it is ready.
func (c *Controller) observed(rec Record, ck check) (Record, string, bool) {
	next := rec
	next.Owner = ""
	switch rec.State {
	case StateStarting, StateStopping:
		return rec, "", false
	}
	if rec.State == StateStopped && (ck.ready || ck.up()) && stoppedByUs(rec) && c.clock.Now().Sub(rec.Changed) < stopSettle {
		// Just stopped: a backend still up (an exec stop returns once the
		// signal is sent; a server drains its connections) is winding
		// down, not booting. Read as "found starting" or "found running"
		// it would turn an idle stop into a failed wake or a host awake
		// again. One started by hand meanwhile is adopted once this passes.
		return rec, "", false
	}
	switch {
	case ck.ready:
		if rec.State == StateRunning {
			return rec, "", false
		}
		next.State = StateRunning
		next.Failures, next.RetryAt = 0, time.Time{}
		return next, "found running", true
	case rec.State == StateRunning && ck.unanswering():
		// It stopped answering: the next wake retries at once (Start is
		// idempotent) and waits for readiness again.
		next.State = StateFailed
		next.RetryAt = time.Time{}
		return next, "not ready: " + ck.why, true
	case ck.up():
		// Up but not ready: booting, or answering its readiness check
		// with an error.
		if rec.State == StateFailed {
			// Still broken: keep the failure count and the backoff of
			// the wake that failed.
			return rec, "", false
		}
		// Started outside waitingroom and not ready yet: follow it to
		// readiness like a wake, or to failed at start_timeout.
		next.State = StateStarting
		next.WakeID = newID()
		next.Owner = c.replica
		return next, "found starting", true
	case ck.down():
		// A failed wake usually leaves the backend stopped: keep failed so
		// its retry backoff still applies.
		if rec.State == StateStopped || rec.State == StateFailed {
			return rec, "", false
		}
		next.State = StateStopped
		if rec.State == StateUnknown {
			return next, reasonFoundStopped, true
		}
		why := reasonStoppedOutside
		if ck.status.Reason != "" {
			why += ": " + ck.status.Reason
		}
		return next, why, true
	case ck.status.State == StateFailed:
		if rec.State == StateFailed && rec.Reason == ck.why {
			return rec, "", false
		}
		next.State = StateFailed
		return next, ck.why, true
	}
	return rec, "", false
}

// Recheck asks, now, whether a host's backend still answers, outside the
// reconcile schedule. The public listener calls it when a request for a host
// recorded running finds its backend not answering (the handoff), so a
// backend killed or crashed behind waitingroom's back is noticed within
// moments of the first request that finds it gone.
//
// It asks the provider's Status and applies the readiness rule
// (docs/READINESS.md) like a reconcile of this one host: a running host
// whose backend is stopped becomes stopped; one that is up but does not
// answer (checked twice, confirmDelay apart) becomes failed with the
// reason; a host found ready becomes running. A host this process is waking
// or stopping is left to that job.
//
// It is cheap to call on every failed request: concurrent calls for a host
// are collapsed into one, and a host is checked at most once per
// Options.RecheckInterval (default 1s); calls in between return nil at once
// without asking anything. When ctx ends first Recheck returns its error,
// but the check goes on (it is shared by every caller), bounded by its own
// timeout and by Shutdown. Typical cost: one Status call (a Docker inspect,
// an exec status command, a GCE API read) and one ready_url GET; a backend
// up but not answering takes a second GET 250 ms later.
func (c *Controller) Recheck(ctx context.Context, host string) error {
	h, ok := c.registry.Lookup(host)
	if !ok {
		return fmt.Errorf("recheck %s: %w", host, ErrUnknownHost)
	}
	done := c.sf.DoChan("recheck:"+host, func() (any, error) {
		// A wake or stop of this process settles the host itself; checking
		// now would only use up the host's slot.
		if c.working(host) || !c.recheckDue(host) {
			return nil, nil
		}
		// Shared by every caller: bounded by its own timeout and by the
		// controller's life, not by the first caller's request.
		rctx, cancel := context.WithTimeout(c.life, recheckTimeout)
		defer cancel()
		return nil, c.reconcileHost(rctx, h)
	})
	select {
	case r := <-done:
		return r.Err
	case <-ctx.Done():
		return fmt.Errorf("recheck %s: %w", host, ctx.Err())
	}
}

// recheckTimeout bounds one Recheck (a provider call, two probes).
const recheckTimeout = 30 * time.Second

// recheckDue reports whether host may be checked now, and if so records
// that it is.
func (c *Controller) recheckDue(host string) bool {
	now := c.clock.Now()
	c.recheckMu.Lock()
	defer c.recheckMu.Unlock()
	if last, ok := c.rechecked[host]; ok && now.Sub(last) < c.recheckEvery && !now.Before(last) {
		return false
	}
	if len(c.rechecked) > 2*c.registry.Len()+16 {
		// Hosts removed by reloads: forget what no longer matters.
		for name, last := range c.rechecked {
			if now.Sub(last) >= c.recheckEvery {
				delete(c.rechecked, name)
			}
		}
	}
	c.rechecked[host] = now
	return true
}
