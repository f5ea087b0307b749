package controller

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/waitingroom/waitingroom/internal/backoff"
	"github.com/waitingroom/waitingroom/internal/sleep"
	"golang.org/x/sync/singleflight"
)

// WakeGate decides whether a wake that would start a backend may go ahead
// (wake budgets, client rate limits, bot rules). It is consulted only when a
// wake would really start something: waking a starting or running host is
// free. It returns nil, a *BudgetError, or an error wrapping ErrWakeRefused.
type WakeGate interface {
	AllowWake(ctx context.Context, h Host, c Client) error
}

// BusyChecker tells the idle sweep that a host is in use although no
// request arrived lately (open connections, warm windows, heartbeats).
type BusyChecker interface {
	Busy(ctx context.Context, h Host, now time.Time) (busy bool, why string)
}

// Options configures a Controller. Store and Registry are required.
type Options struct {
	Store    Store
	Registry *Registry
	Clock    Clock        // default SystemClock
	Logger   *slog.Logger // default slog.Default()
	// ReplicaID names this process among replicas sharing a store.
	// Default: random.
	ReplicaID string
	Gate      WakeGate
	Busy      []BusyChecker
	// ProbeClient probes ready_url. Default: a client that does not follow
	// redirects (3xx means the application answers).
	ProbeClient *http.Client
	// ProbeTimeout bounds one readiness probe (default 1s).
	ProbeTimeout time.Duration
	// RetryBase and RetryMax bound the backoff after failed wakes
	// (defaults 5s and 5m).
	RetryBase, RetryMax time.Duration
	// LeaseTTL is how long a wake lease lives without renewal (default
	// 15s): when a replica dies mid-wake, another takes over after it.
	LeaseTTL time.Duration
	// RecheckInterval is how often Recheck may check one host (default
	// 1s): a flood of requests finding a backend gone makes one provider
	// call per host per interval, not one per request.
	RecheckInterval time.Duration
	// OnWake, when set, is called after every finished wake (metrics).
	OnWake func(WakeRecord)
	// OnEvent, when set, is called for every event this process publishes.
	OnEvent func(Event)
}

// Controller runs the state machine. Every transition is a compare-and-set
// through the Store, so concurrent requests and replicas race for it and one
// wins; singleflight collapses the race inside this process.
type Controller struct {
	store    Store
	registry *Registry
	clock    Clock
	log      *slog.Logger
	replica  string
	gate     WakeGate
	busy     []BusyChecker
	probe    *http.Client
	probeTO  time.Duration
	retryMin time.Duration
	retryMax time.Duration
	leaseTTL time.Duration
	onWake   func(WakeRecord)
	onEvent  func(Event)

	sf         singleflight.Group
	hub        *hub
	estimates  *estimates
	relayOnce  sync.Once
	relayReady chan struct{}

	// life bounds the background work (wakes, stops); Shutdown cancels it.
	life   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	active map[string]*job // host → the wake or stop this process works on

	eventsMu sync.Mutex
	events   map[string]**Status // host → the newest engine event waiting for ObserveEvent's worker

	statusMu sync.Mutex
	statuses map[string]Status // last Status a provider reported, per host

	recheckEvery time.Duration
	recheckMu    sync.Mutex
	rechecked    map[string]time.Time // when Recheck last checked each host
}

// New builds a Controller.
func New(o Options) *Controller {
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ReplicaID == "" {
		o.ReplicaID = newID()
	}
	if o.ProbeClient == nil {
		o.ProbeClient = &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport:     &http.Transport{DisableKeepAlives: true, Proxy: nil},
		}
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = time.Second
	}
	if o.RetryBase <= 0 {
		o.RetryBase = 5 * time.Second
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 5 * time.Minute
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 15 * time.Second
	}
	if o.RecheckInterval <= 0 {
		o.RecheckInterval = time.Second
	}
	life, cancel := context.WithCancel(context.Background())
	return &Controller{
		store: o.Store, registry: o.Registry, clock: o.Clock, log: o.Logger,
		replica: o.ReplicaID, gate: o.Gate, busy: o.Busy,
		probe: o.ProbeClient, probeTO: o.ProbeTimeout,
		retryMin: o.RetryBase, retryMax: o.RetryMax, leaseTTL: o.LeaseTTL,
		onWake: o.OnWake, onEvent: o.OnEvent,
		hub: newHub(), estimates: newEstimates(), relayReady: make(chan struct{}),
		life: life, cancel: cancel,
		active: map[string]*job{}, statuses: map[string]Status{}, events: map[string]**Status{},
		recheckEvery: o.RecheckInterval, rechecked: map[string]time.Time{},
	}
}

