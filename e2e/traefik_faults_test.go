package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/internal/testutil/proc"
	"github.com/waitingroom/waitingroom/internal/testutil/traefiktest"
)

// appHost is a registered host whose backend is a server inside the test,
// so a test can make the app answer what it likes and count what reached
// it. The exec provider starts and stops it by creating and removing a
// marker file; while the file is missing the server closes every
// connection at once, as a stopped backend would fail it.
type appHost struct {
	name   string
	srv    *httptest.Server
	marker string

	mu    sync.Mutex
	seen  map[string]int // "METHOD /path" → requests the app received
	ready atomic.Int32   // status of /healthz; 0 means 200
}

func newAppHost(t testing.TB, name string, app http.HandlerFunc) *appHost {
	t.Helper()
	a := &appHost{name: name, seen: map[string]int{}, marker: filepath.Join(t.TempDir(), "running")}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := os.Stat(a.marker); err != nil {
			// Asleep: fail the connection without an answer.
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			panic(http.ErrAbortHandler)
		}
		if r.URL.Path == "/healthz" {
			if s := a.ready.Load(); s != 0 {
				w.WriteHeader(int(s))
			}
			return
		}
		a.mu.Lock()
		a.seen[r.Method+" "+r.URL.Path]++
		a.mu.Unlock()
		app(w, r)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *appHost) count(key string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seen[key]
}

// yaml registers the app; startTimeout "" means 30s.
func (a *appHost) yaml(startTimeout string) string {
	if startTimeout == "" {
		startTimeout = "30s"
	}
	return fmt.Sprintf(`
  - host: %s
    provider: exec
    start: ["/bin/touch", %q]
    stop: ["/bin/rm", "-f", %q]
    status: ["/bin/sh", "-c", "test -e \"$0\" || exit 3", %q]
    ready_url: %s/healthz
    idle_timeout: 30m
    start_timeout: %s
`, a.name, a.marker, a.marker, a.marker, a.srv.URL, startTimeout)
}

// startAppFront runs waitingroom with the app hosts behind Traefik (HTTP
// provider with its token), reconciling every reconcile; startTimeouts go
// to the apps in order.
func startAppFront(t testing.TB, apps []*appHost, reconcile string, startTimeouts ...string) *traefikFront {
	t.Helper()
	hosts := ""
	var routers []string
	for i, a := range apps {
		e := ""
		if i < len(startTimeouts) {
			e = startTimeouts[i]
		}
		hosts += a.yaml(e)
		n := strings.ReplaceAll(a.name, ".", "-")
		routers = append(routers, n, n+"-read")
	}
	dir := t.TempDir()
	tokenFile := dir + "/traefik-token"
	if err := os.WriteFile(tokenFile, []byte(traefikToken), 0o600); err != nil {
		t.Fatal(err)
	}
	w := proc.StartWaitingroom(t, bins, dir, fmt.Sprintf(`listen: "%%PUBLIC%%"
admin:
  listen: "%%ADMIN%%"
  tokens: [{name: traefik, file: %q}]
scheduler:
  reconcile_interval: %s
providers:
  exec: {}
hosts:%s`, tokenFile, reconcile, hosts))
	tr := traefiktest.Start(t, traefiktest.Options{HTTPEndpoint: w.Admin + "/api/traefik", HTTPToken: traefikToken})
	tr.WaitRouters(t, 20*time.Second, routers...)
	for _, a := range apps {
		proc.Eventually(t, 10*time.Second, func() bool { return status(t, w, a.name) == "stopped" },
			"reconcile never found %s stopped", a.name)
	}
	return &traefikFront{w: w, tr: tr}
}

// wakeAndWaitUp wakes host through Traefik and waits until Traefik itself
// sends its requests to the backend (its health check marked it up).
func (f *traefikFront) wakeAndWaitUp(t testing.TB, ctx context.Context, host, backendURL string) {
	t.Helper()
	if _, _, _, err := f.do(ctx, http.MethodGet, host, "/", nil, "Accept", "text/html"); err != nil {
		t.Fatalf("waking %s: %v", host, err)
	}
	proc.Eventually(t, 20*time.Second, func() bool { return status(t, f.w, host) == "running" }, "%s never running", host)
	f.waitServer(t, host, backendURL, "UP", 30*time.Second)
}

