package hold

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/clientclass"
)

// Controller is what the Holder needs of the domain. *controller.Controller
// implements it.
type Controller interface {
	Wake(ctx context.Context, host string, c controller.Client) (controller.Record, error)
	Status(ctx context.Context, host string) (controller.Host, controller.Record, error)
	Subscribe(ctx context.Context, host string) <-chan controller.Event
	LastStatus(host string) (controller.Status, bool)
	Touch(ctx context.Context, host, source string) error
	// Recheck re-reads one host's backend now: called when a host
	// recorded running does not answer.
	Recheck(ctx context.Context, host string) error
}

var _ Controller = (*controller.Controller)(nil)

// Defaults of Options. Held requests buffer their bodies, so the product
// MaxTotal × MaxBodyBytes bounds that memory: 256 × 256 KiB = 64 MiB, what
// a small VM survives (400 held 1 MiB POSTs took RSS from 51 to 470 MB
// with the old 10,000 × 1 MiB). A larger body gets 413 while its host
// wakes: raise MaxBodyBytes and lower MaxTotal together.
const (
	DefaultMaxPerHost        = 64
	DefaultMaxTotal          = 256
	DefaultMaxBodyBytes      = 256 << 10
	DefaultMaxForwardPerHost = 64
	DefaultRetryAfter        = 5 * time.Second
	DefaultRecheck           = time.Second
)

// Reasons label waitingroom_hold_rejections_total and the "reason" field
// of a refusal's JSON body.
const (
	ReasonHostCap      = "host_cap"       // MaxPerHost requests of this host are held already
	ReasonTotalCap     = "total_cap"      // MaxTotal requests are held already
	ReasonBodyTooLarge = "body_too_large" // the body is over MaxBodyBytes: 413
	ReasonBudget       = "budget"         // a wake budget refused the wake: 429
	ReasonWakeRefused  = "wake_refused"   // the request does not qualify for a wake
	ReasonUnknownHost  = "unknown_host"   // removed from the registry meanwhile: 404
	ReasonStartFailed  = "start_failed"   // the wake failed; the backend is in backoff
	ReasonStopped      = "stopped"        // the backend went back to sleep and would not stay awake
	ReasonTimeout      = "timeout"        // not ready (or no forward slot) within hold_timeout
	ReasonNoAddress    = "no_address"     // running, but its address is not known
	ReasonBackendError = "backend_error"  // the backend did not answer the forwarded request: 502
	ReasonUnavailable  = "unavailable"    // the state store or the provider cannot be reached
	ReasonShutdown     = "shutdown"       // the Holder is closing
	ReasonNotResent    = "not_resent"     // an unsafe request for a running host: it may have reached the backend already
	ReasonLoop         = "loop"           // the host's backend address led the request back to waitingroom: 508
)

// maxRewakes bounds how often one held request wakes a host that went back
// to sleep while it waited (an operator's stop), so it cannot loop.
const maxRewakes = 3

// touchEvery rate-limits the activity a host's held requests record: one
// store write per host per second is plenty against idle timeouts of
// minutes, and a burst of requests costs one write, not one each.
const touchEvery = time.Second

// warnEvery rate-limits warnings per host.
const warnEvery = 10 * time.Second

// Options configures a Holder. Controller is required; a zero value
// anywhere else means the documented default.
type Options struct {
	Controller Controller
	// Backend says where a running host's backend is. Default: the host's
	// `url` setting, or else the origin of its ready_url, with
	// {internal_ip}/{external_ip} filled from the controller's LastStatus —
	// the address the generated Traefik configuration uses.
	Backend func(h controller.Host) (*url.URL, error)
	// MaxPerHost caps the requests held for one host (default 64),
	// MaxTotal those held for all hosts together (default 256). Over
	// either, a request gets 503 with Retry-After at once.
	MaxPerHost int
	MaxTotal   int
	// MaxBodyBytes caps a held request's body, which is buffered so it can
	// be replayed (default 256 KiB). A larger body gets 413 before anything
	// is woken or queued.
	MaxBodyBytes int64
	// MaxForwardPerHost caps concurrent forwarded requests per host
	// (default 64), so the burst released at readiness does not knock over
	// a backend that has just booted. Requests beyond it wait, still held.
	MaxForwardPerHost int
	// TrustedProxies are the peers (Traefik) whose X-Forwarded-For,
	// X-Forwarded-Host, X-Forwarded-Proto and X-Real-Ip are passed on to
	// the backend, with the peer appended to X-Forwarded-For. Any other
	// peer's are replaced by what this connection shows. Default: none.
	TrustedProxies []netip.Prefix
	// Transport carries forwarded requests. Default: a transport that
	// ignores proxy environment variables and dials with a 2 s timeout.
	Transport http.RoundTripper
	// Registerer receives the metrics: waitingroom_held_requests{host},
	// waitingroom_hold_wait_seconds{host} and
	// waitingroom_hold_rejections_total{host,reason}. nil: not registered.
	Registerer prometheus.Registerer
	Logger     *slog.Logger // default slog.Default()
	// RetryAfter is what a refusal over a cap or at hold_timeout tells the
	// client (default 5 s).
	RetryAfter time.Duration
	// Recheck is how often a host's state is read while requests wait, in
	// case an event was missed (default 1 s). Events normally decide.
	Recheck time.Duration
}

