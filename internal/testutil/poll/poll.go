// Package poll waits in tests for a condition another goroutine or process
// brings about: asserting after a fixed sleep is flaky on a busy machine,
// waiting without a deadline hangs the test run.
package poll

import (
	"testing"
	"time"
)

// Until checks cond every few milliseconds until it holds, failing the test
// with what and the limit if it still does not after within.
func Until(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	Every(tb, 5*time.Millisecond, within, what, cond)
}

// Every is Until checking cond only every interval, for a condition that is
// costly to check (a query to a server).
func Every(tb testing.TB, interval, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(interval)
	}
}
