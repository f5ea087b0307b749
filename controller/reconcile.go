package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
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
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	st, err := p.Status(sctx, h.Target)
	cancel()
	if err != nil {
		return fmt.Errorf("reconcile %s: status: %w", h.Name, err)
	}
	c.rememberStatus(h.Name, st)
	c.Observe(ctx, h.Name, st)
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
	c.goWake(h, stored, Client{Source: "reconcile"}, true)
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
// or stop of this process: from Reconcile, or pushed by a provider's event
// stream (a container stopped by hand).
func (c *Controller) Observe(ctx context.Context, host string, st Status) {
	h, ok := c.registry.Lookup(host)
	if !ok || c.working(host) {
		return
	}
	for attempt := 0; attempt < 4; attempt++ {
		rec, err := c.store.Get(ctx, host)
		if err != nil {
			c.log.Warn("observe: reading state failed", "host", host, "err", err)
			return
		}
		rec.Host = host
		next, why, change := c.observed(rec, st)
		if !change {
			return
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
			c.goWake(h, stored, Client{Source: "external"}, true)
		}
		return
	}
}

// observed decides what the stored record becomes given what the provider
// sees. Starting and stopping are transitions in progress: their owners
// settle them.
func (c *Controller) observed(rec Record, st Status) (Record, string, bool) {
	next := rec
	next.Owner = ""
	switch rec.State {
	case StateStarting, StateStopping:
		return rec, "", false
	}
	switch st.State {
	case StateRunning:
		if rec.State == StateRunning {
			return rec, "", false
		}
		next.State = StateRunning
		next.Failures, next.RetryAt = 0, time.Time{}
		return next, "found running", true
	case StateStarting:
		// Started outside waitingroom and still booting: follow it to
		// readiness like a wake (Start is idempotent).
		if rec.State == StateRunning {
			return rec, "", false
		}
		next.State = StateStarting
		next.WakeID = newID()
		next.Owner = c.replica
		return next, "found starting", true
	case StateStopped, StateStopping:
		// A failed wake usually leaves the backend stopped: keep failed so
		// its retry backoff still applies.
		if rec.State == StateStopped || rec.State == StateFailed {
			return rec, "", false
		}
		next.State = StateStopped
		if rec.State == StateUnknown {
			return next, "found stopped", true
		}
		return next, "stopped outside waitingroom", true
	case StateFailed:
		if rec.State == StateFailed && rec.Reason == st.Reason {
			return rec, "", false
		}
		next.State = StateFailed
		return next, st.Reason, true
	}
	return rec, "", false
}

// Recheck asks a host's provider (and its readiness check) for the truth now,
// outside the reconcile schedule: a request found a host recorded running
// whose backend did not answer. Calls for one host are collapsed.
func (c *Controller) Recheck(ctx context.Context, host string) error {
	h, ok := c.registry.Lookup(host)
	if !ok {
		return fmt.Errorf("recheck %s: %w", host, ErrUnknownHost)
	}
	_, err, _ := c.sf.Do("recheck:"+host, func() (any, error) {
		return nil, c.reconcileHost(ctx, h)
	})
	return err
}
