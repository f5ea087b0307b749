package web

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

// PublicController is what the public listener needs of the domain.
// *controller.Controller implements it; tests fake it.
type PublicController interface {
	Registry() *controller.Registry
	Wake(ctx context.Context, host string, c controller.Client) (controller.Record, error)
	Status(ctx context.Context, host string) (controller.Host, controller.Record, error)
	Subscribe(ctx context.Context, host string) <-chan controller.Event
	Estimate(ctx context.Context, host string) (time.Duration, bool)
	Now() time.Time
}

var _ PublicController = (*controller.Controller)(nil)

// Defaults of PublicOptions.
const (
	DefaultMaxHeaderBytes    = 16 << 10
	DefaultMaxURLLength      = 8 << 10
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultHeartbeat         = 15 * time.Second
	DefaultMinRetryAfter     = 2 * time.Second
	DefaultMaxRetryAfter     = 30 * time.Second
)

// internalPrefix is the path space the public listener keeps for itself
// on every host; everything else is the waiting page.
const internalPrefix = "/.waitingroom/"

// PublicOptions configures the public listener. Controller is required; a
// zero value anywhere else means the documented default.
type PublicOptions struct {
	Controller PublicController
	Logger     *slog.Logger // default slog.Default()
	// Template replaces the built-in waiting page (see LoadTemplate and
	// TEMPLATE.md). nil: the built-in page.
	Template *template.Template
	// ClientIP finds the client's address, which is only ever shown
	// truncated. Default RemoteAddrIP. A trusted-proxy aware function
	// (X-Forwarded-For honoured from trusted_proxies only) plugs in here.
	ClientIP func(*http.Request) netip.Addr
	// Policy identifies clients and decides what they may do; nil: the
	// TCP peer (or ClientIP) and only HEAD/OPTIONS don't wake.
	Policy Policy
	// Monitor is the answer uptime monitors get (see Policy.Monitor).
	Monitor MonitorAnswer
	// Holder, when set, holds API clients of `wait: hold|auto` hosts
	// while the backend wakes, then forwards them.
	Holder Holder
	// OnResponse, when set, is called with the status of every waiting
	// page, JSON state and monitor answer (metrics).
	OnResponse func(code int)
	// BaseContext ends every event stream when it is done: cmd cancels it
	// when shutting down, because http.Server.Shutdown waits for streams
	// rather than ending them. Servers built by Public.Server also end
	// the streams when they shut down. Default context.Background().
	BaseContext context.Context
	// WakeOnHead makes HEAD (and OPTIONS) requests wake the backend like
	// GET does. Default false: link checkers, crawlers and uptime probes
	// send HEAD, and every wake costs money. They still get the answer a
	// GET would, without a body.
	WakeOnHead bool
	// MaxStreamsPerClient caps the open event streams of one client (an
	// address, or an IPv6 /64): 429 past it (default
	// DefaultMaxStreamsPerClient). MaxStreams caps them in total: 503 past
	// it (default DefaultMaxStreams, from the open-file limit). Refused
	// pages poll instead.
	MaxStreamsPerClient int
	MaxStreams          int
	// ShowFailureReason shows anonymous visitors why a wake failed (the
	// provider's words, secrets hidden) on the page, in its JSON and
	// events. Default false: those words name internal addresses, URLs
	// and the tail of a command's stderr, which operators read on the
	// dashboard and in the logs (page.show_failure_reason).
	ShowFailureReason bool
	// PageStatus is the status of the waiting page, its JSON and HEAD
	// answers while a host sleeps, wakes or fails (page.status): 503
	// (default), 200 or 202. Over a budget stays 429 and waitingroom's
	// own problems stay 503: those are not "the site is waking".
	PageStatus int

	// MaxHeaderBytes caps the request line and headers (default 16 KiB,
	// to which net/http adds 4 KiB of slack); net/http answers a larger
	// request with 431 before any handler runs.
	MaxHeaderBytes int
	// MaxURLLength caps the request target (default 8 KiB): 414.
	MaxURLLength int
	// MaxHostLength caps the normalised host name (default and upper
	// bound MaxHostLength): 400.
	MaxHostLength int
	// ReadHeaderTimeout (default 10 s), ReadTimeout (default 30 s, for
	// reading a request; it does not cut event streams) and IdleTimeout
	// (default 120 s) go to the http.Server. There is no WriteTimeout, which would cut event
	// streams: each stream write has its own deadline instead.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	IdleTimeout       time.Duration
	// Heartbeat is how often an idle event stream carries a comment line,
	// so proxies keep it open and a vanished client is noticed. Default
	// 15 s.
	Heartbeat time.Duration
	// MinRetryAfter and MaxRetryAfter clamp the Retry-After derived from
	// the wake estimate (defaults 2 s and 30 s). The retry time of a
	// failed wake and of an exceeded budget is used as it is, at least
	// MinRetryAfter.
	MinRetryAfter time.Duration
	MaxRetryAfter time.Duration
}

