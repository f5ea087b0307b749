package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

const browserUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"

func newTestPublic(t testing.TB, ctl PublicController, edit func(*PublicOptions)) *Public {
	t.Helper()
	o := PublicOptions{Controller: ctl, Logger: discardLogger()}
	if edit != nil {
		edit(&o)
	}
	p, err := NewPublic(o)
	if err != nil {
		t.Fatalf("NewPublic: %v", err)
	}
	return p
}

type pageCase struct {
	name       string
	host       string // Host header; default app.example.com
	method     string // default GET
	target     string // default /some/path?q=1
	accept     string // default a browser's
	setup      func(*fakeController)
	opts       func(*PublicOptions)
	wantStatus int
	wantWakes  int64
	// wantRetryAfter: "" not checked, "none" absent.
	wantRetryAfter string
	wantType       string // Content-Type prefix
	wantBody       []string
	notBody        []string
	wantEmptyBody  bool
}

func (tc pageCase) run(t *testing.T) {
	f := newFakeController("app.example.com", "10.0.0.5", "[::1]")
	f.reg = controller.NewRegistry([]controller.Host{{Name: "app.example.com"}, {Name: "10.0.0.5"}, {Name: "::1"}}, nil)
	if tc.setup != nil {
		tc.setup(f)
	}
	p := newTestPublic(t, f, tc.opts)
	method, target, host := tc.method, tc.target, tc.host
	if method == "" {
		method = http.MethodGet
	}
	if target == "" {
		target = "/some/path?q=1"
	}
	if host == "" {
		host = "app.example.com"
	}
	req := httptest.NewRequest(method, target, nil)
	req.Host = host
	req.RemoteAddr = "203.0.113.45:51234"
	req.Header.Set("User-Agent", browserUA)
	if tc.accept != "" {
		req.Header.Set("Accept", tc.accept)
	} else {
		req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	}
	w := httptest.NewRecorder()
	p.ServeHTTP(w, req)
	res := w.Result()
	body, _ := io.ReadAll(res.Body)

	if res.StatusCode != tc.wantStatus {
		t.Errorf("status %d, want %d; body:\n%s", res.StatusCode, tc.wantStatus, body)
	}
	if got := f.wakes.Load(); got != tc.wantWakes {
		t.Errorf("%d Wake calls, want %d", got, tc.wantWakes)
	}
	switch ra := res.Header.Get("Retry-After"); tc.wantRetryAfter {
	case "":
	case "none":
		if ra != "" {
			t.Errorf("Retry-After %q, want none", ra)
		}
	default:
		if ra != tc.wantRetryAfter {
			t.Errorf("Retry-After %q, want %q", ra, tc.wantRetryAfter)
		}
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if tc.wantType != "" && !strings.HasPrefix(res.Header.Get("Content-Type"), tc.wantType) {
		t.Errorf("Content-Type %q, want %s", res.Header.Get("Content-Type"), tc.wantType)
	}
	if tc.wantEmptyBody && len(body) != 0 {
		t.Errorf("body of %d bytes, want none", len(body))
	}
	for _, s := range tc.wantBody {
		if !strings.Contains(string(body), s) {
			t.Errorf("body lacks %q:\n%s", s, body)
		}
	}
	for _, s := range tc.notBody {
		if strings.Contains(string(body), s) {
			t.Errorf("body contains %q:\n%s", s, body)
		}
	}
}

func TestPublicAnswers(t *testing.T) {
	started := time.Date(2026, 3, 4, 9, 59, 50, 0, time.UTC) // 10 s before the fake's now
	starting := func(f *fakeController) {
		f.set(controller.Record{Host: "app.example.com", State: controller.StateStarting, Changed: started})
	}
	tests := []pageCase{
		{
			name: "sleeping host wakes and gets the page", wantStatus: 503, wantWakes: 1, wantRetryAfter: "5",
			wantType: "text/html",
			wantBody: []string{"<h1>app.example.com</h1>", "waking up", `http-equiv="refresh" content="5"`,
				`src="/.waitingroom/static/wait.js"`, `data-state="starting"`, "no estimate yet"},
		},
		{
			name: "estimate gives remaining time and Retry-After", setup: func(f *fakeController) {
				starting(f)
				f.estimate, f.hasEstimate = 40*time.Second, true
			},
			wantStatus: 503, wantWakes: 1, wantRetryAfter: "30",
			wantBody: []string{"about 30 s", "10 s", `data-estimate="40"`, `data-elapsed="10"`},
		},
		{
			name: "estimate used up says any moment now", setup: func(f *fakeController) {
				starting(f)
				f.estimate, f.hasEstimate = 5*time.Second, true
			},
			wantStatus: 503, wantWakes: 1, wantRetryAfter: "2", wantBody: []string{"any moment now"},
		},
		{
			name: "estimate longer than the cap is clamped", setup: func(f *fakeController) {
				starting(f)
				f.estimate, f.hasEstimate = 5*time.Minute, true
			},
			wantStatus: 503, wantWakes: 1, wantRetryAfter: "30", wantBody: []string{"about 5 min"},
		},
		{
			name: "running host still gets the page, which reloads", setup: func(f *fakeController) {
				f.set(controller.Record{Host: "app.example.com", State: controller.StateRunning})
			},
			wantStatus: 503, wantWakes: 1, wantRetryAfter: "2", wantBody: []string{"is ready; loading it now", `data-state="running"`},
		},
		{
			name: "failed wake says why and when it retries", setup: func(f *fakeController) {
				f.set(controller.Record{Host: "app.example.com", State: controller.StateFailed,
					Reason: "start: exit status 3", RetryAt: time.Date(2026, 3, 4, 10, 1, 30, 0, time.UTC)})
			},
			opts:       func(o *PublicOptions) { o.ShowFailureReason = true },
			wantStatus: 503, wantWakes: 1, wantRetryAfter: "90",
			wantBody: []string{"failed to start. It will try again at 10:01:30 UTC (in 1 min 30 s).", "<code id=\"wr-reason\">start: exit status 3</code>"},
		},
		{
			name: "a failure's reason stays with operators by default", setup: func(f *fakeController) {
				f.set(controller.Record{Host: "app.example.com", State: controller.StateFailed,
					Reason:  "start: exit status 1: dial tcp 10.0.3.7:5432: connection refused; stderr: FATAL at /srv/app/db.go:12",
					RetryAt: time.Date(2026, 3, 4, 10, 1, 30, 0, time.UTC)})
			},
			wantStatus: 503, wantWakes: 1, wantRetryAfter: "90",
			wantBody: []string{"failed to start. It will try again at 10:01:30 UTC"},
			notBody:  []string{"10.0.3.7", "stderr", "/srv/app", "wr-reason"},
		},
		{
			name: "a shown reason hides secrets", setup: func(f *fakeController) {
				f.set(controller.Record{Host: "app.example.com", State: controller.StateFailed,
					Reason: `probe: Get "http://app:80/ready?token=s3cret": refused`})
			},
			opts:       func(o *PublicOptions) { o.ShowFailureReason = true },
			wantStatus: 503, wantWakes: 1,
			wantBody: []string{"token=REDACTED"},
			notBody:  []string{"s3cret"},
		},
		{
			name: "a failure's reason is escaped", setup: func(f *fakeController) {
				f.set(controller.Record{Host: "app.example.com", State: controller.StateFailed,
					Reason: `<script>alert("x")</script><img src=x onerror=alert(1)>`})
			},
			opts:       func(o *PublicOptions) { o.ShowFailureReason = true },
			wantStatus: 503, wantWakes: 1,
			wantBody: []string{"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img"},
			notBody:  []string{"<script>alert", "<img src=x"},
		},
		{
			name: "the starting reason naming a client is not shown", setup: func(f *fakeController) {
				f.set(controller.Record{Host: "app.example.com", State: controller.StateStarting, Changed: started,
					Reason: "wake requested by 198.51.100.x (browser)"})
			},
			wantStatus: 503, wantWakes: 1, notBody: []string{"198.51.100"},
		},
		{
			name: "over budget is 429 with the budget's Retry-After", setup: func(f *fakeController) {
				f.wakeErr = &controller.BudgetError{Budget: "host per day", RetryAfter: time.Hour}
			},
			wantStatus: 429, wantWakes: 1, wantRetryAfter: "3600",
			wantBody: []string{"woken too often", "host per day", "over its wake budget"},
		},
		{
			name: "a refused wake still shows the state", setup: func(f *fakeController) {
				f.wakeErr = fmt.Errorf("crawler: %w", controller.ErrWakeRefused)
			},
			wantStatus: 503, wantWakes: 1, wantRetryAfter: "5", wantBody: []string{"is asleep"},
		},
		{
			name: "store unavailable is a temporary problem, still 503", setup: func(f *fakeController) {
				f.wakeErr = fmt.Errorf("wake: get: %w", controller.ErrStoreUnavailable)
			},
			wantStatus: 503, wantWakes: 1, wantRetryAfter: "5",
			wantBody: []string{"temporary problem", "cannot reach its state store", "retrying"},
			notBody:  []string{"dial tcp"},
		},
		{
			name: "any other error is a temporary problem", setup: func(f *fakeController) {
				f.wakeErr = errors.New("dial tcp 10.1.1.1:6379: connection refused")
			},
			wantStatus: 503, wantWakes: 1, wantBody: []string{"temporary problem"}, notBody: []string{"dial tcp"},
		},
		{
			name: "HEAD answers the same headers without a body and does not wake", method: http.MethodHead,
			wantStatus: 503, wantWakes: 0, wantRetryAfter: "5", wantType: "text/html", wantEmptyBody: true,
		},
		{
			name: "HEAD wakes when configured", method: http.MethodHead, opts: func(o *PublicOptions) { o.WakeOnHead = true },
			wantStatus: 503, wantWakes: 1, wantEmptyBody: true,
		},
		{name: "POST wakes too", method: http.MethodPost, wantStatus: 503, wantWakes: 1},
		{name: "port and case are normalised", host: "APP.Example.com:443", wantStatus: 503, wantWakes: 1, wantBody: []string{"<h1>app.example.com</h1>"}},
		{name: "trailing dot is normalised", host: "app.example.com.", wantStatus: 503, wantWakes: 1},
		{name: "registered IPv4 literal", host: "10.0.0.5:80", wantStatus: 503, wantWakes: 1, wantBody: []string{"<h1>10.0.0.5</h1>"}},
		{name: "registered IPv6 literal", host: "[::1]:80", wantStatus: 503, wantWakes: 1, wantBody: []string{"<h1>::1</h1>"}},
		{name: "unknown host is 404 without a wake", host: "other.example.com", wantStatus: 404, wantRetryAfter: "none", wantType: "text/plain",
			wantBody: []string{"no site is registered"}},
		{name: "unknown host asking for JSON gets JSON", host: "other.example.com", accept: "application/json", wantStatus: 404, wantType: "application/json",
			wantBody: []string{`"error":"no site is registered for this host name"`}},
		{name: "unregistered IPv4 literal is 400", host: "192.0.2.1", wantStatus: 400},
		{name: "unregistered IPv6 literal is 400", host: "[2001:db8::1]:443", wantStatus: 400},
		{name: "empty Host is 400", host: " ", wantStatus: 400, wantType: "text/plain"},
		{name: "Host with a space is 400", host: "app .example.com", wantStatus: 400},
		{name: "Host with a path is 400", host: "app.example.com/evil", wantStatus: 400},
		{name: "Host with an empty label is 400", host: "app..example.com", wantStatus: 400},
		{name: "Host over 253 bytes is 400", host: strings.Repeat("a.", 127) + "com", wantStatus: 400},
		{name: "Host over the configured length is 400", opts: func(o *PublicOptions) { o.MaxHostLength = 10 }, wantStatus: 400},
		{name: "URL over the limit is 414", target: "/" + strings.Repeat("x", 9000), wantStatus: 414, wantType: "text/plain"},
		{name: "URL under a raised limit is served", target: "/" + strings.Repeat("x", 9000),
			opts: func(o *PublicOptions) { o.MaxURLLength = 10000 }, wantStatus: 503, wantWakes: 1},
		{name: "unknown internal path is 404", target: "/.waitingroom/nope", wantStatus: 404},
		{name: "status of an unknown host is 404 JSON", host: "other.example.com", target: "/.waitingroom/status", wantStatus: 404, wantType: "application/json"},
		{name: "status by POST is 405", method: http.MethodPost, target: "/.waitingroom/status", wantStatus: 405},
		{name: "events of an unknown host is 404", host: "other.example.com", target: "/.waitingroom/events", wantStatus: 404},
		{name: "page.status 200 replaces 503, Retry-After stays", opts: func(o *PublicOptions) { o.PageStatus = 200 },
			wantStatus: 200, wantWakes: 1, wantRetryAfter: "5", wantType: "text/html", wantBody: []string{"waking up"}},
		{name: "page.status 202 for HEAD", method: http.MethodHead, opts: func(o *PublicOptions) { o.PageStatus = 202 },
			wantStatus: 202, wantRetryAfter: "5", wantEmptyBody: true},
		{name: "page.status 202 for JSON", accept: "application/json", opts: func(o *PublicOptions) { o.PageStatus = 202 },
			wantStatus: 202, wantWakes: 1, wantRetryAfter: "5", wantType: "application/json", wantBody: []string{`"state":"starting"`}},
		{name: "page.status 200 for a failed wake", opts: func(o *PublicOptions) { o.PageStatus = 200 }, setup: func(f *fakeController) {
			f.set(controller.Record{Host: "app.example.com", State: controller.StateFailed, RetryAt: time.Date(2026, 3, 4, 10, 1, 30, 0, time.UTC)})
		}, wantStatus: 200, wantWakes: 1, wantRetryAfter: "90"},
		{name: "page.status 200 keeps 429 over budget", opts: func(o *PublicOptions) { o.PageStatus = 200 }, setup: func(f *fakeController) {
			f.wakeErr = &controller.BudgetError{Budget: "host per day", RetryAfter: time.Hour}
		}, wantStatus: 429, wantWakes: 1, wantRetryAfter: "3600"},
		{name: "page.status 200 keeps 503 for waitingroom's own problem", opts: func(o *PublicOptions) { o.PageStatus = 200 }, setup: func(f *fakeController) {
			f.wakeErr = fmt.Errorf("wake: get: %w", controller.ErrStoreUnavailable)
		}, wantStatus: 503, wantWakes: 1, wantRetryAfter: "5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

func TestPageSendsSecurityHeaders(t *testing.T) {
	f := newFakeController("app.example.com")
	p := newTestPublic(t, f, nil)
	req := httptest.NewRequest(http.MethodGet, "http://app.example.com/", nil)
	w := httptest.NewRecorder()
	p.ServeHTTP(w, req)
	csp := w.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self' 'nonce-") {
		t.Errorf("Content-Security-Policy %q is not strict", csp)
	}
	if strings.Contains(w.Body.String(), "<script>") {
		t.Error("the built-in page has an inline script; a strict CSP forbids it")
	}
	if got := w.Header().Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options %q", got)
	}
	if got := w.Header().Get("X-Waitingroom-State"); got != "starting" {
		t.Errorf("X-Waitingroom-State %q, want starting", got)
	}
	if !strings.Contains(w.Body.String(), `name="viewport"`) {
		t.Error("no viewport meta: unreadable on a phone")
	}
	if strings.Contains(w.Body.String(), "http://") || strings.Contains(w.Body.String(), "https://") {
		t.Error("the page references an external asset")
	}
}

func TestWakeCarriesAnonymisedClient(t *testing.T) {
	tests := []struct {
		remote, ua, accept string
		want               controller.Client
	}{
		{"203.0.113.45:5000", browserUA, "text/html", controller.Client{Display: "203.0.113.x", Class: "browser", Source: "page"}},
		{"[2001:db8:abcd:12:1:2:3:4]:5000", "curl/8.5.0", "*/*", controller.Client{Display: "2001:db8:abcd:12::x", Class: "api", Source: "page"}},
		{"198.51.100.7:1", "Mozilla/5.0 (compatible; Googlebot/2.1)", "text/html", controller.Client{Display: "198.51.100.x", Class: "bot", Source: "page"}},
		{"198.51.100.7:1", browserUA, "application/json", controller.Client{Display: "198.51.100.x", Class: "api", Source: "page"}},
	}
	for _, tt := range tests {
		f := newFakeController("app.example.com")
		p := newTestPublic(t, f, nil)
		req := httptest.NewRequest(http.MethodGet, "http://app.example.com/", nil)
		req.RemoteAddr = tt.remote
		req.Header.Set("User-Agent", tt.ua)
		req.Header.Set("Accept", tt.accept)
		req.Header.Set("X-Forwarded-For", "192.0.2.99") // not trusted by default
		p.ServeHTTP(httptest.NewRecorder(), req)
		if len(f.clients) != 1 || f.clients[0] != tt.want {
			t.Errorf("%s %q: clients %+v, want %+v", tt.remote, tt.ua, f.clients, tt.want)
		}
	}
}

func TestClientIPHookIsUsed(t *testing.T) {
	f := newFakeController("app.example.com")
	p := newTestPublic(t, f, func(o *PublicOptions) {
		o.ClientIP = func(*http.Request) netipAddr { return mustAddr("192.0.2.200") }
	})
	req := httptest.NewRequest(http.MethodGet, "http://app.example.com/", nil)
	p.ServeHTTP(httptest.NewRecorder(), req)
	if len(f.clients) != 1 || f.clients[0].Display != "192.0.2.x" {
		t.Errorf("clients %+v, want Display 192.0.2.x", f.clients)
	}
}

func TestPageJSON(t *testing.T) {
	f := newFakeController("app.example.com")
	f.set(controller.Record{Host: "app.example.com", State: controller.StateStarting, Changed: f.now.Add(-12 * time.Second)})
	f.estimate, f.hasEstimate = 40*time.Second, true
	p := newTestPublic(t, f, nil)
	req := httptest.NewRequest(http.MethodGet, "http://app.example.com/api/things", nil)
	req.Header.Set("Accept", "application/json")
	w := httptest.NewRecorder()
	p.ServeHTTP(w, req)
	if w.Code != 503 || w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Retry-After") != "28" {
		t.Fatalf("status %d, type %q, Retry-After %q", w.Code, w.Header().Get("Content-Type"), w.Header().Get("Retry-After"))
	}
	var got map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, w.Body)
	}
	want := map[string]any{
		"host": "app.example.com", "state": "starting", "retry_after": 28.0, "state_words": "waking up",
		"message": "app.example.com is waking up.", "elapsed_seconds": 12.0, "estimate_seconds": 40.0,
		"remaining_seconds": 28.0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if f.wakes.Load() != 1 {
		t.Errorf("%d wakes, want 1", f.wakes.Load())
	}
}

