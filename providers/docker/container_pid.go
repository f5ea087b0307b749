package docker

import (
	"context"
	"fmt"

	"github.com/waitingroom/waitingroom/controller"
)

// PID returns the host PID of the container's init process, so the open
// connections of a container can be counted from /proc/PID/net/tcp (the
// container's network namespace). It only means something when waitingroom
// sees the host's PIDs: on the host itself, or in a container with
// `pid: host`.
func (p *Provider) PID(ctx context.Context, t controller.Target) (int, error) {
	ref, err := containerRef(t)
	if err != nil {
		return 0, err
	}
	ins, err := p.inspect(ctx, ref)
	if err != nil {
		return 0, err
	}
	if !ins.State.Running || ins.State.Pid <= 0 {
		return 0, fmt.Errorf("container %q is not running", ref)
	}
	return ins.State.Pid, nil
}