// Public is the public listener's handler: what Traefik's fallback
// reaches. Build it with NewPublic; serve it with Public.Server or any
// http.Server.
type Public struct {
	ctl      PublicController
	log      *slog.Logger
	tmpl     *template.Template
	builtin  *template.Template
	clientIP func(*http.Request) netip.Addr
	wakeHead bool
	policy   Policy
	monitor  MonitorAnswer
	holder   Holder
	onResp   func(int)
	// pageStatus is PublicOptions.PageStatus, 503 by default.
	pageStatus int

	maxHeader  int
	maxURL     int
	maxHost    int
	readHeader time.Duration
	read       time.Duration
	idle       time.Duration
	heartbeat  time.Duration
	minRetry   time.Duration
	maxRetry   time.Duration

	static http.Handler
	pages  *pageCache
	cat    *catalog // the page's words in each language

	// streams ends event streams: the base context, or a server shutdown.
	streams    context.Context
	endStreams context.CancelFunc
	streamSet  *streamSet
	streamCaps *streamCaps

	lastProblemLog atomic.Int64 // unix nanoseconds; rate-limits problem logs

	// brands are the hosts' looks (SetBrands); nil or absent: built-in.
	brands atomic.Pointer[map[string]*Brand]
}

var _ http.Handler = (*Public)(nil)