func TestStatusNeverWakes(t *testing.T) {
	f := newFakeController("app.example.com")
	f.set(controller.Record{Host: "app.example.com", State: controller.StateStopped})
	p := newTestPublic(t, f, nil)
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		req := httptest.NewRequest(method, "http://app.example.com/.waitingroom/status", nil)
		w := httptest.NewRecorder()
		p.ServeHTTP(w, req)
		if w.Code != 200 || w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s: status %d, Cache-Control %q", method, w.Code, w.Header().Get("Cache-Control"))
		}
		if method == http.MethodGet {
			var got stateJSON
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.State != controller.StateStopped || got.Host != "app.example.com" {
				t.Errorf("status body %s (%v)", w.Body, err)
			}
			if got.EstimateSeconds != nil {
				t.Errorf("estimate_seconds %v without an estimate", *got.EstimateSeconds)
			}
		}
	}
	if n := f.wakes.Load(); n != 0 {
		t.Errorf("status woke the host %d times", n)
	}
}

func TestStatusWhenStoreUnavailable(t *testing.T) {
	f := newFakeController("app.example.com")
	f.statusErr = fmt.Errorf("get: %w", controller.ErrStoreUnavailable)
	p := newTestPublic(t, f, nil)
	req := httptest.NewRequest(http.MethodGet, "http://app.example.com/.waitingroom/status", nil)
	w := httptest.NewRecorder()
	p.ServeHTTP(w, req)
	var got stateJSON
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if w.Code != 503 || got.State != controller.StateUnknown || !strings.Contains(got.Problem, "state store") {
		t.Errorf("status %d body %s", w.Code, w.Body)
	}
}

