package swarm

import (
	"context"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/dockerengine"
)

// Labels the engine puts on a task's container (and so on its events).
const (
	containerLabelServiceName = "com.docker.swarm.service.name"
	containerLabelServiceID   = "com.docker.swarm.service.id"
)

// Watch follows the engine's event stream (controller.Watcher) until ctx is
// done: service events (created, updated — a scale by hand —, removed) and
// the events of task containers on this node (started, died, killed,
// health), which the engine labels with their service. For every event about
// a target's service it reads the service's Status and calls observe when it
// changed. The engine has no task events (a task running, rejected): a
// service left starting or stopping is looked at again until it settles.
//
// Reconnects, the sweep on (re)subscription and the rest are
// dockerengine.Watch's; targets without a service field, or of another
// provider, are ignored.
func (p *Provider) Watch(ctx context.Context, targets func() []controller.Target, observe func(controller.Target, controller.Status)) error {
	f := filters.NewArgs(
		filters.Arg("type", string(events.ServiceEventType)),
		filters.Arg("type", string(events.ContainerEventType)),
	)
	for _, a := range []events.Action{
		events.ActionCreate, events.ActionUpdate, events.ActionRemove, // services
		events.ActionStart, events.ActionDie, events.ActionStop, events.ActionKill,
		events.ActionHealthStatus, events.ActionDestroy, events.ActionOOM, // task containers
	} {
		f.Add("event", string(a))
	}
	return dockerengine.Watch{
		Client:   p.cli,
		Log:      p.log,
		Kind:     "swarm",
		Filters:  f,
		Mine:     p.mine,
		Key:      func(t controller.Target) string { return t.Host + "\x00" + serviceOf(t) },
		Concerns: concerns,
		Status:   p.Status,
		// No event says a task reached running (its container's start
		// comes first), nor that a task was rejected: a service in
		// between is looked at again until it settles.
		Recheck: 100 * time.Millisecond,
	}.Run(ctx, targets, observe)
}

// concerns reports whether event m is about t's service: the service itself,
// or one of its task containers.
func concerns(t controller.Target, m events.Message) bool {
	ref := serviceOf(t)
	switch m.Type {
	case events.ServiceEventType:
		return dockerengine.RefMatches(ref, m.Actor.Attributes["name"], m.Actor.ID)
	case events.ContainerEventType:
		id := m.Actor.Attributes[containerLabelServiceID]
		return id != "" && dockerengine.RefMatches(ref, m.Actor.Attributes[containerLabelServiceName], id)
	}
	return false
}

// mine reports whether t is a swarm target of this provider.
func (p *Provider) mine(t controller.Target) bool {
	if serviceOf(t) == "" {
		return false
	}
	return t.Provider == "" || p.name == "" || t.Provider == p.name
}
