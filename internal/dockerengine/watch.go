package dockerengine

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/backoff"
	"github.com/waitingroom/waitingroom/internal/sleep"
)

// Resubscription backoff: quick enough that a restarted engine is noticed
// within a couple of seconds, slow enough not to spin while it is down.
const (
	watchBackoffMin = 100 * time.Millisecond
	watchBackoffMax = 2 * time.Second
	// A subscription that lived this long was healthy: the next break
	// starts the backoff from the bottom again.
	watchHealthy = 10 * time.Second
	// watchCallTimeout bounds each engine call the watcher makes besides
	// the stream itself.
	watchCallTimeout = 10 * time.Second
)

// Watch follows one engine's event stream for one provider
// (controller.Watcher). The provider says which events to subscribe to,
// which targets are its own, which of them an event concerns, and how to
// read a target's Status; Watch does the rest.
type Watch struct {
	Client *client.Client
	Log    *slog.Logger
	// Kind names the provider kind in logs ("docker", "swarm").
	Kind string
	// Filters select the events to subscribe to.
	Filters filters.Args
	// Mine reports whether t is a target of this provider.
	Mine func(t controller.Target) bool
	// Key identifies a target's backend (host and object), to report a
	// Status only when it changed.
	Key func(t controller.Target) string
	// Concerns reports whether event m may change target t's Status. A
	// false match costs one extra Status call, never a wrong report.
	Concerns func(t controller.Target, m events.Message) bool
	// Status reads a target's Status; an error means the engine went away.
	Status func(ctx context.Context, t controller.Target) (controller.Status, error)
	// Recheck, when set, reads again the Status of a target left starting
	// or stopping, after Recheck and then less and less often (up to 2s),
	// until it is neither: for engines whose last step has no event of its
	// own (a swarm task reaching "running" after its container started).
	Recheck time.Duration
}

// Run follows the event stream until ctx is done. For every event that
// concerns one of the provider's targets it reads the target's Status and
// calls observe when that differs from the last one it reported, so a
// change made outside waitingroom is reported within a fraction of a second.
//
// On every (re)subscription it also reports the Status of each target once:
// whatever happened while the stream was down is not lost. When the stream
// breaks (engine restarted) it resubscribes with backoff, without returning.
// targets is called per event, so a reloaded registry is followed. observe is
// called from one goroutine, never concurrently.
func (w Watch) Run(ctx context.Context, targets func() []controller.Target, observe func(controller.Target, controller.Status)) error {
	resubscribe := backoff.Policy{Base: watchBackoffMin, Max: watchBackoffMax}
	failures := 0
	failing := false
	for ctx.Err() == nil {
		began := time.Now()
		err := w.once(ctx, targets, observe, failing)
		if ctx.Err() != nil {
			break
		}
		if time.Since(began) >= watchHealthy {
			failures = 0
		}
		failures++
		wait := resubscribe.Delay(failures)
		if !failing {
			w.Log.Warn(w.Kind+" event stream broke; resubscribing", "err", err, "engine", w.Client.DaemonHost())
		} else {
			w.Log.Debug(w.Kind+" event stream still down", "err", err, "retry_in", wait)
		}
		failing = true
		if sleep.For(ctx, wait) != nil {
			return nil
		}
	}
	return nil
}

// once runs one subscription until it breaks or ctx is done.
func (w Watch) once(ctx context.Context, targets func() []controller.Target, observe func(controller.Target, controller.Status), recovering bool) error {
	// Ping first: an unreachable engine fails here with a clear error
	// instead of as a half-open stream.
	pctx, cancelPing := context.WithTimeout(ctx, watchCallTimeout)
	_, err := w.Client.Ping(pctx)
	cancelPing()
	if err != nil {
		return Err(w.Client.DaemonHost(), "ping", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs, errs := w.Client.Events(sctx, events.ListOptions{Filters: w.Filters})
	if recovering {
		w.Log.Info(w.Kind+" event stream restored", "engine", w.Client.DaemonHost())
	}

	// Subscribed before sweeping, so no change falls between the two.
	last := map[string]controller.Status{}
	unsettled := map[string]controller.Target{} // starting or stopping: Recheck
	report := func(t controller.Target) {
		key := w.Key(t)
		// Bounded, so an engine that hangs cannot stall the stream.
		cctx, cancelCall := context.WithTimeout(sctx, watchCallTimeout)
		st, err := w.Status(cctx, t)
		cancelCall()
		if err != nil {
			return // the engine went away; the stream breaks next
		}
		if w.Recheck > 0 && (st.State == controller.StateStarting || st.State == controller.StateStopping) {
			unsettled[key] = t
		} else {
			delete(unsettled, key)
		}
		if prev, seen := last[key]; seen && prev == st {
			return
		}
		last[key] = st
		observe(t, st)
	}
	for _, t := range targets() {
		if w.Mine(t) {
			report(t)
		}
	}
	settle := backoff.Policy{Base: w.Recheck, Max: 2 * time.Second}
	rechecks := 0
	var recheck <-chan time.Time
	for {
		if len(unsettled) == 0 {
			recheck, rechecks = nil, 0
		} else if recheck == nil {
			rechecks++
			recheck = time.After(settle.Delay(rechecks))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-recheck:
			recheck = nil
			for _, t := range unsettled {
				report(t)
			}
		case err := <-errs:
			if err == nil {
				err = errors.New("event stream closed")
			}
			return Err(w.Client.DaemonHost(), "follow events", err)
		case m := <-msgs:
			for _, t := range targets() {
				if w.Mine(t) && w.Concerns(t, m) {
					report(t)
				}
			}
		}
	}
}

// RefMatches reports whether a target's reference to an engine object (a
// name, an ID or an ID prefix) designates the object with this name and ID.
func RefMatches(ref, name, id string) bool {
	ref = strings.TrimPrefix(ref, "/")
	if ref == "" {
		return false
	}
	return ref == name || (isHex(ref) && strings.HasPrefix(id, ref))
}

func isHex(s string) bool {
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}
