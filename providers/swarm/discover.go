package swarm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/providers"
)

// OriginLabels is the Host.Origin of discovered hosts.
const OriginLabels = "swarm-labels"

// Discover lists the swarm's services that carry a waitingroom.host label
// (service labels, not the task template's container labels) and returns
// them as hosts of this provider, sorted by name; services at 0 replicas are
// included: they are the ones to wake. The labels are the Docker provider's
// (docs/providers.md), plus waitingroom.replicas.
//
// It returns nil, nil when label discovery is off. A service with invalid
// labels, or claiming a host another service already claims, is left out
// and reported in the returned error (one line per problem, each naming the
// service); the valid hosts are returned alongside it.
func (p *Provider) Discover(ctx context.Context) ([]controller.Host, error) {
	if !p.labels {
		return nil, nil
	}
	list, err := p.cli.ServiceList(ctx, swarm.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("label", providers.KeyHost))})
	if err != nil {
		return nil, p.engineErr("list services for label discovery", err)
	}
	var (
		hosts []controller.Host
		errs  []error
	)
	for _, svc := range list {
		h, err := HostFromLabels(p.name, svc.Spec.Name, svc.Spec.Labels)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		hosts = append(hosts, h)
	}
	// Deterministic winner when two services claim one host: the first
	// service name in sort order.
	slices.SortFunc(hosts, func(a, b controller.Host) int {
		return strings.Compare(a.Name+"\x00"+serviceOf(a.Target), b.Name+"\x00"+serviceOf(b.Target))
	})
	out := make([]controller.Host, 0, len(hosts))
	for _, h := range hosts {
		if n := len(out); n > 0 && out[n-1].Name == h.Name {
			errs = append(errs, fmt.Errorf("service %q: label %s=%q: host already claimed by service %q; ignored",
				serviceOf(h.Target), providers.KeyHost, h.Name, serviceOf(out[n-1].Target)))
			continue
		}
		out = append(out, h)
	}
	return out, errors.Join(errs...)
}

// HostFromLabels builds the host a service's labels describe, for the
// provider named provider. Errors name the service and the label.
func HostFromLabels(provider, service string, labels map[string]string) (controller.Host, error) {
	owner := fmt.Sprintf("service %q", service)
	rule := providers.LabelRule{Word: "label", Extra: []string{LabelReplicas}, CheckSleep: checkSleep}
	h, err := rule.HostFromLabels(owner, labels, controller.Target{
		Provider: provider,
		Backend:  Target{Service: service},
	})
	if err != nil {
		return controller.Host{}, err
	}
	if _, _, err := replicasLabel(labels); err != nil {
		return controller.Host{}, fmt.Errorf("%s: %w", owner, err)
	}
	h.Origin = OriginLabels
	return h, nil
}