// Holder holds requests for sleeping hosts and forwards them when their
// backends are ready. Build it with New; it is safe for concurrent use.
type Holder struct {
	ctl          Controller
	backend      func(controller.Host) (*url.URL, error)
	maxPerHost   int64
	maxTotal     int64
	maxBody      int64
	maxForward   int
	trusted      []netip.Prefix
	transport    http.RoundTripper
	ownTransport *http.Transport
	proxy        *httputil.ReverseProxy
	log          *slog.Logger
	retryAfter   time.Duration
	recheck      time.Duration
	metrics      *metrics
	// hop marks the requests this Holder forwards (HopHeader), so one that
	// comes back is recognised as a loop.
	hop string

	total     *semaphore.Weighted
	heldTotal atomic.Int64

	// life ends the watchers when the Holder closes.
	life   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	hosts  map[string]*hostState
}

// hostState is one host's counters, forward slots and state watch. Entries
// live as long as the Holder: hosts come from the registry, so they are few.
type hostState struct {
	name      string
	held      atomic.Int64
	forward   chan struct{} // a buffered channel as a semaphore that select can wait on
	lastTouch atomic.Int64  // unix nanoseconds
	lastWarn  atomic.Int64  // unix nanoseconds; rate-limits warnings
	heldGauge prometheus.Gauge
	waitHist  prometheus.Observer

	mu  sync.Mutex
	cur *watch // the watch new waiters join; nil when none runs
}

