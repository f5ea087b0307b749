package docker

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/container"
	"github.com/waitingroom/waitingroom/controller"
)

// Start makes the container run. It is idempotent: a running (or restarting)
// container is left alone, a paused one is unpaused, a created or exited one
// is started. It returns once the engine has started the process; readiness
// (health check, ready_url) is the controller's business, through Status.
func (p *Provider) Start(ctx context.Context, t controller.Target) error {
	ref, err := containerRef(t)
	if err != nil {
		return err
	}
	ins, err := p.inspect(ctx, ref)
	if err != nil {
		return err // names the container; the controller adds "start:"
	}
	switch ins.State.Status {
	case container.StateRunning, container.StateRestarting:
		return nil
	case container.StatePaused:
		if err := p.cli.ContainerUnpause(ctx, ref); err != nil {
			return p.engineErr(fmt.Sprintf("unpause container %q", ref), err)
		}
		p.log.Debug("unpaused", "container", ref, "host", t.Host)
		return nil
	case container.StateRemoving, container.StateDead:
		return fmt.Errorf("start container %q: it is %s", ref, ins.State.Status)
	}
	// The engine answers 304 for a container that started meanwhile, which
	// the client reports as success: a race with another starter is fine.
	if err := p.cli.ContainerStart(ctx, ref, container.StartOptions{}); err != nil {
		return p.engineErr(fmt.Sprintf("start container %q", ref), err)
	}
	p.log.Debug("started", "container", ref, "host", t.Host)
	return nil
}