// Registry is the registry the controller serves.
func (c *Controller) Registry() *Registry { return c.registry }

// Store is the store the controller uses.
func (c *Controller) Store() Store { return c.store }

// ReplicaID names this process among replicas.
func (c *Controller) ReplicaID() string { return c.replica }

// Now is the controller's clock.
func (c *Controller) Now() time.Time { return c.clock.Now() }

// Run relays the store's events to this process's subscribers until ctx is
// done, resubscribing when the store's stream breaks (Redis restarted).
func (c *Controller) Run(ctx context.Context) error {
	resubscribe := backoff.Policy{Base: 100 * time.Millisecond, Max: 5 * time.Second}
	failures := 0
	for ctx.Err() == nil {
		sub, err := c.store.Subscribe(ctx)
		if err != nil {
			failures++
			wait := resubscribe.Delay(failures)
			c.log.Warn("event subscription failed; retrying", "err", err, "in", wait)
			if sleep.For(ctx, wait) != nil {
				break
			}
			continue
		}
		failures = 0
		// Events may have been missed while unsubscribed: nothing cached
		// before is trusted.
		c.estimates.reset()
		c.relayOnce.Do(func() { close(c.relayReady) })
		for e := range sub {
			// Before the hub: whoever reacts to the event reads fresh.
			if _, ok := c.registry.Lookup(e.Host); ok {
				c.estimates.arm(e.Host, c.clock.Now(), c.registered)
			}
			c.hub.publish(e)
		}
		c.estimates.reset()
	}
	return nil
}

// Relaying is closed once Run has subscribed to the store's events, so
// events published from then on reach this process's subscribers.
func (c *Controller) Relaying() <-chan struct{} { return c.relayReady }

// Shutdown waits for in-flight wakes and stops to finish until ctx is done,
// then cancels what is left. A wake cut short stays "starting" in the store
// and is taken over by Reconcile (here after a restart, or on another
// replica once its lease expires).
func (c *Controller) Shutdown(ctx context.Context) {
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		c.cancel()
		<-done
	}
	c.cancel()
}

// Subscribe delivers state changes of host ("" for every host) until ctx
// is done. A subscriber that does not keep up misses events rather than
// slowing anyone down.
func (c *Controller) Subscribe(ctx context.Context, host string) <-chan Event {
	return c.hub.subscribe(ctx, host)
}

// Status returns the host's record. Reading never counts as activity.
func (c *Controller) Status(ctx context.Context, host string) (Host, Record, error) {
	h, ok := c.registry.Lookup(host)
	if !ok {
		return Host{}, Record{}, fmt.Errorf("%q: %w", host, ErrUnknownHost)
	}
	rec, err := c.store.Get(ctx, host)
	if err != nil {
		return h, Record{Host: host, State: StateUnknown}, fmt.Errorf("read state of %s: %w", host, err)
	}
	rec.Host = host
	return h, rec, nil
}

// Wake makes sure the host's backend is starting or running and returns its
// record. Only the caller that wins the stopped→starting compare-and-set
// calls the provider; everybody else gets the record that call produced.
// The start itself runs in the background, bounded by the host's
// start_timeout, so Wake returns at once.
func (c *Controller) Wake(ctx context.Context, host string, cl Client) (Record, error) {
	h, ok := c.registry.Lookup(host)
	if !ok {
		return Record{}, fmt.Errorf("%q: %w", host, ErrUnknownHost)
	}
	v, err, _ := c.sf.Do(host, func() (any, error) {
		// The result is shared by every caller waiting on this host: one
		// client hanging up must not fail the others' wake.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return c.wake(wctx, h, cl)
	})
	rec, _ := v.(Record)
	return rec, err
}