func (f *traefikFront) waitServer(t testing.TB, host, backendURL, want string, within time.Duration) {
	t.Helper()
	svc := strings.ReplaceAll(host, ".", "-") + "-backend@http"
	proc.Eventually(t, within, func() bool {
		st, err := f.tr.ServerStatus(svc)
		return err == nil && st[backendURL] == want
	}, "Traefik never marked %s %s", svc, want)
}

// The app's own answers reach the user through Traefik, whichever way the
// request goes: straight to the backend, or handed over by waitingroom
// while Traefik still holds the backend down. A 503 maintenance page is
// not replayed into a waiting page, and a POST the app answered with an
// error — 503, or a 502 of its own, which failover.errors would replay —
// reaches the app exactly once.
func TestTraefikAppsOwnErrorsReachTheUserAndPostsAreNeverResent(t *testing.T) {
	app := newAppHost(t, "app.test", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		switch r.URL.Path {
		case "/maintenance":
			w.Header().Set("Retry-After", "60")
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		case "/bad-gateway":
			http.Error(w, "the app's own bad gateway", http.StatusBadGateway)
		case "/broken":
			http.Error(w, "the app is broken", http.StatusInternalServerError)
		default:
			_, _ = io.WriteString(w, "<p id=app>hello</p>")
		}
	})
	f := startAppFront(t, []*appHost{app}, "2s")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	check := func(phase string) {
		t.Helper()
		for _, tc := range []struct {
			method, path, body string
			want               int
		}{
			{http.MethodGet, "/maintenance", "down for maintenance", http.StatusServiceUnavailable},
			{http.MethodPost, "/maintenance", "down for maintenance", http.StatusServiceUnavailable},
			{http.MethodPost, "/bad-gateway", "the app's own bad gateway", http.StatusBadGateway},
			{http.MethodGet, "/broken", "the app is broken", http.StatusInternalServerError},
			{http.MethodPost, "/broken", "the app is broken", http.StatusInternalServerError},
		} {
			key := tc.method + " " + tc.path
			before := app.count(key)
			code, h, body, err := f.do(ctx, tc.method, app.name, tc.path, strings.NewReader("order=1"),
				"Accept", "text/html", "Content-Type", "application/x-www-form-urlencoded")
			if err != nil {
				t.Fatalf("%s: %s: %v", phase, key, err)
			}
			if code != tc.want || !strings.Contains(body, tc.body) || h.Get("X-Waitingroom-State") != "" {
				t.Errorf("%s: %s: %d %q (waitingroom state %q); want the app's own %d %q",
					phase, key, code, body, h.Get("X-Waitingroom-State"), tc.want, tc.body)
			}
			if tc.method == http.MethodPost {
				if n := app.count(key) - before; n != 1 {
					t.Errorf("%s: the app received %s %d times, want exactly once", phase, key, n)
				}
			}
		}
	}

	// Asleep, as Traefik sees it too.
	f.waitServer(t, app.name, app.srv.URL, "DOWN", 30*time.Second)
	// Woken, and Traefik has not marked the backend up yet: waitingroom
	// hands the requests over (GETs, and POSTs Traefik marks untried).
	if _, _, _, err := f.do(ctx, http.MethodGet, app.name, "/", nil, "Accept", "text/html"); err != nil {
		t.Fatal(err)
	}
	proc.Eventually(t, 20*time.Second, func() bool { return status(t, f.w, app.name) == "running" }, "never running")
	if st, _ := f.tr.ServerStatus("app-test-backend@http"); st[app.srv.URL] == "DOWN" {
		check("handed over by waitingroom")
	} else {
		t.Logf("Traefik already marked the backend up: the handed-over phase is not observed this run")
	}
	// Traefik sends them straight to the backend.
	f.waitServer(t, app.name, app.srv.URL, "UP", 30*time.Second)
	check("straight to the backend")

	if n := app.count("GET /bad-gateway"); n != 0 {
		t.Errorf("unexpected GET /bad-gateway")
	}
	appAnswer := func(a traefiktest.Access) bool {
		return a.Path == "/maintenance" || a.Path == "/bad-gateway" || a.Path == "/broken"
	}
	f.checkStatuses(t, appAnswer)
}

