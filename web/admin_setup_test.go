package web

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/redact"
	"github.com/waitingroom/waitingroom/store/memory"
)

// dashProvider is a backend per host: it starts at once, or stays
// starting while held, or fails with the host's configured error.
type dashProvider struct {
	mu     sync.Mutex
	states map[string]controller.State
	fail   map[string]error
	hold   map[string]bool
	delay  map[string]time.Duration // how long a start takes
	starts map[string]int
}

var _ controller.Provider = (*dashProvider)(nil)

func newDashProvider() *dashProvider {
	return &dashProvider{states: map[string]controller.State{}, fail: map[string]error{}, hold: map[string]bool{},
		delay: map[string]time.Duration{}, starts: map[string]int{}}
}

func (p *dashProvider) Start(ctx context.Context, t controller.Target) error {
	p.mu.Lock()
	delay := p.delay[t.Host]
	p.mu.Unlock()
	if delay > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.starts[t.Host]++
	if err := p.fail[t.Host]; err != nil {
		return err
	}
	if p.hold[t.Host] {
		p.states[t.Host] = controller.StateStarting
		return nil
	}
	p.states[t.Host] = controller.StateRunning
	return nil
}

func (p *dashProvider) Stop(_ context.Context, t controller.Target) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.states[t.Host] = controller.StateStopped
	return nil
}

func (p *dashProvider) Status(_ context.Context, t controller.Target) (controller.Status, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.states[t.Host]
	if st == "" {
		st = controller.StateStopped
	}
	return controller.Status{State: st}, nil
}

func (p *dashProvider) startCount(host string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts[host]
}

// Test credentials.
const (
	dashUser     = "alice"
	dashPassword = "correct horse battery staple"
	dashToken    = "0123456789abcdef0123456789abcdef"
)

// dashSetup is the admin listener over the real controller on the memory
// store, with hosts behind a dashProvider, a user and a token.
type dashSetup struct {
	ctl   *controller.Controller
	store *memory.Store
	prov  *dashProvider
	admin *Admin
	srv   *httptest.Server
	// reloadErr is what the Reload option returns.
	reloadMu  sync.Mutex
	reloadErr error
	reloads   int
}

type dashHost struct {
	name         string
	provider     string
	fields       map[string]string
	commands     map[string][]string
	budget       int
	startTimeout time.Duration // default 10 s
}

// dashBackend stands for a provider kind's target in the dashboard's
// tests: fields as key=value, then the start command with its secrets
// hidden, as docker, gce and exec describe theirs.
type dashBackend struct {
	fields   map[string]string
	commands map[string][]string
}

func (b dashBackend) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(b.fields)) {
		parts = append(parts, k+"="+b.fields[k])
	}
	if start := b.commands["start"]; len(start) > 0 {
		parts = append(parts, "start: "+strings.Join(redact.Args(start), " "))
	}
	return strings.Join(parts, " ")
}

var defaultDashHosts = []dashHost{
	{name: "app.example.com", provider: "docker", fields: map[string]string{"container": "app"}, budget: 20},
	{name: "vm.example.com", provider: "gce", fields: map[string]string{"instance": "web-1", "zone": "europe-west1-b"}},
}

var bcryptOnce = sync.OnceValue(func() string {
	h, err := bcrypt.GenerateFromPassword([]byte(dashPassword), bcrypt.MinCost)
	if err != nil {
		panic(err) // test setup only
	}
	return string(h)
})

