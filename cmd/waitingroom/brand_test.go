package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/waitingroom/waitingroom/config"
	"github.com/waitingroom/waitingroom/providers/kinds"
)

// A host's page: section reaches its waiting page at start and on reload;
// a reload whose logo file cannot be read is refused, naming the host, and
// the page keeps its looks.
func TestHostPageReachesThePageAndReloads(t *testing.T) {
	parse := func(page string) *config.Config {
		t.Helper()
		cfg, err := config.Parse("wr.yaml", []byte("listen: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:0\n"+
			"providers:\n  local: {type: exec}\nhosts:\n  - host: app.example.com\n    provider: local\n    start: [\"true\"]\n    stop: [\"true\"]\n"+
			"    ready_url: http://127.0.0.1:1/\n    wait: page\n    page: "+page+"\n"), kinds.All())
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	a, err := newApp(t.Context(), parse("{name: Example Shop, status: 202}"), "wr.yaml", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.provs.Close()
	defer a.store.Close()
	page := func() (int, string) {
		r := httptest.NewRequest(http.MethodGet, "http://app.example.com/", nil)
		r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/140")
		w := httptest.NewRecorder()
		a.public.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	if code, body := page(); code != 202 || !strings.Contains(body, "<h1>Example Shop</h1>") {
		t.Errorf("at start: %d, %.300s", code, body)
	}
	err = a.apply(parse("{name: Renamed, logo_file: /nonexistent/logo.png}"))
	if err == nil || !strings.Contains(err.Error(), `host "app.example.com": page: logo_file`) {
		t.Errorf("reload with a missing logo: %v", err)
	}
	if _, body := page(); !strings.Contains(body, "<h1>Example Shop</h1>") {
		t.Errorf("a refused reload changed the page: %.300s", body)
	}
	if err := a.apply(parse("{name: Renamed}")); err != nil {
		t.Fatal(err)
	}
	if code, body := page(); code != 503 || !strings.Contains(body, "<h1>Renamed</h1>") {
		t.Errorf("after reload: %d, %.300s", code, body)
	}
}