// NewPublic builds the public listener's handler.
func NewPublic(o PublicOptions) (*Public, error) {
	if o.Controller == nil {
		return nil, errors.New("web: PublicOptions.Controller is required")
	}
	builtin, err := defaultTemplate()
	if err != nil {
		return nil, err
	}
	cat, err := loadCatalog()
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("embedded static files: %w", err)
	}
	p := &Public{
		ctl: o.Controller, log: o.Logger, tmpl: o.Template, builtin: builtin,
		clientIP: o.ClientIP, wakeHead: o.WakeOnHead,
		policy: o.Policy, monitor: o.Monitor, holder: o.Holder, onResp: o.OnResponse,
		maxHeader: o.MaxHeaderBytes, maxURL: o.MaxURLLength, maxHost: o.MaxHostLength,
		readHeader: o.ReadHeaderTimeout, read: o.ReadTimeout, idle: o.IdleTimeout,
		heartbeat: o.Heartbeat, minRetry: o.MinRetryAfter, maxRetry: o.MaxRetryAfter,
		static:     http.StripPrefix(StaticPrefix, http.FileServerFS(sub)),
		pageStatus: o.PageStatus,
		cat:        cat,
	}
	if err := CheckPageStatus(o.PageStatus); err != nil {
		return nil, fmt.Errorf("web: PublicOptions.PageStatus: %w", err)
	}
	if p.pageStatus == 0 {
		p.pageStatus = http.StatusServiceUnavailable
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.tmpl == nil {
		p.tmpl = builtin
	}
	p.pages = newPageCache(p.tmpl)
	if p.clientIP == nil {
		p.clientIP = RemoteAddrIP
	}
	if p.monitor.Status == 0 {
		p.monitor.Status = http.StatusOK
	}
	if p.monitor.Body == "" {
		p.monitor.Body = "sleeping"
	}
	if p.onResp == nil {
		p.onResp = func(int) {}
	}
	setDefault(&p.maxHeader, DefaultMaxHeaderBytes)
	setDefault(&p.maxURL, DefaultMaxURLLength)
	if p.maxHost <= 0 || p.maxHost > MaxHostLength {
		p.maxHost = MaxHostLength
	}
	setDefault(&p.readHeader, DefaultReadHeaderTimeout)
	setDefault(&p.read, DefaultReadTimeout)
	setDefault(&p.idle, DefaultIdleTimeout)
	setDefault(&p.heartbeat, DefaultHeartbeat)
	setDefault(&p.minRetry, DefaultMinRetryAfter)
	setDefault(&p.maxRetry, DefaultMaxRetryAfter)
	p.maxRetry = max(p.maxRetry, p.minRetry)
	base := o.BaseContext
	if base == nil {
		base = context.Background()
	}
	p.streams, p.endStreams = context.WithCancel(base)
	p.streamSet = newStreamSet(p.streams, p.ctl, p.log, p.heartbeat)
	p.streamSet.showReason = o.ShowFailureReason
	setDefault(&o.MaxStreamsPerClient, DefaultMaxStreamsPerClient)
	if o.MaxStreams <= 0 {
		o.MaxStreams = DefaultMaxStreams()
	}
	p.streamCaps = newStreamCaps(o.MaxStreamsPerClient, o.MaxStreams)
	return p, nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Server returns an http.Server for addr serving p with p's limits:
// MaxHeaderBytes, ReadHeaderTimeout, ReadTimeout, IdleTimeout, and no
// WriteTimeout (event streams are long; their writes carry deadlines).
// Shutting the server down ends p's event streams, so Shutdown does not
// wait for them until its deadline. Close does not: event streams run on
// hijacked connections, which http.Server no longer tracks, so end them
// by cancelling PublicOptions.BaseContext (or call Shutdown).
func (p *Public) Server(addr string) *http.Server {
	srv := &http.Server{
		Addr:              addr,
		Handler:           p,
		MaxHeaderBytes:    p.maxHeader,
		ReadHeaderTimeout: p.readHeader,
		ReadTimeout:       p.read,
		IdleTimeout:       p.idle,
		ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(p.endStreams)
	return srv
}

// ServeHTTP answers every request of the public listener.
func (p *Public) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if len(r.RequestURI) > p.maxURL || len(r.URL.Path) > p.maxURL {
		p.refuse(w, r, http.StatusRequestURITooLong, "request URI too long")
		return
	}
	host, ok := requestHost(r.Host, p.ctl.Registry())
	if !ok || len(host) > p.maxHost {
		p.refuse(w, r, http.StatusBadRequest, "malformed Host header")
		return
	}
	if p.holder != nil {
		// A request the proxy in front never sent to the backend (see
		// hold.UntriedPrefix): served as the request it carries.
		r, _ = p.holder.Untried(r)
	}
	if rest, ok := strings.CutPrefix(r.URL.Path, internalPrefix); ok {
		switch {
		case rest == "status":
			p.serveStatus(w, r, host)
		case rest == "events":
			p.serveEvents(w, r, host)
		case internalPrefix+rest == WakePath:
			p.serveClickWake(w, r, host)
		case internalPrefix+rest == HoneypotPath:
			p.serveHoneypot(w, r, host)
		case internalPrefix+rest == LogoPath:
			p.serveLogo(w, r, host)
		case strings.HasPrefix(rest, "static/") && !strings.HasSuffix(rest, "/"):
			w.Header().Set("Cache-Control", "public, max-age=300")
			p.static.ServeHTTP(w, r)
		default:
			p.refuse(w, r, http.StatusNotFound, "not found")
		}
		return
	}
	p.servePage(w, r, host)
}

// wakes reports whether the request may wake the backend.
func (p *Public) wakes(r *http.Request, c controller.Client) bool {
	if p.policy != nil {
		ok, why := p.policy.MayWake(r, c)
		if !ok {
			p.log.Debug("request does not wake", "host", r.Host, "client", c.String(), "why", why)
		}
		return ok
	}
	if r.Method == http.MethodHead || r.Method == http.MethodOptions {
		return p.wakeHead
	}
	return true
}

// known checks the registry and answers unknown hosts itself: 404, or 400
// for an IP literal (nobody reaches a registered site by a stray address).
// No wake, no store access.
func (p *Public) known(w http.ResponseWriter, r *http.Request, host string) bool {
	if _, ok := p.ctl.Registry().Lookup(host); ok {
		return true
	}
	if isIPHost(host) {
		p.refuse(w, r, http.StatusBadRequest, "malformed Host header: an address, not a registered name")
		return false
	}
	p.refuse(w, r, http.StatusNotFound, "no site is registered for this host name")
	return false
}

func (p *Public) servePage(w http.ResponseWriter, r *http.Request, host string) {
	if !p.known(w, r, host) {
		return
	}
	h, _ := p.ctl.Registry().Lookup(host)
	client := p.clientOf(r)
	if p.policy != nil && p.policy.Monitor(r, client) {
		// Uptime monitors: no wake, no activity, a fixed answer, so a
		// sleeping app is neither woken nor reported down.
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(p.monitor.Status)
		p.onResp(p.monitor.Status)
		if r.Method != http.MethodHead {
			_, _ = io.WriteString(w, p.monitor.Body)
		}
		return
	}
	// What a page's own sub-requests ask for (its favicon, images,
	// scripts) neither wakes a backend nor waits for one.
	asset := subresource(r)
	wakes := !asset && p.wakes(r, client) && h.WakeMode != "click"
	if wakes && p.holder != nil && p.holder.ShouldHold(r, h) {
		// A running host's request is handed off, its body streamed: the
		// Holder buffers the bodies of the requests it holds.
		if _, rec, err := p.ctl.Status(r.Context(), host); err == nil && rec.State == controller.StateRunning && p.holder.Resendable(r) {
			if p.holder.Handoff(w, r, h) == nil || r.Context().Err() != nil {
				return
			}
		}
		p.holder.Serve(w, r, h, client)
		return
	}
	lookup := func() (controller.Record, error) {
		if wakes {
			return p.ctl.Wake(r.Context(), host, client)
		}
		_, rec, err := p.ctl.Status(r.Context(), host)
		return rec, err
	}
	rec, err := lookup()
	if r.Context().Err() != nil {
		return // the client left: nobody to answer, nothing to log
	}
	var handoff string // why a running host's request was not handed off
	if err == nil && rec.State == controller.StateRunning && p.holder != nil {
		// The handoff: the backend runs, so this request belongs there.
		if handoff = p.handoff(w, r, h); handoff == "" {
			return
		}
		if r.Context().Err() != nil {
			return
		}
		rec, err = lookup() // the host was re-read: answer with what it is now
		if r.Context().Err() != nil {
			return
		}
	}
	if errors.Is(err, controller.ErrUnknownHost) {
		// Removed from the registry by a reload since the lookup.
		p.refuse(w, r, http.StatusNotFound, "no site is registered for this host name")
		return
	}
	d := p.pageData(r.Context(), host, p.cat.pick(r), rec, err)
	switch {
	case handoff == handoffNotResent:
		d.Message = p.cat.text(d.Lang, "msg.not_resent", "host", d.Name, "method", r.Method)
	case handoff != "" && d.State == controller.StateRunning && d.Problem == "":
		d.Message = p.cat.text(d.Lang, "msg.no_answer", "host", d.Name)
	}
	if asset {
		p.onResp(d.Status)
		p.writeAsset(w, r, &d)
		return
	}
	if p.waitsForClick(h, rec) {
		d.WakeToken = p.policy.WakeToken(host)
		d.WakeAction = WakePath
		d.Message = p.cat.text(d.Lang, "msg.click_to_wake", "host", d.Name)
	}
	if p.policy != nil {
		d.Honeypot = HoneypotPath
	}
	p.onResp(d.Status)
	if wantsJSON(r) {
		p.writeState(w, r, &d)
		return
	}
	p.writePage(w, r, &d)
}

// Why a running host's request was not handed off to its backend.
const (
	handoffNotResent = "not resent" // an unsafe method: the backend may have seen it
	handoffFailed    = "no answer"  // the backend did not answer (or has no address)
)

// handoff forwards r to h's running backend. It returns "" when the
// backend answered (the answer is written), or why not, having written
// nothing and had the host re-read.
func (p *Public) handoff(w http.ResponseWriter, r *http.Request, h controller.Host) string {
	if !p.holder.Resendable(r) {
		// A proxy sends a running host's request here after the backend
		// failed it — or answered it with a 502/504 of its own, which
		// failover.errors replays. Sending it again could repeat an order.
		p.holder.Recheck(r.Context(), h.Name)
		return handoffNotResent
	}
	if err := p.holder.Handoff(w, r, h); err != nil {
		p.log.Debug("handoff to a running backend failed", "host", h.Name, "err", err)
		return handoffFailed
	}
	return ""
}

// subresource reports whether r is a page's sub-request rather than a
// navigation or an API call: a favicon, image, script, style or font
// (Fetch Metadata's Sec-Fetch-Dest, or the path browsers ask for icons by
// themselves). While a host sleeps these come from the waiting page (or a
// cached copy of the app): they must not wake the backend, be held, or
// count as activity.
func subresource(r *http.Request) bool {
	if r.URL.Path == "/favicon.ico" {
		return true
	}
	switch r.Header.Get("Sec-Fetch-Dest") {
	case "", "document", "iframe", "frame", "empty", "embed", "object":
		return false
	}
	return true
}

// writeAsset answers a sub-request for a host that is not running: the
// state in headers and a line of text, no page.
func (p *Public) writeAsset(w http.ResponseWriter, r *http.Request, d *PageData) {
	h := w.Header()
	setStateHeaders(h, d)
	body := d.Message + "\n"
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(d.Status)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, body)
	}
}

