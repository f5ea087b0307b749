package exec

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/redact"
	"github.com/waitingroom/waitingroom/providers"
)

// Kind is the exec kind of provider: operator-given commands.
var Kind = providers.Kind{
	Name:     "exec",
	Sleep:    []string{"stop"},
	Settings: func() providers.ProviderSettings { return &Settings{} },
	Target:   func() providers.TargetSettings { return &Target{} },
	New: func(_ context.Context, c providers.Config) (controller.Provider, error) {
		return New(Options{Timeout: c.Settings.(*Settings).Timeout, Logger: c.Logger}), nil
	},
}

// Settings are an exec provider's keys under providers.NAME.
type Settings struct {
	// Timeout bounds each command (default 1m).
	Timeout time.Duration `yaml:"timeout"`
	// CountConnections: open TCP connections to a backend's port keep its
	// host awake.
	CountConnections bool `yaml:"count_connections"`
}

// Check implements providers.ProviderSettings.
func (s *Settings) Check(r providers.Report) {
	if r.Set("timeout") && s.Timeout == 0 {
		r.Problem("timeout", "timeout must be greater than 0 (leave it out for the default 1m)")
	}
}

// Default implements providers.ProviderSettings.
func (s *Settings) Default(func(string) bool) {
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
}

// CountsConnections implements providers.ConnectionCounting.
func (s *Settings) CountsConnections() bool { return s.CountConnections }

// Target is an exec host's keys: its commands, as argv lists (never
// through a shell). Status is optional.
type Target struct {
	Start  []string `yaml:"start" hint:"a command is an argv list, e.g. [\"systemctl\", \"start\", \"app\"]; it never runs through a shell"`
	Stop   []string `yaml:"stop" hint:"a command is an argv list, e.g. [\"systemctl\", \"start\", \"app\"]; it never runs through a shell"`
	Status []string `yaml:"status" hint:"a command is an argv list, e.g. [\"systemctl\", \"start\", \"app\"]; it never runs through a shell"`
}

// String implements controller.Backend: the start command, secrets
// hidden.
func (t Target) String() string {
	if len(t.Start) == 0 {
		return ""
	}
	return "start: " + strings.Join(redact.Args(t.Start), " ")
}

// command is the argv of one of the target's commands.
func (t Target) command(name string) []string {
	switch name {
	case CommandStart:
		return t.Start
	case CommandStop:
		return t.Stop
	case CommandStatus:
		return t.Status
	}
	return nil
}

// Check implements providers.TargetSettings.
func (t *Target) Check(r providers.Report, _ providers.ProviderSettings) {
	for _, k := range []string{CommandStart, CommandStop, CommandStatus} {
		argv := t.command(k)
		switch {
		case !r.Set(k) && k != CommandStatus:
			r.Missing(k, fmt.Sprintf(`the command as an argv list, e.g. ["systemctl", %q, "app"]`, k))
		case !r.Set(k):
		case len(argv) == 0:
			r.Problem(k, "%s is empty; give the command as an argv list, e.g. [\"systemctl\", %q, \"app\"]", k, k)
		case strings.TrimSpace(argv[0]) == "":
			r.Problem(k, "%s: the program (first item) is empty", k)
		}
	}
}

// Default implements providers.TargetSettings.
func (t *Target) Default(providers.ProviderSettings) {}
