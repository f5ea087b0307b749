// Package docker wakes and puts to sleep containers of the local (or a
// remote) Docker engine: it implements controller.Provider for targets with a
// `container:` field (name or ID), pushes changes made outside waitingroom
// through the engine's event stream (controller.Watcher), reports whether the
// engine is reachable (controller.Checker), and discovers hosts from
// container labels.
package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/providers"
)

// Compile-time guards: the controller discovers these capabilities by type
// assertion, so a signature drift must break the build, not the feature.
var (
	_ controller.Provider = (*Provider)(nil)
	_ controller.Checker  = (*Provider)(nil)
	_ controller.Watcher  = (*Provider)(nil)
)

// Sleep modes a docker target understands.
const (
	SleepStop  = "stop"  // stop the container (its stop signal, then SIGKILL after StopTimeout)
	SleepPause = "pause" // freeze it: near-instant wake, memory kept
)

// DefaultStopTimeout is the grace period between the stop signal and SIGKILL,
// the engine's own default.
const DefaultStopTimeout = 10 * time.Second

// failedRestarts is the restart count from which a container the engine keeps
// restarting counts as failed rather than starting: one or two restarts can
// be a slow dependency, more is a crash loop the operator must look at.
const failedRestarts = 3

// Options configures a Provider.
type Options struct {
	// Name is the provider's name in the configuration; discovered hosts
	// carry it as their provider.
	Name string
	// Host overrides DOCKER_HOST (unix:///var/run/docker.sock,
	// tcp://host:2376, ...). Empty: DOCKER_HOST and the DOCKER_* TLS
	// variables, or the local socket.
	Host string
	// StopTimeout is the grace period after the stop signal before the
	// engine kills the container (default 10s).
	StopTimeout time.Duration
	// Sleep is the default sleep mode, "stop" (default) or "pause"; a
	// target's Sleep overrides it.
	Sleep string
	// Labels enables Discover (providers.docker.labels: true).
	Labels bool
	// Network chooses which of a container's networks gives Status its
	// InternalIP ({internal_ip} in ready_url). Empty: the first network,
	// by name, where the container has an address.
	Network string
	// Logger receives the provider's logs (default slog.Default()); give
	// it the provider's name as an attribute.
	Logger *slog.Logger
}

// Provider talks to one Docker engine. It is safe for concurrent use.
type Provider struct {
	name        string
	cli         *client.Client
	stopTimeout time.Duration
	sleep       string
	labels      bool
	network     string
	log         *slog.Logger
}

// ErrNoContainer marks a target whose container does not exist (never
// created, or removed). It is permanent until someone creates it.
var ErrNoContainer = errors.New("container does not exist")

// New builds a Provider. It does not contact the engine: an engine that is
// down at start-up is reported by Check and by each call, and picked up as
// soon as it answers (the client dials per request and negotiates the API
// version on the first request that succeeds).
func New(o Options) (*Provider, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	switch {
	case o.StopTimeout == 0:
		o.StopTimeout = DefaultStopTimeout
	case o.StopTimeout < 0:
		return nil, fmt.Errorf("docker provider %q: stop_timeout %s is negative", o.Name, o.StopTimeout)
	}
	if o.Sleep == "" {
		o.Sleep = SleepStop
	}
	if err := checkSleep(o.Sleep); err != nil {
		return nil, fmt.Errorf("docker provider %q: %w", o.Name, err)
	}
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if o.Host != "" {
		opts = append(opts, client.WithHost(o.Host))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker provider %q: client for %q: %w", o.Name, o.Host, err)
	}
	return &Provider{
		name:        o.Name,
		cli:         cli,
		stopTimeout: o.StopTimeout,
		sleep:       o.Sleep,
		labels:      o.Labels,
		network:     o.Network,
		log:         o.Logger,
	}, nil
}

// Close releases the client's idle connections.
func (p *Provider) Close() error { return p.cli.Close() }

// EngineHost is the address of the engine this provider talks to.
func (p *Provider) EngineHost() string { return p.cli.DaemonHost() }

// Check pings the engine (controller.Checker, shown on /readyz).
func (p *Provider) Check(ctx context.Context) error {
	if _, err := p.cli.Ping(ctx); err != nil {
		return p.engineErr("ping", err)
	}
	return nil
}

func checkSleep(mode string) error {
	switch mode {
	case SleepStop, SleepPause:
		return nil
	}
	return fmt.Errorf("sleep %q is not supported by docker (use %q or %q)", mode, SleepStop, SleepPause)
}

// sleepMode is the target's own mode, or the provider's default.
func (p *Provider) sleepMode(t controller.Target) (string, error) {
	mode := t.Sleep
	if mode == "" {
		mode = p.sleep
	}
	if err := checkSleep(mode); err != nil {
		return "", fmt.Errorf("host %s: %w", t.Host, err)
	}
	return mode, nil
}

// containerRef is the target's container name or ID.
func containerRef(t controller.Target) (string, error) {
	dt, err := providers.TargetOf[Target](t)
	if err != nil {
		return "", err
	}
	if dt.Container == "" {
		return "", fmt.Errorf("host %s: docker target has no container", t.Host)
	}
	return dt.Container, nil
}

// unavailableError says the engine could not be reached. It unwraps to
// controller.ErrUnavailable (the page shows a temporary problem) and to the
// transport error.
type unavailableError struct {
	op, host string
	err      error
}

func (e *unavailableError) Error() string {
	msg := e.err.Error()
	if strings.Contains(msg, e.host) {
		// The client's own words already name the address ("Cannot
		// connect to the Docker daemon at unix://…. Is the docker daemon
		// running?", "permission denied … at unix://…").
		return e.op + ": docker engine unreachable: " + msg
	}
	return fmt.Sprintf("%s: docker engine at %s is unreachable: %s", e.op, e.host, msg)
}

func (e *unavailableError) Unwrap() []error { return []error{controller.ErrUnavailable, e.err} }

// engineErr classifies an error from the client: unreachable engine →
// ErrUnavailable; anything else is wrapped with op.
func (p *Provider) engineErr(op string, err error) error {
	if isUnreachable(err) {
		return &unavailableError{op: op, host: p.cli.DaemonHost(), err: err}
	}
	return fmt.Errorf("%s: %w", op, err)
}

func isUnreachable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if client.IsErrConnectionFailed(err) || cerrdefs.IsUnavailable(err) {
		return true
	}
	// A daemon that dies mid-request (restart) cuts the connection rather
	// than refusing it.
	var opErr *net.OpError
	return errors.As(err, &opErr) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// noContainerError names the missing container; errors.Is(err,
// ErrNoContainer) is true.
type noContainerError struct{ ref string }

func (e *noContainerError) Error() string { return fmt.Sprintf("container %q does not exist", e.ref) }

func (e *noContainerError) Is(target error) bool { return target == ErrNoContainer }