// serveClickWake is the button of a `wake: click` host: a POST carrying a
// token the page signed, which crawlers following links never send.
func (p *Public) serveClickWake(w http.ResponseWriter, r *http.Request, host string) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		p.refuse(w, r, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if !p.known(w, r, host) {
		return
	}
	if p.policy == nil {
		p.refuse(w, r, http.StatusNotFound, "not found")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := p.policy.VerifyWakeToken(host, r.PostFormValue("token")); err != nil {
		p.refuse(w, r, http.StatusForbidden, err.Error())
		return
	}
	client := p.clientOf(r)
	if _, err := p.ctl.Wake(r.Context(), host, client); err != nil && !errors.Is(err, controller.ErrBudgetExceeded) {
		p.log.Warn("click wake failed", "host", host, "err", err)
	}
	// Back to the page, which shows the wake (or why it was refused).
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// serveHoneypot answers the invisible link of the waiting page. Nobody
// reading the page follows it; a client that does cannot wake anything
// for a while.
func (p *Public) serveHoneypot(w http.ResponseWriter, r *http.Request, host string) {
	if _, known := p.ctl.Registry().Lookup(host); p.policy != nil && known {
		c := p.clientOf(r)
		switch marked, err := p.policy.Honeypot(r.Context(), r, host); {
		case err != nil:
			p.log.Warn("honeypot mark failed", "host", host, "err", err)
		case marked:
			p.log.Info("honeypot link followed by a visitor's own navigation; it may not wake this host for a while",
				"host", host, "client", c.String(), "client_key", c.Key)
		default:
			p.log.Debug("honeypot link requested, but not by a navigation on this site; nobody marked", "host", host,
				"sec_fetch_site", r.Header.Get("Sec-Fetch-Site"), "sec_fetch_dest", r.Header.Get("Sec-Fetch-Dest"))
		}
	}
	p.refuse(w, r, http.StatusNotFound, "not found")
}

// serveStatus answers /.waitingroom/status: the host's state as JSON.
// It never wakes anything and is not activity.
func (p *Public) serveStatus(w http.ResponseWriter, r *http.Request, host string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		p.refuse(w, r, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if !p.known(w, r, host) {
		return
	}
	h, rec, err := p.ctl.Status(r.Context(), host)
	if errors.Is(err, controller.ErrUnknownHost) {
		p.refuse(w, r, http.StatusNotFound, "no site is registered for this host name")
		return
	}
	d := p.pageData(r.Context(), host, p.cat.pick(r), rec, err)
	if err == nil && p.waitsForClick(h, rec) {
		// wait.js shows this message in the page's status line: it
		// says what the page does, which is waiting for its button.
		d.Message = p.cat.text(d.Lang, "msg.click_to_wake", "host", d.Name)
	}
	d.Status = http.StatusOK
	if d.Problem != "" {
		d.Status = http.StatusServiceUnavailable
	}
	p.writeState(w, r, &d)
}

// waitsForClick reports whether h's page waits for its wake button: a
// click-to-wake host that sleeps, or whose failed wake may be retried.
func (p *Public) waitsForClick(h controller.Host, rec controller.Record) bool {
	return h.WakeMode == "click" && p.policy != nil && (rec.State == controller.StateStopped ||
		rec.State == controller.StateUnknown || (rec.State == controller.StateFailed && !p.ctl.Now().Before(rec.RetryAt)))
}

// budgetName is the budget that refused a wake ("" when err does not say).
// Out of line, so that pageData's frame holds no BudgetError pointer that
// escapes: the page's path does not allocate for it.
func budgetName(err error) string {
	var be *controller.BudgetError
	if errors.As(err, &be) {
		return be.Budget
	}
	return ""
}

// pageData turns a record (and the error Wake or Status returned with it)
// into what the page, the JSON answer and the status endpoint show.
// lang is the visitor's language (catalog.pick).
func (p *Public) pageData(ctx context.Context, host, lang string, rec controller.Record, err error) PageData {
	now := p.ctl.Now()
	d := PageData{
		Host: host, Name: host, Lang: lang, State: rec.State, Static: StaticPrefix, Now: now.UTC(),
		Status: p.pageStatus,
	}
	p.brandOf(host).apply(&d)
	if !d.State.Valid() {
		d.State = controller.StateUnknown
	}
	status, budget := controller.HTTPStatus(err)
	switch {
	case status == http.StatusOK:
	case status == http.StatusForbidden:
		// A refused wake (a bot, a prefetch) still gets the honest state;
		// a blocked client is told why.
		d.Blocked = errors.Is(err, controller.ErrClientBlocked)
	case status == http.StatusTooManyRequests:
		d.OverBudget, d.Status = true, status
		d.Budget = budgetName(err)
	default:
		// waitingroom's own problem: 503, whatever the page status.
		d.Status = http.StatusServiceUnavailable
		d.Problem = p.cat.text(lang, "problem.other")
		if errors.Is(err, controller.ErrStoreUnavailable) {
			d.Problem = p.cat.text(lang, "problem.store")
		}
		p.logProblem(host, err)
	}
	d.StateWords = p.cat.text(lang, "state."+string(d.State))

	switch d.State {
	case controller.StateStarting:
		if !rec.Changed.IsZero() && now.After(rec.Changed) {
			d.Elapsed = now.Sub(rec.Changed)
		}
		d.ElapsedText = p.cat.elapsed(lang, d.Elapsed)
		if est, ok := p.ctl.Estimate(ctx, host); ok {
			d.Estimate, d.HasEstimate = est, true
			d.Remaining = est - d.Elapsed
			d.RemainingText = p.cat.about(lang, d.Remaining)
		}
	case controller.StateFailed:
		// Only a failure's reason is shown: other states' reasons name
		// the client who woke the host.
		d.Failed, d.Reason = true, publicReason(p.streamSet.showReason, rec.Reason)
		if !rec.RetryAt.IsZero() {
			d.RetryAt = rec.RetryAt.UTC()
			d.RetryAtText = d.RetryAt.Format("15:04:05 ") + p.cat.text(lang, "time.utc")
		}
	}

	var retry time.Duration
	switch {
	case d.OverBudget:
		retry = max(budget, time.Second)
	case d.Problem != "":
		retry = p.clampRetry(5 * time.Second)
	case d.Failed && d.RetryAt.After(now):
		retry = max(d.RetryAt.Sub(now), p.minRetry)
	case d.State == controller.StateStarting && d.HasEstimate:
		retry = p.clampRetry(d.Remaining)
	case d.State == controller.StateRunning, d.Failed:
		retry = p.minRetry
	default:
		retry = p.clampRetry(5 * time.Second)
	}
	d.RetryAfter = ceilSeconds(retry)
	d.Message = p.message(&d, rec, now)
	return d
}

func (p *Public) clampRetry(d time.Duration) time.Duration {
	return min(max(d, p.minRetry), p.maxRetry)
}

// message is the one sentence the page leads with, in d.Lang.
func (p *Public) message(d *PageData, rec controller.Record, now time.Time) string {
	t := func(key string, args ...string) string {
		return p.cat.text(d.Lang, key, append([]string{"host", d.Name}, args...)...)
	}
	switch {
	case d.Problem != "":
		return t("msg.problem", "problem", d.Problem)
	case d.Blocked:
		return t("msg.blocked", "state", d.StateWords)
	case d.OverBudget:
		return t("msg.over_budget", "budget", d.Budget, "wait", p.cat.elapsed(d.Lang, time.Duration(d.RetryAfter)*time.Second))
	}
	switch d.State {
	case controller.StateStarting:
		return t("msg.starting")
	case controller.StateRunning:
		return t("msg.running")
	case controller.StateStopping:
		if rec.WakePending {
			return t("msg.stopping_then_wake")
		}
		return t("msg.stopping")
	case controller.StateStopped:
		return t("msg.stopped")
	case controller.StateFailed:
		// The reason stays apart (Reason, "reason"): it can be long.
		if d.RetryAt.After(now) {
			return t("msg.failed_retry_at", "at", d.RetryAtText, "wait", p.cat.elapsed(d.Lang, d.RetryAt.Sub(now)))
		}
		return t("msg.failed_retry_now")
	default:
		return t("msg.checking")
	}
}

// logProblem logs a failure to reach the state at most once per five
// seconds: when the store is down every request would say the same.
func (p *Public) logProblem(host string, err error) {
	now := time.Now().UnixNano()
	last := p.lastProblemLog.Load()
	if now-last < int64(5*time.Second) || !p.lastProblemLog.CompareAndSwap(last, now) {
		return
	}
	p.log.Warn("waiting page shows a temporary problem", "host", host, "err", err)
}

// setStateHeaders sets what every answer about a registered host carries.
func setStateHeaders(h http.Header, d *PageData) {
	h.Set("Cache-Control", "no-store")
	h.Set("Retry-After", strconv.Itoa(d.RetryAfter))
	// Lets wait.js tell waitingroom's answers from the backend's.
	h.Set("X-Waitingroom-State", string(d.State))
	h.Set("Vary", "Accept, Accept-Language")
}

// contentSecurityPolicy allows the page's own static files and inline
// code carrying the per-answer nonce, nothing else.
func contentSecurityPolicy(nonce string) string {
	return "default-src 'none'; script-src 'self' 'nonce-" + nonce + "'; style-src 'self' 'nonce-" + nonce +
		"'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}

func (p *Public) writePage(w http.ResponseWriter, r *http.Request, d *PageData) {
	body, err := p.renderPage(d, crand.Text())
	if err != nil {
		p.log.Error("rendering the waiting page", "host", d.Host, "err", err)
		http.Error(w, "waiting page unavailable", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	setStateHeaders(h, d)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", contentSecurityPolicy(d.Nonce))
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(d.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// stateJSON is the JSON answer of the page (Accept: application/json) and
// of /.waitingroom/status. host, state and retry_after are the public
// contract; the rest may grow.
type stateJSON struct {
	Host             string           `json:"host"`
	State            controller.State `json:"state"`
	RetryAfter       int              `json:"retry_after"`
	StateWords       string           `json:"state_words"`
	Message          string           `json:"message"`
	ElapsedSeconds   int              `json:"elapsed_seconds"`
	EstimateSeconds  *int             `json:"estimate_seconds"`
	RemainingSeconds *int             `json:"remaining_seconds"`
	Reason           string           `json:"reason,omitempty"`
	RetryAt          time.Time        `json:"retry_at,omitzero"`
	Budget           string           `json:"budget,omitempty"`
	Problem          string           `json:"problem,omitempty"`
}

func (p *Public) writeState(w http.ResponseWriter, r *http.Request, d *PageData) {
	v := stateJSON{
		Host: d.Host, State: d.State, RetryAfter: d.RetryAfter, StateWords: d.StateWords,
		Message: d.Message, ElapsedSeconds: int(d.Elapsed / time.Second),
		Reason: d.Reason, RetryAt: d.RetryAt, Budget: d.Budget, Problem: d.Problem,
	}
	if d.HasEstimate {
		est, rem := ceilSeconds(d.Estimate), ceilSeconds(d.Remaining)
		v.EstimateSeconds, v.RemainingSeconds = &est, &rem
	}
	setStateHeaders(w.Header(), d)
	writeJSON(w, r, d.Status, v)
}

// writeJSON sends v with an exact Content-Length; HEAD gets the headers.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // "Bearer <token>" stays readable; JSON is never HTML here (nosniff)
	if err := enc.Encode(v); err != nil {
		http.Error(w, "encoding JSON failed", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b.Bytes())
	}
}

// refuse answers a request that gets no waiting page: a small plain-text
// page, or JSON {"error": ...} for clients asking for JSON (and always on
// the JSON endpoints).
func (p *Public) refuse(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if wantsJSON(r) || strings.HasPrefix(r.URL.Path, internalPrefix+"status") || strings.HasPrefix(r.URL.Path, internalPrefix+"events") {
		writeJSON(w, r, status, map[string]string{"error": msg})
		return
	}
	body := strconv.Itoa(status) + " " + http.StatusText(status) + "\n\n" + msg + ".\n"
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(body))
	}
}
