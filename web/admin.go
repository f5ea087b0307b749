package web

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/redact"
)

// AdminController is what the admin listener needs of the domain.
// *controller.Controller implements it.
type AdminController interface {
	Health(ctx context.Context, timeout time.Duration) controller.Health
	Registry() *controller.Registry
	Status(ctx context.Context, host string) (controller.Host, controller.Record, error)
	Wake(ctx context.Context, host string, c controller.Client) (controller.Record, error)
	Stop(ctx context.Context, host, reason string) (controller.Record, error)
	Subscribe(ctx context.Context, host string) <-chan controller.Event
	Wakes(ctx context.Context, host string, limit int) ([]controller.WakeRecord, error)
	IdleIn(h controller.Host, rec controller.Record) (time.Duration, bool)
	Now() time.Time
}

var _ AdminController = (*controller.Controller)(nil)

// ConfigInfo describes the configuration in use, for the dashboard's
// configuration view.
type ConfigInfo struct {
	Path     string
	LoadedAt time.Time
	// YAML is the configuration with secrets redacted
	// (config.(*Config).RedactedYAML).
	YAML []byte
	// LastError is the error of the latest reload attempt, nil when it
	// succeeded (config.Watcher.Last).
	LastError error
	// RestartNeeded lists the settings a reload accepted that take effect
	// only after a restart ("page", "limits"; config.Watcher.RestartNeeded).
	RestartNeeded []string
}

// Defaults of AdminOptions.
const (
	DefaultSessionTTL    = 12 * time.Hour
	DefaultLoginBurst    = 5
	DefaultLoginInterval = 12 * time.Second
	DefaultEventLogSize  = 300
	DefaultAdminRefresh  = 10 * time.Second
)

// AdminOptions configures the admin listener. Controller is required.
type AdminOptions struct {
	Controller AdminController
	Logger     *slog.Logger // default slog.Default()
	// CheckTimeout bounds each readiness check: the store's Ping and each
	// provider's Check (default 2 s). Checks run concurrently.
	CheckTimeout time.Duration
	// MaxHeaderBytes (default 16 KiB), ReadHeaderTimeout (10 s),
	// ReadTimeout (30 s), WriteTimeout (30 s) and IdleTimeout (120 s) go
	// to the http.Server built by Admin.Server. Event streams extend their
	// own write deadlines, so WriteTimeout does not cut them.
	MaxHeaderBytes    int
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration

	// Sessions records dashboard sessions so that a logout ends them on
	// every replica sharing the store (see sessions.go); nil: sessions
	// live in their signed cookies only and logout ends them in that
	// browser alone.
	Sessions controller.Leases

	// Hosts are the names, besides IP addresses and localhost, that the
	// admin listener answers to (admin.hosts); any other Host or Origin is
	// refused, against DNS rebinding (see adminHosts).
	Hosts []string

	// Users may log in to the dashboard; Tokens authorise API calls
	// (Authorization: Bearer). With neither, every request is allowed:
	// acceptable only on a loopback listener (see CheckAdminExposure).
	// SetCredentials replaces both after a reload.
	Users  []User
	Tokens []Token
	// SessionKey signs session cookies and CSRF tokens (ReadSessionKey);
	// empty: a random key, so sessions end when the process restarts.
	SessionKey []byte
	// SessionTTL is how long a login lasts (default 12 h).
	SessionTTL time.Duration
	// LoginBurst attempts per client address are allowed at once, then
	// one per LoginInterval (defaults 5 and 12 s).
	LoginBurst    int
	LoginInterval time.Duration
	// LoginConcurrency password checks (bcrypt) run at once for the whole
	// listener, LoginQueue more wait at most LoginWait for one; beyond
	// that a login is refused with 503 (see loginGate). Defaults: half the
	// cores (at least 1), 4 per slot, 1 s.
	LoginConcurrency int
	LoginQueue       int
	LoginWait        time.Duration
	// ClientIP finds the client's address for the login rate limit.
	// Default RemoteAddrIP; behind a proxy, a trusted-proxy aware function.
	ClientIP func(*http.Request) netip.Addr
	// TrustedProxy reports whether a peer is a trusted proxy (the
	// trusted_proxies rule, guard.ClientIP.Trusted): its
	// X-Forwarded-Proto: https makes the session cookie Secure. nil: only
	// a TLS connection does.
	TrustedProxy func(netip.Addr) bool

	// Metrics serves /metrics (metrics.Handler); nil: no /metrics.
	// It needs a token (or a dashboard session) unless MetricsPublic.
	Metrics       http.Handler
	MetricsPublic bool
	// Traefik serves GET /api/traefik (the Traefik HTTP provider's
	// endpoint) behind the API's authentication; nil: not served.
	Traefik http.Handler
	// Config describes the configuration in use; nil: the configuration
	// view says it is not available.
	Config func() ConfigInfo
	// Reload re-reads and applies the configuration file, returning its
	// problems when it is invalid (config.Watcher.Reload); nil: no reload.
	Reload func() error
	// WakeBudget reports a host's wakes in the current day window and
	// the daily limit that applies (0: none), for the budget column: the
	// wake guard's counter (guard.Budgets.HostUsage). nil: wakes counted
	// from the wake history per UTC day, against Host.MaxWakesPerDay.
	// Busy, when set, says why a running host is held awake although idle
	// (the activity package's busy checks); the dashboard shows it.
	Busy       func(ctx context.Context, h controller.Host, now time.Time) []string
	WakeBudget func(ctx context.Context, h controller.Host) (today, perDay int, err error)

	// BaseContext ends event streams when done; so does shutting down a
	// server built by Admin.Server. Default context.Background().
	BaseContext context.Context
	// EventLogSize is how many events the dashboard's log keeps (default
	// 300); Refresh is how often event streams re-send host rows whose
	// activity or timers changed without an event (default 10 s);
	// Heartbeat is how often an idle stream carries a comment (15 s).
	EventLogSize int
	Refresh      time.Duration
	Heartbeat    time.Duration
}

