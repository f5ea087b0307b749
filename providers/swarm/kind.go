package swarm

import (
	"context"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/dockerengine"
	"github.com/waitingroom/waitingroom/providers"
)

// Kind is the swarm kind of provider: replicated services of a Docker
// Swarm, scaled to 0 to sleep.
var Kind = providers.Kind{
	Name:     "swarm",
	Sleep:    []string{"stop"}, // scale to 0
	Settings: func() providers.ProviderSettings { return &Settings{} },
	Target:   func() providers.TargetSettings { return &Target{} },
	New: func(_ context.Context, c providers.Config) (controller.Provider, error) {
		s := c.Settings.(*Settings)
		return New(Options{Name: c.Name, Host: s.Host, Labels: s.Labels, Logger: c.Logger})
	},
}

// Settings are a swarm provider's keys under providers.NAME.
type Settings struct {
	// Host is a swarm manager's address; overrides DOCKER_HOST.
	Host string `yaml:"host"`
	// Labels: services register hosts with waitingroom.* labels.
	Labels bool `yaml:"labels"`
}

// Check implements providers.ProviderSettings.
func (s *Settings) Check(r providers.Report) {
	if err := dockerengine.CheckHost(s.Host); err != nil {
		r.Problem("host", "%v", err)
	}
}

// Default implements providers.ProviderSettings.
func (s *Settings) Default(func(string) bool) {}

// DiscoversHosts implements providers.Discovering.
func (s *Settings) DiscoversHosts() bool { return s.Labels }

// Target is a swarm host's keys: which service serves it.
type Target struct {
	// Service is the service's name or ID.
	Service string `yaml:"service"`
}

// String implements controller.Backend.
func (t Target) String() string { return "service=" + t.Service }

// Check implements providers.TargetSettings.
func (t *Target) Check(r providers.Report, _ providers.ProviderSettings) {
	if t.Service == "" {
		r.Missing("service", "the Swarm service's name or ID")
	}
}

// Default implements providers.TargetSettings.
func (t *Target) Default(providers.ProviderSettings) {}
