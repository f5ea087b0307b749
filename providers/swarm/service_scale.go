package swarm

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/swarm"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/backoff"
	"github.com/waitingroom/waitingroom/internal/sleep"
)

// conflictRetries bounds the re-reads after a version conflict: each one
// means another writer (a second waitingroom replica, an operator's docker
// service scale) changed the service in between, and the next read sees it.
const conflictRetries = 8

// Start scales the service to its replicas: LabelReplicas (written when it
// was put to sleep), else DefaultReplicas. It is idempotent: a service with
// replicas already is left alone, whoever scaled it. It returns once the
// manager has accepted the new spec; the tasks running is Status's business.
func (p *Provider) Start(ctx context.Context, t controller.Target) error {
	ref, err := serviceRef(t)
	if err != nil {
		return err
	}
	return p.update(ctx, ref, "scale up", func(svc swarm.Service) (*swarm.ServiceSpec, error) {
		cur := svc.Spec.Mode.Replicated.Replicas
		if cur != nil && *cur > 0 {
			return nil, nil
		}
		n, ok, err := replicasLabel(svc.Spec.Labels)
		if err != nil {
			return nil, fmt.Errorf("service %q: %w", ref, err)
		}
		if !ok {
			n = DefaultReplicas
		}
		spec := svc.Spec
		spec.Mode.Replicated.Replicas = &n
		p.log.Debug("scaling up", "service", ref, "host", t.Host, "replicas", n)
		return &spec, nil
	})
}

// Stop scales the service to 0, first remembering its replicas in
// LabelReplicas for the next Start. It is idempotent: a service at 0
// succeeds. A label change alone does not redeploy the service's tasks.
func (p *Provider) Stop(ctx context.Context, t controller.Target) error {
	ref, err := serviceRef(t)
	if err != nil {
		return err
	}
	if err := checkSleep(t.Sleep); err != nil {
		return fmt.Errorf("host %s: %w", t.Host, err)
	}
	return p.update(ctx, ref, "scale to 0", func(svc swarm.Service) (*swarm.ServiceSpec, error) {
		cur := svc.Spec.Mode.Replicated.Replicas
		if cur == nil || *cur == 0 {
			return nil, nil
		}
		spec := svc.Spec
		labels := make(map[string]string, len(spec.Labels)+1)
		for k, v := range spec.Labels {
			labels[k] = v
		}
		labels[LabelReplicas] = strconv.FormatUint(*cur, 10)
		spec.Labels = labels
		zero := uint64(0)
		spec.Mode.Replicated.Replicas = &zero
		p.log.Debug("scaling to 0", "service", ref, "host", t.Host, "remembered", *cur)
		return &spec, nil
	})
}

// update reads the service, asks change for the spec to write (nil: nothing
// to do) and writes it at the version it read. When another writer got in
// between, the engine refuses the write; update reads again and asks again,
// so concurrent Starts (or a Start racing an operator's scale) end with
// one scale-up and no error.
func (p *Provider) update(ctx context.Context, ref, op string, change func(swarm.Service) (*swarm.ServiceSpec, error)) error {
	retry := backoff.Policy{Base: 10 * time.Millisecond, Max: 200 * time.Millisecond}
	for attempt := 1; ; attempt++ {
		svc, err := p.inspect(ctx, ref)
		if err != nil {
			return err
		}
		if svc.Spec.Mode.Replicated == nil {
			return fmt.Errorf("%s service %q: it is not a replicated service (%s); only replicated services can be scaled to 0 and back",
				op, ref, modeName(svc.Spec.Mode))
		}
		spec, err := change(svc)
		if err != nil || spec == nil {
			return err
		}
		_, err = p.cli.ServiceUpdate(ctx, svc.ID, svc.Version, *spec, swarm.ServiceUpdateOptions{})
		if err == nil {
			return nil
		}
		if !isVersionConflict(err) || attempt >= conflictRetries {
			return p.engineErr(fmt.Sprintf("%s service %q", op, ref), err)
		}
		if err := sleep.For(ctx, retry.Jittered(attempt)); err != nil {
			return err
		}
	}
}

// inspect returns the service, a *noServiceError when it does not exist, or
// an engine error.
func (p *Provider) inspect(ctx context.Context, ref string) (swarm.Service, error) {
	svc, _, err := p.cli.ServiceInspectWithRaw(ctx, ref, swarm.ServiceInspectOptions{})
	switch {
	case err == nil:
		return svc, nil
	case cerrdefs.IsNotFound(err):
		return svc, &noServiceError{ref: ref}
	default:
		return svc, p.engineErr(fmt.Sprintf("inspect service %q", ref), err)
	}
}

// isVersionConflict recognises the manager refusing a write based on an
// outdated version of the service. The engine sends it as a plain error
// with swarmkit's words, without a dedicated status code.
func isVersionConflict(err error) bool {
	return strings.Contains(err.Error(), "update out of sequence")
}

func modeName(m swarm.ServiceMode) string {
	switch {
	case m.Global != nil:
		return "global"
	case m.ReplicatedJob != nil:
		return "replicated job"
	case m.GlobalJob != nil:
		return "global job"
	}
	return "unknown mode"
}
