package web

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/poll"
)

// TestAPIEndpointsWithAndWithoutToken: every API endpoint refuses a call
// without credentials (401, JSON, a Bearer challenge) and with a wrong
// token, and answers one with the token.
func TestAPIEndpointsWithAndWithoutToken(t *testing.T) {
	s := newDashSetup(t, nil, func(o *AdminOptions) {
		o.Traefik = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"http":{}}`))
		})
	})
	s.setStopped(t, "app.example.com")
	s.setRunning(t, "vm.example.com")
	tests := []struct {
		method, path string
		want         int
		wantBody     string
	}{
		{"GET", "/api/hosts", 200, `"host":"app.example.com"`},
		{"GET", "/api/hosts/app.example.com", 200, `"wakes":\[\]`},
		// The transition goes on in the background: it may be over already.
		{"POST", "/api/hosts/app.example.com/wake", 202, `"state":"(starting|running)"`},
		{"POST", "/api/hosts/vm.example.com/stop", 202, `"state":"(stopping|stopped)"`},
		{"POST", "/api/reload", 200, `"reloaded":true`},
		{"GET", "/api/traefik", 200, `\{"http":\{\}\}`},
		{"GET", "/metrics", 0, ""}, // not configured here: 404 either way
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			for _, auth := range []string{"", "Authorization: Bearer wrong-token-wrong-token", "Authorization: Basic YWxpY2U6eA=="} {
				res := s.do(t, nil, tt.method, tt.path, nil, auth)
				if tt.want == 0 {
					if res.StatusCode != 404 {
						t.Errorf("%q: %d, want 404", auth, res.StatusCode)
					}
					continue
				}
				if res.StatusCode != http.StatusUnauthorized {
					t.Errorf("credentials %q: %d, want 401\n%s", auth, res.StatusCode, res.body)
				}
				if !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") || !strings.Contains(res.body, `"error"`) ||
					res.Header.Get("Content-Type") != "application/json" {
					t.Errorf("credentials %q: 401 without a Bearer challenge or a JSON error: %v %s", auth, res.Header, res.body)
				}
			}
			if tt.want == 0 {
				return
			}
			res := s.do(t, nil, tt.method, tt.path, nil, "Authorization: Bearer "+dashToken)
			if res.StatusCode != tt.want || !regexp.MustCompile(tt.wantBody).MatchString(res.body) {
				t.Errorf("with the token: %d %s, want %d with %s", res.StatusCode, res.body, tt.want, tt.wantBody)
			}
		})
	}
	s.waitState(t, "app.example.com", controller.StateRunning)
	if w := s.lastWake(t, "app.example.com", 1); w.Source != "admin" || w.Client != "token ci" {
		t.Errorf("the API's wake is recorded as %+v, want source admin and client \"token ci\"", w)
	}
	if n := s.reloadCount(); n != 1 {
		t.Errorf("%d reloads, want 1 (only the authorised call)", n)
	}
}

// TestAPIEventStreamWithAndWithoutToken: /api/events needs credentials
// and then streams host views and events.
func TestAPIEventStreamWithAndWithoutToken(t *testing.T) {
	s := newDashSetup(t, nil, nil)
	s.setStopped(t, "app.example.com")
	if res := s.do(t, nil, "GET", "/api/events", nil); res.StatusCode != 401 {
		t.Fatalf("events without a token: %d", res.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.srv.URL+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+dashToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	events := make(chan [2]string, 64)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(res.Body)
		var name string
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				name = v
			}
			if v, ok := strings.CutPrefix(line, "data: "); ok {
				events <- [2]string{name, v}
			}
		}
	}()
	next := func(what string, match func(name, data string) bool) {
		t.Helper()
		for {
			select {
			case e, ok := <-events:
				if !ok {
					t.Fatalf("stream ended waiting for %s", what)
				}
				if match(e[0], e[1]) {
					return
				}
			case <-ctx.Done():
				t.Fatalf("no %s within 15 s", what)
			}
		}
	}
	next("the first host view", func(n, d string) bool {
		return n == "host" && strings.Contains(d, `"host":"app.example.com"`) && strings.Contains(d, `"state":"stopped"`)
	})
	if _, err := s.ctl.Wake(context.Background(), "app.example.com", controller.Client{Source: "page"}); err != nil {
		t.Fatal(err)
	}
	next("the wake's event", func(n, d string) bool {
		return n == "event" && strings.Contains(d, `"state":"starting"`)
	})
	// The state change's event and the host's new view, in either order.
	var sawEvent, sawView bool
	next("the event saying how long the wake took and the running view", func(n, d string) bool {
		sawEvent = sawEvent || n == "event" && strings.Contains(d, `"text":"started in `)
		sawView = sawView || n == "host" && strings.Contains(d, `"state":"running"`) && strings.Contains(d, `"last_wake":{`)
		return sawEvent && sawView
	})
}

