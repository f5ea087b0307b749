package main

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/config"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/guard"
	"github.com/waitingroom/waitingroom/internal/testutil/fake"
	"github.com/waitingroom/waitingroom/providers/kinds"
	"github.com/waitingroom/waitingroom/store/memory"
)

// budgetsFor builds the Budgets serve builds from cfg, over a memory store
// on a fake clock.
func budgetsFor(t *testing.T, cfg *config.Config) (*guard.Budgets, *guard.Hasher) {
	t.Helper()
	clock := fake.NewClock(time.Date(2030, 6, 15, 10, 20, 0, 0, time.UTC))
	bo := budgetOptions(cfg.File.Budgets)
	h := guard.NewHasher(make([]byte, 32), clock)
	bo.Hasher, bo.Logger = h, slog.New(slog.NewTextHandler(io.Discard, nil))
	return guard.NewBudgets(memory.New(clock), bo, clock), h
}

// wakesAllowed counts how many of n public wakes of h the budgets let
// through within one hour, each from a client in its own /24, so only the
// host's budgets can bind.
func wakesAllowed(t *testing.T, b *guard.Budgets, hasher *guard.Hasher, h controller.Host, n int) int {
	t.Helper()
	allowed := 0
	for i := range n {
		addr := netip.AddrFrom4([4]byte{198, 18, byte(i), 1})
		c := controller.Client{Key: hasher.ClientKey(addr), Source: "page", Class: "browser"}
		if err := b.AllowWake(t.Context(), h, c); err == nil {
			allowed++
		}
	}
	return allowed
}

// The host budgets follow one rule, resolved by config and enforced as is
// by guard: a host's own max_wakes_per_day / max_wakes_per_hour, else the
// budgets: section's, else 48 and 6; 0 at any level means no limit (the
// wakes are still counted). Hosts registered by labels get the same
// defaults through config.HostDefaults.
func TestHostWakeBudgetsFromConfigToGuard(t *testing.T) {
	const providers = "providers:\n  local: {type: exec}\n"
	const attempts = 20
	tests := []struct {
		name            string
		yaml            string
		label           bool // the host comes from labels, not the file
		perDay, perHour int  // what HostUsage reports (0: no limit)
		allowed         int  // of attempts wakes within one hour
	}{
		{"defaults", "hosts:\n  - {host: a.example.com, provider: local, start: [x], stop: [y]}\n", false, 48, 6, 6},
		{"host's own hourly budget", "hosts:\n  - {host: a.example.com, provider: local, start: [x], stop: [y], max_wakes_per_hour: 2}\n", false, 48, 2, 2},
		{"host's hourly 0 lifts it", "hosts:\n  - {host: a.example.com, provider: local, start: [x], stop: [y], max_wakes_per_hour: 0}\n", false, 48, 0, attempts},
		{"host's daily 0 lifts only the daily one", "hosts:\n  - {host: a.example.com, provider: local, start: [x], stop: [y], max_wakes_per_day: 0}\n", false, 0, 6, 6},
		{"host's daily 0 and hourly 0", "hosts:\n  - {host: a.example.com, provider: local, start: [x], stop: [y], max_wakes_per_day: 0, max_wakes_per_hour: 0}\n", false, 0, 0, attempts},
		{"daily 0 below a small hourly", "hosts:\n  - {host: a.example.com, provider: local, start: [x], stop: [y], max_wakes_per_day: 0, max_wakes_per_hour: 30}\n", false, 0, 30, attempts},
		{"budgets: section's 0", "budgets: {max_wakes_per_hour: 0}\nhosts:\n  - {host: a.example.com, provider: local, start: [x], stop: [y]}\n", false, 48, 0, attempts},
		{"budgets: section's daily budget below the hourly", "budgets: {max_wakes_per_day: 3}\nhosts:\n  - {host: a.example.com, provider: local, start: [x], stop: [y]}\n", false, 3, 6, 3},
		{"host overrides the section's 0", "budgets: {max_wakes_per_hour: 0}\nhosts:\n  - {host: a.example.com, provider: local, start: [x], stop: [y], max_wakes_per_hour: 4}\n", false, 48, 4, 4},
		{"label host: defaults", "", true, 48, 6, 6},
		{"label host: the section's 0", "budgets: {max_wakes_per_day: 0, max_wakes_per_hour: 0}\n", true, 0, 0, attempts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse("wr.yaml", []byte(providers+tt.yaml), kinds.All())
			if err != nil {
				t.Fatal(err)
			}
			var h controller.Host
			if tt.label {
				h = cfg.HostDefaults(controller.Host{Name: "label.example.com", Provider: "local"})
			} else {
				h = cfg.Hosts()[0]
			}
			b, hasher := budgetsFor(t, cfg)
			if got := wakesAllowed(t, b, hasher, h, attempts); got != tt.allowed {
				t.Errorf("%d of %d wakes allowed, want %d", got, attempts, tt.allowed)
			}
			u, err := b.HostUsage(t.Context(), h)
			if err != nil || u.PerDay != tt.perDay || u.PerHour != tt.perHour || u.Hour != int64(tt.allowed) {
				t.Errorf("HostUsage = %+v, %v; want %d used, limits %d a day, %d an hour", u, err, tt.allowed, tt.perDay, tt.perHour)
			}
		})
	}
}

// A reload that changes the budgets: section's host budgets applies to
// the running Budgets: they are the hosts', which the reload replaces.
func TestReloadedHostBudgetsApply(t *testing.T) {
	const file = "providers:\n  local: {type: exec}\nhosts:\n  - {host: a.example.com, provider: local, start: [x], stop: [y]}\n"
	parse := func(yaml string) *config.Config {
		t.Helper()
		cfg, err := config.Parse("wr.yaml", []byte(yaml), kinds.All())
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	running := parse(file)
	b, hasher := budgetsFor(t, running)
	if got := wakesAllowed(t, b, hasher, running.Hosts()[0], 10); got != 6 {
		t.Fatalf("before the reload: %d wakes allowed, want 6", got)
	}
	next := parse("budgets: {max_wakes_per_hour: 0}\n" + file)
	if got := config.RestartNeeded(running, next); len(got) != 0 {
		t.Errorf("RestartNeeded = %v, want the change applied by the reload", got)
	}
	if got := wakesAllowed(t, b, hasher, next.Hosts()[0], 10); got != 10 {
		t.Errorf("after the reload: %d of 10 wakes allowed, want all", got)
	}
}
