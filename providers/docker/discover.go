package docker

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/waitingroom/waitingroom/controller"
)

// The labels Discover reads. LabelHost is required; the others are optional
// and mean what the same keys mean in the YAML registry.
const (
	LabelHost         = "waitingroom.host"
	LabelIdleTimeout  = "waitingroom.idle_timeout"
	LabelStartTimeout = "waitingroom.start_timeout"
	LabelReadyURL     = "waitingroom.ready_url"
	LabelSleep        = "waitingroom.sleep"
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
				f.container, LabelHost, f.host.Name, out[len(out)-1].Target.Field("container")))
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
	bad := func(label, value, why string) error {
		return fmt.Errorf("container %q: label %s=%q: %s", containerName, label, value, why)
	}
	for k := range labels {
		switch k {
		case LabelHost, LabelIdleTimeout, LabelStartTimeout, LabelReadyURL, LabelSleep:
		default:
			if strings.HasPrefix(k, "waitingroom.") {
				return controller.Host{}, bad(k, labels[k], fmt.Sprintf("unknown label (known: %s)",
					strings.Join([]string{LabelHost, LabelIdleTimeout, LabelStartTimeout, LabelReadyURL, LabelSleep}, ", ")))
			}
		}
	}
	raw := labels[LabelHost]
	name, err := normalizeHost(raw)
	if err != nil {
		return controller.Host{}, bad(LabelHost, raw, err.Error())
	}
	h := controller.Host{
		Name:     name,
		Provider: provider,
		Origin:   OriginLabels,
		Target: controller.Target{
			Host:     name,
			Provider: provider,
			Fields:   map[string]string{"container": containerName},
		},
	}
	for label, dst := range map[string]*time.Duration{LabelIdleTimeout: &h.IdleTimeout, LabelStartTimeout: &h.StartTimeout} {
		v, ok := labels[label]
		if !ok {
			continue
		}
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d <= 0 {
			return controller.Host{}, bad(label, v, "want a positive duration such as 30m or 90s")
		}
		*dst = d
	}
	if v, ok := labels[LabelSleep]; ok {
		if err := checkSleep(v); err != nil {
			return controller.Host{}, bad(LabelSleep, v, err.Error())
		}
		h.Target.Sleep = v
	}
	if v, ok := labels[LabelReadyURL]; ok {
		if err := checkReadyURL(v); err != nil {
			return controller.Host{}, bad(LabelReadyURL, v, err.Error())
		}
		h.ReadyURL = v
	}
	return h, nil
}

// normalizeHost lower-cases a hostname and drops a trailing dot, rejecting
// what is not a plain DNS name (ports, schemes, wildcards, bad labels).
func normalizeHost(s string) (string, error) {
	h := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
	if h == "" {
		return "", errors.New("empty hostname")
	}
	if len(h) > 253 {
		return "", errors.New("hostname longer than 253 characters")
	}
	for _, part := range strings.Split(h, ".") {
		if part == "" || len(part) > 63 {
			return "", errors.New("want a hostname such as app.example.com (empty or over-long label)")
		}
		if part[0] == '-' || part[len(part)-1] == '-' {
			return "", errors.New("want a hostname such as app.example.com (a label starts or ends with '-')")
		}
		for _, r := range part {
			if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-') {
				return "", fmt.Errorf("want a hostname such as app.example.com (no %q: no scheme, port or path)", r)
			}
		}
	}
	return h, nil
}

// checkReadyURL accepts an absolute http(s) URL, with {internal_ip} or
// {external_ip} standing for the host.
func checkReadyURL(s string) error {
	probe := strings.NewReplacer("{internal_ip}", "192.0.2.1", "{external_ip}", "192.0.2.1").Replace(s)
	u, err := url.Parse(probe)
	if err != nil {
		return fmt.Errorf("not a URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return errors.New("want an absolute http:// or https:// URL")
	}
	return nil
}
