package web

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/browser"
)

// seedRealistic gives the screenshot's hosts a week of history and varied
// states: running, waking up, failed, asleep.
func seedRealistic(t *testing.T, s *dashSetup) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	clients := []struct{ client, source string }{
		{"203.0.113.x (browser)", "page"}, {"198.51.100.x (api)", "hold"}, {dashUser, "dashboard"},
		{"2001:db8:4f2a:10::x (browser)", "page"}, {"", "warm"},
	}
	add := func(host string, n int, base time.Duration, every time.Duration, failEvery int) {
		for i := n; i >= 1; i-- { // oldest first: the store keeps insertion order
			req := now.Add(-time.Duration(i)*every - 37*time.Minute)
			d := base + time.Duration((i*7919)%11)*base/6
			w := controller.WakeRecord{
				ID: fmt.Sprintf("%s-%d", host, i), Host: host, Requested: req, Finished: req.Add(d), Duration: d,
				Result: controller.WakeRunning, Client: clients[i%len(clients)].client, Source: clients[i%len(clients)].source,
			}
			if failEvery > 0 && i%failEvery == 0 {
				w.Result, w.Reason = controller.WakeFailed, "not ready within start_timeout 5m0s: http://10.0.0.7:8080/healthz: connection refused"
			}
			if err := s.store.AddWake(ctx, w); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A month of stops and wakes: what sleeping saved and the timelines.
	month := func(host string, every, up, took time.Duration, failEvery int) {
		i := 0
		for at := now.Add(-31 * 24 * time.Hour); at.Before(now.Add(-every)); at = at.Add(every) {
			i++
			by := clients[i%len(clients)].client
			steps := []controller.Transition{
				{At: at, From: controller.StateStopped, To: controller.StateStarting, By: by, Reason: "wake requested by " + by},
				{At: at.Add(took), From: controller.StateStarting, To: controller.StateRunning, By: by, Took: took},
				{At: at.Add(took + up), From: controller.StateRunning, To: controller.StateStopping, Reason: "idle for 30 min"},
				{At: at.Add(took + up + 2*time.Second), From: controller.StateStopping, To: controller.StateStopped, Took: 2 * time.Second},
			}
			if failEvery > 0 && i%failEvery == 0 {
				steps = []controller.Transition{
					steps[0],
					{At: at.Add(5 * time.Minute), From: controller.StateStarting, To: controller.StateFailed, By: by, Took: 5 * time.Minute,
						Reason: "not ready within start_timeout 5m0s: http://10.0.0.7:8080/healthz: connection refused"},
					{At: at.Add(time.Hour), From: controller.StateFailed, To: controller.StateStopped, Reason: "found stopped"},
				}
			}
			for _, tr := range steps {
				tr.Host = host
				if err := s.store.AddTransition(ctx, tr); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	month("app.example.com", 11*time.Hour, 2*time.Hour, 2*time.Second, 0)
	month("blog.example.com", 17*time.Hour, 3*time.Hour, 1500*time.Millisecond, 0)
	month("staging.example.com", 13*time.Hour, 5*time.Hour, 40*time.Second, 5)
	month("vm.example.com", 19*time.Hour, 4*time.Hour, 55*time.Second, 0)

	add("app.example.com", 14, 2*time.Second, 11*time.Hour, 0)
	add("blog.example.com", 9, 1500*time.Millisecond, 17*time.Hour, 0)
	add("staging.example.com", 12, 40*time.Second, 13*time.Hour, 5)
	add("vm.example.com", 8, 55*time.Second, 19*time.Hour, 0)

	for host, ago := range map[string]time.Duration{"app.example.com": 3 * time.Hour, "staging.example.com": 14 * time.Hour, "legacy.example.com": 26 * time.Hour} {
		if err := s.store.Touch(ctx, host, controller.Activity{At: now.Add(-ago), Source: "traefik-metrics"}); err != nil {
			t.Fatal(err)
		}
	}
	s.setStopped(t, "app.example.com")
	s.setStopped(t, "staging.example.com")
	// Wakes take a realistic while; the browser test's own wake too.
	s.prov.delay["blog.example.com"] = 1300 * time.Millisecond
	s.prov.delay["app.example.com"] = 1800 * time.Millisecond
	s.setRunning(t, "blog.example.com")
	if err := s.ctl.Touch(ctx, "blog.example.com", "traefik-forwardauth"); err != nil {
		t.Fatal(err)
	}
	s.prov.fail["legacy.example.com"] = errors.New("exit status 1: Job for legacy.service failed because the control process exited with error code")
	if _, err := s.ctl.Wake(ctx, "legacy.example.com", controller.Client{Source: "page", Display: "192.0.2.x", Class: "browser"}); err != nil {
		t.Fatal(err)
	}
	s.waitState(t, "legacy.example.com", controller.StateFailed)
	s.prov.hold["vm.example.com"] = true
	if _, err := s.ctl.Wake(ctx, "vm.example.com", controller.Client{Source: "hold", Display: "198.51.100.x", Class: "api"}); err != nil {
		t.Fatal(err)
	}
	s.waitState(t, "vm.example.com", controller.StateStarting)
}

var realisticHosts = []dashHost{
	{name: "app.example.com", provider: "docker", fields: map[string]string{"container": "app"}, budget: 20,
		price: controller.Price{Running: 0.06, Currency: "EUR"}},
	{name: "blog.example.com", provider: "docker", fields: map[string]string{"container": "blog"}},
	{name: "legacy.example.com", provider: "exec", commands: map[string][]string{"start": {"systemctl", "start", "legacy"}}, budget: 5},
	{name: "staging.example.com", provider: "gce", fields: map[string]string{"instance": "staging-1", "zone": "europe-west1-b", "project": "acme-prod"}, budget: 10,
		price: controller.Price{Running: 0.38, Currency: "EUR"}},
	{name: "vm.example.com", provider: "gce", fields: map[string]string{"instance": "web-1", "zone": "asia-southeast2-a", "project": "acme-prod"},
		startTimeout: 5 * time.Minute, price: controller.Price{Running: 0.52, Suspended: 0.04, Currency: "EUR"}},
}

// evalString runs a JavaScript expression and returns its string value.
func evalString(ctx context.Context, expr string) (string, error) {
	ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return chromedp.Run(ectx, chromedp.Evaluate[string](expr))
}

// waitText polls a JavaScript expression until it gives want.
func waitText(ctx context.Context, t *testing.T, what, expr, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var got string
	var err error
	for time.Now().Before(deadline) {
		got, err = evalString(ctx, expr)
		if err == nil && got == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: %q (%v) after %s, want %q", what, got, err, within, want)
}

func stateOf(host string) string {
	return fmt.Sprintf(`(function(){var r=[...document.querySelectorAll('tr[data-host]')].find(function(x){return x.dataset.host===%q});`+
		`return r?r.querySelector('[data-field="state"]').textContent:'no row'})()`, host)
}

// TestDashboardInBrowser drives the dashboard in headless Chromium: a
// wrong password is refused; after logging in the host table shows;
// "Wake now" turns a sleeping host to running without a page load;
// "Stop now" asks for confirmation and stops it; a screenshot is saved.
func TestDashboardInBrowser(t *testing.T) {
	// A fixed window and colour profile keep the screenshots comparable.
	b := browser.Start(t,
		browser.Flag("force-color-profile", "srgb"),
		browser.Flag("hide-scrollbars", true),
		browser.Flag("window-size", "1280,900"),
	)
	s := newDashSetup(t, realisticHosts, func(o *AdminOptions) { o.Refresh = time.Second })
	seedRealistic(t, s)

	tab := b.NewTab(t)
	console := browser.WatchConsole(t, tab)
	ctx, cancel := context.WithTimeout(tab, 90*time.Second)
	defer cancel()
	// Screenshots for docs/ when asked (WAITINGROOM_SCREENSHOT_DIR=docs),
	// always as test artifacts.
	shoot := func(t *testing.T, name string) {
		t.Helper()
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Errorf("screenshot %s: %v", name, err)
			return
		}
		_ = os.WriteFile(filepath.Join(t.ArtifactDir(), name), shot, 0o644)
		if dir := os.Getenv("WAITINGROOM_SCREENSHOT_DIR"); dir != "" {
			if err := os.WriteFile(filepath.Join(dir, name), shot, 0o644); err != nil {
				t.Errorf("WAITINGROOM_SCREENSHOT_DIR: %v", err)
			}
		}
	}
	darkMode := func(t *testing.T, on bool) {
		t.Helper()
		f := []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "light"}}
		if on {
			f = []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}
		}
		if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: f}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		// The test's own refusals (a wrong password's 401) are expected.
		var errs []string
		for _, e := range console.Errors() {
			if !strings.Contains(e, "/login") || !strings.Contains(e, "401") {
				errs = append(errs, e)
			}
		}
		if len(errs) > 0 {
			t.Errorf("the browser's console reported errors:\n%s", strings.Join(errs, "\n"))
		}
	})

	t.Run("wrong password refused", func(t *testing.T) {
		err := chromedp.Do(ctx,
			chromedp.Navigate(s.srv.URL+"/"),
			chromedp.WaitVisible(chromedp.ID("login")),
			chromedp.SendKeys(chromedp.ID("user"), dashUser),
			chromedp.SendKeys(chromedp.ID("password"), "not the password"),
			chromedp.Click(chromedp.ID("login-submit")),
			chromedp.WaitVisible(chromedp.ID("login-error")),
		)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := evalString(ctx, `document.getElementById('login-error').textContent`)
		path, _ := evalString(ctx, `location.pathname`)
		cookies, _ := evalString(ctx, `String(document.querySelectorAll('#hosts').length)`)
		if msg != "Wrong user name or password." || path != "/login" || cookies != "0" {
			t.Errorf("after a wrong password: message %q, path %q, host tables %s", msg, path, cookies)
		}
	})

	t.Run("log in and see the host table", func(t *testing.T) {
		err := chromedp.Do(ctx,
			chromedp.Navigate(s.srv.URL+"/login"),
			chromedp.WaitVisible(chromedp.ID("login")),
			chromedp.SendKeys(chromedp.ID("user"), dashUser),
			chromedp.SendKeys(chromedp.ID("password"), dashPassword),
			chromedp.Click(chromedp.ID("login-submit")),
			chromedp.WaitVisible(chromedp.ID("hosts")),
		)
		if err != nil {
			t.Fatal(err)
		}
		rows, _ := evalString(ctx, `[...document.querySelectorAll('#hosts tbody tr')].map(function(r){return r.dataset.host}).join(',')`)
		if rows != "app.example.com,blog.example.com,legacy.example.com,staging.example.com,vm.example.com" {
			t.Errorf("host rows %q", rows)
		}
		for host, want := range map[string]string{"app.example.com": "stopped", "blog.example.com": "running",
			"legacy.example.com": "failed", "vm.example.com": "starting"} {
			if got, _ := evalString(ctx, stateOf(host)); got != want {
				t.Errorf("%s shows %q, want %q", host, got, want)
			}
		}
		who, _ := evalString(ctx, `document.getElementById('who').textContent`)
		if who != dashUser {
			t.Errorf("logged in as %q", who)
		}
		// The script ran (the CSP allows it) and the live stream is open.
		waitText(ctx, t, "the event stream to open", `document.body.dataset.live||''`, "yes", 10*time.Second)
	})

	t.Run("a long failure reason stays short, the icon loads, dark mode", func(t *testing.T) {
		reason := `document.querySelector('tr[data-host="legacy.example.com"] [data-field="reason"]')`
		lines, err := evalString(ctx, `(function(){var e=`+reason+`;var lh=parseFloat(getComputedStyle(e).lineHeight);`+
			`return String(Math.round(e.getBoundingClientRect().height/lh))})()`)
		if err != nil || lines != "2" {
			t.Errorf("the failure reason takes %s lines (%v), want 2", lines, err)
		}
		if title, _ := evalString(ctx, reason+`.title`); !strings.HasSuffix(title, "exited with error code") {
			t.Errorf("the reason's title %q lacks the whole text", title)
		}
		if b, _ := evalString(ctx, `document.querySelector('tr[data-host="blog.example.com"] [data-field="budget"]').textContent`); !strings.HasSuffix(b, "(no limit)") {
			t.Errorf("an unlimited host's wakes read %q", b)
		}
		icon, err := evalString(ctx, `['/favicon.ico', document.querySelector('link[rel=icon]').href].map(function(u){`+
			`var x=new XMLHttpRequest();x.open('GET',u,false);x.send();return x.status+' '+x.getResponseHeader('content-type')}).join(',')`)
		if err != nil || icon != "200 image/svg+xml,200 image/svg+xml" {
			t.Errorf("icons: %q (%v)", icon, err)
		}
		bg := `getComputedStyle(document.body).backgroundColor`
		light, _ := evalString(ctx, bg)
		darkMode(t, true)
		defer darkMode(t, false)
		if got, _ := evalString(ctx, bg); got != "rgb(18, 21, 27)" || light == got {
			t.Errorf("dark mode background %q (light %q), want rgb(18, 21, 27)", got, light)
		}
	})

	t.Run("what sleeping saved, from the records", func(t *testing.T) {
		total, _ := evalString(ctx, `document.querySelector('#savings-EUR .totals').textContent.replace(/\s+/g,' ').trim()`)
		if !strings.Contains(total, " EUR saved by sleeping in the last 30 days") || !strings.Contains(total, "3 priced hosts") {
			t.Errorf("totals read %q", total)
		}
		days, _ := evalString(ctx, `String(document.querySelectorAll('#savings-EUR svg.savings-chart g').length)`)
		if days != "30" {
			t.Errorf("the savings plot has %s days, want 30", days)
		}
		for host, want := range map[string]string{"app.example.com": " EUR", "blog.example.com": "—"} {
			got, _ := evalString(ctx, `document.querySelector('tr[data-host="`+host+`"] [data-field="saved"]').textContent`)
			if !strings.HasSuffix(got, want) {
				t.Errorf("%s saved %q, want …%q", host, got, want)
			}
		}
		// A month of records: the week is recorded whole.
		if got, _ := evalString(ctx, `document.querySelector('tr[data-host="app.example.com"] [data-field="asleep"]').textContent`); !strings.HasSuffix(got, " h") || strings.Contains(got, "recorded") {
			t.Errorf("app's week asleep reads %q", got)
		}
	})

	t.Run("wake turns the host to running without reloading", func(t *testing.T) {
		if _, err := evalString(ctx, `window.wrMarker='same page'`); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`tr[data-host="app.example.com"] button.wake`))); err != nil {
			t.Fatal(err)
		}
		waitText(ctx, t, "app.example.com's state", stateOf("app.example.com"), "running", 15*time.Second)
		t.Logf("wake clicked → row shows running after %s", time.Since(start).Round(time.Millisecond))
		if m, _ := evalString(ctx, `window.wrMarker||'reloaded'`); m != "same page" {
			t.Error("the page was reloaded")
		}
		_, rec, _ := s.ctl.Status(context.Background(), "app.example.com")
		if rec.State != controller.StateRunning || s.prov.startCount("app.example.com") != 1 {
			t.Errorf("controller: %s after %d starts", rec.State, s.prov.startCount("app.example.com"))
		}
		waitText(ctx, t, "the event log", `document.querySelector('#log li .text').textContent.slice(0,11)`, "started in ", 10*time.Second)
	})

	t.Run("stop asks for confirmation, then stops", func(t *testing.T) {
		row := `tr[data-host="app.example.com"] `
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(row+`summary.stop-open`))); err != nil {
			t.Fatal(err)
		}
		// Opening the confirmation stops nothing.
		if got, _ := evalString(ctx, stateOf("app.example.com")); got != "running" {
			t.Fatalf("state %q after opening the confirmation, want running", got)
		}
		confirm, _ := evalString(ctx, `document.querySelector('tr[data-host="app.example.com"] details form p').textContent`)
		if !strings.Contains(confirm, "Stop app.example.com?") {
			t.Errorf("confirmation text %q", confirm)
		}
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(row+`button.stop`))); err != nil {
			t.Fatal(err)
		}
		waitText(ctx, t, "app.example.com's state", stateOf("app.example.com"), "stopped", 15*time.Second)
		if m, _ := evalString(ctx, `window.wrMarker||'reloaded'`); m != "same page" {
			t.Error("the page was reloaded")
		}
		if w := s.lastWake(t, "app.example.com", 15); w.Source != "dashboard" || w.Client != dashUser {
			t.Errorf("the dashboard's wake is recorded as %+v", w)
		}
	})

	t.Run("without JavaScript: wake and stop confirm, the page refreshes itself", func(t *testing.T) {
		plain := b.NewTab(t) // the same browser: logged in already
		noJS := browser.WatchConsole(t, plain)
		pctx, cancel := context.WithTimeout(plain, 60*time.Second)
		defer cancel()
		if _, err := chromedp.Call(pctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(pctx, chromedp.Navigate(s.srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("hosts"))); err != nil {
			t.Fatal(err)
		}
		if live, _ := evalString(pctx, `document.body.dataset.live||'no script'`); live != "no script" {
			t.Fatalf("the page's script ran (live=%q)", live)
		}
		row := `tr[data-host="app.example.com"] `
		where := `location.pathname+location.search`
		done := `(document.getElementById('done')||{textContent:''}).textContent`
		if err := chromedp.Do(pctx, chromedp.Click(chromedp.CSS(row+`button.wake`))); err != nil {
			t.Fatal(err)
		}
		waitText(pctx, t, "the wake's confirmation", done, "Wake requested: app.example.com is waking up.", 10*time.Second)
		// The meta refresh takes the page back to / and shows the host
		// running, without a script.
		waitText(pctx, t, "the address after the refresh", where, "/", 15*time.Second)
		waitText(pctx, t, "app.example.com's state", stateOf("app.example.com"), "running", 30*time.Second)
		if err := chromedp.Do(pctx, chromedp.Click(chromedp.CSS(row+`summary.stop-open`)), chromedp.Click(chromedp.CSS(row+`button.stop`))); err != nil {
			t.Fatal(err)
		}
		waitText(pctx, t, "the stop's confirmation", `(`+done+`).slice(0,52)`, "Stop requested: app.example.com is going to sleep. V", 10*time.Second)
		waitText(pctx, t, "app.example.com's state", stateOf("app.example.com"), "stopped", 30*time.Second)
		if errs := noJS.Errors(); len(errs) > 0 {
			t.Errorf("console errors without JavaScript:\n%s", strings.Join(errs, "\n"))
		}
	})

	t.Run("host page shows wakes and chart", func(t *testing.T) {
		err := chromedp.Do(ctx,
			chromedp.Navigate(s.srv.URL+"/hosts/staging.example.com"),
			chromedp.WaitVisible(chromedp.ID("wakes")),
		)
		if err != nil {
			t.Fatal(err)
		}
		bars, _ := evalString(ctx, `String(document.querySelectorAll('svg.chart:not(.timeline) rect').length)`)
		rows, _ := evalString(ctx, `String(document.querySelectorAll('#wakes tbody tr[data-wake]').length)`)
		if bars != "12" || rows != "12" {
			t.Errorf("staging: %s bars, %s wake rows; want 12 each", bars, rows)
		}
		// The timeline: a day and a month of states, marks for wakes,
		// failures and stops with their words.
		if n, _ := evalString(ctx, `String(document.querySelectorAll('#timeline svg.timeline').length)`); n != "2" {
			t.Errorf("%s timelines, want 2", n)
		}
		month := `document.querySelectorAll('#timeline svg.timeline')[1]`
		for sel, least := range map[string]int{"g.mark-wake": 20, "g.mark-failed": 3, "g.mark-stop": 20, "rect.span-stopped": 20, "rect.span-running": 20} {
			n, _ := evalString(ctx, `String(`+month+`.querySelectorAll('`+sel+`').length)`)
			if c, _ := strconv.Atoi(n); c < least {
				t.Errorf("the month's timeline has %s %s; want at least %d", n, sel, least)
			}
		}
		// A visitor's wake (some are warm windows' wakes, by nobody: which
		// comes first in the month depends on the time of day).
		wake, _ := evalString(ctx, `(Array.from(`+month+`.querySelectorAll('g.mark-wake title')).map(e => e.textContent).find(s => s.includes('woken by')) || '')`)
		failed, _ := evalString(ctx, month+`.querySelector('g.mark-failed title').textContent`)
		if !strings.Contains(wake, "ready after 40 s, woken by") || !strings.Contains(failed, "failed after 5 min: not ready within start_timeout") {
			t.Errorf("marks read %q and %q", wake, failed)
		}
		shoot(t, "host.png")
		darkMode(t, true)
		shoot(t, "host-dark.png")
		darkMode(t, false)
	})

	t.Run("screenshot", func(t *testing.T) {
		// Let the stopped host show, then give the page a settled look.
		err := chromedp.Do(ctx,
			chromedp.Navigate(s.srv.URL+"/"),
			chromedp.WaitVisible(chromedp.ID("hosts")),
		)
		if err != nil {
			t.Fatal(err)
		}
		waitText(ctx, t, "the event stream to open", `document.body.dataset.live||''`, "yes", 10*time.Second)
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if len(shot) < 1000 || string(shot[1:4]) != "PNG" {
			t.Fatalf("screenshot is not a PNG (%d bytes)", len(shot))
		}
		artifact := filepath.Join(t.ArtifactDir(), "dashboard.png")
		if err := os.WriteFile(artifact, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s (%d bytes)", artifact, len(shot))
		if p := os.Getenv("WAITINGROOM_SCREENSHOT"); p != "" {
			if err := os.WriteFile(p, shot, 0o644); err != nil {
				t.Fatalf("WAITINGROOM_SCREENSHOT: %v", err)
			}
			t.Logf("screenshot also written to %s", p)
		}
		if dir := os.Getenv("WAITINGROOM_SCREENSHOT_DIR"); dir != "" {
			if err := os.WriteFile(filepath.Join(dir, "dashboard.png"), shot, 0o644); err != nil {
				t.Fatalf("WAITINGROOM_SCREENSHOT_DIR: %v", err)
			}
		}
		darkMode(t, true)
		shoot(t, "dashboard-dark.png")
		darkMode(t, false)
		// A phone's view, as an artifact only.
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)), chromedp.Reload(),
			chromedp.WaitVisible(chromedp.ID("hosts"))); err == nil {
			if phone, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
				_ = os.WriteFile(filepath.Join(t.ArtifactDir(), "dashboard-phone.png"), phone, 0o644)
			}
		}
	})
}
