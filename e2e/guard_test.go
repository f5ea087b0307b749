package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/waitingroom/waitingroom/internal/testutil/proc"
	"github.com/waitingroom/waitingroom/internal/testutil/redistest"
)

const browserUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130 Safari/537.36"

func get(t *testing.T, w *proc.Waitingroom, host, path string, header ...string) (int, string) {
	t.Helper()
	resp, err := w.Get(context.Background(), host, path, header...)
	if err != nil {
		t.Fatalf("GET %s%s: %v", host, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Requests that are not a person never start anything: crawlers, link
// previews, prefetches and HEAD get the page; uptime monitors get the
// configured answer and count as nothing.
func TestBotsMonitorsAndPrefetchesDoNotWake(t *testing.T) {
	d := newDemoHost(t, "app.test", 0, "1m")
	cfg := baseConfig + "monitors:\n  status: 200\n  body: \"asleep, not down\"\nhosts:" + d.yaml()
	w := proc.StartWaitingroom(t, bins, t.TempDir(), cfg)
	tests := []struct {
		name   string
		header []string
		want   int
		body   string
	}{
		{"crawler", []string{"User-Agent", "Mozilla/5.0 (compatible; Googlebot/2.1)", "Accept", "text/html"}, 503, "app.test"},
		{"link preview", []string{"User-Agent", "Slackbot-LinkExpanding 1.0", "Accept", "text/html"}, 503, "app.test"},
		{"prefetch", []string{"User-Agent", browserUA, "Accept", "text/html", "Sec-Purpose", "prefetch"}, 503, "app.test"},
		{"uptime monitor", []string{"User-Agent", "Mozilla/5.0+(compatible; UptimeRobot/2.0)"}, 200, "asleep, not down"},
	}
	for _, tc := range tests {
		code, body := get(t, w, "app.test", "/", tc.header...)
		if code != tc.want || !strings.Contains(body, tc.body) {
			t.Errorf("%s: %d %q, want %d containing %q", tc.name, code, firstLine(body), tc.want, tc.body)
		}
	}
	req, _ := http.NewRequest(http.MethodHead, w.Public+"/", nil)
	req.Host = "app.test"
	req.Header.Set("User-Agent", browserUA)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 503 {
		t.Errorf("HEAD: %v %v", resp, err)
	}
	if n := d.starts(); n != 0 {
		t.Fatalf("start ran %d times for non-people", n)
	}
	// A person does wake it.
	if code, _ := get(t, w, "app.test", "/", "User-Agent", browserUA, "Accept", "text/html"); code != 503 {
		t.Fatalf("browser: %d", code)
	}
	proc.Eventually(t, 10*time.Second, func() bool { return d.starts() == 1 }, "a browser did not wake the host")
}

// X-Forwarded-For from an untrusted peer changes nothing: the budget keyed
// on the client still counts the real peer.
func TestSpoofedForwardedForDoesNotEscapeTheClientBudget(t *testing.T) {
	var hosts strings.Builder
	var demos []*demoHost
	for i := 0; i < 3; i++ {
		d := newDemoHost(t, fmt.Sprintf("h%d.test", i), 0, "1m")
		demos = append(demos, d)
		hosts.WriteString(d.yaml())
	}
	cfg := baseConfig + "trusted_proxies: []\nbudgets:\n  client_wakes_per_hour: 2\nhosts:" + hosts.String()
	w := proc.StartWaitingroom(t, bins, t.TempDir(), cfg)
	var codes []int
	for i, d := range demos {
		code, _ := get(t, w, d.name, "/", "User-Agent", browserUA, "Accept", "text/html",
			"X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i+1), "X-Real-Ip", fmt.Sprintf("198.51.100.%d", i+1))
		codes = append(codes, code)
	}
	if codes[0] != 503 || codes[1] != 503 || codes[2] != http.StatusTooManyRequests {
		t.Fatalf("codes %v: want 503, 503, 429 (the spoofed addresses must not count as new clients)", codes)
	}
	// The two admitted wakes finish (their backends answer) before the
	// count, and before the test ends: a start command still running then
	// would start a backend after the cleanup stopped it.
	for _, d := range demos[:2] {
		proc.Eventually(t, 30*time.Second, func() bool { return d.starts() == 1 && d.answering() }, "%s was not started", d.name)
	}
	if n := demos[2].starts(); n != 0 {
		t.Fatalf("%s started %d times; the client's budget of 2 wakes was spent", demos[2].name, n)
	}
}

// A host's max_wakes_per_hour: 0 lifts the budget the budgets: section
// sets for every other host (it used to be replaced by it), through the
// binary: a budget of one wake an hour, and the host woken twice by
// visitors. The admin API says the host has no daily budget either.
func TestHostsExplicitZeroLiftsTheWakeBudget(t *testing.T) {
	d := newDemoHost(t, "free.test", 0, "2s")
	capped := newDemoHost(t, "capped.test", 0, "2s")
	hosts := d.yaml() + "    max_wakes_per_hour: 0\n    max_wakes_per_day: 0\n" + capped.yaml()
	w := proc.StartWaitingroom(t, bins, t.TempDir(), baseConfig+"budgets:\n  max_wakes_per_hour: 1\nhosts:"+hosts)
	wake := func(host string) int {
		code, _ := get(t, w, host, "/", "User-Agent", browserUA, "Accept", "text/html")
		return code
	}
	for i := 1; i <= 2; i++ {
		if code := wake(d.name); code != 503 {
			t.Fatalf("wake %d of %s: %d, want the waiting page (503)", i, d.name, code)
		}
		proc.Eventually(t, 30*time.Second, func() bool { return d.starts() == i && d.answering() },
			fmt.Sprintf("wake %d of %s did not start it", i, d.name))
		// Idle for 2 s, the host goes back to sleep.
		proc.Eventually(t, 30*time.Second, func() bool { return !d.processAlive() }, d.name+" never slept")
		proc.Eventually(t, 10*time.Second, func() bool { return adminHost(t, w, d.name).State == "stopped" }, d.name+" not stopped")
	}
	var budget struct {
		MaxWakesPerDay int  `json:"max_wakes_per_day"`
		BudgetLeft     *int `json:"budget_left"`
	}
	if err := json.Unmarshal(adminHost(t, w, d.name).raw, &budget); err != nil || budget.MaxWakesPerDay != 0 || budget.BudgetLeft != nil {
		t.Errorf("/api/hosts/%s: %+v, %v; want no daily budget", d.name, budget, err)
	}
	// The section's budget still holds for a host without its own.
	if code := wake(capped.name); code != 503 {
		t.Fatalf("first wake of %s: %d", capped.name, code)
	}
	proc.Eventually(t, 30*time.Second, func() bool { return capped.answering() }, capped.name+" did not start")
	proc.Eventually(t, 30*time.Second, func() bool { return !capped.processAlive() }, capped.name+" never slept")
	proc.Eventually(t, 10*time.Second, func() bool { return adminHost(t, w, capped.name).State == "stopped" }, capped.name+" not stopped")
	if code := wake(capped.name); code != http.StatusTooManyRequests {
		t.Errorf("second wake of %s in the hour: %d, want 429", capped.name, code)
	}
}

// A wake: click host shows a button; GETs never wake it (a crawler
// following links), the signed POST does; a forged token is refused. The
// honeypot link's visitor cannot wake anything afterwards.
func TestClickToWakeAndHoneypot(t *testing.T) {
	rs := redistest.Start(t)
	click := newDemoHost(t, "click.test", 0, "1m")
	plain := newDemoHost(t, "plain.test", 0, "1m")
	cfg := baseConfig + fmt.Sprintf("store:\n  redis_url: %q\nhosts:", rs.URL()) +
		strings.Replace(click.yaml(), "    provider: exec\n", "    provider: exec\n    wake: click\n", 1) + plain.yaml()
	w := proc.StartWaitingroom(t, bins, t.TempDir(), cfg)

	code, body := get(t, w, "click.test", "/", "User-Agent", browserUA, "Accept", "text/html", "X-Forwarded-For", "203.0.113.77")
	if code != 503 || !strings.Contains(body, `action="/.waitingroom/wake"`) {
		t.Fatalf("click page: %d\n%s", code, body)
	}
	if click.starts() != 0 {
		t.Fatal("a GET woke a click host")
	}
	m := regexp.MustCompile(`name="token" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no token in the page")
	}
	post := func(token string) int {
		req, _ := http.NewRequest(http.MethodPost, w.Public+"/.waitingroom/wake", bytes.NewBufferString(url.Values{"token": {token}}.Encode()))
		req.Host = "click.test"
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("User-Agent", browserUA)
		req.Header.Set("X-Forwarded-For", "203.0.113.77")
		c := http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := post(m[1] + "x"); c != http.StatusForbidden {
		t.Fatalf("forged token: %d, want 403", c)
	}
	if c := post(m[1]); c != http.StatusSeeOther {
		t.Fatalf("signed POST: %d, want 303", c)
	}
	proc.Eventually(t, 10*time.Second, func() bool { return click.starts() == 1 }, "the button did not wake the host")

	// The honeypot: the page links it invisibly; its visitor is blocked.
	_, page := get(t, w, "plain.test", "/", "User-Agent", "Mozilla/5.0 (compatible; Googlebot/2.1)", "Accept", "text/html")
	if !strings.Contains(page, `href="/.waitingroom/more"`) {
		t.Fatalf("no honeypot link on the page")
	}
	if code, _ := get(t, w, "plain.test", "/.waitingroom/more", "User-Agent", browserUA, "X-Forwarded-For", "203.0.113.77",
		"Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document"); code != http.StatusNotFound {
		t.Fatalf("honeypot answered %d", code)
	}
	// The visitor gets the page, honestly asleep, and nothing starts.
	if code, _ := get(t, w, "plain.test", "/", "User-Agent", browserUA, "Accept", "text/html", "X-Forwarded-For", "203.0.113.77"); code != http.StatusServiceUnavailable {
		t.Fatalf("honeypot visitor's page: %d, want 503", code)
	}
	if s := status(t, w, "plain.test"); s != "stopped" {
		t.Fatalf("plain.test is %s after the honeypot visitor's request", s)
	}
	if plain.starts() != 0 {
		t.Fatal("the honeypot visitor woke the host")
	}
	// No raw client address anywhere in Redis (the client is 203.0.113.77,
	// behind the trusted proxy 127.0.0.1).
	out := redisDump(t, rs.Addr())
	if strings.Contains(out, "203.0.113.77") {
		t.Errorf("a raw client address is stored in Redis:\n%s", out)
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// redisDump renders every key and value under Redis's keyspace.
func redisDump(t *testing.T, addr string) string {
	t.Helper()
	ctx := context.Background()
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	var b strings.Builder
	iter := c.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		fmt.Fprintf(&b, "%s = ", k)
		switch c.Type(ctx, k).Val() {
		case "string":
			fmt.Fprintln(&b, c.Get(ctx, k).Val())
		case "hash":
			fmt.Fprintln(&b, c.HGetAll(ctx, k).Val())
		case "list":
			fmt.Fprintln(&b, c.LRange(ctx, k, 0, -1).Val())
		case "set":
			fmt.Fprintln(&b, c.SMembers(ctx, k).Val())
		case "zset":
			fmt.Fprintln(&b, c.ZRange(ctx, k, 0, -1).Val())
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
