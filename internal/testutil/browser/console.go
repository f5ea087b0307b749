package browser

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Console collects what a tab reports as an error: console.error calls,
// uncaught exceptions, and the browser's own error entries (a resource
// that failed to load, a Content-Security-Policy violation).
type Console struct {
	mu   sync.Mutex
	errs []string
}

// WatchConsole starts collecting the errors of the tab ctx (from
// NewTab), from now on.
func WatchConsole(tb testing.TB, ctx context.Context) *Console {
	tb.Helper()
	c := &Console{}
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
				return
			}
			var parts []string
			for _, a := range ev.Args {
				if a.Description != "" {
					parts = append(parts, a.Description)
				} else if v, err := strconv.Unquote(string(a.Value)); err == nil {
					parts = append(parts, v) // a JSON string
				} else {
					parts = append(parts, string(a.Value))
				}
			}
			c.add("console." + string(ev.Type) + ": " + strings.Join(parts, " "))
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg += " " + d.Exception.Description
			}
			c.add(fmt.Sprintf("uncaught: %s (%s:%d)", msg, d.URL, d.LineNumber+1))
		case *cdplog.EventEntryAdded:
			if e := ev.Entry; e.Level == cdplog.EntryLevelError {
				c.add(fmt.Sprintf("%s: %s %s", e.Source, e.Text, e.URL))
			}
		}
	})
	if err != nil {
		tb.Fatalf("watching the console: %v", err)
	}
	return c
}

func (c *Console) add(s string) {
	c.mu.Lock()
	c.errs = append(c.errs, s)
	c.mu.Unlock()
}

// Errors returns the errors collected so far.
func (c *Console) Errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.errs...)
}