func (c *Controller) wake(ctx context.Context, h Host, cl Client) (Record, error) {
	for attempt := 0; attempt < 8; attempt++ {
		rec, err := c.store.Get(ctx, h.Name)
		if err != nil {
			return Record{Host: h.Name, State: StateUnknown}, fmt.Errorf("wake %s: %w", h.Name, err)
		}
		rec.Host = h.Name
		now := c.clock.Now()
		switch rec.State {
		case StateStarting, StateRunning:
			return rec, nil
		case StateStopping:
			if rec.WakePending {
				return rec, nil
			}
			// The pending wake starts the backend again: it is paid for
			// like any other start.
			if c.gate != nil {
				if err := c.gate.AllowWake(ctx, h, cl); err != nil {
					return rec, err
				}
			}
			next := rec
			next.WakePending = true
			stored, ok, err := c.store.CompareAndSwap(ctx, rec.Version, next)
			if err != nil {
				return rec, fmt.Errorf("wake %s: %w", h.Name, err)
			}
			if ok {
				c.log.Info("wake requested while stopping; will start after the stop", "host", h.Name, "client", cl.String())
				return stored, nil
			}
			continue
		case StateFailed:
			if now.Before(rec.RetryAt) {
				return rec, nil
			}
		}
		if c.gate != nil {
			if err := c.gate.AllowWake(ctx, h, cl); err != nil {
				return rec, err
			}
		}
		next := rec
		next.State = StateStarting
		next.Changed = now
		next.Reason = "wake requested by " + cl.String()
		next.WakeID = newID()
		next.Owner = c.replica
		next.WakePending = false
		stored, ok, err := c.store.CompareAndSwap(ctx, rec.Version, next)
		if err != nil {
			return rec, fmt.Errorf("wake %s: %w", h.Name, err)
		}
		if !ok {
			continue // someone else moved it; look again
		}
		c.publishedBy(ctx, rec.State, stored, cl.String(), 0)
		c.log.Info("waking", "host", h.Name, "provider", h.Provider, "client", cl.String(), "wake", stored.WakeID)
		c.goWake(h, stored, cl, wakeStart)
		return stored, nil
	}
	return Record{Host: h.Name, State: StateUnknown}, fmt.Errorf("wake %s: state kept changing under us", h.Name)
}

// wakeMode says how a wake treats the backend it is about to wait for.
type wakeMode int

const (
	// wakeStart calls Start, then waits for readiness.
	wakeStart wakeMode = iota
	// wakeResume takes over a wake whose owner is gone: the backend may
	// already be up, so readiness is checked before calling Start again.
	wakeResume
	// wakeFollow follows a backend found booting (started outside
	// waitingroom, or up but not answering yet) to readiness without
	// calling Start: nobody asked to wake it.
	wakeFollow
)

// goWake runs the start and the readiness wait in the background, owned by
// the controller, not by the request that triggered it.
func (c *Controller) goWake(h Host, rec Record, cl Client, mode wakeMode) {
	c.launch(h.Name, func() { c.runWake(c.life, h, rec, cl, mode) })
}

// job is the transition (wake or stop) this process works on for a host.
// Another one asked for meanwhile waits in next and runs when this one
// ends: a stop decided while a finished wake is still releasing its lease
// must not be dropped, or the host would stay stopping.
type job struct {
	next func()
	// nudge wakes a readiness wait of this job at once: an engine event
	// about the host arrived (Observe), so its state may have changed.
	nudge chan struct{}
}

// launch runs run in the background as the host's job. When the host is
// busy, run waits for the job under way and replaces anything already
// waiting: every launch follows a compare-and-set this process won, so it
// is a newer transition than any job before it, and the job runs re-check
// the record before acting. Queued jobs are dropped once the controller
// shuts down (Reconcile resumes their transitions).
func (c *Controller) launch(host string, run func()) {
	c.mu.Lock()
	if j, busy := c.active[host]; busy {
		j.next = run
		c.mu.Unlock()
		return
	}
	j := &job{nudge: make(chan struct{}, 1)}
	c.active[host] = j
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		for run != nil {
			run()
			c.mu.Lock()
			run, j.next = j.next, nil
			if c.life.Err() != nil {
				run = nil
			}
			if run == nil {
				delete(c.active, host)
			}
			c.mu.Unlock()
		}
		// An engine event handed to the job (Observe) after its last look
		// at the backend — while a finished wake records running and
		// releases its lease — would be lost: the host is free now, so
		// look again the way Observe would have.
		select {
		case <-j.nudge:
			c.recheckAfterJob(host)
		default:
		}
	}()
}

