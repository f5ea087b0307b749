package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/waitingroom/waitingroom/internal/testutil/proc"
	"github.com/waitingroom/waitingroom/internal/testutil/redistest"
	"github.com/waitingroom/waitingroom/web"
)

// adminRequest sends a request to the admin listener with the given Host
// and headers ("Name: value").
func adminRequest(t *testing.T, w *proc.Waitingroom, method, host, path string, body io.Reader, header ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, w.Admin+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for _, h := range header {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Add(k, v)
	}
	c := http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// withAdmin adds settings (YAML lines, no indentation) under admin: of cfg.
func withAdmin(cfg string, lines ...string) string {
	return strings.Replace(cfg, "  listen: \"%ADMIN%\"\n", "  listen: \"%ADMIN%\"\n  "+strings.Join(lines, "\n  ")+"\n", 1)
}

// DNS rebinding (issue 15, 1): a page on evil.example whose name now
// resolves to 127.0.0.1 is the admin listener's own origin to the browser.
// On the open-access loopback admin it could read the CSRF token from the
// dashboard and stop hosts. The admin answers only its own names.
func TestAdminRefusesRebindingThroughBinary(t *testing.T) {
	d := newDemoHost(t, "app.test", 0, "1m")
	w := proc.StartWaitingroom(t, bins, t.TempDir(), withAdmin(baseConfig, "hosts: [admin.internal]")+"hosts:"+d.yaml())
	port := strings.TrimPrefix(w.Admin, "http://127.0.0.1")
	evil := "evil.example" + port

	// The attacker's page first reads the dashboard for its CSRF token.
	code, body, hdr := adminRequest(t, w, "GET", evil, "/", nil, "Sec-Fetch-Site: same-origin", "Accept: text/html")
	if code != http.StatusMisdirectedRequest || strings.Contains(body, "csrf") || hdr.Get("Set-Cookie") != "" {
		t.Fatalf("dashboard under a rebound name: %d (cookie %q), want 421 without a token", code, hdr.Get("Set-Cookie"))
	}
	if !strings.Contains(body, "admin.hosts") {
		t.Errorf("the refusal does not say what to do: %s", body)
	}
	// Even with a token from the real dashboard, its POST is refused.
	_, dash, dashHdr := adminRequest(t, w, "GET", "", "/", nil, "Accept: text/html")
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(dash)
	if m == nil {
		t.Fatal("no CSRF token on the real dashboard")
	}
	cookie := strings.Split(dashHdr.Get("Set-Cookie"), ";")[0]
	for _, path := range []string{"/api/hosts/app.test/wake", "/api/hosts/app.test/stop", "/api/reload"} {
		code, _, _ := adminRequest(t, w, "POST", evil, path, nil, "Origin: http://"+evil, "X-CSRF-Token: "+m[1], "Cookie: "+cookie)
		if code != http.StatusMisdirectedRequest {
			t.Errorf("POST %s under a rebound name: %d, want 421", path, code)
		}
	}
	for _, path := range []string{"/config", "/api/traefik", "/metrics", "/api/hosts"} {
		if code, _, _ := adminRequest(t, w, "GET", evil, path, nil); code != http.StatusMisdirectedRequest {
			t.Errorf("GET %s under a rebound name: %d, want 421", path, code)
		}
	}
	// A foreign Origin is refused even under an allowed Host.
	if code, _, _ := adminRequest(t, w, "POST", "", "/api/hosts/app.test/wake", nil, "Origin: http://"+evil, "X-CSRF-Token: "+m[1], "Cookie: "+cookie); code != http.StatusForbidden {
		t.Errorf("foreign Origin: %d, want 403", code)
	}
	if d.starts() != 0 {
		t.Fatal("a refused request woke the host")
	}
	// The names it is reached by still work.
	for _, host := range []string{"", "localhost" + port, "admin.internal" + port, "[::1]" + port} {
		if code, _, _ := adminRequest(t, w, "GET", host, "/api/hosts", nil); code != http.StatusOK {
			t.Errorf("GET /api/hosts with Host %q: %d, want 200", host, code)
		}
	}
}

// bcryptHash hashes password at cost 12, as `waitingroom hash-password`
// does by default.
func bcryptHash(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), 12)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// login posts the login form from client (an address behind the trusted
// proxy 127.0.0.1) and returns the status, how long it took and the
// session cookie.
func login(t *testing.T, w *proc.Waitingroom, client, user, password string) (int, time.Duration, string) {
	t.Helper()
	form := url.Values{"user": {user}, "password": {password}, "next": {"/"}}
	start := time.Now()
	code, _, hdr := adminRequest(t, w, "POST", "", "/login", strings.NewReader(form.Encode()),
		"Content-Type: application/x-www-form-urlencoded", "X-Forwarded-For: "+client)
	return code, time.Since(start), strings.Split(hdr.Get("Set-Cookie"), ";")[0]
}

