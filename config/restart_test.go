package config

import (
	"reflect"
	"slices"
	"strings"
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
		{"the hosts' wake budgets apply live, the client ones do not",
			"budgets: {max_wakes_per_day: 0, max_wakes_per_hour: 2, client_wakes_per_hour: 3}\n", []string{"budgets.client_wakes_per_hour"}},
		{"page and limits need a restart", "page: {status: 200}\nlimits: {max_url_length: 4096}\n", []string{"page", "limits"}},
		{"the admin listener needs one, its tokens do not",
			"admin:\n  listen: 127.0.0.1:9999\n  tokens: [{name: ci, env: CI_TOKEN}]\n", []string{"admin.listen"}},
		// GET /api/traefik generates the routes from the configuration in
		// use: their settings apply at once; the metrics poller does not.
		{"Traefik's routes apply live",
			"traefik:\n  fallback: health-check-only\n  health_check_interval: 7s\n  middlewares: [auth@file]\n  entry_points: [websecure]\n",
			nil},
		{"Traefik's metrics need a restart", "traefik: {metrics_url: 'http://127.0.0.1:8082/metrics', fallback: health-check-only}\n",
			[]string{"traefik.metrics_url"}},
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

// Every live setting names a setting of the file: a misspelt one would
// leave its section reported as waiting for a restart.
func TestLiveSettingsExist(t *testing.T) {
	for _, key := range liveSettings() {
		typ := reflect.TypeFor[File]()
		for part := range strings.SplitSeq(key, ".") {
			found := false
			for i := range typ.NumField() {
				if tag, _, _ := strings.Cut(typ.Field(i).Tag.Get("yaml"), ","); tag == part {
					typ, found = typ.Field(i).Type, true
					break
				}
			}
			if !found {
				t.Fatalf("live setting %q: no %q in the file's settings", key, part)
			}
		}
	}
}
