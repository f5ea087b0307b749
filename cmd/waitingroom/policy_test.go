package main

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/waitingroom/waitingroom/config"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/guard"
	"github.com/waitingroom/waitingroom/providers/kinds"
	"github.com/waitingroom/waitingroom/store/memory"
)

// The policy maps the file's bots, monitors, trusted proxies and privacy
// settings onto what the public listener asks of each request.
func TestPolicyFollowsTheConfiguration(t *testing.T) {
	cfg, err := config.Parse("wr.yaml", []byte("trusted_proxies: [10.0.0.0/8]\nbots:\n  user_agents: [AcmeFetcher]\n  wake_on_head: true\nmonitors:\n  paths: [/healthz]\nproviders:\n  local: {type: exec}\n"), kinds.All())
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	clock := controller.SystemClock{}
	bo := budgetOptions(cfg.File.Budgets)
	bo.Hasher, bo.Logger = guard.NewHasher(key, clock), slog.New(slog.NewTextHandler(io.Discard, nil))
	pol, err := newPolicy(cfg, clock, key, guard.NewBudgets(memory.New(nil), bo, clock))
	if err != nil {
		t.Fatal(err)
	}
	const chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
	tests := []struct {
		name        string
		method      string
		path, ua    string
		accept      string
		remote, xff string
		class       string
		wakes       bool
		monitor     bool
		display     string
	}{
		{"browser behind a trusted proxy", "GET", "/", chrome, "text/html", "10.1.2.3:1", "203.0.113.9", "browser", true, false, "203.0.113.x"},
		{"forwarded address from an untrusted peer is ignored", "GET", "/", chrome, "text/html", "198.51.100.7:1", "203.0.113.9", "browser", true, false, "198.51.100.x"},
		{"configured bot never wakes", "GET", "/", "AcmeFetcher/2", "*/*", "10.1.2.3:1", "", "bot", false, false, "10.1.2.x"},
		{"HEAD wakes with bots.wake_on_head", "HEAD", "/", chrome, "text/html", "10.1.2.3:1", "", "browser", true, false, "10.1.2.x"},
		{"monitor path", "GET", "/healthz", "curl/8", "*/*", "10.1.2.3:1", "", "monitor", false, true, "10.1.2.x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "http://app.example.com"+tt.path, nil)
			r.RemoteAddr = tt.remote
			r.Header.Set("User-Agent", tt.ua)
			r.Header.Set("Accept", tt.accept)
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			c := pol.Client(r)
			wakes, _ := pol.MayWake(r, c)
			if c.Class != tt.class || wakes != tt.wakes || pol.Monitor(r, c) != tt.monitor || c.Display != tt.display || c.Key == "" {
				t.Errorf("class %q wakes %v monitor %v display %q key %q; want %q %v %v %q and a key",
					c.Class, wakes, pol.Monitor(r, c), c.Display, c.Key, tt.class, tt.wakes, tt.monitor, tt.display)
			}
			if _, err := pol.Honeypot(t.Context(), r, "app.example.com"); err != nil {
				t.Errorf("Honeypot: %v", err)
			}
		})
	}
}