// A backend killed behind waitingroom's back, while Traefik still sends it
// traffic: the next page request finds it gone (Traefik replays the 502 to
// waitingroom, whose handoff fails and has the host re-read), and the
// visitor gets the honest waiting page and then the site again — not
// "ready; loading it now" until the next reconcile.
func TestTraefikKilledBackendIsNoticedByTheNextRequest(t *testing.T) {
	const host = "app.test"
	d := newDemoHost(t, host, 500*time.Millisecond, "30m")
	// A slow reconcile: only the request can notice the death in time.
	f := startTraefikFront(t, frontOptions{provider: "http", hosts: []*demoHost{d}, extra: ""})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f.wakeAndWaitUp(t, ctx, host, d.url())

	b, err := os.ReadFile(d.pidfile())
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill backend: %v", err)
	}
	proc.Eventually(t, 5*time.Second, func() bool { return !d.answering() }, "backend still answers after SIGKILL")
	killed := time.Now()

	code, h, body, err := f.do(ctx, http.MethodGet, host, "/", nil, "Accept", "text/html")
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusServiceUnavailable || h.Get("X-Waitingroom-State") == "running" {
		t.Errorf("first request after the kill: %d, state %q; want the waiting page of a host that is not running\n%.300s",
			code, h.Get("X-Waitingroom-State"), body)
	}
	t.Logf("first request after the kill: %d, state %q after %s", code, h.Get("X-Waitingroom-State"), time.Since(killed).Round(time.Millisecond))
	// The request woke it again: the site comes back.
	proc.Eventually(t, 30*time.Second, func() bool {
		code, _, body, err := f.do(ctx, http.MethodGet, host, "/", nil, "Accept", "text/html")
		return err == nil && code == http.StatusOK && strings.Contains(body, "Hello from "+host)
	}, "the site never came back after the kill")
	t.Logf("site back %s after the kill; starts %d", time.Since(killed).Round(time.Millisecond), d.starts())
	if n := d.starts(); n != 2 {
		t.Errorf("start command ran %d times, want 2 (the wake, and the wake after the kill)", n)
	}
	f.checkStatuses(t, nil)
}

