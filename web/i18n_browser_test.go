package web

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/browser"
	"github.com/waitingroom/waitingroom/internal/testutil/poll"
)

// A Japanese browser reads the waiting page in Japanese: the server's
// words and those wait.js writes as the wait goes on (the elapsed time,
// the state after an event).
func TestBrowserReadsJapanese(t *testing.T) {
	b := browser.Start(t, browser.MapHosts("app.example.com"))
	rs := newRealSetup(t)
	p := newTestPublic(t, rs.ctl, nil)
	var events, statuses atomic.Int64
	url := frontProxy(t, rs, p, false, &events, &statuses)

	tab := b.NewTab(t)
	ctx, cancel := context.WithTimeout(tab, 60*time.Second)
	defer cancel()
	// Every request of the tab (page, event stream, status) says Japanese,
	// as Chromium does with --lang=ja.
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders,
		network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": "ja-JP,ja;q=0.9,en;q=0.5"}}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("wr-state"))); err != nil {
		t.Fatalf("loading the waiting page: %v", err)
	}
	read := func(id string) string {
		s, err := browser.Run(ctx, 5*time.Second, chromedp.Text(chromedp.ID(id)))
		if err != nil {
			t.Fatalf("reading #%s: %v", id, err)
		}
		return s
	}
	lang, err := browser.Run(ctx, 5*time.Second, chromedp.Evaluate[string]("document.documentElement.lang"))
	if err != nil || lang != "ja" {
		t.Errorf("<html lang> %q (%v), want ja", lang, err)
	}
	if s := read("wr-state"); s != "起動中" {
		t.Errorf("state %q, want 起動中", s)
	}
	if s := read("wr-message"); s != "app.example.com を起動しています。" {
		t.Errorf("message %q", s)
	}
	// wait.js counts the elapsed time up, in Japanese.
	first := read("wr-elapsed")
	poll.Until(t, 10*time.Second, "wait.js to count the elapsed time in Japanese", func() bool {
		s := read("wr-elapsed")
		return s != first && strings.HasSuffix(s, " 秒")
	})
	// The wake fails: the event reloads the page, which stays Japanese.
	poll.Until(t, 10*time.Second, "the page to open its event stream", func() bool { return events.Load() > 0 })
	rs.prov.SetReason("exit status 1")
	rs.prov.SetState(controller.StateFailed)
	poll.Until(t, 15*time.Second, "the page to show the failure in Japanese", func() bool {
		s, err := browser.Run(ctx, 2*time.Second, chromedp.Text(chromedp.ID("wr-state")))
		return err == nil && s == "起動に失敗しました"
	})
	if s := read("wr-message"); !strings.Contains(s, "app.example.com の起動に失敗しました。") {
		t.Errorf("message after the failure %q, want Japanese", s)
	}
}