// Login work is bounded for the whole listener (issue 15, 4): 40
// concurrent wrong logins from 40 networks (each within its own rate limit)
// at bcrypt cost 12 leave the public listener fast and answer an
// operator's login within 2 s; the operator is logged in once the burst is
// refused.
func TestConcurrentWrongLoginsThroughBinary(t *testing.T) {
	const password = "correct horse battery staple"
	d := newDemoHost(t, "app.test", 0, "1m")
	cfg := withAdmin(baseConfig, "users: [{name: alice, password_hash: '"+bcryptHash(t, password)+"'}]") + "hosts:" + d.yaml()
	w := proc.StartWaitingroom(t, bins, t.TempDir(), cfg)

	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	var slowest time.Duration
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, took, _ := login(t, w, fmt.Sprintf("2001:db8:%x::1", i+1), "alice", "guess")
			mu.Lock()
			codes[code]++
			slowest = max(slowest, took)
			mu.Unlock()
		}()
	}
	// While they run: the public listener and the operator.
	start := time.Now()
	resp, err := w.Get(context.Background(), "app.test", "/.waitingroom/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	public := time.Since(start)
	var loggedIn time.Duration
	var operator []string
	for attempt := 0; ; attempt++ {
		code, took, cookie := login(t, w, "192.0.2.10", "alice", password)
		operator = append(operator, fmt.Sprintf("%d in %s", code, took.Round(time.Millisecond)))
		if took > 2*time.Second {
			t.Errorf("the operator's login took %s (answers: %v)", took, operator)
		}
		if code == http.StatusSeeOther && cookie != "" {
			loggedIn = time.Since(start)
			break
		}
		if code != http.StatusServiceUnavailable || time.Since(start) > 15*time.Second {
			t.Fatalf("the operator could not log in: %v", operator)
		}
		time.Sleep(200 * time.Millisecond)
	}
	wg.Wait()
	t.Logf("public status during the flood %s; operator logged in after %s (%v); wrong logins: %v, slowest %s",
		public.Round(time.Millisecond), loggedIn.Round(time.Millisecond), operator, codes, slowest.Round(time.Millisecond))
	if public > 2*time.Second {
		t.Errorf("the public listener answered in %s during the flood", public)
	}
	if slowest > 3*time.Second {
		t.Errorf("a wrong login waited %s for its answer; the surplus should be refused at once", slowest)
	}
	if codes[http.StatusServiceUnavailable] == 0 {
		t.Errorf("no wrong login was refused for being one too many: %v", codes)
	}
}

// Behind the TLS proxy the README recommends (issue 15, 5), the session
// cookie is Secure when the proxy is trusted and says X-Forwarded-Proto:
// https; the same header from an untrusted peer changes nothing.
func TestSessionCookieSecureBehindTrustedProxyThroughBinary(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		trusted string
		secure  bool
	}{{"[127.0.0.1/32]", true}, {"[]", false}} {
		cfg := withAdmin(baseConfig, "users: [{name: alice, password_hash: '"+string(hash)+"'}]") + "trusted_proxies: " + tc.trusted + "\n"
		w := proc.StartWaitingroom(t, bins, t.TempDir(), cfg)
		form := url.Values{"user": {"alice"}, "password": {"pw"}}
		code, _, hdr := adminRequest(t, w, "POST", "", "/login", strings.NewReader(form.Encode()),
			"Content-Type: application/x-www-form-urlencoded", "X-Forwarded-Proto: https")
		c := hdr.Get("Set-Cookie")
		if code != http.StatusSeeOther || strings.Contains(c, "; Secure") != tc.secure {
			t.Errorf("trusted_proxies %s: %d cookie %q, want Secure=%v", tc.trusted, code, c, tc.secure)
		}
		w.Kill()
	}
}

