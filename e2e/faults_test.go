package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/internal/testutil/proc"
	"github.com/waitingroom/waitingroom/internal/testutil/redistest"
)

func wake(t testing.TB, w *proc.Waitingroom, host string) int {
	t.Helper()
	resp, err := w.Get(context.Background(), host, "/", "Accept", "text/html", "User-Agent", "Mozilla/5.0 Chrome/130")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A start command that never returns: the wake fails at start_timeout with
// a reason, and the next attempt waits for the backoff.
func TestHangingProviderFailsAtStartTimeout(t *testing.T) {
	dir := t.TempDir()
	count := filepath.Join(dir, "count")
	cfg := baseConfig + fmt.Sprintf(`hosts:
  - host: hang.test
    provider: exec
    start: ["/bin/sh", "-c", "echo x >> %s; exec sleep 600"]
    stop: ["/bin/true"]
    ready_url: http://127.0.0.1:1/
    start_timeout: 2s
`, count)
	w := proc.StartWaitingroom(t, bins, dir, cfg)
	if c := wake(t, w, "hang.test"); c != http.StatusServiceUnavailable {
		t.Fatalf("status %d", c)
	}
	proc.Eventually(t, 15*time.Second, func() bool { return status(t, w, "hang.test") == "failed" }, "hanging start never failed")
	resp, err := w.Get(context.Background(), "hang.test", "/", "Accept", "application/json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Retry-After") == "" {
		t.Error("failed page has no Retry-After")
	}
	// Within the backoff (5 s base) another request does not start again.
	for i := 0; i < 3; i++ {
		wake(t, w, "hang.test")
	}
	if b, _ := os.ReadFile(count); strings.Count(string(b), "x") != 1 {
		t.Fatalf("start ran %d times during the backoff", strings.Count(string(b), "x"))
	}
	if w.Exited() {
		t.Fatal("waitingroom exited")
	}
}

// A start command that fails three times, then works: each failure backs
// off, and the host ends running without anyone restarting anything.
func TestProviderFailingThreeTimesThenWorking(t *testing.T) {
	d := newDemoHost(t, "flaky.test", 0, "1m")
	dir := t.TempDir()
	attempts := filepath.Join(dir, "attempts")
	script := filepath.Join(dir, "start.sh")
	err := os.WriteFile(script, []byte(fmt.Sprintf(`#!/bin/sh
echo x >> %[1]s
n=$(wc -l < %[1]s)
if [ "$n" -le 3 ]; then echo "attempt $n: disk on fire" >&2; exit 1; fi
exec %[2]s start --addr 127.0.0.1:%[3]d --pidfile %[4]s
`, attempts, bins.DemoBackend, d.port, d.pidfile())), 0o755)
	if err != nil {
		t.Fatal(err)
	}
	cfg := baseConfig + fmt.Sprintf(`hosts:
  - host: flaky.test
    provider: exec
    start: [%q]
    stop: [%q, "stop", "--pidfile", %q]
    ready_url: %s/healthz
`, script, bins.DemoBackend, d.pidfile(), d.url())
	w := proc.StartWaitingroom(t, bins, dir, cfg)
	var reasons []string
	// A person refreshing the page: each refresh after the backoff retries.
	proc.Eventually(t, 90*time.Second, func() bool {
		wake(t, w, "flaky.test")
		resp, err := w.Get(context.Background(), "flaky.test", "/.waitingroom/status")
		if err == nil {
			resp.Body.Close()
		}
		s := status(t, w, "flaky.test")
		if s == "failed" && len(reasons) < 10 {
			reasons = append(reasons, s)
		}
		return s == "running"
	}, "never running after three failures")
	b, _ := os.ReadFile(attempts)
	if n := strings.Count(string(b), "x"); n != 4 {
		t.Fatalf("start ran %d times, want 4", n)
	}
	if !strings.Contains(w.Output(), "disk on fire") {
		t.Error("the provider's stderr is not in the log")
	}
}

// SIGTERM while a wake is in flight: requests in flight are answered, the
// process exits cleanly, and after a restart on the same Redis the wake is
// finished, not started twice.
func TestSIGTERMMidWakeIsResumedAfterRestart(t *testing.T) {
	rs := redistest.Start(t)
	d := newDemoHost(t, "app.test", 3*time.Second, "1m")
	cfg := baseConfig + fmt.Sprintf("store:\n  redis_url: %q\nhosts:", rs.URL()) + d.yaml()
	dir := t.TempDir()
	w := proc.StartWaitingroom(t, bins, dir, cfg)
	if c := wake(t, w, "app.test"); c != http.StatusServiceUnavailable {
		t.Fatalf("status %d", c)
	}
	proc.Eventually(t, 10*time.Second, func() bool { return d.starts() == 1 }, "start never ran")

	// Clients keep requesting while the signal arrives: every response that
	// starts is a complete waiting page (a body cut short is a failure);
	// after the listener closes, new connections are refused. A request
	// sent on a kept-alive connection at the instant the server closes it
	// as idle gets no answer at all (refused, EOF or a reset before any
	// byte of a response: HTTP's keep-alive race, which clients retry, RFC
	// 9112 section 9.3.1), never half of one.
	var answered atomic.Int32
	var badMu sync.Mutex
	var bad []string
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				resp, err := w.Get(context.Background(), "app.test", "/", "Accept", "text/html", "User-Agent", "Mozilla/5.0 Chrome/130")
				if err != nil {
					if msg := err.Error(); !strings.Contains(msg, "connection refused") && !strings.Contains(msg, "EOF") &&
						!strings.Contains(msg, "connection reset by peer") {
						badMu.Lock()
						bad = append(bad, err.Error())
						badMu.Unlock()
					}
					return
				}
				_, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				if rerr != nil || resp.StatusCode != http.StatusServiceUnavailable {
					badMu.Lock()
					bad = append(bad, fmt.Sprintf("status %d, body error %v", resp.StatusCode, rerr))
					badMu.Unlock()
					return
				}
				answered.Add(1)
			}
		}()
	}
	proc.Eventually(t, 10*time.Second, func() bool { return answered.Load() > 20 }, "no requests answered before the signal")
	if err := w.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	code, err := w.Wait(20 * time.Second)
	if err != nil || code != 0 {
		t.Fatalf("exit after SIGTERM: code %d, %v", code, err)
	}
	if len(bad) > 0 {
		t.Fatalf("broken answers around SIGTERM: %v", bad)
	}
	t.Logf("%d requests answered around SIGTERM, none broken", answered.Load())

	w2 := proc.StartWaitingroom(t, bins, t.TempDir(), cfg)
	proc.Eventually(t, 30*time.Second, func() bool { return status(t, w2, "app.test") == "running" },
		"wake not finished after the restart")
	if n := d.starts(); n > 2 {
		t.Fatalf("start ran %d times", n)
	}
	if !d.answering() {
		t.Fatal("backend not answering")
	}
}
