package activity_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/activity"
	"github.com/waitingroom/waitingroom/config"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/fake"
)

func TestIsMonitor(t *testing.T) {
	m := activity.NewMonitors(config.Monitors{
		UserAgents: []string{"Acme-Watchdog"},
		Paths:      []string{"/healthz", "/.well-known/status/"},
	})
	cases := []struct {
		name, ua, path string
		want           bool
	}{
		{"UptimeRobot", "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)", "/", true},
		{"Pingdom", "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)", "/", true},
		{"StatusCake", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) StatusCake", "/", true},
		{"Better Stack", "Better Stack Better Uptime Bot Mozilla/5.0 (X11; Linux x86_64)", "/", true},
		{"Site24x7", "Site24x7", "/", true},
		{"New Relic", "NewRelicPinger/1.0 (1234567)", "/", true},
		{"Datadog", "Datadog/Synthetics", "/", true},
		{"Checkly", "Checkly/1.0 (https://www.checklyhq.com)", "/", true},
		{"Uptime Kuma", "Uptime-Kuma/1.23.11", "/", true},
		{"HetrixTools", "HetrixTools Uptime Monitoring Bot. https://hetrix.tools/", "/", true},
		{"Freshping", "FreshpingBot/1.0 (+https://freshping.io/)", "/", true},
		{"case-insensitive", "uptimerobot/2.0", "/", true},
		{"configured agent", "acme-watchdog/3", "/", true},
		{"configured path", "Mozilla/5.0 Firefox/130.0", "/healthz", true},
		{"configured prefix", "curl/8.5.0", "/.well-known/status/db", true},
		{"path is exact", "Mozilla/5.0 Firefox/130.0", "/healthz/deep", false},
		{"browser", "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0", "/", false},
		{"crawler", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "/", false},
		{"no user agent", "", "/", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "http://app.example.com"+c.path, nil)
			if c.ua != "" {
				r.Header.Set("User-Agent", c.ua)
			}
			if got := m.IsMonitor(r); got != c.want {
				t.Fatalf("IsMonitor(%q, %q) = %v, want %v", c.ua, c.path, got, c.want)
			}
		})
	}
}

func TestMonitorAnswer(t *testing.T) {
	cases := []struct {
		name     string
		cfg      config.Monitors
		wantCode int
		wantBody string
	}{
		{"unconfigured: 200 sleeping", config.Monitors{}, http.StatusOK, "sleeping"},
		{"configured", config.Monitors{Status: http.StatusServiceUnavailable, Body: "asleep, on purpose"}, http.StatusServiceUnavailable, "asleep, on purpose"},
		{"empty body on purpose", config.Monitors{Status: http.StatusOK, Body: ""}, http.StatusOK, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			activity.NewMonitors(c.cfg).Answer(rec)
			if rec.Code != c.wantCode || rec.Body.String() != c.wantBody {
				t.Fatalf("answer %d %q, want %d %q", rec.Code, rec.Body.String(), c.wantCode, c.wantBody)
			}
			if rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Fatalf("headers %v", rec.Header())
			}
		})
	}
}

// The contract the public listener follows: after finding the host and
// before waking or touching it, a monitor gets the configured answer. On a
// sleeping host that means no start and no activity.
func TestMonitorOnSleepingHostNeitherWakesNorTouches(t *testing.T) {
	clock := fake.NewClock(time.Date(2025, 3, 5, 12, 0, 0, 0, time.UTC))
	h := testHost("app.example.com", 10*time.Minute, config.ActivityOptions{})
	e := newEnv(t, clock, nil, h)
	if err := e.ctrl.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitState(t, e, h.Name, controller.StateStopped)
	m := activity.NewMonitors(config.Monitors{Status: http.StatusOK, Body: "sleeping"})
	public := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.IsMonitor(r) {
			m.Answer(w)
			return
		}
		_ = e.ctrl.Touch(r.Context(), h.Name, "page")
		_, _ = e.ctrl.Wake(r.Context(), h.Name, controller.Client{Source: "page"})
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	srv := httptest.NewServer(public)
	t.Cleanup(srv.Close)

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	req.Header.Set("User-Agent", "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "sleeping" {
		t.Fatalf("monitor got %d %q, want 200 sleeping", resp.StatusCode, body)
	}
	_, rec, _ := e.ctrl.Status(context.Background(), h.Name)
	if rec.State != controller.StateStopped || !rec.LastActivity.IsZero() || len(e.prov.StartTimes()) != 0 {
		t.Fatalf("monitor changed the host: %s, activity %s, %d starts", rec.State, rec.LastActivity, len(e.prov.StartTimes()))
	}
}