// Logout ends the session on every replica (issue 15, 6): two binaries
// sharing a real redis-server and a session key; the cookie of a session
// logged out on one is refused by the other.
func TestLogoutEndsSessionOnOtherReplicaThroughBinary(t *testing.T) {
	rs := redistest.Start(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "session.key")
	if err := os.WriteFile(keyFile, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := withAdmin(baseConfig, "users: [{name: alice, password_hash: '"+string(hash)+"'}]", "session_key_file: "+keyFile) +
		fmt.Sprintf("store:\n  redis_url: %q\n", rs.URL())
	ws := replicas(t, 2, cfg)
	code, _, cookie := login(t, ws[0], "192.0.2.1", "alice", "pw")
	if code != http.StatusSeeOther || cookie == "" {
		t.Fatalf("login: %d %q", code, cookie)
	}
	if code, _, _ := adminRequest(t, ws[1], "GET", "", "/api/hosts", nil, "Cookie: "+cookie); code != http.StatusOK {
		t.Fatalf("the session on the other replica: %d", code)
	}
	_, page, _ := adminRequest(t, ws[0], "GET", "", "/", nil, "Cookie: "+cookie)
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no CSRF token on the dashboard")
	}
	code, _, _ = adminRequest(t, ws[0], "POST", "", "/logout", strings.NewReader(url.Values{"csrf": {m[1]}}.Encode()),
		"Cookie: "+cookie, "Content-Type: application/x-www-form-urlencoded")
	if code != http.StatusSeeOther {
		t.Fatalf("logout: %d", code)
	}
	for i, w := range ws {
		if code, _, _ := adminRequest(t, w, "GET", "", "/api/hosts", nil, "Cookie: "+cookie); code != http.StatusUnauthorized {
			t.Errorf("replica %d accepts the logged-out cookie: %d, want 401", i, code)
		}
	}
}

