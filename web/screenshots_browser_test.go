package web

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/browser"
)

// clickPolicy lets every request wake but click-to-wake hosts, whose
// button carries a fixed token.
type clickPolicy struct{}

func (clickPolicy) Client(*http.Request) controller.Client {
	return controller.Client{Class: "browser", Source: "page"}
}
func (clickPolicy) MayWake(*http.Request, controller.Client) (bool, string) { return true, "" }
func (clickPolicy) Monitor(*http.Request, controller.Client) bool           { return false }
func (clickPolicy) Honeypot(context.Context, *http.Request, string) (bool, error) {
	return false, nil
}
func (clickPolicy) WakeToken(string) string              { return "token" }
func (clickPolicy) VerifyWakeToken(string, string) error { return nil }

// screenshotState is one state of the waiting page, served for its own
// host by its own Public.
type screenshotState struct {
	name, host string
	stateKey   string // catalogue key of #wr-state
	msgKey     string // catalogue key of the message; its text up to {at} must be shown
	noJS       bool
	setup      func(f *fakeController)
	edit       func(o *PublicOptions)
}

// TestBrowserScreenshots renders every state of the waiting page (waking,
// ready, failed, click-to-wake, over budget, without JavaScript, and a
// branded host) in light and dark, English and Japanese, on a desktop and
// a phone, in Chromium, and checks what a visitor reads: the language, the
// state's words and message, and that the polite status line (role=status)
// says the message shown. With WAITINGROOM_SCREENSHOT_DIR set it writes a
// small set of PNGs there (docs/screenshots): every state in English,
// light, desktop; the waking page dark, in Japanese and on a phone; the
// branded page.
func TestBrowserScreenshots(t *testing.T) {
	at := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	states := []screenshotState{
		{name: "waking", host: "waking.example.com", stateKey: "state.starting", msgKey: "msg.starting", setup: func(f *fakeController) {
			f.estimate, f.hasEstimate = 40*time.Second, true
			f.set(controller.Record{Host: "waking.example.com", State: controller.StateStarting, Changed: at.Add(-12 * time.Second)})
		}},
		{name: "ready", host: "ready.example.com", stateKey: "state.running", msgKey: "msg.running", setup: func(f *fakeController) {
			f.set(controller.Record{Host: "ready.example.com", State: controller.StateRunning})
		}},
		{name: "failed", host: "failed.example.com", stateKey: "state.failed", msgKey: "msg.failed_retry_at", setup: func(f *fakeController) {
			f.set(controller.Record{Host: "failed.example.com", State: controller.StateFailed, Reason: "start: exit status 1", RetryAt: at.Add(90 * time.Second)})
		}, edit: func(o *PublicOptions) { o.ShowFailureReason = true }},
		{name: "click-to-wake", host: "click.example.com", stateKey: "state.stopped", msgKey: "msg.click_to_wake"},
		{name: "over-budget", host: "budget.example.com", stateKey: "state.over_budget", msgKey: "msg.over_budget", setup: func(f *fakeController) {
			f.wakeErr = &controller.BudgetError{Budget: "host per day", RetryAfter: 3 * time.Hour}
		}},
		{name: "no-js", host: "nojs.example.com", stateKey: "state.starting", msgKey: "msg.starting", noJS: true},
		{name: "branded", host: "shop.example.com", stateKey: "state.starting", msgKey: "msg.starting"},
	}
	hosts := make([]string, 0, len(states))
	publics := map[string]*Public{}
	for _, s := range states {
		hosts = append(hosts, s.host)
		f := newFakeController(s.host)
		if s.name == "click-to-wake" {
			f = newFakeControllerOf(controller.Host{Name: s.host, Provider: "fake", WakeMode: "click"})
		}
		if s.setup != nil {
			s.setup(f)
		}
		p := newTestPublic(t, f, func(o *PublicOptions) {
			o.Policy = clickPolicy{}
			// No reload while the test reads the page.
			o.MinRetryAfter, o.MaxRetryAfter = time.Hour, time.Hour
			if s.edit != nil {
				s.edit(o)
			}
		})
		if s.name == "branded" {
			b, err := LoadBrand(BrandOptions{Name: "Example Shop", LogoFile: writeLogoSVG(t), Accent: "#0a7d4f", Background: "#eef6f1"})
			if err != nil {
				t.Fatal(err)
			}
			p.SetBrands(map[string]*Brand{s.host: b})
		}
		publics[s.host] = p
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.Host)
		if p := publics[host]; p != nil {
			p.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	cat, err := loadCatalog()
	if err != nil {
		t.Fatal(err)
	}

	b := browser.Start(t, browser.MapHosts(hosts...), browser.Flag("force-color-profile", "srgb"), browser.Flag("hide-scrollbars", true))
	tab := b.NewTab(t)
	console := browser.WatchConsole(t, tab)
	ctx, cancel := context.WithTimeout(tab, 5*time.Minute)
	defer cancel()
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("WAITINGROOM_SCREENSHOT_DIR")
	type view struct {
		name          string
		width, height int64
		mobile        bool
	}
	for _, lang := range []string{"en", "ja"} {
		accept := map[string]string{"en": "en-US,en;q=0.9", "ja": "ja-JP,ja;q=0.9,en;q=0.5"}[lang]
		if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": accept}}); err != nil {
			t.Fatal(err)
		}
		for _, scheme := range []string{"light", "dark"} {
			if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}}); err != nil {
				t.Fatal(err)
			}
			for _, v := range []view{{"desktop", 1024, 640, false}, {"phone", 390, 760, true}} {
				if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
					Width: v.width, Height: v.height, DeviceScaleFactor: 1, Mobile: v.mobile}); err != nil {
					t.Fatal(err)
				}
				for _, s := range states {
					name := fmt.Sprintf("page-%s-%s-%s-%s", s.name, lang, scheme, v.name)
					t.Run(name, func(t *testing.T) {
						if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: s.noJS}); err != nil {
							t.Fatal(err)
						}
						url := "http://" + s.host + ":" + port + "/"
						if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("wr-state"))); err != nil {
							t.Fatal(err)
						}
						checkScreenshotPage(ctx, t, cat, s, lang)
						if dir != "" && keepScreenshot(s.name, lang, scheme, v.name) {
							shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
							if err != nil {
								t.Fatal(err)
							}
							if err := os.WriteFile(filepath.Join(dir, name+".png"), shot, 0o644); err != nil {
								t.Errorf("WAITINGROOM_SCREENSHOT_DIR: %v", err)
							}
						}
					})
				}
			}
		}
	}
	// The page itself comes with its status (503, 429): Chromium logs
	// that; anything else is an error of the page.
	for _, e := range console.Errors() {
		if !strings.Contains(e, "Failed to load resource") || !strings.HasSuffix(e, ":"+port+"/") {
			t.Errorf("console error: %s", e)
		}
	}
}

