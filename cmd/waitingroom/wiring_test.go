package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/waitingroom/waitingroom/config"
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