// The honeypot (issue 15, 2): another site's <img src=…/.waitingroom/more>
// marks nobody; a visitor's own navigation to it blocks that address on
// that host only, the page says why, and the log says so at INFO.
func TestHoneypotMarksOnlyOwnNavigationThroughBinary(t *testing.T) {
	a, b, c := newDemoHost(t, "a.test", 0, "1m"), newDemoHost(t, "b.test", 0, "1m"), newDemoHost(t, "c.test", 0, "1m")
	w := proc.StartWaitingroom(t, bins, t.TempDir(), baseConfig+"hosts:"+a.yaml()+b.yaml()+c.yaml())
	browse := []string{"User-Agent", browserUA, "Accept", "text/html", "Sec-Fetch-Site", "none", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document"}
	as := func(client string, h ...string) []string { return append([]string{"X-Forwarded-For", client}, h...) }

	// An image on evil.example pointing at the honeypot: the visitor's
	// browser fetches it cross-site. Then the visitor opens a.test itself.
	img := as("203.0.113.5", "User-Agent", browserUA, "Accept", "image/avif,image/webp,*/*",
		"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "no-cors", "Sec-Fetch-Dest", "image", "Referer", "https://evil.example/")
	if code, _ := get(t, w, "a.test", "/.waitingroom/more", img...); code != http.StatusNotFound {
		t.Fatalf("honeypot by image: %d", code)
	}
	// A script without Fetch Metadata proves nothing either.
	if code, _ := get(t, w, "a.test", "/.waitingroom/more", as("203.0.113.5", "User-Agent", browserUA)...); code != http.StatusNotFound {
		t.Fatalf("honeypot without Fetch Metadata: %d", code)
	}
	if code, _ := get(t, w, "a.test", "/", as("203.0.113.5", browse...)...); code != http.StatusServiceUnavailable {
		t.Fatalf("the visitor's page: %d", code)
	}
	proc.Eventually(t, 10*time.Second, func() bool { return a.starts() == 1 }, "the cross-site image blocked its visitor")

	// A visitor's own click on the hidden link of b.test's page.
	click := as("203.0.113.9", "User-Agent", browserUA, "Accept", "text/html", "Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document")
	if code, _ := get(t, w, "b.test", "/.waitingroom/more", click...); code != http.StatusNotFound {
		t.Fatalf("honeypot by navigation: %d", code)
	}
	code, page := get(t, w, "b.test", "/", as("203.0.113.9", browse...)...)
	if code != http.StatusServiceUnavailable || !strings.Contains(page, "hidden link") {
		t.Fatalf("the blocked visitor's page: %d, does not say why:\n%s", code, page)
	}
	if b.starts() != 0 {
		t.Fatal("the honeypot visitor woke b.test")
	}
	// Its neighbour at the next address, and the visitor on another host, are not blocked.
	if code, _ := get(t, w, "c.test", "/", as("203.0.113.9", browse...)...); code != http.StatusServiceUnavailable {
		t.Fatalf("c.test: %d", code)
	}
	proc.Eventually(t, 10*time.Second, func() bool { return c.starts() == 1 }, "the honeypot of b.test blocked its visitor on c.test")
	get(t, w, "b.test", "/", as("203.0.113.10", browse...)...)
	proc.Eventually(t, 10*time.Second, func() bool { return b.starts() == 1 }, "the visitor's neighbour was blocked")
	if !strings.Contains(w.Output(), "level=INFO msg=\"honeypot link followed by a visitor's own navigation") ||
		!strings.Contains(w.Output(), "client_key=") {
		t.Errorf("the mark is not logged at INFO with the hashed client:\n%s", w.Output())
	}
	if strings.Contains(w.Output(), "203.0.113.9 ") || strings.Contains(w.Output(), "203.0.113.9\"") {
		t.Errorf("the client's full address is logged")
	}
}

// limitedBinaries runs waitingroom under an open-file limit of n (soft and
// hard, so the process cannot raise it), through /bin/sh's ulimit.
func limitedBinaries(t *testing.T, n int) *proc.Binaries {
	t.Helper()
	script := filepath.Join(t.TempDir(), "waitingroom-limited")
	body := fmt.Sprintf("#!/bin/sh\nulimit -n %d || exit 97\nexec %q \"$@\"\n", n, bins.Waitingroom)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	b := *bins
	b.Waitingroom = script
	return &b
}

// openStream opens /.waitingroom/events of host on a raw connection as
// client (behind the trusted proxy 127.0.0.1) and returns the status; on
// 200 the connection stays open and is returned.
func openStream(public, host, client string) (int, net.Conn, error) {
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(public, "http://"), 5*time.Second)
	if err != nil {
		return 0, nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /.waitingroom/events HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\nX-Forwarded-For: %s\r\n\r\n", host, client)
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		conn.Close()
		return 0, nil, err
	}
	var code int
	if _, err := fmt.Sscanf(line, "HTTP/1.1 %d", &code); err != nil {
		conn.Close()
		return 0, nil, fmt.Errorf("status line %q: %w", line, err)
	}
	if code != http.StatusOK {
		conn.Close()
		return code, nil, nil
	}
	_ = conn.SetDeadline(time.Time{})
	return code, conn, nil
}

// Event streams are capped (issue 15, 3): under a 1,024 open-file limit,
// 2,000 streams from one client are refused past the per-client cap, and
// 2,000 from a crowd past the total cap, while /healthz (on a new
// connection each time) answers within 100 ms, /readyz is ready and a wake
// (the exec provider forks with pipes) still works.
func TestEventStreamsCappedUnderFileLimitThroughBinary(t *testing.T) {
	d := newDemoHost(t, "app.test", 0, "1m")
	w := proc.StartWaitingroom(t, limitedBinaries(t, 1024), t.TempDir(), baseConfig+"hosts:"+d.yaml())

	// /healthz, polled on fresh connections while the streams open.
	health := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var slowest time.Duration
	var healthErr error
	checks := 0
	probe := func() {
		start := time.Now()
		resp, err := health.Get(w.Admin + "/healthz")
		took := time.Since(start)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		if err != nil && healthErr == nil {
			healthErr = err
		}
		slowest = max(slowest, took)
		checks++
	}
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	flood := func(n int, client func(i int) string) map[int]int {
		codes := map[int]int{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		next := make(chan int)
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					code, conn, err := openStream(w.Public, "app.test", client(i))
					mu.Lock()
					if err != nil {
						codes[-1]++
					} else {
						codes[code]++
					}
					if conn != nil {
						open = append(open, conn)
					}
					mu.Unlock()
				}
			}()
		}
		for i := range n {
			next <- i
			if i%100 == 0 {
				probe()
			}
		}
		close(next)
		wg.Wait()
		probe()
		return codes
	}

	one := flood(2000, func(int) string { return "203.0.113.50" })
	if one[200] != web.DefaultMaxStreamsPerClient || one[429] != 2000-web.DefaultMaxStreamsPerClient {
		t.Errorf("one client's 2,000 streams: %v, want %d open and the rest 429", one, web.DefaultMaxStreamsPerClient)
	}
	crowd := flood(2000, func(i int) string { return fmt.Sprintf("198.51.%d.%d", i/200, i%200+1) })
	total := one[200] + crowd[200]
	if want := 1024 - 256; total != want || crowd[503] != 2000-crowd[200] {
		t.Errorf("a crowd's 2,000 streams: %v (open in all %d), want %d open in all and the rest 503", crowd, total, want)
	}
	t.Logf("one client: %v; crowd: %v; /healthz slowest %s over %d checks", one, crowd, slowest.Round(time.Millisecond), checks)
	if healthErr != nil || slowest > 100*time.Millisecond {
		t.Errorf("/healthz during the streams: slowest %s, error %v", slowest, healthErr)
	}
	if code, body, _ := adminRequest(t, w, "GET", "", "/readyz", nil); code != 200 {
		t.Errorf("/readyz with the streams open: %d %s", code, body)
	}
	// A wake still forks its start command and probes the backend.
	if code, _ := get(t, w, "app.test", "/", "User-Agent", browserUA, "Accept", "text/html"); code != http.StatusServiceUnavailable {
		t.Fatalf("page with the streams open: %d", code)
	}
	proc.Eventually(t, 20*time.Second, func() bool { return status(t, w, "app.test") == "running" }, "no wake with the streams open")
	if strings.Contains(w.Output(), "too many open files") {
		t.Errorf("the process ran out of file descriptors:\n%s", w.Output())
	}
}

