package docker

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/backoff"
	"github.com/waitingroom/waitingroom/internal/sleep"
	"github.com/waitingroom/waitingroom/providers"
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

// watchedActions are the container events that can change a target's state.
// health_status matches every "health_status: ..." event (the engine filters
// it by prefix).
func watchedActions() []events.Action {
	return []events.Action{
		events.ActionStart, events.ActionDie, events.ActionStop, events.ActionKill,
		events.ActionPause, events.ActionUnPause, events.ActionHealthStatus,
		events.ActionDestroy, events.ActionRestart, events.ActionOOM,
	}
}

// Watch follows the engine's event stream (controller.Watcher) until ctx is
// done. For every event about a target's container (matched by name or ID)
// it reads the container's Status and calls observe when that differs from
// the last one it reported, so a container started, stopped, killed, paused
// or removed outside waitingroom is reported within a fraction of a second.
//
// On every (re)subscription it also reports the Status of each target once:
// whatever happened while the stream was down is not lost. When the stream
// breaks (engine restarted) it resubscribes with backoff, without returning.
// targets is called per event, so a reloaded registry is followed; targets
// without a container field, or of another provider (Target.Provider set and
// different from Options.Name), are ignored. observe is called from one
// goroutine, never concurrently.
func (p *Provider) Watch(ctx context.Context, targets func() []controller.Target, observe func(controller.Target, controller.Status)) error {
	resubscribe := backoff.Policy{Base: watchBackoffMin, Max: watchBackoffMax}
	failures := 0
	failing := false
	for ctx.Err() == nil {
		began := time.Now()
		err := p.watchOnce(ctx, targets, observe, failing)
		if ctx.Err() != nil {
			break
		}
		if time.Since(began) >= watchHealthy {
			failures = 0
		}
		failures++
		wait := resubscribe.Delay(failures)
		if !failing {
			p.log.Warn("docker event stream broke; resubscribing", "err", err, "engine", p.cli.DaemonHost())
		} else {
			p.log.Debug("docker event stream still down", "err", err, "retry_in", wait)
		}
		failing = true
		if sleep.For(ctx, wait) != nil {
			return nil
		}
	}
	return nil
}

// watchOnce runs one subscription until it breaks or ctx is done.
func (p *Provider) watchOnce(ctx context.Context, targets func() []controller.Target, observe func(controller.Target, controller.Status), recovering bool) error {
	// Ping first: an unreachable engine fails here with a clear error
	// instead of as a half-open stream.
	pctx, cancelPing := context.WithTimeout(ctx, watchCallTimeout)
	err := p.Check(pctx)
	cancelPing()
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f := filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)))
	for _, a := range watchedActions() {
		f.Add("event", string(a))
	}
	msgs, errs := p.cli.Events(sctx, events.ListOptions{Filters: f})
	if recovering {
		p.log.Info("docker event stream restored", "engine", p.cli.DaemonHost())
	}

	// Subscribed before sweeping, so no change falls between the two.
	last := map[string]controller.Status{}
	report := func(t controller.Target) {
		// Bounded, so an engine that hangs cannot stall the stream.
		cctx, cancelCall := context.WithTimeout(sctx, watchCallTimeout)
		st, err := p.Status(cctx, t)
		cancelCall()
		if err != nil {
			return // the engine went away; the stream breaks next
		}
		key := t.Host + "\x00" + containerOf(t)
		if prev, seen := last[key]; seen && prev == st {
			return
		}
		last[key] = st
		observe(t, st)
	}
	for _, t := range targets() {
		if p.mine(t) {
			report(t)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errs:
			if err == nil {
				err = errors.New("event stream closed")
			}
			return p.engineErr("follow events", err)
		case m := <-msgs:
			name := m.Actor.Attributes["name"]
			for _, t := range targets() {
				if p.mine(t) && refMatches(containerOf(t), name, m.Actor.ID) {
					report(t)
				}
			}
		}
	}
}

// mine reports whether t is a docker target of this provider.
func (p *Provider) mine(t controller.Target) bool {
	if containerOf(t) == "" {
		return false
	}
	return t.Provider == "" || p.name == "" || t.Provider == p.name
}

// containerOf is a docker target's container reference, "" for a target of
// another kind.
func containerOf(t controller.Target) string {
	dt, _ := providers.TargetOf[Target](t)
	return dt.Container
}

// refMatches reports whether a target's container reference (a name, an ID
// or an ID prefix) designates the container with this name and ID. A
// false match costs one extra inspect, never a wrong report: the Status is
// read by the target's own reference.
func refMatches(ref, name, id string) bool {
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
