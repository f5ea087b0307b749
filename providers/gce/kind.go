package gce

import (
	"context"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/httpurl"
	"github.com/waitingroom/waitingroom/providers"
)

// Kind is the gce kind of provider: Compute Engine VMs.
var Kind = providers.Kind{
	Name:     "gce",
	Sleep:    []string{SleepStop, SleepSuspend},
	Settings: func() providers.ProviderSettings { return &Settings{} },
	Target:   func() providers.TargetSettings { return &Target{} },
	New: func(ctx context.Context, c providers.Config) (controller.Provider, error) {
		s := c.Settings.(*Settings)
		return New(ctx, Options{
			Project:         s.Project,
			CredentialsFile: s.CredentialsFile,
			Endpoint:        s.Endpoint,
			Sleep:           c.Sleep,
			Logger:          c.Logger,
		})
	},
}

// Settings are a gce provider's keys under providers.NAME.
type Settings struct {
	// Project is the default project of its hosts.
	Project string `yaml:"project"`
	// CredentialsFile is a JSON key or credential configuration file;
	// empty: Application Default Credentials.
	CredentialsFile string `yaml:"credentials_file"`
	// Endpoint replaces https://compute.googleapis.com.
	Endpoint string `yaml:"endpoint"`
}

// Check implements providers.ProviderSettings.
func (s *Settings) Check(r providers.Report) {
	if s.Endpoint != "" {
		if err := httpurl.Check(s.Endpoint, false); err != nil {
			r.Problem("endpoint", "endpoint: %v", err)
		}
	}
}

// Default implements providers.ProviderSettings.
func (s *Settings) Default(func(string) bool) {}

// Target is a gce host's keys: which VM serves it.
type Target struct {
	Instance string `yaml:"instance"`
	Zone     string `yaml:"zone"`
	// Project defaults to the provider's.
	Project string `yaml:"project"`
}

// String implements controller.Backend.
func (t Target) String() string {
	return "instance=" + t.Instance + " project=" + t.Project + " zone=" + t.Zone
}

// Check implements providers.TargetSettings.
func (t *Target) Check(r providers.Report, provider providers.ProviderSettings) {
	if t.Instance == "" {
		r.Missing("instance", "the VM's name")
	}
	if t.Zone == "" {
		r.Missing("zone", "the VM's zone, e.g. europe-west1-b")
	}
	if p, _ := provider.(*Settings); t.Project == "" && (p == nil || p.Project == "") {
		r.Problem("", "gce hosts need a project: set project on the host or on provider %q", r.Provider())
	}
}

// Default implements providers.TargetSettings: the provider's project.
func (t *Target) Default(provider providers.ProviderSettings) {
	if p, ok := provider.(*Settings); ok && t.Project == "" {
		t.Project = p.Project
	}
}
