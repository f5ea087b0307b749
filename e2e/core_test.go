package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/internal/testutil/proc"
	"github.com/waitingroom/waitingroom/internal/testutil/redistest"
)

const baseConfig = `
listen: "%PUBLIC%"
admin:
  listen: "%ADMIN%"
scheduler:
  sweep_interval: 500ms
  reconcile_interval: 2s
providers:
  exec: {}
`

// The journey of issue 3: a crowd on a sleeping host makes one start, every
// request gets the waiting page, the page's event stream says running once
// the backend answers, and the idle sweep puts it back to sleep.
func TestStampedeWakesOnceThenSleepsWhenIdle(t *testing.T) {
	d := newDemoHost(t, "app.test", 1500*time.Millisecond, "3s")
	w := proc.StartWaitingroom(t, bins, t.TempDir(), baseConfig+"hosts:"+d.yaml())

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	proc.Eventually(t, 10*time.Second, func() bool { return status(t, w, "app.test") == "stopped" },
		"reconcile never found the backend stopped")
	events := sse(ctx, t, w.Public, "app.test")
	if first := <-events; first != "stopped" {
		t.Fatalf("first event %q, want the current state (stopped)", first)
	}

	const crowd = 200
	var wg sync.WaitGroup
	codes := make(chan int, crowd)
	bodies := make(chan string, crowd)
	for i := 0; i < crowd; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := w.Get(ctx, "app.test", "/some/page", "Accept", "text/html", "User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/130")
			if err != nil {
				t.Errorf("request: %v", err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			codes <- resp.StatusCode
			if resp.Header.Get("Retry-After") == "" || resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("headers: %v", resp.Header)
			}
			bodies <- string(b)
		}()
	}
	wg.Wait()
	close(codes)
	close(bodies)
	for c := range codes {
		if c != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503", c)
		}
	}
	for b := range bodies {
		if !strings.Contains(b, "app.test") {
			t.Fatalf("waiting page does not name the host:\n%s", b)
		}
	}

	// Watch the backend and the event stream side by side: the gap between
	// the backend answering and the page hearing "running" is what a
	// person waits for nothing.
	var answeredAt time.Time
	answered := make(chan struct{})
	go func() {
		for ctx.Err() == nil && !d.answering() {
			time.Sleep(5 * time.Millisecond)
		}
		answeredAt = time.Now()
		close(answered)
	}()
	var runningAt time.Time
	for runningAt.IsZero() {
		select {
		case s, ok := <-events:
			if !ok {
				t.Fatal("event stream ended before running")
			}
			if s == "running" {
				runningAt = time.Now()
			}
		case <-ctx.Done():
			t.Fatal("no running event")
		}
	}
	<-answered
	t.Logf("backend answered → running event: %s", runningAt.Sub(answeredAt).Round(time.Millisecond))
	if n := d.starts(); n != 1 {
		t.Fatalf("start command ran %d times, want exactly 1", n)
	}
	if s := status(t, w, "app.test"); s != "running" {
		t.Fatalf("status %q, want running", s)
	}

	// No traffic: after its 3 s idle timeout the sweep stops it.
	proc.Eventually(t, 20*time.Second, func() bool { return status(t, w, "app.test") == "stopped" },
		"idle host never stopped")
	proc.Eventually(t, 5*time.Second, func() bool { return !d.processAlive() && !d.answering() },
		"backend process still alive after the idle stop")
}

func TestBadRequestsNeverReachTheProvider(t *testing.T) {
	d := newDemoHost(t, "app.test", 0, "1m")
	w := proc.StartWaitingroom(t, bins, t.TempDir(), baseConfig+"hosts:"+d.yaml())
	ctx := context.Background()

	tests := []struct {
		name string
		host string
		want int
	}{
		{"unknown host", "other.test", http.StatusNotFound},
		{"unknown subdomain", "x.app.test", http.StatusNotFound},
		{"malformed host", "app..test", http.StatusBadRequest},
		{"host with bad characters", "app_test<script>", http.StatusBadRequest},
		{"overlong host", strings.Repeat("a", 300) + ".test", http.StatusBadRequest},
	}
	for _, tc := range tests {
		resp, err := w.Get(ctx, tc.host, "/")
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}

	// A 1 MB header, written on a raw connection as a client would.
	addr := strings.TrimPrefix(w.Public, "http://")
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	go func() {
		fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: app.test\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 1<<20))
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("1 MB header: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("1 MB header: status %d, want 431", resp.StatusCode)
	}

	if n := d.starts(); n != 0 {
		t.Fatalf("start command ran %d times for bad requests", n)
	}
	if w.Exited() {
		t.Fatal("waitingroom exited")
	}
}

func TestBadConfigAtStartExitsWithEveryError(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/bad.yaml"
	bad := `listen: ":8080"
providers:
  exec: {}
hosts:
  - host: app.example.com
    provider: dockr
    container: app
  - host: app.example.com
    provider: exec
    start: []
    stop: ["true"]
    idle_timeout: soon
`
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"serve", "validate"} {
		p := proc.Start(t, bins.Waitingroom, cmd, "--config", path)
		code, err := p.Wait(10 * time.Second)
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		if code != 1 {
			t.Errorf("%s: exit code %d, want 1", cmd, code)
		}
		out := p.Output()
		for _, line := range []int{6, 8, 10, 12} {
			if !regexp.MustCompile(regexp.QuoteMeta(path) + fmt.Sprintf(":%d: ", line)).MatchString(out) {
				t.Errorf("%s: no error for line %d in:\n%s", cmd, line, out)
			}
		}
	}
}