// recheckAfterJob checks a host whose job ended with an engine event it did
// not act on.
func (c *Controller) recheckAfterJob(host string) {
	h, ok := c.registry.Lookup(host)
	if !ok || c.life.Err() != nil {
		return
	}
	if err := c.reconcileHost(c.life, h); err != nil {
		c.log.Warn("checking a host after an engine event failed", "host", host, "err", err)
	}
}

func (c *Controller) working(host string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.active[host]
	return ok
}

// nudge tells the host's job, if this process runs one, that something
// about the backend changed; it reports whether there was a job.
func (c *Controller) nudge(host string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	j, ok := c.active[host]
	if ok {
		select {
		case j.nudge <- struct{}{}:
		default: // one pending nudge is enough
		}
	}
	return ok
}

// nudges is the channel nudge signals for the host's job (nil without one).
func (c *Controller) nudges(host string) chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if j, ok := c.active[host]; ok {
		return j.nudge
	}
	return nil
}

func (c *Controller) runWake(ctx context.Context, h Host, rec Record, cl Client, mode wakeMode) {
	lease := "wake:" + h.Name
	var out outage
	for {
		ok, err := c.store.AcquireLease(ctx, lease, c.replica, c.leaseTTL)
		if err == nil && ok {
			break
		}
		// A store failing over answers again within seconds: the wake
		// waits for it rather than leaving the host starting until the
		// next reconcile.
		if err != nil && out.retry(ctx, err) {
			continue
		}
		// Another replica is working on it (or the store stays gone): it
		// owns the outcome; Reconcile takes over if it dies.
		c.log.Info("wake owned elsewhere", "host", h.Name, "err", err)
		return
	}
	defer func() {
		_ = c.store.ReleaseLease(context.WithoutCancel(ctx), lease, c.replica)
	}()
	// A queued or resumed wake may have been overtaken (finished by
	// another replica, stopped by an operator): act only on our own. A
	// store that cannot answer does not stop the wake; finishWake checks
	// again before recording anything.
	if cur, err := c.store.Get(ctx, h.Name); err == nil && (cur.State != StateStarting || cur.WakeID != rec.WakeID) {
		return
	}
	renewCtx, stopRenew := context.WithCancel(ctx)
	defer stopRenew()
	go c.renewLease(renewCtx, lease)

	started := rec.Changed
	deadline := started.Add(h.StartTimeout)
	if h.StartTimeout <= 0 {
		deadline = started.Add(5 * time.Minute)
	}
	// start_timeout counts from the wake request, also when another
	// replica or a restart resumes the wake.
	wctx, cancel := context.WithTimeout(ctx, deadline.Sub(c.clock.Now()))
	defer cancel()

	err := c.startAndWait(wctx, h, mode)
	if ctx.Err() != nil {
		// Shutting down: leave the record starting; Reconcile resumes it.
		return
	}
	c.finishWake(context.WithoutCancel(ctx), h, rec, cl, err)
}

func (c *Controller) renewLease(ctx context.Context, name string) {
	t := time.NewTicker(c.leaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := c.store.AcquireLease(ctx, name, c.replica, c.leaseTTL); err != nil && ctx.Err() == nil {
				c.log.Warn("renewing wake lease failed", "lease", name, "err", err)
			}
		}
	}
}

// startAndWait calls the provider (as mode says) and waits for readiness.
func (c *Controller) startAndWait(ctx context.Context, h Host, mode wakeMode) error {
	p, ok := c.registry.Provider(h.Provider)
	if !ok {
		return fmt.Errorf("provider %q is not configured", h.Provider)
	}
	nudge := c.nudges(h.Name)
	switch mode {
	case wakeFollow:
		return c.waitReady(ctx, h, p, nudge)
	case wakeResume:
		if c.checkBackend(ctx, h, p).ready {
			return nil
		}
	}
	if err := p.Start(ctx, h.Target); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("start did not finish within start_timeout %s: %w", h.StartTimeout, err)
		}
		return fmt.Errorf("start: %w", err)
	}
	return c.waitReady(ctx, h, p, nudge)
}

