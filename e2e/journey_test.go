package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/waitingroom/waitingroom/internal/testutil/browser"
	"github.com/waitingroom/waitingroom/internal/testutil/nginx"
	"github.com/waitingroom/waitingroom/internal/testutil/proc"
)

// The journey of issue 5, through a real proxy and a real browser: nginx
// in front of a sleeping backend, configured the way waitingroom's
// generated Traefik configuration fails over (traefik/examples/
// nginx.conf.tmpl), with a ForwardAuth-style touch of every request.
// Chromium opens the host, gets the waiting page, and ends on the
// backend's own page without a click, within a second of the backend
// answering. Traffic that then goes straight to the backend keeps it
// awake; when it stops, the idle sweep puts the backend back to sleep.
func TestJourneyThroughProxyAndBrowser(t *testing.T) {
	const (
		host = "app.test"
		// The ForwardAuth endpoint writes at most one touch per host per
		// 5 s: the idle timeout must leave room for that window plus a
		// sweep, or steady traffic would look idle between two touches.
		idle = 8 * time.Second
		// The page must turn into the backend within this of the backend
		// answering (the promise).
		reloadWithin = time.Second
		// No sample, even on a starved machine, may take longer.
		reloadHardLimit = 3 * time.Second
	)
	d := newDemoHost(t, host, 2*time.Second, idle.String())
	w := proc.StartWaitingroom(t, bins, t.TempDir(), baseConfig+`
traefik:
  forward_auth: true
trusted_proxies: ["127.0.0.1/32"]
hosts:`+d.yaml())
	proc.Eventually(t, 10*time.Second, func() bool { return status(t, w, host) == "stopped" },
		"reconcile never found the backend stopped")

	wrAddr := strings.TrimPrefix(w.Public, "http://")
	proxy := nginx.StartFailover(t, nginx.Failover{
		ServerName:  host,
		Backend:     fmt.Sprintf("127.0.0.1:%d", d.port),
		Waitingroom: wrAddr,
		TouchURL:    w.Public + "/.waitingroom/touch",
	})
	site := proxy.URL(host)
	b := browser.Start(t, browser.MapHosts(host))
	tab := b.NewTab(t)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// 1 and 2: the browser gets the waiting page and, with no click, ends
	// on the backend's page.
	first := visit(ctx, t, w, d, tab, site)
	if n := d.starts(); n != 1 {
		t.Fatalf("start command ran %d times, want exactly 1", n)
	}

	// 3. Traffic keeps flowing straight to the backend through nginx, for
	// longer than the idle timeout: only the touch subrequest tells
	// waitingroom about it, and the backend stays up.
	client := &http.Client{Timeout: 5 * time.Second}
	get := func() (int, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/shop", proxy.Addr), nil)
		if err != nil {
			return 0, "", err
		}
		req.Host = fmt.Sprintf("%s:%d", host, proxy.Port)
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), err
	}
	trafficFrom := time.Now()
	var lastRequest time.Time
	requests := 0
	for time.Since(trafficFrom) < idle+3*time.Second && requests < 100 {
		code, body, err := get()
		if err != nil {
			t.Fatalf("request %d through nginx: %v", requests, err)
		}
		lastRequest = time.Now()
		requests++
		if code != http.StatusOK || !strings.Contains(body, "Hello from "+host) {
			t.Fatalf("request %d after %s of traffic: %d %q; want the backend's page (was it stopped?)",
				requests, time.Since(trafficFrom).Round(time.Millisecond), code, body)
		}
		if s := status(t, w, host); s != "running" {
			t.Fatalf("host %s after %s of steady traffic, want running", s, time.Since(trafficFrom).Round(time.Millisecond))
		}
		select {
		case <-time.After(300 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("out of time during the traffic")
		}
	}
	if !d.processAlive() {
		t.Fatal("backend process gone under steady traffic")
	}
	h := adminHost(t, w, host)
	t.Logf("%d requests over %s: state %s, last activity %s ago from %q",
		requests, lastRequest.Sub(trafficFrom).Round(time.Millisecond), h.State,
		time.Since(h.LastActivity).Round(time.Millisecond), h.ActivitySource)
	if h.State != "running" || h.ActivitySource != "traefik-forwardauth" || h.LastActivity.Before(trafficFrom) {
		t.Fatalf("after steady traffic: state %q, activity %q at %s (traffic from %s); want running, traefik-forwardauth, during the traffic",
			h.State, h.ActivitySource, h.LastActivity.Format(time.StampMilli), trafficFrom.Format(time.StampMilli))
	}
	if n := d.starts(); n != 1 {
		t.Fatalf("start command ran %d times, want exactly 1", n)
	}

	// 4. Traffic stops: the backend is stopped after its idle timeout, and
	// not before.
	lastActivity := h.LastActivity
	for deadline := time.Now().Add(idle + 15*time.Second); ; time.Sleep(50 * time.Millisecond) {
		v := adminHost(t, w, host)
		if v.State == "stopping" || v.State == "stopped" {
			break
		}
		if v.LastActivity.After(lastActivity) {
			t.Fatalf("activity recorded after the traffic stopped:\n%s", v.raw)
		}
		if time.Now().After(deadline) {
			t.Fatalf("host not stopped %s after its last activity (idle timeout %s):\n%s",
				time.Since(lastActivity).Round(time.Millisecond), idle, v.raw)
		}
	}
	stoppedAfter := time.Since(lastActivity)
	t.Logf("traffic stopped: stopping %s after the last recorded activity (%s after the last request; idle timeout %s)",
		stoppedAfter.Round(time.Millisecond), time.Since(lastRequest).Round(time.Millisecond), idle)
	if stoppedAfter < idle {
		t.Fatalf("stopped %s after the last activity, before the %s idle timeout", stoppedAfter, idle)
	}
	proc.Eventually(t, 10*time.Second, func() bool { return status(t, w, host) == "stopped" },
		"host never reached stopped")
	proc.Eventually(t, 10*time.Second, func() bool { return !d.processAlive() && !d.answering() },
		"backend process still alive after the idle stop")

	// The reload promise, checked now that nothing else runs in this test.
	// A single sample over it on a loaded machine is usually a starved
	// browser, not waitingroom: the host is asleep again, so visit once
	// more; the second visit must keep it.
	if first.shown > reloadWithin {
		t.Logf("first visit over %s (%s): visiting again", reloadWithin, first.shown.Round(time.Millisecond))
		if again := visit(ctx, t, w, d, tab, site); again.shown > reloadWithin {
			t.Errorf("the page showed the backend %s and %s after it was ready, want within %s",
				first.shown.Round(time.Millisecond), again.shown.Round(time.Millisecond), reloadWithin)
		}
	}
	if first.shown > reloadHardLimit {
		t.Errorf("the page showed the backend %s after it was ready; even on a loaded machine it must within %s",
			first.shown.Round(time.Millisecond), reloadHardLimit)
	}
	if w.Exited() {
		t.Fatal("waitingroom exited")
	}
}