func TestReloadServesNewHostAndKeepsOldOnBrokenEdit(t *testing.T) {
	a := newDemoHost(t, "a.test", 0, "1m")
	b := newDemoHost(t, "b.test", 0, "1m")
	w := proc.StartWaitingroom(t, bins, t.TempDir(), baseConfig+"hosts:"+a.yaml())
	get := func(host string) int {
		resp, err := w.Get(context.Background(), host, "/", "Accept", "text/html", "User-Agent", "Mozilla/5.0 Chrome/130")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := get("b.test"); c != http.StatusNotFound {
		t.Fatalf("b.test before reload: %d", c)
	}
	cfg, err := os.ReadFile(w.Config)
	if err != nil {
		t.Fatal(err)
	}
	// Write-then-rename, as editors do.
	write := func(s string) {
		tmp := w.Config + ".tmp"
		if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, w.Config); err != nil {
			t.Fatal(err)
		}
	}
	written := time.Now()
	write(string(cfg) + b.yaml())
	proc.Eventually(t, 3*time.Second, func() bool { return get("b.test") == http.StatusServiceUnavailable },
		"added host not served")
	t.Logf("added host served %s after the write", time.Since(written).Round(time.Millisecond))
	if since := time.Since(written); since > time.Second {
		t.Errorf("added host took %s to be served, want within 1 s", since)
	}

	// A broken edit: rejected, logged, the old registry keeps serving.
	write(string(cfg) + b.yaml() + "  - host: c.test\n    provider: nope\n")
	proc.Eventually(t, 5*time.Second, func() bool { return strings.Contains(w.Output(), "nope") },
		"broken edit was not logged")
	for _, h := range []string{"a.test", "b.test"} {
		// Still registered: the waiting page, or the backend's own answer
		// once the host woke (handed over by waitingroom).
		if c := get(h); c != http.StatusServiceUnavailable && c != http.StatusOK {
			t.Errorf("%s after broken edit: %d, want 503 or 200 (old config kept)", h, c)
		}
	}
	if c := get("c.test"); c != http.StatusNotFound {
		t.Errorf("c.test from the broken edit: %d, want 404", c)
	}

	// SIGHUP reloads too: remove b by rewriting in place, then signal.
	if err := os.WriteFile(w.Config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := w.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	proc.Eventually(t, 3*time.Second, func() bool { return get("b.test") == http.StatusNotFound },
		"removed host still served")
	if w.Exited() {
		t.Fatal("waitingroom exited")
	}
}

func TestRedisUnavailableAtStartAndMidRun(t *testing.T) {
	rs := redistest.Start(t, redistest.WithPersistence())
	rs.Stop() // unavailable at start
	d := newDemoHost(t, "app.test", 500*time.Millisecond, "1m")
	cfg := baseConfig + fmt.Sprintf("store:\n  redis_url: %q\nhosts:", rs.URL()) + d.yaml()
	w := proc.StartWaitingroom(t, bins, t.TempDir(), cfg)

	readyz := func() int {
		resp, err := http.Get(w.Admin + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	page := func() (int, string) {
		resp, err := w.Get(context.Background(), "app.test", "/", "Accept", "text/html")
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if c := readyz(); c != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with Redis down: %d, want 503", c)
	}
	if c, body := page(); c != http.StatusServiceUnavailable || !strings.Contains(strings.ToLower(body), "temporary") {
		t.Fatalf("page with Redis down: %d\n%s", c, body)
	}
	if n := d.starts(); n != 0 {
		t.Fatalf("started %d times without a store", n)
	}

	rs.Restart()
	proc.Eventually(t, 15*time.Second, func() bool { return readyz() == http.StatusOK }, "/readyz never recovered")
	proc.Eventually(t, 15*time.Second, func() bool { c, _ := page(); return c == http.StatusServiceUnavailable && d.starts() == 1 },
		"wake did not happen once Redis was back")

	// Redis dies mid-wake: no crash, the page still answers; when Redis is
	// back the wake's result lands (or reconcile settles it).
	rs.Stop()
	for i := 0; i < 5; i++ {
		if c, _ := page(); c != http.StatusServiceUnavailable {
			t.Fatalf("page with Redis gone mid-run: %d", c)
		}
	}
	if c := readyz(); c != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with Redis gone: %d", c)
	}
	proc.Eventually(t, 10*time.Second, d.answering, "backend never came up")
	rs.Restart()
	proc.Eventually(t, 20*time.Second, func() bool { return status(t, w, "app.test") == "running" },
		"state never settled to running after Redis returned")
	if w.Exited() {
		t.Fatal("waitingroom exited")
	}
	if n := d.starts(); n != 1 {
		t.Fatalf("start ran %d times, want 1", n)
	}
}
