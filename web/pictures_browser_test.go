package web

import (
	"context"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/waitingroom/waitingroom/internal/testutil/browser"
)

// TestBrowserStatePictures: each state of the waiting page has its own
// picture (the spinner turns only while the host wakes; asleep is a still
// moon, failure a red ring with "!"), reduced motion stops the spinner, and
// "this page turns into the site by itself" is said only where true.
func TestBrowserStatePictures(t *testing.T) {
	tmpl, err := defaultTemplate()
	if err != nil {
		t.Fatal(err)
	}
	pages := map[string]PageData{}
	for _, d := range samplePages() {
		name := string(d.State)
		if d.OverBudget {
			name = "budget"
		}
		pages[name] = d
	}
	click := pages["budget"]
	click.OverBudget, click.Budget, click.Status = false, "", 503
	click.WakeAction, click.WakeToken = "/.waitingroom/wake", "token"
	pages["click"] = click
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(StaticPrefix, http.StripPrefix(StaticPrefix, http.FileServerFS(static)))
	mux.HandleFunc("/page/{name}", func(w http.ResponseWriter, r *http.Request) {
		d, ok := pages[r.PathValue("name")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		d.RetryAfter = 3600 // no reload while the test reads the page
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := tmpl.Execute(w, &d); err != nil {
			t.Errorf("rendering %s: %v", r.PathValue("name"), err)
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	b := browser.Start(t)
	tab := b.NewTab(t)
	ctx, cancel := context.WithTimeout(tab, 60*time.Second)
	defer cancel()
	// The pictures are CSS; without a status endpoint here wait.js would
	// reload the pages, so they are read without scripts.
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	spinner := `getComputedStyle(document.querySelector('.spinner'))`
	tests := []struct {
		page, animation, after, border string
		hint                           bool
	}{
		{"starting", "spin", "none", "", true},
		{"click", "none", "none", "0px", false},
		{"budget", "none", "none", "0px", false},
		{"failed", "none", `"!"`, "4px", true},
	}
	for _, reduced := range []bool{false, true} {
		motion := "no-preference"
		if reduced {
			motion = "reduce"
		}
		if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: motion}}}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range tests {
			t.Run(tc.page+"/motion="+motion, func(t *testing.T) {
				if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/page/"+tc.page), chromedp.WaitVisible(chromedp.ID("wr-state"))); err != nil {
					t.Fatal(err)
				}
				want := tc.animation
				if reduced {
					want = "none"
				}
				if got, _ := evalString(ctx, spinner+`.animationName`); got != want {
					t.Errorf("spinner animation %q, want %q", got, want)
				}
				if got, _ := evalString(ctx, `getComputedStyle(document.querySelector('.spinner'),'::after').content`); got != tc.after {
					t.Errorf("picture's mark %q, want %q", got, tc.after)
				}
				if tc.border != "" {
					if got, _ := evalString(ctx, spinner+`.borderTopWidth`); got != tc.border {
						t.Errorf("ring %q, want %q", got, tc.border)
					}
				}
				if dir := os.Getenv("WAITINGROOM_SCREENSHOT_DIR"); dir != "" && !reduced {
					if shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
						_ = os.WriteFile(filepath.Join(dir, "page-"+tc.page+".png"), shot, 0o644)
					}
				}
				hint, _ := evalString(ctx, `String(!!document.querySelector('.hint'))`)
				if hint != map[bool]string{true: "true", false: "false"}[tc.hint] {
					t.Errorf("hint shown: %s, want %v", hint, tc.hint)
				}
			})
		}
	}
}
