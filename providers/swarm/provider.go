// Package swarm wakes and puts to sleep Docker Swarm services: it implements
// controller.Provider for targets with a `service:` field (name or ID) by
// scaling the (replicated) service to its replicas and back to 0, follows
// the engine's event stream (controller.Watcher), reports whether the
// engine is reachable (controller.Checker), and discovers hosts from service
// labels. The engine must be a swarm manager.
package swarm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/docker/docker/client"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/dockerengine"
	"github.com/waitingroom/waitingroom/providers"
)

// Compile-time guards: the controller discovers these capabilities by type
// assertion, so a signature drift must break the build, not the feature.
var (
	_ controller.Provider = (*Provider)(nil)
	_ controller.Checker  = (*Provider)(nil)
	_ controller.Watcher  = (*Provider)(nil)
)

// LabelReplicas is the service label holding how many replicas a wake
// scales the service to. Stop writes it (the replicas the service had when
// it was put to sleep); an operator may set it. Absent: 1.
const LabelReplicas = "waitingroom.replicas"

// DefaultReplicas is what a wake scales a service to when nothing says more.
const DefaultReplicas = 1

// Options configures a Provider.
type Options struct {
	// Name is the provider's name in the configuration; discovered hosts
	// carry it as their provider.
	Name string
	// Host overrides DOCKER_HOST (unix:///var/run/docker.sock,
	// tcp://manager:2376, ...) of a swarm manager. Empty: DOCKER_HOST and
	// the DOCKER_* TLS variables, or the local socket.
	Host string
	// Labels enables Discover (services with a waitingroom.host label).
	Labels bool
	// Logger receives the provider's logs (default slog.Default()).
	Logger *slog.Logger
}

// Provider talks to one swarm manager. It is safe for concurrent use.
type Provider struct {
	name   string
	cli    *client.Client
	labels bool
	log    *slog.Logger
}

// ErrNoService marks a target whose service does not exist. It is permanent
// until someone creates it.
var ErrNoService = errors.New("service does not exist")

// New builds a Provider. It does not contact the engine (see
// dockerengine.NewClient).
func New(o Options) (*Provider, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	cli, err := dockerengine.NewClient(o.Host)
	if err != nil {
		return nil, fmt.Errorf("swarm provider %q: %w", o.Name, err)
	}
	return &Provider{name: o.Name, cli: cli, labels: o.Labels, log: o.Logger}, nil
}

// Close releases the client's idle connections.
func (p *Provider) Close() error { return p.cli.Close() }

// Check pings the engine and makes sure it manages a swarm
// (controller.Checker, shown on /readyz): a node that left the swarm, or a
// worker, cannot scale services.
func (p *Provider) Check(ctx context.Context) error {
	info, err := p.cli.Info(ctx)
	if err != nil {
		return p.engineErr("engine info", err)
	}
	if !info.Swarm.ControlAvailable {
		return fmt.Errorf("docker engine at %s is not a swarm manager (swarm: %s)", p.cli.DaemonHost(), info.Swarm.LocalNodeState)
	}
	return nil
}

// engineErr classifies an error from the client: unreachable engine →
// controller.ErrUnavailable; anything else is wrapped with op.
func (p *Provider) engineErr(op string, err error) error {
	return dockerengine.Err(p.cli.DaemonHost(), op, err)
}

// serviceRef is the target's service name or ID.
func serviceRef(t controller.Target) (string, error) {
	st, err := providers.TargetOf[Target](t)
	if err != nil {
		return "", err
	}
	if st.Service == "" {
		return "", fmt.Errorf("host %s: swarm target has no service", t.Host)
	}
	return st.Service, nil
}

// serviceOf is a swarm target's service reference, "" for a target of
// another kind.
func serviceOf(t controller.Target) string {
	st, _ := providers.TargetOf[Target](t)
	return st.Service
}

// checkSleep: a service sleeps one way, at 0 replicas.
func checkSleep(mode string) error {
	if mode == "" || mode == "stop" {
		return nil
	}
	return fmt.Errorf("sleep %q is not supported by swarm (a service sleeps at 0 replicas: use \"stop\")", mode)
}

// replicasLabel reads LabelReplicas: ok is false when it is absent.
func replicasLabel(labels map[string]string) (n uint64, ok bool, err error) {
	v, ok := labels[LabelReplicas]
	if !ok {
		return 0, false, nil
	}
	n, err = strconv.ParseUint(strings.TrimSpace(v), 10, 32)
	if err != nil || n == 0 {
		return 0, true, fmt.Errorf("label %s=%q: want a positive number of replicas", LabelReplicas, v)
	}
	return n, true, nil
}

// noServiceError names the missing service; errors.Is(err, ErrNoService)
// is true.
type noServiceError struct{ ref string }

func (e *noServiceError) Error() string { return fmt.Sprintf("service %q does not exist", e.ref) }

func (e *noServiceError) Is(target error) bool { return target == ErrNoService }