// finishWake moves starting → running or failed, records the wake, and
// handles a stop requested meanwhile.
func (c *Controller) finishWake(ctx context.Context, h Host, started Record, cl Client, werr error) Record {
	// ctx outlives the controller (the result must be recorded); a store
	// outage is waited out until the controller shuts down.
	var out outage
	for attempt := 0; attempt < 8; attempt++ {
		cur, err := c.store.Get(ctx, h.Name)
		if err != nil {
			if out.retry(c.life, err) {
				attempt--
				continue
			}
			c.log.Error("cannot record wake result; reconcile will", "host", h.Name, "err", err)
			return started
		}
		cur.Host = h.Name
		if cur.State != StateStarting || cur.WakeID != started.WakeID {
			return cur // someone else decided (an operator, another replica)
		}
		now := c.clock.Now()
		next := cur
		next.Changed = now
		next.Owner = ""
		if werr == nil {
			next.State = StateRunning
			next.Reason = ""
			next.Failures = 0
			next.RetryAt = time.Time{}
		} else {
			next.State = StateFailed
			next.Reason = werr.Error()
			next.Failures = cur.Failures + 1
			next.RetryAt = now.Add(c.backoff(next.Failures))
		}
		stored, ok, err := c.store.CompareAndSwap(ctx, cur.Version, next)
		if err != nil {
			// Unknown whether it was stored: the next look tells.
			if out.retry(c.life, err) {
				attempt--
				continue
			}
			c.log.Error("cannot record wake result; reconcile will", "host", h.Name, "err", err)
			return cur
		}
		if !ok {
			continue
		}
		w := WakeRecord{
			ID: started.WakeID, Host: h.Name, Requested: started.Changed, Finished: now,
			Duration: now.Sub(started.Changed), Client: cl.String(), Source: cl.Source,
		}
		if werr == nil {
			w.Result = WakeRunning
			// Becoming ready starts the idle timer.
			_ = c.store.Touch(ctx, h.Name, Activity{At: now, Source: "wake"})
			c.log.Info("running", "host", h.Name, "after", w.Duration.Round(time.Millisecond))
		} else {
			w.Result = WakeFailed
			w.Reason = werr.Error()
			c.log.Warn("wake failed", "host", h.Name, "err", werr, "failures", next.Failures, "retry_at", next.RetryAt)
		}
		if err := c.store.AddWake(ctx, w); err != nil {
			c.log.Warn("recording wake history failed", "host", h.Name, "err", err)
		}
		if c.onWake != nil {
			c.onWake(w)
		}
		c.publishedBy(ctx, StateStarting, stored, w.Client, w.Duration)
		return stored
	}
	return started
}

func (c *Controller) backoff(failures int) time.Duration {
	// Jitter on the upper half keeps replicas from retrying in step.
	return backoff.Policy{Base: c.retryMin, Max: c.retryMax}.Jittered(failures)
}

// LastStatus is the last Status a provider reported for host in this
// process (during a wake or a reconcile): live addresses for the Traefik
// configuration without a remote call per poll.
func (c *Controller) LastStatus(host string) (Status, bool) {
	c.statusMu.Lock()
	defer c.statusMu.Unlock()
	st, ok := c.statuses[host]
	return st, ok
}

func (c *Controller) rememberStatus(host string, st Status) {
	c.statusMu.Lock()
	c.statuses[host] = st
	c.statusMu.Unlock()
}

// Touch records activity for a registered host.
func (c *Controller) Touch(ctx context.Context, host, source string) error {
	if _, ok := c.registry.Lookup(host); !ok {
		return fmt.Errorf("%q: %w", host, ErrUnknownHost)
	}
	if err := c.store.Touch(ctx, host, Activity{At: c.clock.Now(), Source: source}); err != nil {
		return fmt.Errorf("touch %s: %w", host, err)
	}
	return nil
}

// Stop puts the host's backend to sleep. It returns once the host is
// stopping; the provider call runs in the background. A starting host is
// not stopped (ErrConflict); a stopped one is left alone.
func (c *Controller) Stop(ctx context.Context, host, reason string) (Record, error) {
	h, ok := c.registry.Lookup(host)
	if !ok {
		return Record{}, fmt.Errorf("%q: %w", host, ErrUnknownHost)
	}
	return c.stop(ctx, h, reason, nil)
}