// reloadGap is how long after the backend answered the browser showed it.
type reloadGap struct {
	shown   time.Duration // by the browser's own clock (what a person sees)
	seen    time.Duration // by this test's polling of the DOM (an upper bound)
	running time.Duration // until the host's event stream said running
}

// visit opens site on a sleeping host: the first answer is waitingroom's
// waiting page (through nginx, as a fallback), and the page turns into
// the backend's own by itself. It returns how long that took after the
// backend first answered its /healthz.
func visit(ctx context.Context, t testing.TB, w *proc.Waitingroom, d *demoHost, tab context.Context, site string) reloadGap {
	t.Helper()
	if d.answering() {
		t.Fatal("visit: the backend already answers")
	}
	vctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The backend's readiness as the test sees it, straight from the
	// backend: the moment the page's clock starts.
	ready := watchReady(vctx, d.url()+"/healthz")
	running := watchRunning(vctx, t, w, d.name)

	resp, err := browser.Run(tab, 30*time.Second, chromedp.NavigateResponse(site))
	if err != nil {
		t.Fatalf("opening %s: %v", site, err)
	}
	if resp.Status != http.StatusServiceUnavailable || headerValue(resp.Headers, "X-Waitingroom-State") == "" {
		t.Fatalf("first answer: %d %v; want waitingroom's 503 waiting page", resp.Status, resp.Headers)
	}
	page, err := browser.Run(tab, 10*time.Second, chromedp.Evaluate[waitingPage](`({
		state: (document.getElementById("waitingroom") || {getAttribute: () => ""}).getAttribute("data-state"),
		words: (document.getElementById("wr-state") || {}).textContent || "",
		app: !!document.getElementById("app"),
	})`))
	if err != nil {
		t.Fatalf("reading the waiting page: %v", err)
	}
	if page.App {
		t.Fatalf("the backend's page replaced the waiting page before the test could read it (backend delay %s)", d.delay)
	}
	if page.State != "starting" || page.Words != "waking up" {
		t.Fatalf("waiting page shows state %q (%q), want starting (waking up)", page.State, page.Words)
	}

	landed := waitForBackendPage(t, tab, 30*time.Second)
	var readyAt time.Time
	select {
	case readyAt = <-ready:
	case <-time.After(5 * time.Second):
		t.Fatal("the browser shows the backend's page, but the backend never answered /healthz")
	}
	if want := d.pageName(); landed.text != "Hello from "+want {
		t.Fatalf("backend page says %q", landed.text)
	}
	if landed.navigation != "reload" {
		t.Errorf("the backend's page arrived by %q, want the waiting page's own reload", landed.navigation)
	}
	// Both moments are wall-clock readings of this machine's clock: the
	// browser's (performance.timeOrigin + the navigation entry) and Go's.
	g := reloadGap{seen: landed.seenAt.Sub(readyAt), shown: landed.shownAt.Sub(readyAt), running: -1}
	if landed.shownAt.IsZero() || landed.shownAt.After(landed.seenAt.Add(50*time.Millisecond)) {
		t.Logf("browser timestamp %v unusable (seen at %v); using the polled one", landed.shownAt, landed.seenAt)
		g.shown = g.seen
	}
	select {
	case at := <-running:
		g.running = at.Sub(readyAt)
	default:
	}
	t.Logf("backend ready → backend page shown by the browser: %s (running event after %s; seen by the test's 20 ms polling after %s)",
		g.shown.Round(time.Millisecond), g.running.Round(time.Millisecond), g.seen.Round(time.Millisecond))
	// The browser is done: nothing from it may count as activity.
	if _, err := browser.Run(tab, 10*time.Second, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("leaving the site: %v", err)
	}
	return g
}

