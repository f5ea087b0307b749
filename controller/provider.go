package controller

import (
	"context"
	"errors"
)

// Provider starts and stops the backend behind one registered host.
// Implementations receive registry values only, never request data.
//
// Start and Stop are idempotent: starting a running backend and stopping a
// stopped one succeed. Start returns once the provider has done its part (the
// container runs, the VM is RUNNING); readiness of the application is the
// controller's business: a backend is ready when Status says StateRunning
// (for Docker: healthy, when the container has a health check) and its
// Host.ReadyURL, when set, answers 2xx or 3xx (docs/READINESS.md).
type Provider interface {
	Start(ctx context.Context, t Target) error
	Stop(ctx context.Context, t Target) error
	Status(ctx context.Context, t Target) (Status, error)
}

// Status is what a provider observes of a backend right now.
type Status struct {
	State State
	// Reason explains failed (and sometimes starting) states in words an
	// operator can act on: "container \"app\" does not exist".
	Reason string
	// Exited marks a stopped backend that ran and ended (a container that
	// exited, was killed or crashed), as opposed to one not started yet.
	// After a successful Start it fails the wake at once, with Reason,
	// instead of waiting out start_timeout.
	Exited bool
	// InternalIP and ExternalIP are the backend's live addresses, where the
	// provider knows them (a GCE VM's IPs change across restarts). They fill
	// {internal_ip} and {external_ip} in ready_url.
	InternalIP string
	ExternalIP string
}

// Checker is implemented by providers that depend on a remote engine or API
// and can tell whether it is reachable; /readyz reports it.
type Checker interface {
	Check(ctx context.Context) error
}

// Watcher is implemented by providers that can push state changes made
// outside waitingroom (a container stopped by hand) instead of waiting for
// the periodic reconcile. Watch blocks until ctx is done, calling observe for
// each change of a target; it resubscribes by itself after transient errors.
type Watcher interface {
	Watch(ctx context.Context, targets func() []Target, observe func(t Target, s Status)) error
}

// ErrUnavailable marks a transient failure to reach a provider's engine or
// API (Docker daemon down, GCE 5xx). The page shows it as a temporary problem.
var ErrUnavailable = errors.New("provider temporarily unavailable")

// Target is what a provider needs to find one backend. It is built from the
// registry (YAML or provider-side discovery), never from a request.
type Target struct {
	// Host is the registered hostname, for logs and error messages.
	Host string
	// Provider is the name of the provider in the configuration.
	Provider string
	// Sleep is how the backend sleeps: "stop" (default), "suspend" (gce) or
	// "pause" (docker). Empty means the provider's default.
	Sleep string
	// Backend locates the backend in its provider kind's own terms
	// (docker.Target, gce.Target, exec.Target): only that kind reads it.
	Backend Backend
}

// Backend is a provider kind's per-host settings, a value its provider
// reads back with its own type. String describes it to operators (the
// dashboard; secrets are hidden by the reader): "container=app".
type Backend interface {
	String() string
}