// TestCSRF: a logged-in browser's POST needs the session's CSRF token;
// a missing or wrong one (or another session's) is refused with 403 and
// changes nothing.
func TestCSRF(t *testing.T) {
	s := newDashSetup(t, nil, nil)
	s.setStopped(t, "app.example.com")
	c := s.client(t)
	token := s.login(t, c)
	other := s.login(t, s.client(t))
	if other == token {
		t.Fatal("two sessions share a CSRF token")
	}
	tests := []struct {
		name    string
		headers []string
		form    url.Values
	}{
		{name: "missing"},
		{name: "wrong header", headers: []string{"X-CSRF-Token: " + strings.Repeat("A", 43)}},
		{name: "garbage header", headers: []string{"X-CSRF-Token: <script>"}},
		{name: "another session's", headers: []string{"X-CSRF-Token: " + other}},
		{name: "wrong form field", form: url.Values{"csrf": {"nope"}}},
		{name: "empty form field", form: url.Values{"csrf": {""}}},
	}
	for _, path := range []string{"/api/hosts/app.example.com/wake", "/api/hosts/app.example.com/stop", "/api/reload", "/logout"} {
		for _, tt := range tests {
			t.Run(path+" "+tt.name, func(t *testing.T) {
				var body *strings.Reader
				headers := tt.headers
				if tt.form != nil {
					body = strings.NewReader(tt.form.Encode())
					headers = append(headers, "Content-Type: application/x-www-form-urlencoded")
				} else {
					body = strings.NewReader("")
				}
				res := s.do(t, c, "POST", path, body, headers...)
				if res.StatusCode != http.StatusForbidden || !strings.Contains(res.body, "CSRF") {
					t.Errorf("%d %s, want 403 naming CSRF", res.StatusCode, res.body)
				}
			})
		}
	}
	if n := s.prov.startCount("app.example.com"); n != 0 || s.reloadCount() != 0 {
		t.Fatalf("refused requests acted: %d starts, %d reloads", n, s.reloadCount())
	}
	// The right token in the header (JavaScript) or the form (no script).
	res := s.do(t, c, "POST", "/api/hosts/app.example.com/wake", nil, "X-CSRF-Token: "+token)
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("wake with the token: %d %s", res.StatusCode, res.body)
	}
	s.waitState(t, "app.example.com", controller.StateRunning)
	form := url.Values{"csrf": {token}, "back": {"/hosts/app.example.com"}}
	res = s.do(t, c, "POST", "/api/hosts/app.example.com/stop", strings.NewReader(form.Encode()),
		"Content-Type: application/x-www-form-urlencoded")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/hosts/app.example.com?done=stop&host=app.example.com" {
		t.Fatalf("stop by form: %d %s %s", res.StatusCode, res.Header.Get("Location"), res.body)
	}
	s.waitState(t, "app.example.com", controller.StateStopped)
	if w := s.lastWake(t, "app.example.com", 1); w.Source != "dashboard" || w.Client != dashUser {
		t.Errorf("dashboard wake recorded as %+v, want source dashboard by %s", w, dashUser)
	}
	// A cross-site form POST is refused before the CSRF check.
	res = s.do(t, c, "POST", "/api/hosts/app.example.com/wake", strings.NewReader(form.Encode()),
		"Content-Type: application/x-www-form-urlencoded", "Sec-Fetch-Site: cross-site", "Origin: https://evil.example")
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST: %d", res.StatusCode)
	}
}

// TestOpenAccessOnLoopback: without users and tokens, everything is
// allowed (the listener is loopback), but a browser's POST still needs
// its CSRF token.
func TestOpenAccessOnLoopback(t *testing.T) {
	s := newDashSetup(t, nil, func(o *AdminOptions) { o.Users, o.Tokens = nil, nil })
	s.setStopped(t, "app.example.com")
	c := s.client(t)
	page := s.do(t, c, "GET", "/", nil)
	m := csrfMeta.FindStringSubmatch(page.body)
	if page.StatusCode != 200 || m == nil || !strings.Contains(page.body, "open access") {
		t.Fatalf("open dashboard: %d, token %v", page.StatusCode, m != nil)
	}
	if res := s.do(t, nil, "GET", "/api/hosts", nil); res.StatusCode != 200 {
		t.Errorf("open API: %d", res.StatusCode)
	}
	if res := s.do(t, c, "POST", "/api/hosts/app.example.com/wake", nil); res.StatusCode != 403 {
		t.Errorf("browser session without its CSRF token: %d, want 403", res.StatusCode)
	}
	if res := s.do(t, nil, "POST", "/api/hosts/app.example.com/wake", nil, "Origin: http://localhost:9999"); res.StatusCode != 403 {
		t.Errorf("a browser request without a session: %d, want 403", res.StatusCode)
	}
	if res := s.do(t, c, "POST", "/api/hosts/app.example.com/wake", nil, "X-CSRF-Token: "+m[1]); res.StatusCode != 202 {
		t.Errorf("browser with the token: %d %s", res.StatusCode, res.body)
	}
	s.waitState(t, "app.example.com", controller.StateRunning)
	if res := s.do(t, nil, "POST", "/api/hosts/app.example.com/stop", nil); res.StatusCode != 202 {
		t.Errorf("command-line client: %d %s", res.StatusCode, res.body)
	}
	if res := s.do(t, c, "GET", "/login", nil); res.StatusCode != http.StatusSeeOther {
		t.Errorf("login page with open access: %d, want a redirect to the dashboard", res.StatusCode)
	}
}

