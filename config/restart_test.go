package config

import (
	"slices"
	"testing"

	"github.com/waitingroom/waitingroom/providers/kinds"
)

func TestRestartNeeded(t *testing.T) {
	const base = "providers:\n  exec: {}\nhosts:\n  - {host: a.example.com, provider: exec, start: [x], stop: [y]}\n"
	parse := func(extra string) *Config {
		t.Helper()
		cfg, err := Parse("wr.yaml", []byte(base+extra), kinds.All())
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	running := parse("")
	tests := []struct {
		name, extra string
		want        []string
	}{
		{"nothing changed", "", nil},
		{"hosts, defaults, scheduler and admin users apply live",
			"defaults: {idle_timeout: 5m}\nscheduler: {sweep_interval: 10s}\nadmin:\n  tokens: [{name: ci, env: CI_TOKEN}]\n", nil},
		{"page and limits need a restart", "page: {status: 200}\nlimits: {max_url_length: 4096}\n", []string{"page", "limits"}},
		{"the admin listener needs one, its tokens do not",
			"admin:\n  listen: 127.0.0.1:9999\n  tokens: [{name: ci, env: CI_TOKEN}]\n", []string{"admin.listen"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RestartNeeded(running, parse(tt.extra)); !slices.Equal(got, tt.want) {
				t.Errorf("RestartNeeded = %v, want %v", got, tt.want)
			}
		})
	}
	if got := RestartNeeded(nil, running); got != nil {
		t.Errorf("without a running configuration: %v", got)
	}
}