// stop moves the host to stopping if its record still matches cond (when
// given) and launches the provider call.
func (c *Controller) stop(ctx context.Context, h Host, reason string, cond func(Record) bool) (Record, error) {
	for attempt := 0; attempt < 8; attempt++ {
		rec, err := c.store.Get(ctx, h.Name)
		if err != nil {
			return rec, fmt.Errorf("stop %s: %w", h.Name, err)
		}
		rec.Host = h.Name
		switch rec.State {
		case StateStopped, StateStopping:
			return rec, nil
		case StateStarting:
			return rec, fmt.Errorf("stop %s while starting: %w", h.Name, ErrConflict)
		}
		if cond != nil && !cond(rec) {
			return rec, nil
		}
		next := rec
		next.State = StateStopping
		next.Changed = c.clock.Now()
		next.Reason = reason
		next.Owner = c.replica
		next.WakePending = false
		stored, ok, err := c.store.CompareAndSwap(ctx, rec.Version, next)
		if err != nil {
			return rec, fmt.Errorf("stop %s: %w", h.Name, err)
		}
		if !ok {
			continue
		}
		c.published(ctx, rec.State, stored)
		c.log.Info("stopping", "host", h.Name, "reason", reason)
		c.goStop(h, stored)
		return stored, nil
	}
	return Record{Host: h.Name, State: StateUnknown}, fmt.Errorf("stop %s: state kept changing under us", h.Name)
}

func (c *Controller) goStop(h Host, rec Record) {
	c.launch(h.Name, func() { c.runStop(c.life, h, rec) })
}

func (c *Controller) runStop(ctx context.Context, h Host, rec Record) {
	// A queued stop may have been overtaken (a wake won, or another
	// replica took the stop over): only the record's owner stops.
	if cur, err := c.store.Get(ctx, h.Name); err == nil && !ownsStop(cur, c.replica) {
		return
	}
	var err error
	if p, ok := c.registry.Provider(h.Provider); !ok {
		err = fmt.Errorf("provider %q is not configured", h.Provider)
	} else {
		sctx, cancel := context.WithTimeout(ctx, stopBudget(h))
		err = p.Stop(sctx, h.Target)
		cancel()
	}
	if ctx.Err() != nil {
		return // shutting down: reconcile settles it later
	}
	life := ctx
	ctx = context.WithoutCancel(ctx)
	var out outage
	for attempt := 0; attempt < 8; attempt++ {
		cur, gerr := c.store.Get(ctx, h.Name)
		if gerr != nil {
			if out.retry(life, gerr) {
				attempt--
				continue
			}
			c.log.Error("cannot record stop result; reconcile will", "host", h.Name, "err", gerr)
			return
		}
		cur.Host = h.Name
		if !ownsStop(cur, c.replica) {
			return
		}
		next := cur
		next.Changed = c.clock.Now()
		next.Owner = ""
		pending := cur.WakePending
		switch {
		case err != nil:
			next.State = StateFailed
			next.Reason = "stop: " + err.Error()
			c.log.Warn("stop failed", "host", h.Name, "err", err)
		case pending:
			// A wake arrived while stopping: start again (invariant 3).
			next.State = StateStarting
			next.Reason = "wake requested while stopping"
			next.WakeID = newID()
			next.Owner = c.replica
			next.WakePending = false
		default:
			next.State = StateStopped
		}
		stored, ok, cerr := c.store.CompareAndSwap(ctx, cur.Version, next)
		if cerr != nil {
			if out.retry(life, cerr) {
				attempt--
				continue
			}
			c.log.Error("cannot record stop result; reconcile will", "host", h.Name, "err", cerr)
			return
		}
		if !ok {
			continue
		}
		c.publishedBy(ctx, StateStopping, stored, "", stored.Changed.Sub(cur.Changed))
		if stored.State == StateStarting {
			// Queued behind this stop; it runs as soon as runStop returns.
			c.goWake(h, stored, Client{Source: "pending"}, wakeStart)
		}
		return
	}
}

// ownsStop reports whether rec is a stop that replica is in charge of.
func ownsStop(rec Record, replica string) bool {
	return rec.State == StateStopping && rec.Owner == replica
}

// stopBudget bounds one provider Stop call. A record stopping for longer
// than this plus a margin has lost its owner (Reconcile resumes it).
func stopBudget(h Host) time.Duration { return max(h.StartTimeout, time.Minute) }