func TestStaticFilesAreServed(t *testing.T) {
	f := newFakeController("app.example.com")
	p := newTestPublic(t, f, nil)
	for path, want := range map[string]string{
		"/.waitingroom/static/wait.js":  "EventSource",
		"/.waitingroom/static/wait.css": "prefers-color-scheme",
	} {
		req := httptest.NewRequest(http.MethodGet, "http://app.example.com"+path, nil)
		w := httptest.NewRecorder()
		p.ServeHTTP(w, req)
		if w.Code != 200 || !strings.Contains(w.Body.String(), want) {
			t.Errorf("%s: %d, body lacks %q", path, w.Code, want)
		}
	}
	for _, path := range []string{"/.waitingroom/static/", "/.waitingroom/static/nope.js", "/.waitingroom/static/../public.go"} {
		req := httptest.NewRequest(http.MethodGet, "http://app.example.com/", nil)
		req.URL.Path = path
		w := httptest.NewRecorder()
		p.ServeHTTP(w, req)
		if w.Code != 404 {
			t.Errorf("%s: %d, want 404", path, w.Code)
		}
	}
	if f.wakes.Load() != 0 {
		t.Error("static files woke the host")
	}
}

func TestCustomTemplate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "page.html")
	src := `<html><body><h1>{{.Host}}</h1><p id="s">{{.StateWords}} for {{.ElapsedText}} ({{seconds .Elapsed}}), {{about .Remaining}}</p>` +
		`{{if .Failed}}<p>{{.Reason}} {{.RetryAtText}}</p>{{end}}{{if .Problem}}<p>{{.Problem}}</p>{{end}}` +
		`<style nonce="{{.Nonce}}">p{}</style><script src="{{.Static}}wait.js"></script></body></html>`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	tmpl, err := LoadTemplate(path)
	if err != nil {
		t.Fatalf("LoadTemplate: %v", err)
	}
	f := newFakeController("app.example.com")
	f.set(controller.Record{Host: "app.example.com", State: controller.StateStarting, Changed: f.now.Add(-65 * time.Second)})
	f.estimate, f.hasEstimate = time.Minute, true
	p := newTestPublic(t, f, func(o *PublicOptions) { o.Template = tmpl })
	w := httptest.NewRecorder()
	p.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://app.example.com/", nil))
	body := w.Body.String()
	if want := `<p id="s">waking up for 1 min 5 s (65), any moment now</p>`; !strings.Contains(body, want) {
		t.Errorf("custom page lacks %q:\n%s", want, body)
	}
	nonce := strings.TrimPrefix(strings.Split(w.Header().Get("Content-Security-Policy"), "'nonce-")[1], "")
	nonce = nonce[:strings.IndexByte(nonce, '\'')]
	if !strings.Contains(body, `nonce="`+nonce+`"`) {
		t.Errorf("the page's nonce is not the header's %q:\n%s", nonce, body)
	}
	if w.Code != 503 || w.Header().Get("Retry-After") == "" {
		t.Errorf("status %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
}

func TestLoadTemplateRefusesBrokenFiles(t *testing.T) {
	dir := t.TempDir()
	tests := map[string]string{
		"syntax.html":        `<p>{{.Host</p>`,
		"unknown-field.html": `<p>{{.Hots}}</p>`,
		"unknown-func.html":  `<p>{{ago .Elapsed}}</p>`,
		"bad-call.html":      `<p>{{.Host.Foo}}</p>`,
	}
	for name, src := range tests {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadTemplate(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want one naming the file", name, err)
		}
	}
	if _, err := LoadTemplate(filepath.Join(dir, "missing.html")); err == nil {
		t.Error("a missing template file loaded")
	}
}

func TestNewPublicRefusesOtherPageStatus(t *testing.T) {
	for _, code := range []int{204, 302, 404, 500, -1} {
		if _, err := NewPublic(PublicOptions{Controller: newFakeController("a.example.com"), PageStatus: code}); err == nil {
			t.Errorf("PageStatus %d accepted", code)
		}
	}
}

func TestNewPublicNeedsController(t *testing.T) {
	if _, err := NewPublic(PublicOptions{}); err == nil {
		t.Error("NewPublic without a controller succeeded")
	}
}

func TestTextHelpers(t *testing.T) {
	cat, err := loadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	aboutText := func(d time.Duration) string { return cat.about("en", d) }
	elapsedText := func(d time.Duration) string { return cat.elapsed("en", d) }
	about := map[time.Duration]string{
		-time.Second: "any moment now", 0: "any moment now", 300 * time.Millisecond: "about 1 s",
		7 * time.Second: "about 7 s", 28 * time.Second: "about 30 s", 41 * time.Second: "about 45 s",
		59 * time.Second: "about 60 s", 89 * time.Second: "about 1 min", 150 * time.Second: "about 3 min",
	}
	for d, want := range about {
		if got := aboutText(d); got != want {
			t.Errorf("aboutText(%s) = %q, want %q", d, got, want)
		}
	}
	elapsed := map[time.Duration]string{
		-time.Second: "0 s", 0: "0 s", 12*time.Second + 900*time.Millisecond: "12 s", 65 * time.Second: "1 min 5 s",
		2*time.Hour + 3*time.Minute + 4*time.Second: "2 h 3 min",
	}
	for d, want := range elapsed {
		if got := elapsedText(d); got != want {
			t.Errorf("elapsedText(%s) = %q, want %q", d, got, want)
		}
	}
}

// FuzzPublicHost: whatever the Host header and path, the answer is one of
// the expected statuses, nothing panics, and only a registered host can
// reach Wake (invariant 2).
func FuzzPublicHost(f *testing.F) {
	for _, s := range [][2]string{
		{"app.example.com", "/"}, {"APP.example.com:443", "/x"}, {"[::1]:80", "/"}, {"nope.example.com", "/"},
		{"10.0.0.5", "/.waitingroom/status"}, {"app.example.com.", "/.waitingroom/nope"}, {"a..b", "/"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, host, path string) {
		ctl := newFakeController("app.example.com")
		p := newTestPublic(t, ctl, func(o *PublicOptions) { o.MaxURLLength = 64 })
		req := httptest.NewRequest(http.MethodGet, "http://x/", nil)
		req.Host = host
		req.URL.Path = path
		req.RequestURI = path
		w := httptest.NewRecorder()
		p.ServeHTTP(w, req)
		switch w.Code {
		case 200, 400, 404, 405, 414, 503:
		default:
			t.Fatalf("Host %q path %q: status %d", host, path, w.Code)
		}
		if ctl.wakes.Load() > 0 {
			if name, ok := ParseHost(host); !ok || name != "app.example.com" {
				t.Fatalf("Host %q (%q, %v) reached Wake", host, name, ok)
			}
		}
	})
}

// The status answer wait.js polls says what the page says: on a
// click-to-wake page, that it waits for its button (the polite status line
// shows the answer's message).
func TestStatusOfClickToWakeSaysWhatThePageSays(t *testing.T) {
	f := newFakeControllerOf(controller.Host{Name: "click.example.com", Provider: "fake", WakeMode: "click"})
	p := newTestPublic(t, f, func(o *PublicOptions) { o.Policy = clickPolicy{} })
	want := "click.example.com is asleep. Press the button to wake it up."
	if body := serveGet(t, p, "http://click.example.com/").Body.String(); !strings.Contains(body, want) {
		t.Fatalf("the page does not say %q", want)
	}
	var st stateJSON
	if err := json.Unmarshal(serveGet(t, p, "http://click.example.com/.waitingroom/status").Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if st.Message != want {
		t.Errorf("status message %q, want the page's %q", st.Message, want)
	}
}