func newDashSetup(t testing.TB, hosts []dashHost, edit func(*AdminOptions)) *dashSetup {
	t.Helper()
	if hosts == nil {
		hosts = defaultDashHosts
	}
	s := &dashSetup{store: memory.New(nil), prov: newDashProvider()}
	var hs []controller.Host
	providers := map[string]controller.Provider{}
	for _, h := range hosts {
		if h.startTimeout == 0 {
			h.startTimeout = 10 * time.Second
		}
		hs = append(hs, controller.Host{
			Name: h.name, Provider: h.provider,
			Target:      controller.Target{Host: h.name, Provider: h.provider, Backend: dashBackend{h.fields, h.commands}},
			IdleTimeout: 30 * time.Minute, StartTimeout: h.startTimeout, MaxWakesPerDay: h.budget, Origin: "file",
		})
		providers[h.provider] = s.prov
	}
	s.ctl = controller.New(controller.Options{
		Store: s.store, Registry: controller.NewRegistry(hs, providers), Logger: discardLogger(),
		RetryBase: time.Hour, RetryMax: time.Hour,
	})
	opts := AdminOptions{
		Controller: s.ctl, Logger: discardLogger(),
		Hosts:  []string{"example.com", "admin.example"}, // httptest.NewRequest's Host, and a proxy's name
		Users:  []User{{Name: dashUser, PasswordHash: bcryptOnce()}},
		Tokens: []Token{{Name: "ci", Value: dashToken}},
		Config: func() ConfigInfo {
			return ConfigInfo{Path: "/etc/waitingroom/waitingroom.yaml", LoadedAt: time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC),
				YAML: []byte("admin:\n  users:\n    - name: alice\n      password_hash: REDACTED\nhosts: []\n")}
		},
		Reload: func() error {
			s.reloadMu.Lock()
			defer s.reloadMu.Unlock()
			s.reloads++
			return s.reloadErr
		},
		Refresh: 200 * time.Millisecond, Heartbeat: time.Second,
	}
	if edit != nil {
		edit(&opts)
	}
	a, err := NewAdmin(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.admin = a
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = s.ctl.Run(ctx) }()
	go func() { defer wg.Done(); _ = a.Run(ctx) }()
	for _, ready := range []<-chan struct{}{s.ctl.Relaying(), a.Feeding()} {
		select {
		case <-ready:
		case <-time.After(5 * time.Second):
			t.Fatal("events are not relayed to the event log")
		}
	}
	s.srv = httptest.NewServer(a)
	t.Cleanup(func() {
		s.srv.CloseClientConnections()
		a.endStreams()
		s.srv.Close()
		cancel()
		wg.Wait()
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer scancel()
		s.ctl.Shutdown(sctx)
	})
	return s
}

// waitState polls until host is in want, failing after 10 s.
func (s *dashSetup) waitState(t testing.TB, host string, want controller.State) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var rec controller.Record
	for time.Now().Before(deadline) {
		_, rec, _ = s.ctl.Status(context.Background(), host)
		if rec.State == want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s is %s after 10 s, want %s", host, rec.State, want)
}

// setStopped records a host as found stopped (not unknown).
func (s *dashSetup) setStopped(t testing.TB, host string) {
	t.Helper()
	s.ctl.Observe(context.Background(), host, controller.Status{State: controller.StateStopped})
	s.waitState(t, host, controller.StateStopped)
}

// setRunning wakes a host and waits until it runs and its wake is in the
// history (recorded just after the state changes).
func (s *dashSetup) setRunning(t testing.TB, host string) {
	t.Helper()
	before, _ := s.ctl.Wakes(context.Background(), host, 0)
	if _, err := s.ctl.Wake(context.Background(), host, controller.Client{Source: "page", Display: "203.0.113.x", Class: "browser"}); err != nil {
		t.Fatal(err)
	}
	s.waitState(t, host, controller.StateRunning)
	deadline := time.Now().Add(10 * time.Second)
	for {
		after, _ := s.ctl.Wakes(context.Background(), host, 0)
		if len(after) > len(before) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the wake was not recorded in the history within 10 s", host)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// client is an HTTP client that keeps cookies and does not follow
// redirects (tests look at them).
func (s *dashSetup) client(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type dashResponse struct {
	*http.Response
	body string
}

// do sends a request; headers are "Name: value" strings.
func (s *dashSetup) do(t testing.TB, c *http.Client, method, path string, body io.Reader, headers ...string) dashResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, s.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		if h == "" {
			continue
		}
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	if c == nil {
		c = s.client(t)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	return dashResponse{Response: res, body: string(b)}
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// login logs a client in and returns the CSRF token of its session.
func (s *dashSetup) login(t testing.TB, c *http.Client) string {
	t.Helper()
	form := url.Values{"user": {dashUser}, "password": {dashPassword}, "next": {"/"}}
	res := s.do(t, c, http.MethodPost, "/login", strings.NewReader(form.Encode()),
		"Content-Type: application/x-www-form-urlencoded")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("login: %d %s\n%s", res.StatusCode, res.Header.Get("Location"), res.body)
	}
	page := s.do(t, c, http.MethodGet, "/", nil)
	m := csrfMeta.FindStringSubmatch(page.body)
	if page.StatusCode != 200 || m == nil {
		t.Fatalf("dashboard after login: %d, CSRF token found: %v\n%s", page.StatusCode, m != nil, page.body)
	}
	return m[1]
}

// lastWake waits until host's history has at least n wakes and returns
// the newest.
func (s *dashSetup) lastWake(t testing.TB, host string, n int) controller.WakeRecord {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ws, _ := s.ctl.Wakes(context.Background(), host, 0)
		if len(ws) >= n {
			return ws[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d wakes in its history after 10 s, want %d", host, len(ws), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// reloadCount is how many times the Reload option ran.
func (s *dashSetup) reloadCount() int {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	return s.reloads
}

// setReloadErr decides what the next reloads return.
func (s *dashSetup) setReloadErr(err error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	s.reloadErr = err
}