// Secrets are hidden by one rule everywhere (issue 15, 7 and 8): a
// password in an exec argv and in a start command's stderr, and a token in
// a ready_url's query string, appear in no admin page, API answer, log
// line or webhook body; the public page shows visitors no internal details
// of the failure.
func TestSecretsAppearNowhereThroughBinary(t *testing.T) {
	const argvSecret, stderrSecret, querySecret = "hunter2argv", "hunter2stderr", "tok3nQuery"
	var mu sync.Mutex
	var hooks []string
	recv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hooks = append(hooks, string(b))
		mu.Unlock()
	}))
	defer recv.Close()
	t.Setenv("HOOK_SECRET", "0123456789abcdef")
	port := proc.FreePort(t)
	cfg := baseConfig + fmt.Sprintf(`webhooks:
  - url: %s
    secret_env: HOOK_SECRET
hosts:
  - host: secret.test
    provider: exec
    start: ["sh", "-c", "echo \"connect to postgres://app:%s@db.internal:5432 failed\" >&2; exit 1", "sh", "--password", %q]
    stop: ["true"]
    ready_url: http://127.0.0.1:%d/healthz?token=%s
    start_timeout: 10s
`, recv.URL, stderrSecret, argvSecret, port, querySecret)
	w := proc.StartWaitingroom(t, bins, t.TempDir(), cfg)
	if code, _ := get(t, w, "secret.test", "/", "User-Agent", browserUA, "Accept", "text/html"); code != http.StatusServiceUnavailable {
		t.Fatalf("page: %d", code)
	}
	proc.Eventually(t, 15*time.Second, func() bool { return status(t, w, "secret.test") == "failed" }, "the start never failed")
	proc.Eventually(t, 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(strings.Join(hooks, "\n"), `"to":"failed"`)
	}, "no failed webhook")

	seen := map[string]string{}
	for _, path := range []string{"/", "/hosts/secret.test", "/config", "/api/hosts", "/api/hosts/secret.test"} {
		code, body, _ := adminRequest(t, w, "GET", "", path, nil, "Accept: text/html")
		if code != http.StatusOK {
			t.Errorf("GET %s: %d", path, code)
		}
		seen["admin "+path] = body
	}
	// The operator still learns what went wrong, secrets hidden.
	if !strings.Contains(seen["admin /api/hosts/secret.test"], "postgres://app:REDACTED@db.internal:5432") ||
		!strings.Contains(seen["admin /config"], "token=REDACTED") || !strings.Contains(seen["admin /hosts/secret.test"], "--password REDACTED") {
		t.Errorf("the operator's views lost the redacted details:\n%s\n%s", seen["admin /api/hosts/secret.test"], seen["admin /config"])
	}
	mu.Lock()
	seen["webhook bodies"] = strings.Join(hooks, "\n")
	mu.Unlock()
	seen["log"] = w.Output()
	_, page := get(t, w, "secret.test", "/", "User-Agent", browserUA, "Accept", "text/html")
	_, state := get(t, w, "secret.test", "/.waitingroom/status")
	seen["public page"], seen["public status"] = page, state
	for where, text := range seen {
		for _, secret := range []string{argvSecret, stderrSecret, querySecret} {
			if strings.Contains(text, secret) {
				t.Errorf("%s shows %s:\n%s", where, secret, text)
			}
		}
	}
	for _, internal := range []string{"db.internal", "postgres://", "exit status"} {
		if strings.Contains(page, internal) || strings.Contains(state, internal) {
			t.Errorf("the public page shows the internal detail %q", internal)
		}
	}
	if !strings.Contains(page, "failed to start") {
		t.Errorf("the public page does not say the start failed:\n%s", page)
	}
}
