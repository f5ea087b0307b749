package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/waitingroom/waitingroom/internal/testutil/browser"
	"github.com/waitingroom/waitingroom/internal/testutil/proc"
)

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
	Reason         string    `json:"reason"`
	LastActivity   time.Time `json:"last_activity"`
	ActivitySource string    `json:"activity_source"`
}

// adminHost reads GET /api/hosts/{host} on the admin listener (open, or
// with the Traefik tests' token).
func adminHost(t testing.TB, w *proc.Waitingroom, host string) hostView {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	req, err := http.NewRequest(http.MethodGet, w.Admin+"/api/hosts/"+host, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The Traefik tests' token; an open admin listener ignores it.
	req.Header.Set("Authorization", "Bearer "+traefikToken)
	resp, err := c.Do(req)
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