type waitingPage struct {
	State string `json:"state"`
	Words string `json:"words"`
	App   bool   `json:"app"`
}

// watchReady polls url every 5 ms and sends the time of its first 200.
func watchReady(ctx context.Context, url string) <-chan time.Time {
	out := make(chan time.Time, 1)
	c := &http.Client{Timeout: 500 * time.Millisecond}
	go func() {
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			resp, err := c.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					out <- time.Now()
					return
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return out
}

// watchRunning sends the time the host's event stream says running.
func watchRunning(ctx context.Context, t testing.TB, w *proc.Waitingroom, host string) <-chan time.Time {
	t.Helper()
	events := sse(ctx, t, w.Public, host)
	out := make(chan time.Time, 1)
	go func() {
		for s := range events {
			if s == "running" {
				out <- time.Now()
				return
			}
		}
	}()
	return out
}

type backendPage struct {
	text       string
	navigation string    // how the document was reached: navigate, reload, ...
	seenAt     time.Time // when this test's poll found it
	shownAt    time.Time // when the browser says it had it (DOM interactive)
}

// waitForBackendPage polls the tab every 20 ms for the backend's #app.
// Polls fail while the page reloads; that is expected.
func waitForBackendPage(t testing.TB, tab context.Context, within time.Duration) backendPage {
	t.Helper()
	type probe struct {
		App        bool    `json:"app"`
		Text       string  `json:"text"`
		Navigation string  `json:"navigation"`
		ShownAt    float64 `json:"shownAt"` // ms since the Unix epoch
	}
	const js = `(() => {
		const app = document.getElementById("app");
		if (!app) return {app: false};
		const nav = performance.getEntriesByType("navigation")[0];
		const at = nav ? (nav.domInteractive || nav.responseEnd) : 0;
		return {app: true, text: app.textContent, navigation: nav ? nav.type : "",
			shownAt: performance.timeOrigin + (at || performance.now())};
	})()`
	deadline := time.Now().Add(within)
	var lastErr error
	for time.Now().Before(deadline) {
		p, err := browser.Run(tab, 2*time.Second, chromedp.Evaluate[probe](js))
		if err == nil && p.App {
			seen := time.Now()
			ms := int64(p.ShownAt)
			return backendPage{
				text: p.Text, navigation: p.Navigation, seenAt: seen,
				shownAt: time.UnixMilli(ms).Add(time.Duration((p.ShownAt - float64(ms)) * float64(time.Millisecond))),
			}
		}
		lastErr = err
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the browser never showed the backend's page within %s (last poll: %v)", within, lastErr)
	return backendPage{}
}

type hostView struct {
	raw            []byte
	State          string    `json:"state"`
	LastActivity   time.Time `json:"last_activity"`
	ActivitySource string    `json:"activity_source"`
}

// adminHost reads GET /api/hosts/{host} on the admin listener (open: no
// users or tokens are configured, and it listens on loopback).
func adminHost(t testing.TB, w *proc.Waitingroom, host string) hostView {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(w.Admin + "/api/hosts/" + host)
	if err != nil {
		t.Fatalf("admin API: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("admin API: %d %s", resp.StatusCode, b)
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("admin API: %v", err)
	}
	h := hostView{raw: raw}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatalf("admin API: %v\n%s", err, raw)
	}
	return h
}

// headerValue finds a header of a CDP response, whatever its case.
func headerValue(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}
