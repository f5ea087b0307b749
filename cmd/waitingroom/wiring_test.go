package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/config"
	"github.com/waitingroom/waitingroom/controller"
)

// limits.max_host_length reaches the public listener: it was parsed,
// defaulted and validated, and never passed on.
func TestMaxHostLengthReachesTheListener(t *testing.T) {
	tests := []struct {
		name   string
		limits string
		want   int
	}{
		{"default: a registered host is served", "", http.StatusServiceUnavailable},
		{"shorter than the host: refused", "limits:\n  max_host_length: 10\n", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse("wr.yaml", []byte("listen: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:0\n"+tt.limits+
				"providers:\n  local: {type: exec}\nhosts:\n  - host: app.example.com\n    provider: local\n    start: [\"true\"]\n    stop: [\"true\"]\n    ready_url: http://127.0.0.1:1/\n    wait: page\n"))
			if err != nil {
				t.Fatal(err)
			}
			a, err := newApp(t.Context(), cfg, "wr.yaml", slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			defer a.provs.Close()
			defer a.store.Close()
			r := httptest.NewRequest(http.MethodGet, "http://app.example.com/", nil)
			r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/140")
			r.Header.Set("Accept", "text/html")
			w := httptest.NewRecorder()
			a.public.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Errorf("status %d, want %d", w.Code, tt.want)
			}
		})
	}
}

// A host registered by labels gets the file's defaults, as the file's
// hosts do; defaults.hold_timeout was missed (TestEveryConfigField...
// found it).
func TestLabelHostsGetTheFileDefaults(t *testing.T) {
	cfg, err := config.Parse("wr.yaml", []byte("defaults:\n  idle_timeout: 7m\n  start_timeout: 2m\n  hold_timeout: 9s\n  wait: page\nbudgets:\n  max_wakes_per_day: 5\n  max_wakes_per_hour: 2\nproviders:\n  docker: {labels: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	h := withDefaults(cfg, controller.Host{Name: "label.example.com", Provider: "docker"})
	tests := []struct {
		name      string
		got, want any
	}{
		{"idle_timeout", h.IdleTimeout, 7 * time.Minute},
		{"start_timeout", h.StartTimeout, 2 * time.Minute},
		{"hold_timeout", config.HoldTimeoutOf(h), 9 * time.Second},
		{"wait", h.Wait, "page"},
		{"wake", h.WakeMode, config.DefaultWake},
		{"max_wakes_per_day", h.MaxWakesPerDay, 5},
		{"max_wakes_per_hour", h.MaxWakesPerHour, 2},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}