// keepScreenshot is the small set written to docs: every state in
// English, light, on a desktop; the waking page dark, in Japanese and on a
// phone.
func keepScreenshot(state, lang, scheme, view string) bool {
	if lang == "en" && scheme == "light" && view == "desktop" {
		return true
	}
	return state == "waking" && (lang == "ja" && scheme == "light" && view == "desktop" ||
		lang == "en" && scheme == "dark" && view == "desktop" || lang == "ja" && scheme == "dark" && view == "phone")
}

// checkScreenshotPage checks what a visitor reads on the page in ctx.
func checkScreenshotPage(ctx context.Context, t *testing.T, cat *catalog, s screenshotState, lang string) {
	t.Helper()
	read := func(expr string) string {
		v, err := evalString(ctx, expr)
		if err != nil {
			t.Fatalf("reading %s: %v", expr, err)
		}
		return v
	}
	if got := read(`document.documentElement.lang`); got != lang {
		t.Errorf("<html lang> %q, want %q", got, lang)
	}
	if got, want := read(`document.getElementById('wr-state').textContent`), cat.text(lang, s.stateKey); got != want {
		t.Errorf("state %q, want %q", got, want)
	}
	name := s.host
	if s.name == "branded" {
		name = "Example Shop"
		if got := read(`document.querySelector('h1').textContent`); got != name {
			t.Errorf("heading %q, want the display name", got)
		}
		if got := read(`String(document.querySelector('img.logo').naturalWidth > 0)`); got != "true" {
			t.Error("the logo did not load (the page's CSP must allow its own origin)")
		}
	}
	// The message's text up to its first filled-in time or budget.
	full := cat.text(lang, s.msgKey, "host", name, "at", "\x00", "wait", "\x00", "budget", "\x00")
	want, _, _ := strings.Cut(full, "\x00")
	msg := read(`document.getElementById('wr-message').textContent`)
	if !strings.HasPrefix(msg, want) {
		t.Errorf("message %q, want it to start with %q", msg, want)
	}
	// The polite status line says the message the page shows.
	if got := read(`Array.from(document.querySelectorAll('[role=status][aria-live=polite]')).filter(e => !e.hidden).map(e => e.textContent).join('|')`); got != msg {
		t.Errorf("status line %q, want the visible message %q", got, msg)
	}
	if s.noJS {
		// Without scripts the page reloads itself.
		if got := read(`String(document.querySelector('meta[http-equiv=refresh]')?.content > 0)`); got != "true" {
			t.Error("the page without JavaScript has no refresh")
		}
	}
	if got := read(`String(!!document.querySelector('form.wake button'))`); got != fmt.Sprint(s.name == "click-to-wake") {
		t.Errorf("wake button shown: %s", got)
	}
}

// writeLogoSVG writes a small SVG logo and returns its path.
func writeLogoSVG(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "logo.svg")
	svg := `<svg xmlns="http://www.w3.org/2000/svg" width="160" height="40" viewBox="0 0 160 40">` +
		`<rect width="40" height="40" rx="8" fill="#0a7d4f"/><text x="50" y="27" font-family="sans-serif" font-size="18" fill="#0a7d4f">Example</text></svg>`
	if err := os.WriteFile(path, []byte(svg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