// New builds a Holder.
func New(o Options) (*Holder, error) {
	if o.Controller == nil {
		return nil, errors.New("hold: Options.Controller is required")
	}
	for name, v := range map[string]int64{
		"MaxPerHost": int64(o.MaxPerHost), "MaxTotal": int64(o.MaxTotal),
		"MaxBodyBytes": o.MaxBodyBytes, "MaxForwardPerHost": int64(o.MaxForwardPerHost),
	} {
		if v < 0 {
			return nil, fmt.Errorf("hold: Options.%s %d is negative", name, v)
		}
	}
	hd := &Holder{
		ctl: o.Controller, backend: o.Backend,
		maxPerHost: int64(o.MaxPerHost), maxTotal: int64(o.MaxTotal),
		maxBody: o.MaxBodyBytes, maxForward: o.MaxForwardPerHost,
		trusted: o.TrustedProxies, transport: o.Transport, log: o.Logger,
		retryAfter: o.RetryAfter, recheck: o.Recheck,
		hosts: map[string]*hostState{}, hop: rand.Text(),
	}
	if hd.maxPerHost == 0 {
		hd.maxPerHost = DefaultMaxPerHost
	}
	if hd.maxTotal == 0 {
		hd.maxTotal = DefaultMaxTotal
	}
	if hd.maxBody == 0 {
		hd.maxBody = DefaultMaxBodyBytes
	}
	if hd.maxForward == 0 {
		hd.maxForward = DefaultMaxForwardPerHost
	}
	if hd.retryAfter <= 0 {
		hd.retryAfter = DefaultRetryAfter
	}
	if hd.recheck <= 0 {
		hd.recheck = DefaultRecheck
	}
	if hd.log == nil {
		hd.log = slog.Default()
	}
	if hd.backend == nil {
		hd.backend = registryBackend(o.Controller.LastStatus)
	}
	if hd.transport == nil {
		hd.ownTransport = newTransport(hd.maxForward)
		hd.transport = hd.ownTransport
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	hd.metrics = m
	hd.total = semaphore.NewWeighted(hd.maxTotal)
	hd.proxy = hd.newProxy()
	hd.life, hd.cancel = context.WithCancel(context.Background())
	return hd, nil
}

// Close ends the watches of held requests, which then get 503, waits for
// them, and closes idle connections to backends. Serve refuses requests
// after Close.
func (hd *Holder) Close() {
	hd.mu.Lock()
	hd.closed = true
	hd.mu.Unlock()
	hd.cancel()
	hd.wg.Wait()
	if hd.ownTransport != nil {
		hd.ownTransport.CloseIdleConnections()
	}
}

// ShouldHold reports whether r waits for h's backend by being held (true)
// or gets the waiting page (false), from the host's wait setting: "page",
// "hold", or "auto" (the default): browsers, whose navigations accept
// text/html, get the page; everybody else is held.
func (hd *Holder) ShouldHold(r *http.Request, h controller.Host) bool {
	switch h.Wait {
	case "page":
		return false
	case "hold":
		return true
	default:
		return !clientclass.AcceptsHTML(r.Header.Values("Accept"))
	}
}

// Held is the number of requests held for host right now.
func (hd *Holder) Held(host string) int {
	hd.mu.Lock()
	hs := hd.hosts[host]
	hd.mu.Unlock()
	if hs == nil {
		return 0
	}
	return int(hs.held.Load())
}

// HeldTotal is the number of requests held for all hosts right now.
func (hd *Holder) HeldTotal() int { return int(hd.heldTotal.Load()) }

func (hd *Holder) host(name string) *hostState {
	hd.mu.Lock()
	defer hd.mu.Unlock()
	hs := hd.hosts[name]
	if hs == nil {
		hs = &hostState{
			name:      name,
			forward:   make(chan struct{}, hd.maxForward),
			heldGauge: hd.metrics.held.WithLabelValues(name),
			waitHist:  hd.metrics.wait.WithLabelValues(name),
		}
		hd.hosts[name] = hs
	}
	return hs
}

// admit takes a place in the queue, or says which cap is full.
func (hd *Holder) admit(hs *hostState) (reason string) {
	for {
		n := hs.held.Load()
		if n >= hd.maxPerHost {
			return ReasonHostCap
		}
		if hs.held.CompareAndSwap(n, n+1) {
			break
		}
	}
	if !hd.total.TryAcquire(1) {
		hs.held.Add(-1)
		return ReasonTotalCap
	}
	hd.heldTotal.Add(1)
	hs.heldGauge.Inc()
	return ""
}

func (hd *Holder) unadmit(hs *hostState) {
	hs.heldGauge.Dec()
	hd.heldTotal.Add(-1)
	hd.total.Release(1)
	hs.held.Add(-1)
}

// touch records activity for the host at most once per touchEvery.
func (hd *Holder) touch(ctx context.Context, hs *hostState) {
	now := time.Now().UnixNano()
	last := hs.lastTouch.Load()
	if now-last < int64(touchEvery) || !hs.lastTouch.CompareAndSwap(last, now) {
		return
	}
	if err := hd.ctl.Touch(ctx, hs.name, "hold"); err != nil && ctx.Err() == nil {
		hd.log.Debug("recording held request activity failed", "host", hs.name, "err", err)
	}
}

// warnRarely logs a warning about the host at most once per warnEvery:
// when a backend is unreachable, every held request would say the same.
func (hd *Holder) warnRarely(hs *hostState, msg string, args ...any) {
	now := time.Now().UnixNano()
	last := hs.lastWarn.Load()
	if now-last < int64(warnEvery) || !hs.lastWarn.CompareAndSwap(last, now) {
		return
	}
	hd.log.Warn(msg, append([]any{"host", hs.name}, args...)...)
}

// Serve holds r until h's backend is running, then forwards it there and
// streams the backend's answer to w. client identifies the requester for
// wake budgets, exactly as for the waiting page (its Source becomes
// "hold"). The caller has checked that h is registered.
//
// Answers of its own, all JSON {"host","state","retry_after","message",
// "reason"} with Cache-Control: no-store: 503 + Retry-After over a cap, at
// hold_timeout, after a failed start or while the address is unknown; 413
// for a body over MaxBodyBytes; 429 + Retry-After over a wake budget; 404
// when h left the registry; 502 when the backend does not answer. A
// client that goes away while held is dropped at once.
func (hd *Holder) Serve(w http.ResponseWriter, r *http.Request, h controller.Host, client controller.Client) {
	start := time.Now()
	hs := hd.host(h.Name)
	if hd.life.Err() != nil {
		hd.refuse(w, r, hs, http.StatusServiceUnavailable, ReasonShutdown, controller.StateUnknown, hd.retryAfter,
			"waitingroom is shutting down; retry shortly")
		return
	}
	if hd.looped(r, hs) {
		hd.refuseLoop(w, r, hs)
		return
	}
	client.Source = "hold"
	if reason := hd.admit(hs); reason != "" {
		// Like the waiting page, a refused request still wakes the host
		// (a no-op when held requests already did): its retry then finds
		// the backend starting or running.
		rec, err := hd.ctl.Wake(r.Context(), h.Name, client)
		if r.Context().Err() != nil {
			return
		}
		if err != nil {
			hd.refuseWake(w, r, hs, rec, err)
			return
		}
		hd.refuse(w, r, hs, http.StatusServiceUnavailable, reason, rec.State, hd.retryAfter,
			"too many requests are waiting for "+h.Name+" to wake up; retry shortly")
		return
	}
	held := true
	leaveQueue := func() {
		if held {
			held = false
			hd.unadmit(hs)
			hs.waitHist.Observe(time.Since(start).Seconds())
		}
	}
	defer leaveQueue()

	body, err := hd.readBody(w, r)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			w.Header().Set("Connection", "close")
			hd.refuse(w, r, hs, http.StatusRequestEntityTooLarge, ReasonBodyTooLarge, "", 0,
				fmt.Sprintf("the request body is larger than the %d bytes waitingroom can hold while %s wakes up", hd.maxBody, h.Name))
			return
		}
		// The client went away or sent a broken body: nobody to answer.
		hd.log.Debug("reading held request body failed", "host", h.Name, "err", err)
		return
	}
	ctx := r.Context()
	rec, err := hd.ctl.Wake(ctx, h.Name, client)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		hd.refuseWake(w, r, hs, rec, err)
		return
	}
	hd.touch(ctx, hs)
	if rec.State == controller.StateRunning && !hd.Resendable(r) {
		// Running when it arrived: a proxy sent it here after the backend
		// failed it (or answered it with 502/504), so the backend may have
		// seen it. Never send it twice.
		hd.recheckBackend(ctx, h.Name)
		hd.refuse(w, r, hs, http.StatusServiceUnavailable, ReasonNotResent, rec.State, hd.retryAfter,
			h.Name+" did not answer this "+r.Method+" request, and waitingroom does not send it again because "+
				h.Name+" may have received it; retry shortly")
		return
	}

	// deadline fires at hold_timeout after arrival. It is made only when
	// the request has to wait: a running host's requests never do.
	var deadline *time.Timer
	expired := func() <-chan time.Time {
		if deadline == nil {
			deadline = time.NewTimer(TimeoutOf(h) - time.Since(start))
		}
		return deadline.C
	}
	defer func() {
		if deadline != nil {
			deadline.Stop()
		}
	}()
	for rewakes := 0; rec.State != controller.StateRunning; {
		switch rec.State {
		case controller.StateFailed:
			hd.refuseFailed(w, r, hs, rec)
			return
		case controller.StateStopped:
			if rewakes >= maxRewakes {
				hd.refuse(w, r, hs, http.StatusServiceUnavailable, ReasonStopped, rec.State, hd.retryAfter,
					h.Name+" keeps going back to sleep; retry later")
				return
			}
			rewakes++
			rec, err = hd.ctl.Wake(ctx, h.Name, client)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				hd.refuseWake(w, r, hs, rec, err)
				return
			}
			continue
		}
		wt := hd.join(hs)
		select {
		case <-wt.done:
			rec = wt.rec
			hd.leave(hs, wt)
		case <-ctx.Done():
			hd.leave(hs, wt)
			return
		case <-expired():
			hd.leave(hs, wt)
			hd.refuseTimeout(w, r, hs, h, rec.State)
			return
		case <-hd.life.Done():
			hd.leave(hs, wt)
			hd.refuse(w, r, hs, http.StatusServiceUnavailable, ReasonShutdown, rec.State, hd.retryAfter,
				"waitingroom is shutting down; retry shortly")
			return
		}
	}

	select {
	case hs.forward <- struct{}{}:
	default:
		select {
		case hs.forward <- struct{}{}:
		case <-ctx.Done():
			return
		case <-expired():
			hd.refuseTimeout(w, r, hs, h, controller.StateRunning)
			return
		}
	}
	fwd := &forwardInfo{hs: hs}
	defer fwd.release()
	leaveQueue()

	fwd.backend, err = hd.backend(h)
	if err != nil {
		hd.warnRarely(hs, "cannot forward held requests: backend address unknown", "err", err)
		hd.refuse(w, r, hs, http.StatusServiceUnavailable, ReasonNoAddress, controller.StateRunning, hd.retryAfter,
			h.Name+" is running but waitingroom does not know its address yet; retry shortly")
		return
	}
	hd.touch(ctx, hs)
	hd.forward(w, r, fwd, body)
}