// TestAPIErrors: unknown hosts are 404, wrong methods 405 with Allow,
// unknown API paths 404, all with JSON bodies; controller errors map to
// statuses an operator understands.
func TestAPIErrors(t *testing.T) {
	s := newDashSetup(t, []dashHost{
		{name: "app.example.com", provider: "docker"},
		{name: "slow.example.com", provider: "docker"},
	}, nil)
	s.prov.hold["slow.example.com"] = true
	if _, err := s.ctl.Wake(context.Background(), "slow.example.com", controller.Client{}); err != nil {
		t.Fatal(err)
	}
	auth := "Authorization: Bearer " + dashToken
	tests := []struct {
		method, path string
		want         int
		allow        string
		wantErr      string
	}{
		{"GET", "/api/hosts/nope.example.com", 404, "", `unknown host \"nope.example.com\"`},
		{"POST", "/api/hosts/nope.example.com/wake", 404, "", "unknown host"},
		{"POST", "/api/hosts/nope.example.com/stop", 404, "", "unknown host"},
		{"GET", "/api/hosts/app.example.com/wake", 405, "POST", "not allowed"},
		{"DELETE", "/api/hosts/app.example.com", 405, "GET, HEAD", "not allowed"},
		{"POST", "/api/hosts", 405, "GET, HEAD", "not allowed"},
		{"PUT", "/api/events", 405, "GET, HEAD", "not allowed"},
		{"GET", "/api/reload", 405, "POST", "not allowed"},
		{"GET", "/api/nothing", 404, "", "no such API endpoint"},
		{"POST", "/api/hosts/slow.example.com/stop", 409, "", "transition not possible"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			res := s.do(t, nil, tt.method, tt.path, nil, auth)
			var body map[string]string
			if err := json.Unmarshal([]byte(res.body), &body); err != nil {
				t.Fatalf("body is not JSON: %s", res.body)
			}
			if res.StatusCode != tt.want || !strings.Contains(body["error"], strings.ReplaceAll(tt.wantErr, `\"`, `"`)) {
				t.Errorf("%d %s, want %d with %q", res.StatusCode, res.body, tt.want, tt.wantErr)
			}
			if res.Header.Get("Allow") != tt.allow {
				t.Errorf("Allow %q, want %q", res.Header.Get("Allow"), tt.allow)
			}
		})
	}
}

// budgetGate refuses every wake that would start something.
type budgetGate struct{}

func (budgetGate) AllowWake(context.Context, controller.Host, controller.Client) error {
	return &controller.BudgetError{Budget: "host per day", RetryAfter: 90 * time.Minute}
}