// SweepIdle stops every running host whose last activity is older than its
// idle timeout and that no BusyChecker holds awake. It returns the hosts it
// began to stop. Hosts that are starting are never stopped.
func (c *Controller) SweepIdle(ctx context.Context) ([]string, error) {
	recs, err := c.store.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	now := c.clock.Now()
	var stopped []string
	for _, rec := range recs {
		if rec.State != StateRunning {
			continue
		}
		h, ok := c.registry.Lookup(rec.Host)
		if !ok || h.IdleTimeout <= 0 {
			continue // removed from the registry: left running, as documented
		}
		if !c.idle(rec, h, now) {
			continue
		}
		if busy, why := c.isBusy(ctx, h, now); busy {
			c.log.Debug("idle but busy", "host", h.Name, "why", why)
			continue
		}
		reason := fmt.Sprintf("idle for %s", h.IdleTimeout)
		// Re-check at the compare-and-set: activity may have arrived since
		// the list was read.
		_, err := c.stop(ctx, h, reason, func(cur Record) bool {
			return cur.State == StateRunning && c.idle(cur, h, c.clock.Now())
		})
		if err != nil {
			c.log.Warn("idle stop failed", "host", h.Name, "err", err)
			continue
		}
		stopped = append(stopped, h.Name)
	}
	return stopped, nil
}

func (c *Controller) idle(rec Record, h Host, now time.Time) bool {
	last := rec.LastActivity
	if rec.Changed.After(last) {
		last = rec.Changed
	}
	return now.Sub(last) >= h.IdleTimeout
}

func (c *Controller) isBusy(ctx context.Context, h Host, now time.Time) (bool, string) {
	for _, b := range c.busy {
		if busy, why := b.Busy(ctx, h, now); busy {
			return true, why
		}
	}
	return false, ""
}

// IdleIn reports how long until the host would be stopped as idle, judged
// from its record alone (0 when due now; false when it is not running).
func (c *Controller) IdleIn(h Host, rec Record) (time.Duration, bool) {
	if rec.State != StateRunning || h.IdleTimeout <= 0 {
		return 0, false
	}
	last := rec.LastActivity
	if rec.Changed.After(last) {
		last = rec.Changed
	}
	return max(0, h.IdleTimeout-c.clock.Now().Sub(last)), true
}

func (c *Controller) registered(host string) bool {
	_, ok := c.registry.Lookup(host)
	return ok
}

// Wakes returns the host's recent wake history, newest first.
func (c *Controller) Wakes(ctx context.Context, host string, limit int) ([]WakeRecord, error) {
	return c.store.Wakes(ctx, host, limit)
}

// Transitions returns the host's recorded state changes at or after
// since, oldest first.
func (c *Controller) Transitions(ctx context.Context, host string, since time.Time) ([]Transition, error) {
	return c.store.Transitions(ctx, host, since)
}

func (c *Controller) published(ctx context.Context, from State, rec Record) {
	c.publishedBy(ctx, from, rec, "", 0)
}

// publishedBy announces a transition this process made and records it in
// the store's state history: by is who asked for it, took how long the
// wake or stop it ends lasted.
func (c *Controller) publishedBy(ctx context.Context, from State, rec Record, by string, took time.Duration) {
	e := Event{Host: rec.Host, From: from, To: rec.State, Reason: rec.Reason, At: rec.Changed}
	if from == StateStarting {
		e.Duration = took // the wake's duration, as events have always said
	}
	if c.onEvent != nil {
		c.onEvent(e)
	}
	// This process's own change: drop the cached estimate at once rather
	// than when the event comes back through the store.
	c.estimates.disarm(rec.Host)
	ctx = context.WithoutCancel(ctx)
	t := Transition{Host: rec.Host, At: rec.Changed, From: from, To: rec.State, Reason: rec.Reason, By: by, Took: took}
	if err := c.store.AddTransition(ctx, t); err != nil {
		c.log.Warn("recording the state change failed", "event", e.String(), "err", err)
	}
	if err := c.store.Publish(ctx, e); err != nil {
		c.log.Warn("publishing event failed", "event", e.String(), "err", err)
	}
}

func newID() string {
	var b [8]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}
