package config

import (
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/providers/kinds"
)

// A host registered by labels gets the file's defaults, as the file's
// hosts do; defaults.hold_timeout was missed (TestEveryConfigField...
// found it).
func TestLabelHostsGetTheFileDefaults(t *testing.T) {
	cfg, err := Parse("wr.yaml", []byte("defaults:\n  idle_timeout: 7m\n  start_timeout: 2m\n  hold_timeout: 9s\n  wait: page\nbudgets:\n  max_wakes_per_day: 5\n  max_wakes_per_hour: 2\nproviders:\n  docker: {labels: true}\n"), kinds.All())
	if err != nil {
		t.Fatal(err)
	}
	h := cfg.HostDefaults(controller.Host{Name: "label.example.com", Provider: "docker"})
	tests := []struct {
		name      string
		got, want any
	}{
		{"idle_timeout", h.IdleTimeout, 7 * time.Minute},
		{"start_timeout", h.StartTimeout, 2 * time.Minute},
		{"hold_timeout", HoldTimeoutOf(h), 9 * time.Second},
		{"wait", h.Wait, "page"},
		{"wake", h.WakeMode, DefaultWake},
		{"max_wakes_per_day", h.MaxWakesPerDay, 5},
		{"max_wakes_per_hour", h.MaxWakesPerHour, 2},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}
