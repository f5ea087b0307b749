package docker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/providers"
)

// The labels Discover reads. LabelHost is required; the others are optional
// and mean what the same keys mean in the YAML registry.
const (
	LabelHost         = providers.KeyHost
	LabelIdleTimeout  = providers.KeyIdleTimeout
	LabelStartTimeout = providers.KeyStartTimeout
	LabelReadyURL     = providers.KeyReadyURL
	LabelSleep        = providers.KeySleep
)

// OriginLabels is the Host.Origin of discovered hosts.
const OriginLabels = "docker-labels"

// Discover lists the engine's containers, running or not, that carry a
// waitingroom.host label and returns them as hosts of this provider, sorted
// by name. Stopped containers are included: they are the ones to wake.
//
// It returns nil, nil when label discovery is off (Options.Labels false). A
// container with invalid labels, or claiming a host another container
// already claims, is left out and reported in the returned error (one line
// per problem, each naming the container); the valid hosts are returned
// alongside it. Zero IdleTimeout and StartTimeout mean "the defaults": the
// caller applies them as it does to YAML hosts.
func (p *Provider) Discover(ctx context.Context) ([]controller.Host, error) {
	if !p.labels {
		return nil, nil
	}
	list, err := p.cli.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", LabelHost)),
	})
	if err != nil {
		return nil, p.engineErr("list containers for label discovery", err)
	}
	type found struct {
		host      controller.Host
		container string
	}
	var (
		hosts []found
		errs  []error
	)
	for _, c := range list {
		name := containerName(c)
		h, err := HostFromLabels(p.name, name, c.Labels)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		hosts = append(hosts, found{h, name})
	}
	// Deterministic winner when two containers claim one host: the first
	// container name in sort order.
	slices.SortFunc(hosts, func(a, b found) int {
		return strings.Compare(a.host.Name+"\x00"+a.container, b.host.Name+"\x00"+b.container)
	})
	out := make([]controller.Host, 0, len(hosts))
	for i, f := range hosts {
		if i > 0 && hosts[i-1].host.Name == f.host.Name {
			errs = append(errs, fmt.Errorf("container %q: label %s=%q: host already claimed by container %q; ignored",
				f.container, LabelHost, f.host.Name, containerOf(out[len(out)-1].Target)))
			continue
		}
		out = append(out, f.host)
	}
	return out, errors.Join(errs...)
}

// containerName is the container's primary name without the leading slash,
// or its short ID when it has none.
func containerName(c container.Summary) string {
	for _, n := range c.Names {
		n = strings.TrimPrefix(n, "/")
		if n != "" && !strings.Contains(n, "/") { // "/other/alias" are legacy links
			return n
		}
	}
	return c.ID[:min(12, len(c.ID))]
}

// HostFromLabels builds the host a container's labels describe, for the
// provider named provider. Errors name the container and the label.
func HostFromLabels(provider, containerName string, labels map[string]string) (controller.Host, error) {
	rule := providers.LabelRule{Word: "label", CheckSleep: checkSleep}
	h, err := rule.HostFromLabels(fmt.Sprintf("container %q", containerName), labels, controller.Target{
		Provider: provider,
		Backend:  Target{Container: containerName},
	})
	if err != nil {
		return controller.Host{}, err
	}
	h.Origin = OriginLabels
	return h, nil
}
