package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/internal/testutil/poll"
)

// The gate lets slots checks run, queue more wait (at most wait), and
// refuses the rest at once.
func TestLoginGateBoundsConcurrentChecks(t *testing.T) {
	// A wait far longer than the test: an attempt that waited at all
	// would show, with no timing threshold a loaded machine could cross.
	const wait = time.Minute
	g := newLoginGate(1, 1, wait)
	ctx := context.Background()
	release, ok := g.enter(ctx)
	if !ok {
		t.Fatal("first attempt refused")
	}
	queued, giveUp := context.WithCancel(ctx)
	defer giveUp()
	waited := make(chan bool)
	go func() {
		_, ok := g.enter(queued) // queued until it gives up: the slot stays taken
		waited <- ok
	}()
	poll.Until(t, 5*time.Second, "the second attempt to queue", func() bool { return g.waiting.Load() == 1 })
	start := time.Now()
	if _, ok := g.enter(ctx); ok {
		t.Fatal("an attempt beyond the queue got in")
	}
	if d := time.Since(start); d >= wait {
		t.Errorf("an attempt beyond the queue waited %s; it should be refused at once", d)
	}
	giveUp()
	if ok := <-waited; ok {
		t.Fatal("the queued attempt got in while the slot was taken")
	}
	release()
	if rel, ok := g.enter(ctx); !ok {
		t.Fatal("attempt after release refused")
	} else {
		rel()
	}
}

// Many concurrent wrong logins from many addresses (each within its own
// rate limit) cost at most LoginConcurrency password checks at a time; the
// surplus is refused with 503 and Retry-After rather than queued without
// bound, and the operator gets in afterwards.
func TestConcurrentWrongLoginsAreBoundedGlobally(t *testing.T) {
	s := newDashSetup(t, nil, func(o *AdminOptions) {
		o.LoginConcurrency, o.LoginQueue, o.LoginWait = 1, 2, 200*time.Millisecond
		o.ClientIP = func(r *http.Request) netip.Addr { return netip.MustParseAddr(r.Header.Get("X-Test-Client")) }
	})
	attempt := func(client, password string) *httptest.ResponseRecorder {
		form := url.Values{"user": {dashUser}, "password": {password}}
		r := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("X-Test-Client", client)
		w := httptest.NewRecorder()
		s.admin.ServeHTTP(w, r)
		return w
	}
	// Hold the only slot, as a running bcrypt would.
	release, _ := s.admin.gate.enter(context.Background())
	var wg sync.WaitGroup
	codes := make(chan int, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- attempt(netip.AddrFrom4([4]byte{198, 51, byte(i), 1}).String(), "guess").Code
		}()
	}
	wg.Wait()
	release()
	close(codes)
	for c := range codes {
		if c != http.StatusServiceUnavailable {
			t.Errorf("wrong login while the slot was taken: %d, want 503", c)
		}
	}
	if w := attempt("198.51.100.200", "guess"); w.Code != http.StatusServiceUnavailable && w.Code != http.StatusUnauthorized {
		t.Errorf("wrong login after: %d", w.Code)
	}
	w := attempt("198.51.100.201", dashPassword)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("the operator's login after the flood: %d, want 303", w.Code)
	}
}

// Behind a TLS-terminating proxy in trusted_proxies the session cookie is
// Secure; X-Forwarded-Proto from anyone else is ignored.
func TestSessionCookieSecureBehindTrustedProxy(t *testing.T) {
	s := newDashSetup(t, nil, func(o *AdminOptions) {
		o.TrustedProxy = func(a netip.Addr) bool { return a == netip.MustParseAddr("10.0.0.2") }
	})
	tests := []struct {
		name, peer, proto string
		secure            bool
	}{
		{"trusted proxy, https", "10.0.0.2", "https", true},
		{"trusted proxy, https first of two", "10.0.0.2", "HTTPS, http", true},
		{"trusted proxy, http", "10.0.0.2", "http", false},
		{"untrusted peer claiming https", "10.0.0.3", "https", false},
		{"no header", "10.0.0.2", "", false},
	}
	for _, tt := range tests {
		form := url.Values{"user": {dashUser}, "password": {dashPassword}}
		r := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.RemoteAddr = tt.peer + ":5000"
		if tt.proto != "" {
			r.Header.Set("X-Forwarded-Proto", tt.proto)
		}
		w := httptest.NewRecorder()
		s.admin.ServeHTTP(w, r)
		c := w.Header().Get("Set-Cookie")
		if w.Code != http.StatusSeeOther || strings.Contains(c, "; Secure") != tt.secure {
			t.Errorf("%s: %d cookie %q, want Secure=%v", tt.name, w.Code, c, tt.secure)
		}
	}
}

// A wrong token is told apart from a missing one, and error JSON keeps
// "<token>" readable.
func TestUnauthorizedSaysWhatIsWrong(t *testing.T) {
	s := newDashSetup(t, nil, nil)
	tests := []struct {
		name, header, want string
	}{
		{"no credentials", "", `"authentication required: send Authorization: Bearer <token>, or log in to the dashboard"`},
		{"wrong token", "Authorization: Bearer not-the-token-0123456789", `"the token is not one of admin.tokens: check the value the client sends"`},
		{"other scheme", "Authorization: Basic YWxpY2U6eA==", `"unsupported authorization scheme \"Basic\": send Authorization: Bearer <token>"`},
	}
	for _, tt := range tests {
		res := s.do(t, nil, "GET", "/api/hosts", nil, tt.header)
		if res.StatusCode != 401 || !strings.Contains(res.body, tt.want) {
			t.Errorf("%s: %d %s, want %s", tt.name, res.StatusCode, res.body, tt.want)
		}
	}
	// The scheme is case-insensitive (RFC 9110 11.1): lowercase bearer works.
	if res := s.do(t, nil, "GET", "/api/hosts", nil, "Authorization: bearer "+dashToken); res.StatusCode != 200 {
		t.Errorf("lowercase bearer: %d", res.StatusCode)
	}
}

// An attempt refused because too many passwords are being checked does
// not count against the client's own rate limit: the operator who retried
// through a flood is not locked out by it.
func TestBusyLoginDoesNotUseTheClientsAttempts(t *testing.T) {
	s := newDashSetup(t, nil, func(o *AdminOptions) {
		o.LoginBurst, o.LoginInterval = 2, time.Hour
		o.LoginConcurrency, o.LoginQueue, o.LoginWait = 1, 0, 10*time.Millisecond
	})
	attempt := func(password string) int {
		form := url.Values{"user": {dashUser}, "password": {password}}
		r := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		s.admin.ServeHTTP(w, r)
		return w.Code
	}
	release, _ := s.admin.gate.enter(context.Background())
	for i := range 5 {
		if code := attempt(dashPassword); code != http.StatusServiceUnavailable {
			t.Fatalf("attempt %d while busy: %d, want 503", i+1, code)
		}
	}
	release()
	if code := attempt(dashPassword); code != http.StatusSeeOther {
		t.Fatalf("after the flood: %d, want 303 (the busy refusals must not use the burst of 2)", code)
	}
}
