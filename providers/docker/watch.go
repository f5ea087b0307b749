package docker

import (
	"context"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/dockerengine"
	"github.com/waitingroom/waitingroom/providers"
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

// watched reports whether an event's action is one of actions;
// "health_status: healthy" is health_status.
func watched(actions []events.Action, a events.Action) bool {
	if i := strings.IndexByte(string(a), ':'); i >= 0 {
		a = a[:i]
	}
	return slices.Contains(actions, a)
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
	// Only the type is filtered by the engine: Podman (4.3) honours a
	// single value of the "event" filter and drops the events of the
	// others. The actions are picked here.
	f := filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)))
	actions := watchedActions()
	return dockerengine.Watch{
		Client:  p.cli,
		Log:     p.log,
		Kind:    "docker",
		Filters: f,
		Mine:    p.mine,
		Key:     func(t controller.Target) string { return t.Host + "\x00" + containerOf(t) },
		Concerns: func(t controller.Target, m events.Message) bool {
			return watched(actions, m.Action) && dockerengine.RefMatches(containerOf(t), m.Actor.Attributes["name"], m.Actor.ID)
		},
		Status: p.Status,
	}.Run(ctx, targets, observe)
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
