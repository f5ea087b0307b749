package web

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/browser"
	"github.com/waitingroom/waitingroom/internal/testutil/poll"
)

// frontProxy plays Traefik's failover: the backend once the host is
// running, the waiting room before. block lets a test make the proxy
// refuse event streams.
func frontProxy(t *testing.T, rs *realSetup, p *Public, blockEvents bool, eventsSeen, statusSeen *atomic.Int64) string {
	t.Helper()
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<!doctype html><title>backend</title><h1>the real site</h1>"))
	})
	front := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, rec, err := rs.ctl.Status(r.Context(), "app.example.com")
		if err == nil && rec.State == controller.StateRunning {
			backend.ServeHTTP(w, r)
			return
		}
		if r.URL.Path == "/.waitingroom/status" {
			statusSeen.Add(1)
		}
		if r.URL.Path == "/.waitingroom/events" {
			eventsSeen.Add(1)
			if blockEvents {
				http.Error(w, "bad gateway", http.StatusBadGateway)
				return
			}
		}
		p.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(front)
	ts.Listener = ln
	ts.Start()
	t.Cleanup(ts.Close)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return "http://app.example.com:" + port + "/some/page"
}

// waitTitle polls the tab's title until it is want; reloads in between
// make single evaluations fail, which is expected.
func waitTitle(ctx context.Context, t *testing.T, want string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var title string
	for time.Since(start) < within {
		ectx, cancel := context.WithTimeout(ctx, time.Second)
		got, err := chromedp.Run(ectx, chromedp.Title())
		cancel()
		if err == nil {
			title = got
		}
		if err == nil && title == want {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("title %q after %s, want %q", title, within, want)
	return 0
}

func TestBrowserLandsOnBackend(t *testing.T) {
	// Chromium resolves app.example.com to loopback; missing, it fails the
	// test in CI and skips it elsewhere.
	b := browser.Start(t, browser.MapHosts("app.example.com"))
	tests := []struct {
		name        string
		noScript    bool
		blockEvents bool
		within      time.Duration // the page must turn into the backend within
	}{
		{name: "event stream reloads at once", within: 1500 * time.Millisecond},
		{name: "polling when the event stream is refused", blockEvents: true, within: 2 * time.Second},
		{name: "meta refresh without JavaScript", noScript: true, within: 4 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := newRealSetup(t)
			p := newTestPublic(t, rs.ctl, func(o *PublicOptions) {
				// With JavaScript the meta refresh (5 s without an
				// estimate) must not be what reloads the page; without,
				// it is, so make it quick.
				o.MinRetryAfter = time.Second
				if tt.noScript {
					o.MaxRetryAfter = time.Second
				}
			})
			var events, statuses atomic.Int64
			url := frontProxy(t, rs, p, tt.blockEvents, &events, &statuses)

			tab := b.NewTab(t)
			ctx, cancelRun := context.WithTimeout(tab, 60*time.Second)
			defer cancelRun()
			if tt.noScript {
				if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled,
					emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
					t.Fatal(err)
				}
			}
			if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("wr-state"))); err != nil {
				t.Fatalf("loading the waiting page: %v", err)
			}
			state, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("wr-state")))
			if err != nil {
				t.Fatal(err)
			}
			if state != "waking up" {
				t.Fatalf("state %q, want waking up", state)
			}
			if !tt.noScript {
				// The page's script is listening (or polling) before the
				// backend becomes ready: the reload is its doing.
				poll.Until(t, 10*time.Second, "the page to open its event stream", func() bool { return events.Load() > 0 })
				time.Sleep(200 * time.Millisecond) // let it fall back to polling where refused
			}
			elapsed, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("wr-elapsed")))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(elapsed, " s") {
				t.Errorf("elapsed %q", elapsed)
			}

			rs.prov.SetState(controller.StateRunning)
			readyAt := time.Now()
			poll.Until(t, 10*time.Second, "the controller to see the backend ready", func() bool {
				_, rec, _ := rs.ctl.Status(t.Context(), "app.example.com")
				return rec.State == controller.StateRunning
			})
			noticed := time.Since(readyAt)
			landed := waitTitle(ctx, t, "backend", 15*time.Second) + noticed
			t.Logf("%s: backend ready → controller running in %s → page showed the backend after %s",
				tt.name, noticed.Round(time.Millisecond), landed.Round(time.Millisecond))
			if landed > tt.within+noticed {
				t.Errorf("the page took %s to turn into the backend; want within %s of the controller noticing", landed, tt.within)
			}
			if n := rs.prov.Starts(); n != 1 {
				t.Errorf("%d starts, want 1", n)
			}
			if tt.blockEvents && statuses.Load() == 0 {
				t.Error("the page did not fall back to polling /.waitingroom/status")
			}
		})
	}
}
