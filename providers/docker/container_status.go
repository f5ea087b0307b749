package docker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/waitingroom/waitingroom/controller"
)

// Status reads the container's state from the engine.
//
// A missing container is a failed Status naming it, with a nil error: it is
// an answer, not a transport problem, and it stops a wake from waiting out
// its start_timeout. An unreachable engine is an error wrapping
// controller.ErrUnavailable, with StateUnknown.
func (p *Provider) Status(ctx context.Context, t controller.Target) (controller.Status, error) {
	ref, err := containerRef(t)
	if err != nil {
		return controller.Status{State: controller.StateFailed, Reason: err.Error()}, nil
	}
	ins, err := p.inspect(ctx, ref)
	if err != nil {
		if errors.Is(err, ErrNoContainer) {
			return controller.Status{State: controller.StateFailed, Reason: err.Error()}, nil
		}
		return controller.Status{State: controller.StateUnknown, Reason: err.Error()}, err
	}
	return statusOf(ins, p.network), nil
}

// inspect returns the container, a *noContainerError when it does not exist,
// or an engine error.
func (p *Provider) inspect(ctx context.Context, ref string) (container.InspectResponse, error) {
	ins, err := p.cli.ContainerInspect(ctx, ref)
	switch {
	case err == nil && (ins.ContainerJSONBase == nil || ins.State == nil):
		return ins, fmt.Errorf("inspect container %q: the engine returned no state", ref)
	case err == nil:
		return ins, nil
	case cerrdefs.IsNotFound(err):
		return ins, &noContainerError{ref: ref}
	default:
		return ins, p.engineErr(fmt.Sprintf("inspect container %q", ref), err)
	}
}

// statusOf maps the engine's view of a container to the controller's states.
//
//	running, no health check            → running
//	running, health starting            → starting
//	running, healthy                    → running
//	running, unhealthy                  → failed "unhealthy: <last failing check's output>"
//	running, "unhealthy" from a pause   → running (or starting if the last check failed)
//	paused                              → stopped (asleep with sleep: pause)
//	restarting (fewer than 3 restarts)  → starting
//	restarting (3 or more)              → failed "restarting (restart count N)"
//	created                             → stopped
//	exited                              → stopped, Exited, "container \"app\" exited with code N"
//	exited, restart policy, 3+ restarts → failed "restarting (restart count N), …" (Podman)
//	stopped (Podman: ended, not yet cleaned up) → as exited
//	removing                            → stopping
//	dead                                → failed
func statusOf(ins container.InspectResponse, network string) controller.Status {
	st := ins.State
	name := strings.TrimPrefix(ins.Name, "/")
	switch st.Status {
	case container.StateRunning:
		s := controller.Status{State: controller.StateRunning, InternalIP: internalIP(ins, network)}
		if st.Health == nil {
			return s
		}
		switch st.Health.Status {
		case container.Starting:
			s.State = controller.StateStarting
			s.Reason = "health check starting"
		case container.Unhealthy:
			if st.Health.FailingStreak == 0 {
				// The engine marks a container unhealthy when it pauses
				// it, without any failing check, and checks again only a
				// full interval (30s by default) after the unpause. The
				// newest check tells the truth: healthy when frozen is
				// healthy thawed, which keeps the pause wake instant.
				if last := newestCheck(st.Health); last == nil || last.ExitCode != 0 {
					s.State = controller.StateStarting
					s.Reason = "health check pending"
				}
				return s
			}
			s.State = controller.StateFailed
			s.Reason = "unhealthy: " + failingOutput(st.Health)
		}
		return s
	case container.StatePaused:
		return controller.Status{State: controller.StateStopped, Reason: "paused"}
	case container.StateRestarting:
		reason := fmt.Sprintf("restarting (restart count %d)", ins.RestartCount)
		if ins.RestartCount >= failedRestarts {
			if st.ExitCode != 0 {
				reason += fmt.Sprintf(", last exit code %d", st.ExitCode)
			}
			return controller.Status{State: controller.StateFailed, Reason: reason}
		}
		return controller.Status{State: controller.StateStarting, Reason: reason}
	case container.StateCreated:
		return controller.Status{State: controller.StateStopped, Reason: "created"}
	case container.StateExited, podmanStateStopped:
		if restarting(ins) && ins.RestartCount >= failedRestarts {
			// Podman has no restarting state: between two attempts of
			// its restart policy a crash-looping container is exited.
			return controller.Status{State: controller.StateFailed, Reason: fmt.Sprintf(
				"restarting (restart count %d), last exit code %d", ins.RestartCount, st.ExitCode)}
		}
		reason := fmt.Sprintf("container %q exited with code %d", name, st.ExitCode)
		if st.OOMKilled {
			reason += " (out of memory)"
		}
		if st.Error != "" {
			reason += ": " + st.Error
		}
		// Exited: it ran and ended, so a wake that started it fails at
		// once with this reason rather than at start_timeout.
		return controller.Status{State: controller.StateStopped, Reason: reason, Exited: true}
	case container.StateRemoving:
		return controller.Status{State: controller.StateStopping, Reason: fmt.Sprintf("container %q is being removed", name)}
	case container.StateDead:
		return controller.Status{State: controller.StateFailed, Reason: fmt.Sprintf("container %q is dead (the engine failed to remove it)", name)}
	}
	return controller.Status{State: controller.StateUnknown, Reason: fmt.Sprintf("container %q is in unknown engine state %q", name, st.Status)}
}

// podmanStateStopped is Podman's state of a container whose process ended
// and whose cleanup has not run yet; Docker has no such state.
const podmanStateStopped container.ContainerState = "stopped"

// restarting reports whether the container's restart policy restarts it
// after it exits.
func restarting(ins container.InspectResponse) bool {
	if ins.HostConfig == nil {
		return false
	}
	switch ins.HostConfig.RestartPolicy.Name {
	case container.RestartPolicyAlways, container.RestartPolicyUnlessStopped, container.RestartPolicyOnFailure:
		return true
	}
	return false
}

// newestCheck is the newest health check result, or nil.
func newestCheck(h *container.Health) *container.HealthcheckResult {
	for i := len(h.Log) - 1; i >= 0; i-- {
		if h.Log[i] != nil {
			return h.Log[i]
		}
	}
	return nil
}

// failingOutput is the output of the newest failing health check, trimmed,
// so the operator reads why the check fails without opening a shell.
func failingOutput(h *container.Health) string {
	for i := len(h.Log) - 1; i >= 0; i-- {
		r := h.Log[i]
		if r == nil || r.ExitCode == 0 {
			continue
		}
		out := strings.Join(strings.Fields(r.Output), " ")
		if out == "" {
			out = fmt.Sprintf("health check exited with code %d", r.ExitCode)
		}
		const max = 300
		if len(out) > max {
			out = out[:max] + "…"
		}
		return out
	}
	return fmt.Sprintf("%d failing health checks", h.FailingStreak)
}

// internalIP is the container's address on the chosen network, or on the
// first of its networks (by name) that gives it one.
func internalIP(ins container.InspectResponse, network string) string {
	if ins.NetworkSettings == nil {
		return ""
	}
	nets := ins.NetworkSettings.Networks
	if network != "" {
		if ep := nets[network]; ep != nil {
			return ep.IPAddress
		}
		return ""
	}
	names := make([]string, 0, len(nets))
	for n := range nets {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if ep := nets[n]; ep != nil && ep.IPAddress != "" {
			return ep.IPAddress
		}
	}
	return ""
}