func TestAPIWakeOverBudget(t *testing.T) {
	s := newDashSetup(t, nil, nil)
	ctl := controller.New(controller.Options{Store: s.store, Registry: s.ctl.Registry(), Gate: budgetGate{}, Logger: discardLogger()})
	t.Cleanup(func() { ctl.Shutdown(context.Background()) })
	a, err := NewAdmin(AdminOptions{Controller: ctl, Logger: discardLogger(), Tokens: []Token{{Name: "ci", Value: dashToken}}, Hosts: []string{"example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/api/hosts/app.example.com/wake", nil)
	r.Header.Set("Authorization", "Bearer "+dashToken)
	a.ServeHTTP(w, r)
	if w.Code != 429 || w.Header().Get("Retry-After") != "5400" || !strings.Contains(w.Body.String(), "host per day") {
		t.Errorf("over budget: %d Retry-After %q %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
}

// TestScriptInNamesAndErrorsIsEscaped: a host name and a provider error
// containing markup reach the dashboard, the host page and the event log
// as text, never as markup.
func TestScriptInNamesAndErrorsIsEscaped(t *testing.T) {
	const evilHost = `<script>alert("host")</script>.example.com`
	const evilErr = `<script>alert("error")</script><img src=x onerror=alert(1)>`
	s := newDashSetup(t, []dashHost{{name: evilHost, provider: "docker", fields: map[string]string{"container": "<b>c</b>"}}}, nil)
	s.prov.fail[evilHost] = errors.New(evilErr)
	if _, err := s.ctl.Wake(context.Background(), evilHost, controller.Client{Source: "page", Display: "<i>x</i>"}); err != nil {
		t.Fatal(err)
	}
	s.waitState(t, evilHost, controller.StateFailed)
	waitForEvents(t, s.admin, evilHost, 2)
	c := s.client(t)
	s.login(t, c)
	for _, path := range []string{"/", "/hosts/" + url.PathEscape(evilHost)} {
		res := s.do(t, c, "GET", path, nil)
		if res.StatusCode != 200 {
			t.Fatalf("%s: %d\n%s", path, res.StatusCode, res.body)
		}
		for _, raw := range []string{"<script>alert", "<img src=x", "<b>c</b>", "<i>x</i>"} {
			if strings.Contains(res.body, raw) {
				t.Errorf("%s shows %q unescaped", path, raw)
			}
		}
		for _, escaped := range []string{"&lt;script&gt;alert(&#34;host&#34;)&lt;/script&gt;.example.com", "&lt;script&gt;alert(&#34;error&#34;)"} {
			if !strings.Contains(res.body, escaped) {
				t.Errorf("%s does not show %q (escaped)", path, escaped)
			}
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP %q", path, csp)
		}
	}
	res := s.do(t, nil, "GET", "/api/hosts/"+url.PathEscape(evilHost), nil, "Authorization: Bearer "+dashToken)
	// JSON carries the text as it is (no \u003c: "Bearer <token>" must stay
	// readable); it is never HTML: its type is JSON and browsers may not
	// sniff it into HTML.
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" || res.Header.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.Contains(res.body, `"reason":"start: <script>alert(\"error\")`) {
		t.Errorf("API: %d %q %s", res.StatusCode, res.Header.Get("Content-Type"), res.body)
	}
}

// waitForEvents waits until the admin's event log holds n events of host.
func waitForEvents(t *testing.T, a *Admin, host string, n int) {
	t.Helper()
	poll.Until(t, 10*time.Second, fmt.Sprintf("%d events of %s in the log", n, host), func() bool {
		return len(a.feed.entries(host, 100)) >= n
	})
}

func TestReloadShowsProblemsInsteadOfApplying(t *testing.T) {
	s := newDashSetup(t, nil, nil)
	s.setReloadErr(errors.New("/etc/waitingroom/waitingroom.yaml:7: host \"a.example.com\" uses provider \"dockr\", which is not defined (defined: docker)\n" +
		"/etc/waitingroom/waitingroom.yaml:9: <script>x</script>: unknown key"))
	c := s.client(t)
	token := s.login(t, c)
	res := s.do(t, c, "POST", "/api/reload", nil, "X-CSRF-Token: "+token)
	var got reloadJSON
	if err := json.Unmarshal([]byte(res.body), &got); err != nil || res.StatusCode != 422 || got.Reloaded || len(got.Problems) != 2 ||
		!strings.HasPrefix(got.Problems[0], "/etc/waitingroom/waitingroom.yaml:7: ") {
		t.Fatalf("reload of a bad file: %d %s", res.StatusCode, res.body)
	}
	// Without JavaScript: the form goes back to the configuration page,
	// which shows the problems.
	form := url.Values{"csrf": {token}}
	res = s.do(t, c, "POST", "/api/reload", strings.NewReader(form.Encode()), "Content-Type: application/x-www-form-urlencoded")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/config" {
		t.Fatalf("form reload: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	page := s.do(t, c, "GET", "/config", nil)
	for _, want := range []string{"refused", "waitingroom.yaml:7: host &#34;a.example.com&#34; uses provider &#34;dockr&#34;",
		"&lt;script&gt;x&lt;/script&gt;", "/etc/waitingroom/waitingroom.yaml", "password_hash: REDACTED"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("config page lacks %q", want)
		}
	}
	if strings.Contains(page.body, `id="restart-needed"`) {
		t.Error("config page says settings wait for a restart; none do")
	}
	s.setReloadErr(nil)
	if res := s.do(t, c, "POST", "/api/reload", nil, "X-CSRF-Token: "+token); res.StatusCode != 200 ||
		!strings.Contains(res.body, `"path":"/etc/waitingroom/waitingroom.yaml"`) {
		t.Errorf("good reload: %d %s", res.StatusCode, res.body)
	}
}

func TestMetricsAuth(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("waitingroom_wakes_total 1\n"))
	})
	for _, public := range []bool{false, true} {
		t.Run(fmt.Sprintf("public=%v", public), func(t *testing.T) {
			s := newDashSetup(t, nil, func(o *AdminOptions) { o.Metrics, o.MetricsPublic = metrics, public })
			res := s.do(t, nil, "GET", "/metrics", nil)
			if want := map[bool]int{false: 401, true: 200}[public]; res.StatusCode != want {
				t.Errorf("without a token: %d, want %d", res.StatusCode, want)
			}
			res = s.do(t, nil, "GET", "/metrics", nil, "Authorization: Bearer "+dashToken)
			if res.StatusCode != 200 || !strings.Contains(res.body, "waitingroom_wakes_total") {
				t.Errorf("with the token: %d %s", res.StatusCode, res.body)
			}
		})
	}
}

// TestSecurityHeadersOnEveryResponse covers pages, API, errors, health
// and static files.
func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	s := newDashSetup(t, nil, nil)
	for _, path := range []string{"/", "/login", "/healthz", "/readyz", "/api/hosts", "/nope", "/static/admin/dashboard.js", "/static/admin/dashboard.css"} {
		res := s.do(t, nil, "GET", path, nil)
		h := res.Header
		if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") || h.Get("X-Frame-Options") != "DENY" ||
			h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s (%d): headers %v", path, res.StatusCode, h)
		}
	}
	if res := s.do(t, nil, "GET", "/static/admin/", nil); res.StatusCode != 404 {
		t.Errorf("static directory listing: %d", res.StatusCode)
	}
	if res := s.do(t, nil, "GET", "/static/admin/dashboard.js", nil); res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), "javascript") {
		t.Errorf("dashboard.js: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
}

func TestLogin(t *testing.T) {
	s := newDashSetup(t, nil, nil)
	c := s.client(t)
	// Pages send strangers to the login page, and back after it.
	res := s.do(t, c, "GET", "/hosts/app.example.com", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?next=%2Fhosts%2Fapp.example.com" {
		t.Fatalf("page without a session: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	post := func(user, password, next string) dashResponse {
		form := url.Values{"user": {user}, "password": {password}, "next": {next}}
		return s.do(t, c, "POST", "/login", strings.NewReader(form.Encode()), "Content-Type: application/x-www-form-urlencoded")
	}
	for _, tt := range []struct{ user, password string }{{dashUser, "wrong"}, {"mallory", dashPassword}, {dashUser, ""}} {
		res := post(tt.user, tt.password, "/")
		if res.StatusCode != 401 || !strings.Contains(res.body, "Wrong user name or password") || res.Header.Get("Set-Cookie") != "" {
			t.Errorf("login %q/%q: %d, cookie %q", tt.user, tt.password, res.StatusCode, res.Header.Get("Set-Cookie"))
		}
	}
	res = post(dashUser, dashPassword, "//evil.example/")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Errorf("login with an outside next: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	cookie := res.Header.Get("Set-Cookie")
	for _, attr := range []string{sessionCookie + "=", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(cookie, attr) {
			t.Errorf("session cookie %q lacks %s", cookie, attr)
		}
	}
	if strings.Contains(cookie, "Secure") {
		t.Errorf("cookie over plain HTTP marked Secure: %q", cookie)
	}
	if res := s.do(t, c, "GET", "/hosts/app.example.com", nil); res.StatusCode != 200 || !strings.Contains(res.body, dashUser) {
		t.Errorf("page with the session: %d", res.StatusCode)
	}
	// A session cookie does not work after its user's password changed.
	s.admin.SetCredentials([]User{{Name: dashUser, PasswordHash: dummyHash}}, nil)
	if res := s.do(t, c, "GET", "/", nil); res.StatusCode != http.StatusSeeOther {
		t.Errorf("session after a password change: %d, want a redirect to log in", res.StatusCode)
	}
}

func TestSessionCookieOverTLSIsSecure(t *testing.T) {
	s := newDashSetup(t, nil, nil)
	form := url.Values{"user": {dashUser}, "password": {dashPassword}}
	r := httptest.NewRequest("POST", "https://admin.example/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	s.admin.ServeHTTP(w, r)
	if c := w.Header().Get("Set-Cookie"); w.Code != http.StatusSeeOther || !strings.Contains(c, "Secure") {
		t.Errorf("login over TLS: %d cookie %q", w.Code, c)
	}
}

func TestTamperedSessionRefused(t *testing.T) {
	s := newDashSetup(t, nil, nil)
	sig := signer{key: []byte("another key another key another key")}
	forged := sig.encode(sessionData{User: dashUser, ID: "x", Exp: time.Now().Add(time.Hour).Unix()})
	real := s.admin.sign.encode(sessionData{User: dashUser, ID: "x", Exp: time.Now().Add(-time.Second).Unix()})
	for name, v := range map[string]string{"other key": forged, "expired": real, "garbage": "a.b", "unsigned": "eyJ1IjoiYWxpY2UifQ"} {
		res := s.do(t, nil, "GET", "/api/hosts", nil, "Cookie: "+sessionCookie+"="+v)
		if res.StatusCode != 401 {
			t.Errorf("%s session: %d", name, res.StatusCode)
		}
	}
}

func TestLoginRateLimitedPerClient(t *testing.T) {
	s := newDashSetup(t, nil, func(o *AdminOptions) { o.LoginBurst, o.LoginInterval = 3, time.Hour })
	attempt := func(ip string) int {
		form := url.Values{"user": {dashUser}, "password": {"guess"}}
		r := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.RemoteAddr = ip + ":40000"
		w := httptest.NewRecorder()
		s.admin.ServeHTTP(w, r)
		return w.Code
	}
	for i := range 3 {
		if code := attempt("198.51.100.7"); code != 401 {
			t.Fatalf("attempt %d: %d, want 401", i+1, code)
		}
	}
	if code := attempt("198.51.100.7"); code != 429 {
		t.Errorf("4th attempt: %d, want 429", code)
	}
	if code := attempt("198.51.100.8"); code != 401 {
		t.Errorf("another client: %d, want 401 (its own budget)", code)
	}
	// IPv6 clients are limited per /64: changing the host part does not help.
	for i := range 3 {
		attempt(fmt.Sprintf("[2001:db8:1:2::%d]", i+1))
	}
	if code := attempt("[2001:db8:1:2::99]"); code != 429 {
		t.Errorf("IPv6 /64 after 3 attempts: %d, want 429", code)
	}
}

func TestCheckAdminExposure(t *testing.T) {
	tests := []struct {
		listen        string
		users, tokens int
		ok            bool
	}{
		{"127.0.0.1:8081", 0, 0, true},
		{"[::1]:8081", 0, 0, true},
		{"localhost:8081", 0, 0, true},
		{":8081", 0, 0, false},
		{"0.0.0.0:8081", 0, 0, false},
		{"[::]:8081", 0, 0, false},
		{"192.0.2.10:8081", 0, 0, false},
		{"0.0.0.0:8081", 1, 0, true},
		{":8081", 0, 1, true},
	}
	for _, tt := range tests {
		err := CheckAdminExposure(tt.listen, tt.users, tt.tokens)
		if (err == nil) != tt.ok {
			t.Errorf("%s users=%d tokens=%d: %v", tt.listen, tt.users, tt.tokens, err)
		}
		if err != nil && (!strings.Contains(err.Error(), "hash-password") || !strings.Contains(err.Error(), "127.0.0.1")) {
			t.Errorf("the error does not say how to fix it: %v", err)
		}
	}
}

func TestReadTokens(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte(dashToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"WR_TOKEN": "  env-token-env-token-1234 "}
	getenv := func(k string) string { return env[k] }
	toks, err := ReadTokens([]TokenSource{{Name: "file", File: good}, {Name: "env", Env: "WR_TOKEN"}}, getenv)
	if err != nil || len(toks) != 2 || toks[0].Value != dashToken || toks[1].Value != "env-token-env-token-1234" {
		t.Fatalf("ReadTokens: %+v %v", toks, err)
	}
	_, err = ReadTokens([]TokenSource{
		{Name: "short", File: short}, {Name: "missing", File: filepath.Join(dir, "none")}, {Name: "unset", Env: "NOPE"},
	}, getenv)
	if err == nil {
		t.Fatal("bad tokens accepted")
	}
	for _, want := range []string{`"short"`, `"missing"`, `"unset"`, "NOPE", "at least 16"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error shows a token's value: %v", err)
	}
	if _, err := ReadSessionKey(short); err == nil {
		t.Error("a 6-byte session key accepted")
	}
	if k, err := ReadSessionKey(good); err != nil || len(k) != 32 {
		t.Errorf("ReadSessionKey: %d bytes, %v", len(k), err)
	}
}

// TestHostViewFields: the API's host view carries what the dashboard's
// columns show.
func TestHostViewFields(t *testing.T) {
	s := newDashSetup(t, nil, nil)
	s.setStopped(t, "vm.example.com")
	s.setRunning(t, "app.example.com")
	if err := s.ctl.Touch(context.Background(), "app.example.com", "traefik-metrics"); err != nil {
		t.Fatal(err)
	}
	res := s.do(t, nil, "GET", "/api/hosts", nil, "Authorization: Bearer "+dashToken)
	var got hostsJSON
	if err := json.Unmarshal([]byte(res.body), &got); err != nil || len(got.Hosts) != 2 {
		t.Fatalf("hosts: %s %v", res.body, err)
	}
	app, vm := got.Hosts[0], got.Hosts[1]
	if app.Host != "app.example.com" || app.State != controller.StateRunning || app.Provider != "docker" || app.Target != "container=app" ||
		app.ActivitySource != "traefik-metrics" || app.IdleInSeconds == nil || *app.IdleInSeconds < 29*60 || app.WakesToday != 1 ||
		app.BudgetLeft == nil || *app.BudgetLeft != 19 || app.LastWake == nil || app.LastWake.Result != "running" ||
		app.LastWake.Client != "203.0.113.x (browser)" || app.AsleepHours7d > 168 {
		t.Errorf("app: %+v", app)
	}
	// Found stopped a moment ago: asleep for as long as the records go
	// back, not for the whole week (the estimate it replaced said 168 h).
	if vm.State != controller.StateStopped || vm.IdleInSeconds != nil || vm.BudgetLeft != nil || vm.LastWake != nil ||
		vm.Target != "instance=web-1 zone=europe-west1-b" || vm.AsleepHours7d > 0.01 || vm.RecordedHours7d > 0.01 ||
		!strings.HasSuffix(vm.AsleepText, "h recorded") || vm.Savings == nil || vm.Savings.Priced || vm.SavedText != "—" {
		t.Errorf("vm: %+v", vm)
	}
}

// TestSavingsFromRecords: a priced host's savings and its 7 days asleep
// come from the transitions the store records, in /api/hosts (per host
// and in total) and on the dashboard.
func TestSavingsFromRecords(t *testing.T) {
	hosts := []dashHost{
		{name: "vm.example.com", provider: "gce", fields: map[string]string{"instance": "web-1", "zone": "z"},
			price: controller.Price{Running: 0.50, Suspended: 0.05, Currency: "EUR"}},
		{name: "box.example.com", provider: "gce", fields: map[string]string{"instance": "box", "zone": "z"},
			price: controller.Price{Running: 0.10, Currency: "EUR"}},
		{name: "free.example.com", provider: "docker", fields: map[string]string{"container": "free"}},
	}
	s := newDashSetup(t, hosts, nil)
	ctx := t.Context()
	now := time.Now()
	// vm: ran 10 days ago for 2 hours, asleep since; box: asleep for 40
	// days (the record older than the retention is kept).
	for _, tr := range []controller.Transition{
		{Host: "vm.example.com", At: now.Add(-240 * time.Hour), From: controller.StateStopped, To: controller.StateStarting, By: "203.0.113.x (browser)"},
		{Host: "vm.example.com", At: now.Add(-240*time.Hour + time.Minute), From: controller.StateStarting, To: controller.StateRunning, Took: time.Minute},
		{Host: "vm.example.com", At: now.Add(-238 * time.Hour), From: controller.StateRunning, To: controller.StateStopped, Reason: "idle for 30m0s"},
		{Host: "box.example.com", At: now.Add(-40 * 24 * time.Hour), From: controller.StateStopping, To: controller.StateStopped},
	} {
		if err := s.store.AddTransition(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	s.setStopped(t, "vm.example.com")
	s.setStopped(t, "box.example.com")

	res := s.do(t, nil, "GET", "/api/hosts", nil, "Authorization: Bearer "+dashToken)
	var got hostsJSON
	if err := json.Unmarshal([]byte(res.body), &got); err != nil || len(got.Hosts) != 3 {
		t.Fatalf("hosts: %s %v", res.body, err)
	}
	byName := map[string]hostJSON{}
	for _, h := range got.Hosts {
		byName[h.Host] = h
	}
	today := time.Now().UTC()
	midnight := time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, time.UTC)
	window := now.Sub(midnight.AddDate(0, 0, -29)).Hours() // the 30 days, today up to now
	// vm's records begin 10 days ago: the 20 days before are unknown,
	// neither saved nor spent.
	tests := []struct {
		host                         string
		awake, unknown, saved, spent float64
		asleep7d                     float64
	}{
		{"vm.example.com", 2, window - 240, 238 * 0.45, 2*0.50 + 238*0.05, 168},
		{"box.example.com", 0, 0, window * 0.10, 0, 168},
		{"free.example.com", 0, window, 0, 0, 0}, // never recorded
	}
	const slack = 0.01 // the seconds between now and the server's now
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			h := byName[tc.host]
			sv := h.Savings
			if sv == nil || sv.Days != 30 || len(sv.Daily) != 30 {
				t.Fatalf("savings: %+v", sv)
			}
			if math.Abs(sv.AwakeHours-tc.awake) > slack || math.Abs(sv.UnknownHours-tc.unknown) > slack ||
				math.Abs(sv.Saved-tc.saved) > slack || math.Abs(sv.Spent-tc.spent) > slack {
				t.Errorf("awake %.3f h, unknown %.3f h, saved %.4f, spent %.4f; want %.3f, %.3f, %.4f, %.4f",
					sv.AwakeHours, sv.UnknownHours, sv.Saved, sv.Spent, tc.awake, tc.unknown, tc.saved, tc.spent)
			}
			if math.Abs(h.AsleepHours7d-tc.asleep7d) > slack {
				t.Errorf("asleep 7 days: %.3f h; want %.3f", h.AsleepHours7d, tc.asleep7d)
			}
			if sv.Daily[29].Date != midnight.Format(time.DateOnly) {
				t.Errorf("the last day is %s; want today, %s", sv.Daily[29].Date, midnight.Format(time.DateOnly))
			}
		})
	}
	if len(got.Savings) != 1 || got.Savings[0].Currency != "EUR" || got.Savings[0].Hosts != 2 ||
		math.Abs(got.Savings[0].Saved-tests[0].saved-tests[1].saved) > 2*slack {
		t.Errorf("totals: %+v", got.Savings)
	}

	page := s.do(t, nil, "GET", "/", nil, "Authorization: Bearer "+dashToken)
	for _, want := range []string{`id="savings-EUR"`, " EUR</span> saved by sleeping in the last 30 days", "2 priced hosts", `class="chart savings-chart"`,
		"<th>Saved, 30 days</th>", `<span data-field="asleep">168.0 h</span>`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
}

// TestEventStreamOutlivesWriteTimeout: the admin server's WriteTimeout
// bounds ordinary answers, not the event stream, and shutting the server
// down ends the stream at once.
func TestEventStreamOutlivesWriteTimeout(t *testing.T) {
	s := newDashSetup(t, nil, func(o *AdminOptions) {
		o.WriteTimeout, o.Heartbeat, o.Refresh = 300*time.Millisecond, 200*time.Millisecond, time.Hour
	})
	s.setStopped(t, "app.example.com")
	srv := s.admin.Server("127.0.0.1:0")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://"+ln.Addr().String()+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+dashToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	lines := make(chan string, 256)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	time.Sleep(time.Second) // past the WriteTimeout, several heartbeats
	if _, err := s.ctl.Wake(context.Background(), "app.example.com", controller.Client{Source: "page"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for found := false; !found; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the stream ended before the wake's event")
			}
			found = strings.HasPrefix(l, "data: ") && strings.Contains(l, `"text":"wake requested by page"`)
		case <-deadline:
			t.Fatal("no wake event within 10 s")
		}
	}
	shutdownWithin(t, srv, 2*time.Second)
	for range lines { // the stream ends
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
}

// TestWakeBudgetHook: the budget column shows the wake guard's counter
// and limit when the hook is set.
func TestWakeBudgetHook(t *testing.T) {
	s := newDashSetup(t, nil, func(o *AdminOptions) {
		o.WakeBudget = func(_ context.Context, h controller.Host) (int, int, error) {
			if h.Name == "vm.example.com" {
				return 0, 0, errors.New("store down") // falls back to the history
			}
			return 7, 10, nil
		}
	})
	res := s.do(t, nil, "GET", "/api/hosts", nil, "Authorization: Bearer "+dashToken)
	var got hostsJSON
	if err := json.Unmarshal([]byte(res.body), &got); err != nil || len(got.Hosts) != 2 {
		t.Fatalf("hosts: %s %v", res.body, err)
	}
	app, vm := got.Hosts[0], got.Hosts[1]
	if app.WakesToday != 7 || app.MaxWakesPerDay != 10 || app.BudgetLeft == nil || *app.BudgetLeft != 3 {
		t.Errorf("app: today %d of %d, left %v", app.WakesToday, app.MaxWakesPerDay, app.BudgetLeft)
	}
	if vm.WakesToday != 0 || vm.BudgetLeft != nil {
		t.Errorf("vm: today %d, left %v", vm.WakesToday, vm.BudgetLeft)
	}
}

// TestDashboardSaysWhyAHostIsAwake: a running host held awake by a busy
// check shows the reason in the API and on the dashboard.
func TestDashboardSaysWhyAHostIsAwake(t *testing.T) {
	s := newDashSetup(t, nil, func(o *AdminOptions) {
		o.Busy = func(_ context.Context, h controller.Host, _ time.Time) []string {
			if h.Name == "app.example.com" {
				return []string{"warm window until 18:00 Europe/Paris"}
			}
			return nil
		}
	})
	s.setRunning(t, "app.example.com")
	s.setStopped(t, "vm.example.com")
	res := s.do(t, nil, "GET", "/api/hosts", nil, "Authorization: Bearer "+dashToken)
	var got hostsJSON
	if err := json.Unmarshal([]byte(res.body), &got); err != nil || len(got.Hosts) != 2 {
		t.Fatalf("hosts: %s %v", res.body, err)
	}
	if a := got.Hosts[0].AwakeBecause; len(a) != 1 || a[0] != "warm window until 18:00 Europe/Paris" {
		t.Errorf("running host: awake_because %v", a)
	}
	if a := got.Hosts[1].AwakeBecause; len(a) != 0 {
		t.Errorf("stopped host: awake_because %v", a)
	}
	c := s.client(t)
	s.login(t, c)
	if page := s.do(t, c, "GET", "/", nil); !strings.Contains(page.body, "kept awake: warm window until 18:00 Europe/Paris") {
		t.Errorf("dashboard does not say why the host is awake")
	}
}

// TestReloadSaysWhatWaitsForARestart: a reload whose file changes
// settings only a restart applies (page, limits) answers 200 with them
// listed and a warning, not a silent success.
func TestReloadSaysWhatWaitsForARestart(t *testing.T) {
	s := newDashSetup(t, nil, func(o *AdminOptions) {
		o.Config = func() ConfigInfo {
			return ConfigInfo{Path: "/etc/waitingroom/waitingroom.yaml", RestartNeeded: []string{"page", "limits"}}
		}
	})
	res := s.do(t, nil, "POST", "/api/reload", nil, "Authorization: Bearer "+dashToken)
	var got reloadJSON
	if err := json.Unmarshal([]byte(res.body), &got); err != nil || res.StatusCode != 200 || !got.Reloaded ||
		!slices.Equal(got.RestartNeeded, []string{"page", "limits"}) || !strings.Contains(got.Warning, "page, limits take effect only after a restart") {
		t.Fatalf("reload with settings that wait for a restart: %d %s", res.StatusCode, res.body)
	}
	// The configuration page says it too, for as long as it holds.
	c := s.client(t)
	s.login(t, c)
	page := s.do(t, c, "GET", "/config", nil)
	if !strings.Contains(page.body, `id="restart-needed"`) || !strings.Contains(page.body, "page, limits take effect only after a restart") {
		t.Errorf("the configuration page does not say what waits for a restart:\n%s", page.body)
	}
}
