package swarm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/waitingroom/waitingroom/controller"
)

// Status reads the service and its tasks from the manager.
//
// A missing service is a failed Status naming it, with a nil error: it is an
// answer, not a transport problem, and it stops a wake from waiting out its
// start_timeout. An unreachable engine is an error wrapping
// controller.ErrUnavailable, with StateUnknown.
func (p *Provider) Status(ctx context.Context, t controller.Target) (controller.Status, error) {
	ref, err := serviceRef(t)
	if err != nil {
		return controller.Status{State: controller.StateFailed, Reason: err.Error()}, nil
	}
	svc, err := p.inspect(ctx, ref)
	if err != nil {
		if errors.Is(err, ErrNoService) {
			return controller.Status{State: controller.StateFailed, Reason: err.Error()}, nil
		}
		return controller.Status{State: controller.StateUnknown, Reason: err.Error()}, err
	}
	if svc.Spec.Mode.Replicated == nil {
		return controller.Status{State: controller.StateFailed, Reason: fmt.Sprintf(
			"service %q is not a replicated service (%s); only replicated services can be scaled to 0 and back", ref, modeName(svc.Spec.Mode))}, nil
	}
	tasks, err := p.cli.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", svc.ID))})
	if err != nil {
		err = p.engineErr(fmt.Sprintf("list tasks of service %q", ref), err)
		return controller.Status{State: controller.StateUnknown, Reason: err.Error()}, err
	}
	return statusOf(svc, tasks), nil
}

// statusOf maps a replicated service and its tasks to the controller's
// states. Desired is the service's replicas; a task counts as running when
// the manager wants it running and it runs.
//
//	desired 0, no task running               → stopped
//	desired 0, tasks still running           → stopping
//	running tasks ≥ desired                  → running
//	a task of this scale-up failed, was
//	rejected, or cannot be scheduled         → failed "<task> rejected: No such image: …"
//	otherwise                                → starting "1 of 2 tasks running; <task> preparing"
//
// "This scale-up" is the tasks created since the service's last update, so
// the failures kept in the task history from an earlier wake do not fail
// the next one. A failure is reported at the first failed task, though the
// manager keeps replacing it per its restart policy: a task that fails once
// usually fails again, and the wake should say why at once rather than
// after start_timeout; the watch reports running when a replacement runs.
func statusOf(svc swarm.Service, tasks []swarm.Task) controller.Status {
	name := svc.Spec.Name
	desired := uint64(1) // the engine's default when the spec leaves it out
	if r := svc.Spec.Mode.Replicated.Replicas; r != nil {
		desired = *r
	}
	// Newest first: the task whose state explains the service.
	slices.SortFunc(tasks, func(a, b swarm.Task) int { return b.CreatedAt.Compare(a.CreatedAt) })
	var running, stillRunning []swarm.Task
	for _, tk := range tasks {
		if tk.Status.State != swarm.TaskStateRunning {
			continue
		}
		if tk.DesiredState == swarm.TaskStateRunning {
			running = append(running, tk)
		} else {
			stillRunning = append(stillRunning, tk)
		}
	}
	if desired == 0 {
		if n := len(running) + len(stillRunning); n > 0 {
			return controller.Status{State: controller.StateStopping, Reason: fmt.Sprintf("service %q scaled to 0; %d task(s) still running", name, n)}
		}
		return controller.Status{State: controller.StateStopped, Reason: fmt.Sprintf("service %q is scaled to 0", name)}
	}
	if uint64(len(running)) >= desired {
		return controller.Status{State: controller.StateRunning, InternalIP: taskIP(running[0])}
	}
	for _, tk := range tasks {
		if tk.CreatedAt.Before(svc.UpdatedAt) {
			break // older than this scale-up
		}
		switch st := tk.Status; {
		case strings.Contains(st.Err, "host-mode port already in use"):
			// The task before it, just shut down, still holds its
			// published port: the scheduler places this one when the
			// port is free, a moment later.
		case st.State == swarm.TaskStateFailed, st.State == swarm.TaskStateRejected,
			st.Err != "" && (st.State == swarm.TaskStatePending || st.State == swarm.TaskStateNew || st.State == swarm.TaskStateAllocated):
			return controller.Status{State: controller.StateFailed, Reason: fmt.Sprintf("task %s %s", taskName(name, tk), describe(st))}
		}
	}
	reason := fmt.Sprintf("%d of %d tasks running", len(running), desired)
	for _, tk := range tasks {
		if tk.DesiredState == swarm.TaskStateRunning && tk.Status.State != swarm.TaskStateRunning {
			reason += fmt.Sprintf("; task %s %s", taskName(name, tk), describe(tk.Status))
			break
		}
	}
	return controller.Status{State: controller.StateStarting, Reason: reason}
}

// describe is a task's state in the manager's words: "rejected: No such
// image: app:1", "pending: no suitable node (…)", "preparing".
func describe(st swarm.TaskStatus) string {
	out := string(st.State)
	if st.Err != "" {
		out += ": " + st.Err
	} else if st.ContainerStatus != nil && st.ContainerStatus.ExitCode != 0 {
		out += fmt.Sprintf(": exit code %d", st.ContainerStatus.ExitCode)
	}
	return out
}

// taskName is the task's name as `docker service ps` shows it (app.1).
func taskName(service string, tk swarm.Task) string {
	if tk.Slot > 0 {
		return fmt.Sprintf("%s.%d", service, tk.Slot)
	}
	return service + "." + tk.ID[:min(12, len(tk.ID))]
}

// taskIP is the task's address on its first overlay network, where it has
// one ({internal_ip} in ready_url). Tasks on the default bridge (no
// networks in the service) have none: publish a port instead.
func taskIP(tk swarm.Task) string {
	for _, na := range tk.NetworksAttachments {
		if na.Network.Spec.Name == "ingress" {
			continue // the routing mesh's address answers for every task
		}
		for _, a := range na.Addresses {
			if ip, _, err := net.ParseCIDR(a); err == nil {
				return ip.String()
			}
			if ip := net.ParseIP(strings.TrimSpace(a)); ip != nil {
				return ip.String()
			}
		}
	}
	return ""
}