// refuseWake answers a request whose wake returned an error, with the
// status controller.HTTPStatus gives it; a refused wake and waitingroom's
// own problems are 503: the client may try again.
func (hd *Holder) refuseWake(w http.ResponseWriter, r *http.Request, hs *hostState, rec controller.Record, err error) {
	status, retry := controller.HTTPStatus(err)
	var be *controller.BudgetError
	switch {
	case status == http.StatusTooManyRequests && errors.As(err, &be):
		hd.refuse(w, r, hs, status, ReasonBudget, rec.State, retry,
			hs.name+" has been woken too often lately ("+be.Budget+" budget), so it stays asleep for now")
	case status == http.StatusTooManyRequests:
		hd.refuse(w, r, hs, status, ReasonBudget, rec.State, retry,
			hs.name+" has been woken too often lately, so it stays asleep for now")
	case status == http.StatusNotFound:
		hd.refuse(w, r, hs, status, ReasonUnknownHost, "", 0, "no site is registered for this host name")
	case status == http.StatusForbidden:
		hd.refuse(w, r, hs, http.StatusServiceUnavailable, ReasonWakeRefused, rec.State, hd.retryAfter,
			hs.name+" is "+rec.State.Words()+" and this request does not wake it")
	default:
		hd.warnRarely(hs, "waking for held requests failed", "err", err)
		hd.refuse(w, r, hs, http.StatusServiceUnavailable, ReasonUnavailable, rec.State, hd.retryAfter,
			"waitingroom has a temporary problem; retry shortly")
	}
}

