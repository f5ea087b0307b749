package e2e

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/internal/testutil/proc"
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
