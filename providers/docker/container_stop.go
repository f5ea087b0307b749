package docker

import (
	"context"
	"fmt"
	"math"

	"github.com/docker/docker/api/types/container"
	"github.com/waitingroom/waitingroom/controller"
)

// Stop puts the container to sleep the target's way (t.Sleep, else the
// provider's default). It is idempotent: stopping a stopped (or paused)
// container succeeds.
//
//   - stop: the engine sends the container's own stop signal (STOPSIGNAL,
//     SIGTERM by default) and kills it after the provider's stop_timeout.
//   - pause: the container's processes are frozen; a wake unpauses them in
//     milliseconds and they keep their memory.
func (p *Provider) Stop(ctx context.Context, t controller.Target) error {
	ref, err := containerRef(t)
	if err != nil {
		return err
	}
	mode, err := p.sleepMode(t)
	if err != nil {
		return err
	}
	ins, err := p.inspect(ctx, ref)
	if err != nil {
		return err // names the container; the controller adds "stop:"
	}
	state := ins.State.Status
	if mode == SleepPause {
		if state != container.StateRunning {
			return nil // paused, or not running at all: asleep either way
		}
		if err := p.cli.ContainerPause(ctx, ref); err != nil {
			return p.engineErr(fmt.Sprintf("pause container %q", ref), err)
		}
		p.log.Debug("paused", "container", ref, "host", t.Host)
		return nil
	}
	switch state {
	case container.StateCreated, container.StateExited, container.StateDead:
		return nil
	case container.StatePaused:
		// Frozen processes cannot handle the stop signal, so the stop would
		// always end in SIGKILL after the grace period: thaw them first.
		if err := p.cli.ContainerUnpause(ctx, ref); err != nil {
			return p.engineErr(fmt.Sprintf("unpause container %q before stopping it", ref), err)
		}
	}
	timeout := int(math.Ceil(p.stopTimeout.Seconds()))
	if err := p.cli.ContainerStop(ctx, ref, container.StopOptions{Timeout: &timeout}); err != nil {
		return p.engineErr(fmt.Sprintf("stop container %q", ref), err)
	}
	p.log.Debug("stopped", "container", ref, "host", t.Host)
	return nil
}
