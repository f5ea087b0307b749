package web

import (
	"context"
	"errors"
	"strconv"
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

// TestBrowserShowsHonestProgress: with an estimate of 6 s (past wakes),
// the waiting page's bar moves towards the end without reaching it while
// the backend boots for longer, says that it takes longer than usual, and
// the page loads the site once the host is ready. The console stays free
// of errors.
func TestBrowserShowsHonestProgress(t *testing.T) {
	b := browser.Start(t, browser.MapHosts("app.example.com"))
	rs := newRealSetup(t)
	now := time.Now()
	for i := range 5 {
		req := now.Add(-time.Duration(i+1) * time.Hour)
		w := controller.WakeRecord{ID: strconv.Itoa(i), Host: "app.example.com", Requested: req, Finished: req.Add(6 * time.Second),
			Duration: 6 * time.Second, Result: controller.WakeRunning}
		if err := rs.store.AddWake(t.Context(), w); err != nil {
			t.Fatal(err)
		}
	}
	p := newTestPublic(t, rs.ctl, nil)
	var events, statuses atomic.Int64
	url := frontProxy(t, rs, p, false, &events, &statuses)

	tab := b.NewTab(t)
	console := browser.WatchConsole(t, tab)
	ctx, cancel := context.WithTimeout(tab, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("wr-progress"))); err != nil {
		t.Fatalf("loading the waiting page: %v", err)
	}
	value := func() float64 {
		s, err := evalString(ctx, `String(document.getElementById('wr-progress').position >= 0 ? document.getElementById('wr-progress').value : -1)`)
		if err != nil {
			return -1
		}
		f, _ := strconv.ParseFloat(s, 64)
		return f
	}
	longer := `(function(){var e=document.getElementById('wr-longer');return e.hidden?'':e.textContent})()`
	// Within the usual time: under 90 %, nothing said yet.
	poll.Until(t, 5*time.Second, "the bar to start moving", func() bool { v := value(); return v > 0 && v < 90 })
	if s, _ := evalString(ctx, longer); s != "" {
		t.Errorf("within the usual time the page says %q", s)
	}
	// Past it: over 90 %, under 100 %, and the page says so.
	poll.Until(t, 20*time.Second, "the page to say the wake takes longer than usual", func() bool {
		s, _ := evalString(ctx, longer)
		return s == "Taking longer than usual: it usually takes 6 s."
	})
	poll.Until(t, 10*time.Second, "the bar past 90 %", func() bool { v := value(); return v > 90 && v < 100 })
	// Samples for a few seconds (a page reloaded a moment ago shows a bar
	// without a value, -1 here): never at the end before the host is ready.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if v := value(); v >= 100 || (v >= 0 && v < 90) {
			t.Errorf("bar at %.1f %% past the usual time; want from 90 to under 100", v)
		}
	}
	// Errors up to the handoff: at the handoff the event stream's next
	// reconnection reaches the site, which Chromium reports (and wait.js
	// takes as the sign to load it).
	seen := console.Errors()
	rs.prov.SetState(controller.StateRunning)
	waitTitle(ctx, t, "backend", 20*time.Second)
	// The waiting page's own status (503 by default, page.status) is
	// logged by Chromium for every load of it: expected, not an error.
	var errs []string
	for _, e := range seen {
		if !strings.Contains(e, "status of 503") || !strings.HasSuffix(e, "/some/page") {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestBrowserShowsRetryTimeInLocalTime: a failed wake's retry time is
// said in the visitor's time zone (Tokyo here), not in UTC.
func TestBrowserShowsRetryTimeInLocalTime(t *testing.T) {
	b := browser.Start(t, browser.MapHosts("app.example.com"))
	rs := newRealSetup(t)
	rs.prov.SetStartErr(errors.New("exit status 1"))
	p := newTestPublic(t, rs.ctl, nil)
	var events, statuses atomic.Int64
	url := frontProxy(t, rs, p, false, &events, &statuses)

	tab := b.NewTab(t)
	ctx, cancel := context.WithTimeout(tab, 60*time.Second)
	defer cancel()
	if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Tokyo"}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("loading the waiting page: %v", err)
	}
	// The server's page says the time in UTC (data-retry-at-text) and the
	// page's script rewrites it once it runs: the test waits for that
	// rewrite, since the DOM can be read between the two.
	var msg, iso string
	poll.Until(t, 20*time.Second, "the failed page to say when it retries, rewritten by its script", func() bool {
		msg, _ = evalString(ctx, `(document.getElementById('wr-message')||{textContent:''}).textContent`)
		iso, _ = evalString(ctx, `(document.getElementById('waitingroom')||{dataset:{}}).dataset.retryAt||''`)
		utc, _ := evalString(ctx, `(document.getElementById('waitingroom')||{dataset:{}}).dataset.retryAtText||''`)
		return strings.Contains(msg, "try again at") && iso != "" && utc != "" && !strings.Contains(msg, utc)
	})
	at, err := time.Parse(time.RFC3339, iso)
	if err != nil {
		t.Fatalf("data-retry-at %q: %v", iso, err)
	}
	tokyo := at.In(time.FixedZone("JST", 9*3600))
	if strings.Contains(msg, "UTC") || !strings.Contains(msg, tokyo.Format(":04:05")) || !strings.Contains(msg, "GMT+9") {
		t.Errorf("message %q; want the retry time in Tokyo's time (%s)", msg, tokyo.Format("15:04:05 MST"))
	}
}
