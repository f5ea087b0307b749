// Package exec is the controller.Provider that runs operator-given commands:
// systemd units, scripts, and the quick-start demo.
//
// Each host names up to three argv arrays in the registry: start, stop and
// status. They run directly with os/exec, never through a shell and never
// with request data; a host that needs shell features names the shell
// itself ("sh", "-c", "…"), which is then the operator's explicit choice.
//
// # Contract for the commands
//
//   - The exit code decides success: 0 succeeded, anything else failed. The
//     tail of stderr (or of stdout when stderr is empty), at most 2 KiB,
//     goes into the error together with the command name and exit code.
//   - Every command runs in its own process group, bounded by the
//     provider's timeout (Options.Timeout, default 1m) and by the caller's
//     context. When either ends first, the whole group is killed, so a hung
//     script leaves no children behind.
//   - start must return once the service is launched, like `systemctl
//     start`: waiting for the application to answer is the controller's job
//     (ready_url). A start command may leave a daemon running — `sh -c
//     'server & echo $! > server.pid'`, or a program that forks — and
//     returns as soon as the command itself exits. The daemon inherits the
//     command's stdout and stderr, which are unlinked temporary files: a
//     daemon that logs should redirect its own output (`server >>server.log
//     2>&1 &`), or what it writes is kept only until it exits.
//   - start and stop should be idempotent (starting a running service and
//     stopping a stopped one succeed), as for every provider.
//   - status, when given, follows `systemctl is-active` and LSB init
//     scripts: exit 0 means running, exit 3 means stopped (not running
//     yet, during a start), any other exit code means failed, with its
//     output as the reason. A status command that cannot be run or times
//     out is an error: the state is unknown, not failed. During a wake the
//     controller asks it until it says running, then about once a second:
//     a daemon that dies then (0, later 3) fails the wake at once instead
//     of at start_timeout. It is how a wake learns that its daemon died;
//     without it, only ready_url never answering tells (docs/READINESS.md).
//   - Without a status command, the provider reports what it did itself:
//     running if the last start of the host succeeded and no stop has
//     succeeded since, stopped otherwise. That memory is per process, so
//     after a restart of waitingroom such a host reads as stopped until the
//     next wake runs start again — which is why start must be idempotent.
//
// The commands get the environment of waitingroom plus WAITINGROOM_HOST (the
// registered hostname) and WAITINGROOM_ACTION (start, stop or status).
package exec

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/providers"
)

// DefaultTimeout bounds each command when Options.Timeout is zero.
const DefaultTimeout = time.Minute

// Command names: the keys of a Target.
const (
	CommandStart  = "start"
	CommandStop   = "stop"
	CommandStatus = "status"
)

// LSB and `systemctl is-active` exit codes understood by Status.
const (
	statusRunning = 0
	statusStopped = 3
)

// Options configures a Provider.
type Options struct {
	// Timeout bounds each command run; the caller's context may end it
	// sooner. Default DefaultTimeout.
	Timeout time.Duration
	// Logger receives a debug line per command. Default slog.Default().
	Logger *slog.Logger
}

// Provider runs start, stop and status commands. It is safe for concurrent
// use.
type Provider struct {
	timeout time.Duration
	log     *slog.Logger

	mu sync.Mutex
	// started remembers, per target, that its last start succeeded and no
	// stop succeeded since: Status's answer for hosts without a status
	// command.
	started map[string]bool
}

var _ controller.Provider = (*Provider)(nil)

// New returns a Provider.
func New(o Options) *Provider {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Provider{timeout: o.Timeout, log: o.Logger, started: map[string]bool{}}
}

// Start runs the target's start command and returns when it exits.
func (p *Provider) Start(ctx context.Context, t controller.Target) error {
	err := p.runChecked(ctx, CommandStart, t)
	p.remember(t, err == nil)
	return err
}

// Stop runs the target's stop command and returns when it exits. A failed
// stop leaves the remembered state as it was: the service may still run.
func (p *Provider) Stop(ctx context.Context, t controller.Target) error {
	err := p.runChecked(ctx, CommandStop, t)
	if err == nil {
		p.remember(t, false)
	}
	return err
}

// Status runs the target's status command (see the package documentation
// for how exit codes map to states), or, without one, reports whether the
// last start succeeded with no stop since (unknown when this process has
// neither started nor stopped it).
func (p *Provider) Status(ctx context.Context, t controller.Target) (controller.Status, error) {
	et, err := providers.TargetOf[Target](t)
	if err != nil {
		return controller.Status{State: controller.StateUnknown, Reason: err.Error()}, err
	}
	argv := et.Status
	if len(argv) == 0 {
		// Without a status command only this process's own starts and
		// stops are known. After a restart, or on another replica, the
		// answer is unknown, which Reconcile leaves alone rather than
		// marking a live daemon "stopped" that would then never be stopped.
		started, known := p.isStarted(t)
		switch {
		case !known:
			return controller.Status{State: controller.StateUnknown}, nil
		case started:
			return controller.Status{State: controller.StateRunning}, nil
		}
		return controller.Status{State: controller.StateStopped}, nil
	}
	res, err := p.run(ctx, CommandStatus, argv, t.Host)
	if err != nil {
		return controller.Status{State: controller.StateUnknown, Reason: err.Error()}, err
	}
	switch res.exitCode {
	case statusRunning:
		return controller.Status{State: controller.StateRunning}, nil
	case statusStopped:
		return controller.Status{State: controller.StateStopped}, nil
	default:
		return controller.Status{
			State:  controller.StateFailed,
			Reason: exitError(CommandStatus, t.Host, argv, res).Error(),
		}, nil
	}
}

func (p *Provider) runChecked(ctx context.Context, action string, t controller.Target) error {
	et, err := providers.TargetOf[Target](t)
	if err != nil {
		return err
	}
	argv := et.command(action)
	res, err := p.run(ctx, action, argv, t.Host)
	if err != nil {
		return err
	}
	if res.exitCode != 0 {
		return exitError(action, t.Host, argv, res)
	}
	return nil
}

func key(t controller.Target) string { return t.Provider + "\x00" + t.Host }

func (p *Provider) remember(t controller.Target, started bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.started[key(t)] = started
}

func (p *Provider) isStarted(t controller.Target) (started, known bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	started, known = p.started[key(t)]
	return started, known
}