func (hd *Holder) refuseFailed(w http.ResponseWriter, r *http.Request, hs *hostState, rec controller.Record) {
	retry := hd.retryAfter
	if until := time.Until(rec.RetryAt); until > 0 {
		retry = until
	}
	msg := hs.name + " failed to start"
	if rec.Reason != "" {
		msg += ": " + rec.Reason
	}
	hd.refuse(w, r, hs, http.StatusServiceUnavailable, ReasonStartFailed, rec.State, retry, msg)
}

func (hd *Holder) refuseTimeout(w http.ResponseWriter, r *http.Request, hs *hostState, h controller.Host, st controller.State) {
	msg := fmt.Sprintf("%s was not ready within %s; retry shortly", h.Name, TimeoutOf(h))
	hd.refuse(w, r, hs, http.StatusServiceUnavailable, ReasonTimeout, st, hd.retryAfter, msg)
}

// readBody buffers the request body, at most maxBody bytes, so the request
// can be replayed to the backend (and retried) after the wait.
func (hd *Holder) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > hd.maxBody {
		// Refused before reading: with Expect: 100-continue the client
		// never even sends it.
		return nil, &http.MaxBytesError{Limit: hd.maxBody}
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	size := 512
	if r.ContentLength > 0 {
		size = int(r.ContentLength) + 1 // +1: reading to EOF needs no second grow
	}
	buf := make([]byte, 0, size)
	body := http.MaxBytesReader(w, r.Body, hd.maxBody)
	for {
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			if err == io.EOF {
				return buf, nil
			}
			return nil, err
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
}