// Admin is the admin listener's handler: health, readiness, metrics, the
// operator dashboard and its JSON API. Build it with NewAdmin, run its
// event log with Run, serve it with Admin.Server or any http.Server.
type Admin struct {
	ctl     AdminController
	log     *slog.Logger
	checkTO time.Duration
	opts    AdminOptions
	mux     *http.ServeMux
	handler http.Handler

	creds    atomic.Pointer[credentials]
	sign     signer
	limiter  *loginLimiter
	gate     *loginGate
	clientIP func(*http.Request) netip.Addr
	sessions controller.Leases
	pages    *adminPages
	hosts    adminHosts
	static   http.Handler

	feed       *eventFeed
	feeding    chan struct{} // closed once Run has subscribed to events
	feedOnce   sync.Once
	wakeCache  *wakeCache
	lastReload atomic.Pointer[reloadResult]

	streams    context.Context
	endStreams context.CancelFunc
}

var _ http.Handler = (*Admin)(nil)

// NewAdmin builds the admin listener's handler.
func NewAdmin(o AdminOptions) (*Admin, error) {
	if o.Controller == nil {
		return nil, errors.New("web: AdminOptions.Controller is required")
	}
	setDefault(&o.CheckTimeout, 2*time.Second)
	setDefault(&o.MaxHeaderBytes, DefaultMaxHeaderBytes)
	setDefault(&o.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	setDefault(&o.ReadTimeout, DefaultReadTimeout)
	setDefault(&o.WriteTimeout, 30*time.Second)
	setDefault(&o.IdleTimeout, DefaultIdleTimeout)
	setDefault(&o.SessionTTL, DefaultSessionTTL)
	setDefault(&o.LoginBurst, DefaultLoginBurst)
	setDefault(&o.LoginInterval, DefaultLoginInterval)
	setDefault(&o.LoginConcurrency, defaultLoginSlots())
	setDefault(&o.LoginQueue, loginQueuePerSlot*o.LoginConcurrency)
	setDefault(&o.LoginWait, DefaultLoginWait)
	setDefault(&o.EventLogSize, DefaultEventLogSize)
	setDefault(&o.Refresh, DefaultAdminRefresh)
	setDefault(&o.Heartbeat, DefaultHeartbeat)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ClientIP == nil {
		o.ClientIP = RemoteAddrIP
	}
	key := o.SessionKey
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = crand.Read(key)
	}
	pages, err := loadAdminPages()
	if err != nil {
		return nil, err
	}
	static, err := fs.Sub(adminFS, "static/admin")
	if err != nil {
		return nil, fmt.Errorf("embedded admin static files: %w", err)
	}
	a := &Admin{
		ctl: o.Controller, log: o.Logger, checkTO: o.CheckTimeout, opts: o, mux: http.NewServeMux(),
		sign: signer{key: key}, limiter: newLoginLimiter(o.LoginInterval, o.LoginBurst),
		gate: newLoginGate(o.LoginConcurrency, o.LoginQueue, o.LoginWait), clientIP: o.ClientIP, sessions: o.Sessions,
		pages: pages, hosts: newAdminHosts(o.Hosts), static: http.StripPrefix(adminStaticPrefix, http.FileServerFS(static)),
		feed: newEventFeed(o.EventLogSize), wakeCache: newWakeCache(), feeding: make(chan struct{}),
	}
	a.creds.Store(newCredentials(o.Users, o.Tokens))
	base := o.BaseContext
	if base == nil {
		base = context.Background()
	}
	a.streams, a.endStreams = context.WithCancel(base)
	a.routes()
	// Browsers' cross-origin POSTs are refused before any handler runs
	// (Sec-Fetch-Site / Origin), on top of the CSRF tokens.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.fail(w, r, http.StatusForbidden, "cross-origin request refused")
	}))
	a.handler = cop.Handler(a.mux)
	return a, nil
}