// A backend whose readiness check fails (500) never gets visitors a
// "ready" page or a loop: the page says it is waking, then that the wake
// failed (and a later visit retries after a backoff); no raw 5xx reaches a
// client.
func TestTraefikBrokenBackendIsNeverCalledReady(t *testing.T) {
	app := newAppHost(t, "broken.test", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "broken", http.StatusInternalServerError)
	})
	app.ready.Store(http.StatusInternalServerError)
	// The wake's own readiness check is what this tests; that a reconcile
	// does not call the failed backend running either is the controller's
	// (issue 14, item 2), so reconciles are rare here.
	f := startAppFront(t, []*appHost{app}, "1m", "3s")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f.waitServer(t, app.name, app.srv.URL, "DOWN", 30*time.Second)
	// Until the wake fails at its start_timeout (3 s), however slowly a
	// loaded machine gets there.
	deadline := time.Now().Add(60 * time.Second)
	var states []string
	for time.Now().Before(deadline) && !slices.Contains(states, "failed") {
		code, h, _, err := f.do(ctx, http.MethodGet, app.name, "/", nil, "Accept", "text/html")
		if err != nil {
			t.Fatal(err)
		}
		st := h.Get("X-Waitingroom-State")
		if code != http.StatusServiceUnavailable || st == "running" || st == "" {
			t.Fatalf("a broken backend answered %d with state %q; want waitingroom's 503, never running", code, st)
		}
		if len(states) == 0 || states[len(states)-1] != st {
			states = append(states, st)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("states a client saw: %v", states)
	if !slices.Contains(states, "failed") {
		t.Errorf("states %v; want the wake to fail at its start_timeout within 60 s", states)
	}
	f.checkStatuses(t, nil)
}

// A 200 MB upload to a healthy backend is streamed by Traefik, not
// buffered for a replay: the generated configuration sends methods other
// than GET/HEAD/OPTIONS through a failover without failover.errors. A GET
// carrying a body over traefik.max_request_body_bytes gets Traefik's 413.
func TestTraefikUploadToHealthyBackendIsNotBuffered(t *testing.T) {
	const size = 200 << 20
	var received atomic.Int64
	app := newAppHost(t, "upload.test", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		received.Store(n)
		_, _ = io.WriteString(w, strconv.FormatInt(n, 10))
	})
	f := startAppFront(t, []*appHost{app}, "2s")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f.waitServer(t, app.name, app.srv.URL, "DOWN", 30*time.Second)
	f.wakeAndWaitUp(t, ctx, app.name, app.srv.URL)

	before, err := f.tr.RSS()
	if err != nil {
		t.Fatal(err)
	}
	var peak atomic.Int64
	peak.Store(before)
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if rss, err := f.tr.RSS(); err == nil && rss > peak.Load() {
				peak.Store(rss)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	code, _, body, err := f.do(ctx, http.MethodPost, app.name, "/upload", io.LimitReader(zeros{}, size),
		"Content-Type", "application/octet-stream")
	close(done)
	<-sampled
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	if code != http.StatusOK || body != strconv.Itoa(size) || received.Load() != size {
		t.Fatalf("upload: %d %q, the app received %d bytes; want 200 and all %d", code, body, received.Load(), size)
	}
	grew := peak.Load() - before
	t.Logf("200 MB upload through Traefik in %s: Traefik RSS %d MB before, peak %d MB (+%d MB)",
		time.Since(start).Round(time.Millisecond), before>>20, peak.Load()>>20, grew>>20)
	if grew > 64<<20 {
		t.Errorf("Traefik grew by %d MB during a %d MB upload: it buffered the body", grew>>20, size>>20)
	}

	// Above the replay buffer's limit: a GET with a 2 MiB body.
	code, _, _, err = f.do(ctx, http.MethodGet, app.name, "/big-get", strings.NewReader(strings.Repeat("x", 2<<20)))
	if err != nil || code != http.StatusRequestEntityTooLarge {
		t.Errorf("GET with a 2 MiB body: %d, %v; want Traefik's 413 (over max_request_body_bytes)", code, err)
	}
	if n := app.count("GET /big-get"); n != 0 {
		t.Errorf("the app received the oversized GET %d times", n)
	}
	f.checkStatuses(t, nil)
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// A configuration change (a host added) makes Traefik rebuild its services
// and reset every health check to UP, sleeping backends included, until
// their next check. Requests of GET/HEAD/OPTIONS in that window are
// replayed to waitingroom (no raw 5xx); other methods get Traefik's 502
// (measured and logged here, documented in docs/HANDOFF.md). A HEAD does
// not wake the host.
func TestTraefikConfigReloadWithSleepingHosts(t *testing.T) {
	a := newAppHost(t, "a.test", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "a") })
	b := newAppHost(t, "b.test", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "b") })
	c := newAppHost(t, "c.test", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "c") })
	f := startAppFront(t, []*appHost{a, b}, "1m")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f.waitServer(t, a.name, a.srv.URL, "DOWN", 30*time.Second)
	f.waitServer(t, b.name, b.srv.URL, "DOWN", 30*time.Second)
	noiseFrom := time.Now()
	noiseBefore := strings.Count(f.tr.Log(), "Health check failed")

	cfg, err := os.ReadFile(f.w.Config)
	if err != nil {
		t.Fatal(err)
	}
	tmp := f.w.Config + ".tmp"
	if err := os.WriteFile(tmp, append(cfg, c.yaml("")...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, f.w.Config); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	f.tr.WaitRouters(t, 20*time.Second, "c-test", "c-test-read")
	reloaded := time.Now()

	// For 12 s: who does Traefik think is up, and what do clients get?
	var upFrom, upUntil time.Time
	heads, posts := map[int]int{}, map[int]int{}
	var lastRaw502 time.Time
	for time.Since(reloaded) < 12*time.Second {
		if st, err := f.tr.ServerStatus("a-test-backend@http"); err == nil && st[a.srv.URL] == "UP" {
			if upFrom.IsZero() {
				upFrom = time.Now()
			}
			upUntil = time.Now()
		}
		code, h, _, err := f.do(ctx, http.MethodHead, a.name, "/", nil, "Accept", "text/html")
		if err != nil {
			t.Fatal(err)
		}
		heads[code]++
		if code >= 500 && h.Get("X-Waitingroom-State") == "" {
			t.Errorf("HEAD of a sleeping host after the reload: %d not from waitingroom", code)
		}
		// POSTs go to b: a POST that reaches waitingroom wakes its host.
		// Sent until the first that is not Traefik's 502.
		if posts[http.StatusBadGateway] == len(postsSeen(posts)) || len(posts) == 0 {
			code, _, _, err = f.do(ctx, http.MethodPost, b.name, "/", strings.NewReader("x"))
			if err != nil {
				t.Fatal(err)
			}
			posts[code]++
			if code == http.StatusBadGateway {
				lastRaw502 = time.Now()
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	window := "never seen"
	if !upFrom.IsZero() {
		window = fmt.Sprintf("%s to %s after the reload", upFrom.Sub(reloaded).Round(time.Millisecond), upUntil.Sub(reloaded).Round(time.Millisecond))
	}
	raw := "none"
	if !lastRaw502.IsZero() {
		raw = "until " + lastRaw502.Sub(reloaded).Round(time.Millisecond).String() + " after the reload"
	}
	t.Logf("reload %s after the file changed; sleeping a.test marked UP by Traefik: %s; HEAD answers %v; POST answers to b.test %v (Traefik's 502 %s)",
		reloaded.Sub(changed).Round(time.Millisecond), window, heads, posts, raw)
	if s := status(t, f.w, a.name); s != "stopped" {
		t.Errorf("a.test is %s after HEAD requests only; want stopped (HEAD does not wake)", s)
	}
	noise := strings.Count(f.tr.Log(), "Health check failed") - noiseBefore
	t.Logf("Traefik logged %d \"Health check failed\" warnings in %s for 2-3 sleeping hosts",
		noise, time.Since(noiseFrom).Round(time.Second))
	f.checkStatuses(t, func(x traefiktest.Access) bool {
		// Traefik's own 502 for a POST to a sleeping backend it holds up
		// after the reload: the request never reached the app.
		return x.Method == http.MethodPost && x.Status == http.StatusBadGateway && strings.HasPrefix(x.Service, "b-test-backend@")
	})
}

// postsSeen lists the statuses counted, for "every POST so far was a 502".
func postsSeen(m map[int]int) []int {
	var out []int
	for code, n := range m {
		for range n {
			out = append(out, code)
		}
	}
	return out
}

// A backend stopped while it boots (its process killed during the wake):
// through Traefik every visitor keeps getting waitingroom's honest page,
// never "ready" and never a raw 5xx. (How fast the wake is declared failed
// is the controller's: issue 14, item 2.)
func TestTraefikBackendStoppedMidWake(t *testing.T) {
	const host = "app.test"
	d := newDemoHost(t, host, 3*time.Second, "30m")
	f := startTraefikFront(t, frontOptions{provider: "http", hosts: []*demoHost{d}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if code, h, _, err := f.do(ctx, http.MethodGet, host, "/", nil, "Accept", "text/html"); err != nil || code != http.StatusServiceUnavailable {
		t.Fatalf("first request: %d %v, %v; want the waiting page", code, h, err)
	}
	proc.Eventually(t, 10*time.Second, func() bool { return d.processAlive() }, "the backend process never started")
	d.stop() // during its 3 s boot
	stopped := time.Now()
	states := map[string]int{}
	for time.Since(stopped) < 6*time.Second {
		code, h, body, err := f.do(ctx, http.MethodGet, host, "/", nil, "Accept", "text/html")
		if err != nil {
			t.Fatal(err)
		}
		st := h.Get("X-Waitingroom-State")
		states[st]++
		if code != http.StatusServiceUnavailable || st == "" || st == "running" {
			t.Fatalf("%s after the stop: %d, state %q; want waitingroom's page of a host that is not running\n%.200s",
				time.Since(stopped).Round(time.Millisecond), code, st, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("states visitors saw in the 6 s after the backend was stopped mid-wake: %v", states)
	f.checkStatuses(t, nil)
}
