package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/internal/testutil/browser"
	"github.com/waitingroom/waitingroom/internal/testutil/proc"
)

// The README's first steps, in Chromium: examples/demo.yaml served with
// nothing in front of waitingroom. The browser gets the waiting page and
// ends on the demo app by itself (the handoff: waitingroom forwards the
// page's reload to the backend), and once the tab is gone the backend
// sleeps after its idle timeout. Only the addresses, the binary's path
// and the timings (1m idle, 10s sweep: 5s and 1s here) differ from the
// file.
func TestDemoJourneyInBrowser(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "examples", "demo.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const host = "demo.localhost"
	d := newDemoHost(t, host, 3*time.Second, "5s")
	cfg := string(raw)
	for _, r := range [][2]string{
		{"127.0.0.1:8080", "%PUBLIC%"},
		{"127.0.0.1:8081", "%ADMIN%"},
		{"127.0.0.1:9000", "127.0.0.1:" + strconv.Itoa(d.port)},
		{"bin/demo-backend", bins.DemoBackend},
		{"/tmp/waitingroom-demo.pid", d.pidfile()},
		{"idle_timeout: 1m", "idle_timeout: 5s"},
		{"sweep_interval: 10s", "sweep_interval: 1s"},
	} {
		if !strings.Contains(cfg, r[0]) {
			t.Fatalf("examples/demo.yaml no longer contains %q: update this test", r[0])
		}
		cfg = strings.ReplaceAll(cfg, r[0], r[1])
	}
	w := proc.StartWaitingroom(t, bins, t.TempDir(), cfg)
	proc.Eventually(t, 10*time.Second, func() bool { return status(t, w, host) == "stopped" }, "demo not stopped at start")

	b := browser.Start(t, browser.MapHosts(host))
	tab := b.NewTab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	port := strings.TrimPrefix(w.Public, "http://127.0.0.1:")
	g := visit(ctx, t, w, &demoHost{name: host, port: d.port, dir: d.dir, delay: d.delay, shows: "demo"}, tab, "http://"+host+":"+port+"/")
	t.Logf("demo: backend ready → demo app in Chromium after %s", g.shown.Round(time.Millisecond))

	// With nothing in front (trusted_proxies: [] in the demo), a form's
	// POST to the running app is handed over too: nothing replayed it.
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, w.Public+"/form", strings.NewReader("name=demo"))
	req.Host = host
	req.Header.Set("Accept", "text/html")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "name=demo" {
		t.Errorf("a POST to the running demo: %d %q; want the app's echo", resp.StatusCode, body)
	}

	// The tab left the site (visit ends on about:blank): nothing keeps the
	// backend awake, and it sleeps after its idle timeout.
	left := adminHost(t, w, host).LastActivity
	proc.Eventually(t, 30*time.Second, func() bool { return status(t, w, host) == "stopped" },
		"the demo backend did not sleep after the tab left")
	if h := adminHost(t, w, host); h.LastActivity.After(left) {
		t.Errorf("activity recorded after the tab left: %s > %s", h.LastActivity, left)
	}
	proc.Eventually(t, 10*time.Second, func() bool { return !d.processAlive() }, "demo backend process still alive")
}