// SetCredentials replaces the users and tokens, after a configuration
// reload. Sessions of users whose password hash changed, or who were
// removed, end with it.
func (a *Admin) SetCredentials(users []User, tokens []Token) {
	a.creds.Store(newCredentials(users, tokens))
}

// ServeHTTP answers every admin request, with the security headers on
// every answer.
func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", adminCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if !a.hosts.check(w, r, a.fail) {
		return
	}
	a.handler.ServeHTTP(w, r)
}

// adminCSP allows the dashboard's own script and style files and nothing
// inline: a name or error text that slipped through escaping still cannot
// run.
const adminCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Server returns an http.Server for addr serving a with its limits.
// Shutting it down ends a's event streams, so Shutdown does not wait for
// them until its deadline.
func (a *Admin) Server(addr string) *http.Server {
	srv := &http.Server{
		Addr:              addr,
		Handler:           a,
		MaxHeaderBytes:    a.opts.MaxHeaderBytes,
		ReadHeaderTimeout: a.opts.ReadHeaderTimeout,
		ReadTimeout:       a.opts.ReadTimeout,
		WriteTimeout:      a.opts.WriteTimeout,
		IdleTimeout:       a.opts.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(a.endStreams)
	return srv
}

// healthz says the process is alive and serving; it checks nothing else,
// so a dependency outage never gets the process restarted.
func (a *Admin) healthz(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// readiness is the /readyz answer. On failure, store and providers say
// what is wrong, in the dependency's own words.
type readiness struct {
	Ready     bool              `json:"ready"`
	Store     string            `json:"store,omitempty"`
	Providers map[string]string `json:"providers,omitempty"`
}

// readyz answers 200 when the store answers its Ping and every provider
// that can check its engine (controller.Checker) passes; otherwise 503
// with what failed.
func (a *Admin) readyz(w http.ResponseWriter, r *http.Request) {
	res := a.check(r.Context())
	status := http.StatusOK
	if !res.Ready {
		status = http.StatusServiceUnavailable
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, r, status, res)
}

func (a *Admin) check(ctx context.Context) readiness {
	h := a.ctl.Health(ctx, a.checkTO)
	if !h.Ready {
		a.log.Debug("not ready", "store", h.Store, "providers", h.Providers)
	}
	// Provider errors may quote URLs with credentials: one redaction rule.
	for name, msg := range h.Providers {
		h.Providers[name] = redact.Text(msg)
	}
	return readiness{Ready: h.Ready, Store: redact.Text(h.Store), Providers: h.Providers}
}
