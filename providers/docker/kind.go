package docker

import (
	"context"
	"net/url"
	"slices"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/providers"
)

// Kind is the docker kind of provider: containers of a Docker engine.
var Kind = providers.Kind{
	Name:     "docker",
	Sleep:    []string{SleepStop, SleepPause},
	Settings: func() providers.ProviderSettings { return &Settings{} },
	Target:   func() providers.TargetSettings { return &Target{} },
	New: func(_ context.Context, c providers.Config) (controller.Provider, error) {
		s := c.Settings.(*Settings)
		return New(Options{
			Name:        c.Name,
			Host:        s.Host,
			StopTimeout: s.StopTimeout,
			Sleep:       c.Sleep,
			Labels:      s.Labels,
			Network:     s.Network,
			Logger:      c.Logger,
		})
	},
}

// Settings are a docker provider's keys under providers.NAME.
type Settings struct {
	// Host overrides DOCKER_HOST.
	Host string `yaml:"host"`
	// Labels: containers register hosts with waitingroom.* labels.
	Labels bool `yaml:"labels"`
	// StopTimeout is the grace period before SIGKILL (default 10s; an
	// explicit 0 kills at once).
	StopTimeout time.Duration `yaml:"stop_timeout"`
	// Network picks the network whose address fills {internal_ip}.
	Network string `yaml:"network"`
	// CountConnections: open TCP connections to a container keep its
	// host awake.
	CountConnections bool `yaml:"count_connections"`
}

// Check implements providers.ProviderSettings.
func (s *Settings) Check(r providers.Report) {
	if s.Host != "" {
		if u, err := url.Parse(s.Host); err != nil || !slices.Contains([]string{"unix", "tcp", "ssh", "npipe", "http", "https"}, u.Scheme) {
			r.Problem("host", "host %q is not a Docker address like unix:///var/run/docker.sock or tcp://10.0.0.2:2376", s.Host)
		}
	}
}

// Default implements providers.ProviderSettings.
func (s *Settings) Default(set func(string) bool) {
	if !set("stop_timeout") {
		s.StopTimeout = DefaultStopTimeout
	}
}

// DiscoversHosts implements providers.Discovering.
func (s *Settings) DiscoversHosts() bool { return s.Labels }

// CountsConnections implements providers.ConnectionCounting.
func (s *Settings) CountsConnections() bool { return s.CountConnections }

// Target is a docker host's keys: which container serves it.
type Target struct {
	// Container is the container's name or ID.
	Container string `yaml:"container"`
}

// String implements controller.Backend.
func (t Target) String() string { return "container=" + t.Container }

// Check implements providers.TargetSettings.
func (t *Target) Check(r providers.Report, _ providers.ProviderSettings) {
	if t.Container == "" {
		r.Missing("container", "the container's name or ID")
	}
}

// Default implements providers.TargetSettings.
func (t *Target) Default(providers.ProviderSettings) {}
