// Package webhook posts waitingroom's state changes to operators' URLs:
// wake requested, running, stopped, failed, and budget exhausted. Delivery
// never blocks a wake: Notify only queues (a full queue drops the event and
// counts it), and one worker per URL posts with a per-request timeout and a
// bounded number of retries with exponential backoff and jitter.
//
// Each request is a JSON body (Payload) signed with the URL's secret:
//
//	X-Waitingroom-Event: running
//	X-Waitingroom-Delivery: 5f0c…            (the same on every retry)
//	X-Waitingroom-Signature: sha256=<hex HMAC-SHA256 of the body>
//
// A receiver verifies the signature over the raw body before parsing it,
// and may use the delivery id to ignore a retry it already processed.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/backoff"
	"github.com/waitingroom/waitingroom/internal/redact"
	"github.com/waitingroom/waitingroom/internal/sleep"
)

// Event kinds, as listed in a webhook's events: and sent in
// X-Waitingroom-Event.
const (
	KindWakeRequested   = "wake_requested" // → starting
	KindRunning         = "running"
	KindStopped         = "stopped"
	KindFailed          = "failed"
	KindBudgetExhausted = "budget_exhausted"
)

// Kinds lists every event kind, for validating configuration.
func Kinds() []string {
	return []string{KindWakeRequested, KindRunning, KindStopped, KindFailed, KindBudgetExhausted}
}

// Header names.
const (
	HeaderEvent     = "X-Waitingroom-Event"
	HeaderDelivery  = "X-Waitingroom-Delivery"
	HeaderSignature = "X-Waitingroom-Signature"
)

// Payload is the JSON body of every request.
type Payload struct {
	// ID names the delivery; retries of it carry the same.
	ID    string `json:"id"`
	Event string `json:"event"`
	Host  string `json:"host"`
	// From and To are states; budget_exhausted has neither.
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	Reason string `json:"reason,omitempty"`
	// DurationMS is how long the wake took, on running.
	DurationMS int64     `json:"duration_ms,omitempty"`
	At         time.Time `json:"at"`
	// ClientClass is the class of client that asked ("browser", "api",
	// ...), where known; Budget names the budget that refused a wake.
	ClientClass string `json:"client_class,omitempty"`
	Budget      string `json:"budget,omitempty"`
}

// Target is one receiving URL.
type Target struct {
	URL string
	// Secret keys the HMAC signature; empty: requests are not signed.
	Secret []byte
	// Events are the kinds sent to it; empty: all.
	Events []string
	// Timeout bounds one request (default 5s).
	Timeout time.Duration
	// Retries is how many times a failed request is retried (0:
	// DefaultRetries; NoRetries: one attempt only). 5xx, 408, 429 and
	// network errors are retried; other answers are final.
	Retries int
}

// Retries of a Target.
const (
	DefaultRetries = 3
	NoRetries      = -1
)

// Options configure a Notifier.
type Options struct {
	Targets []Target
	// Client posts the requests; default a client that does not follow
	// redirects (a webhook URL is exact) and honours HTTPS_PROXY.
	Client *http.Client
	// QueueSize bounds each target's queue (default 256); events beyond
	// it are dropped and counted.
	QueueSize int
	// BackoffBase and BackoffMax bound the wait between retries (defaults
	// 1s and 1m): BackoffBase·2^(n-1) before retry n, capped, with jitter.
	BackoffBase, BackoffMax time.Duration
	// BudgetRepeat is the least time between two budget_exhausted events
	// for one host and budget (default 10m): a crowd refused by a budget
	// makes one event, not thousands.
	BudgetRepeat time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Now stamps budget events and times their repeat; default time.Now.
	Now func() time.Time
}

// Stats count what the notifier did since it was built.
type Stats struct {
	Queued    uint64 // deliveries queued (one per event and target)
	Delivered uint64 // answered 2xx
	Failed    uint64 // given up after the last attempt, or a final answer
	Dropped   uint64 // not queued: the target's queue was full
	Retried   uint64 // attempts after the first
	// Suppressed counts budget events within BudgetRepeat of the previous.
	Suppressed uint64
}

// Notifier queues events and delivers them. Build it with New, call Run
// once, then Notify from anywhere.
type Notifier struct {
	targets      []*target
	client       *http.Client
	backoffBase  time.Duration
	backoffMax   time.Duration
	budgetRepeat time.Duration
	log          *slog.Logger
	now          func() time.Time

	running atomic.Bool

	budgetMu   sync.Mutex
	lastBudget map[string]time.Time

	queued, delivered, failed, dropped, retried, suppressed atomic.Uint64
}

type target struct {
	Target
	display string // scheme://host, safe to log (the URL may hold a token)
	events  map[string]bool
	queue   chan delivery
	// dropping is set from the first dropped event until one is queued
	// again, so a dead receiver logs once, not once per event.
	dropping atomic.Bool
}

type delivery struct {
	id   string
	kind string
	body []byte
}

// New checks the targets and builds a Notifier.
func New(o Options) (*Notifier, error) {
	if o.Client == nil {
		o.Client = &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport: &http.Transport{
				Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 2, IdleConnTimeout: 90 * time.Second,
				TLSHandshakeTimeout: 10 * time.Second,
			},
		}
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 256
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = time.Second
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = time.Minute
	}
	o.BackoffMax = max(o.BackoffMax, o.BackoffBase)
	if o.BudgetRepeat <= 0 {
		o.BudgetRepeat = 10 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	n := &Notifier{
		client: o.Client, backoffBase: o.BackoffBase, backoffMax: o.BackoffMax, budgetRepeat: o.BudgetRepeat,
		log: o.Logger, now: o.Now, lastBudget: map[string]time.Time{},
	}
	var errs []error
	for i, t := range o.Targets {
		u, err := url.Parse(t.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("webhook %d: url must be http(s)://host/path", i+1))
			continue
		}
		tt := &target{Target: t, display: u.Scheme + "://" + u.Host, queue: make(chan delivery, o.QueueSize)}
		tt.Secret = slices.Clone(t.Secret)
		if tt.Timeout <= 0 {
			tt.Timeout = 5 * time.Second
		}
		switch {
		case tt.Retries == 0:
			tt.Retries = DefaultRetries
		case tt.Retries < 0:
			tt.Retries = 0
		}
		if len(t.Events) > 0 {
			tt.events = map[string]bool{}
			for _, k := range t.Events {
				if !slices.Contains(Kinds(), k) {
					errs = append(errs, fmt.Errorf("webhook %d: unknown event %q (known: %s)", i+1, k, strings.Join(Kinds(), ", ")))
				}
				tt.events[k] = true
			}
		}
		n.targets = append(n.targets, tt)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return n, nil
}

// ReadSecret reads a webhook secret from a file (surrounding whitespace
// trimmed) or an environment variable; both empty: no secret.
func ReadSecret(file, env string) ([]byte, error) {
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("webhook secret_file: %w", err)
		}
		s := bytes.TrimSpace(b)
		if len(s) == 0 {
			return nil, fmt.Errorf("webhook secret_file %s is empty", file)
		}
		return s, nil
	case env != "":
		s := strings.TrimSpace(os.Getenv(env))
		if s == "" {
			return nil, fmt.Errorf("webhook secret_env %s is not set", env)
		}
		return []byte(s), nil
	}
	return nil, nil
}

// KindOf is the kind of a state change, "" for changes no webhook gets:
// stopping (stopped follows), and anything from unknown, which is
// waitingroom learning a state at boot rather than a backend changing.
func KindOf(e controller.Event) string {
	if e.From == controller.StateUnknown || e.From == "" {
		return ""
	}
	switch e.To {
	case controller.StateStarting:
		return KindWakeRequested
	case controller.StateRunning:
		return KindRunning
	case controller.StateStopped:
		return KindStopped
	case controller.StateFailed:
		return KindFailed
	}
	return ""
}

// Notify queues a state change for every target that wants it. It never
// blocks: use it as controller.Options.OnEvent.
func (n *Notifier) Notify(e controller.Event) {
	kind := KindOf(e)
	if kind == "" {
		return
	}
	p := Payload{
		Event: kind, Host: e.Host, From: string(e.From), To: string(e.To), Reason: redact.Text(e.Reason), At: e.At,
	}
	if kind == KindRunning && e.Duration > 0 {
		p.DurationMS = e.Duration.Milliseconds()
	}
	n.enqueue(p)
}

// NotifyBudget queues a budget_exhausted event: a wake of host by client
// was refused by budget. Repeats for the same host and budget within
// BudgetRepeat are suppressed (and counted).
func (n *Notifier) NotifyBudget(host string, c controller.Client, budget string) {
	now := n.now()
	key := host + "\x00" + budget
	n.budgetMu.Lock()
	if last, ok := n.lastBudget[key]; ok && now.Sub(last) < n.budgetRepeat {
		n.budgetMu.Unlock()
		n.suppressed.Add(1)
		return
	}
	if len(n.lastBudget) >= 1024 {
		for k, t := range n.lastBudget {
			if now.Sub(t) >= n.budgetRepeat {
				delete(n.lastBudget, k)
			}
		}
	}
	n.lastBudget[key] = now
	n.budgetMu.Unlock()
	n.enqueue(Payload{
		Event: KindBudgetExhausted, Host: host, At: now, ClientClass: c.Class, Budget: budget,
		Reason: fmt.Sprintf("wake budget %q exceeded", budget),
	})
}

func (n *Notifier) enqueue(p Payload) {
	var want []*target
	for _, t := range n.targets {
		if t.events == nil || t.events[p.Event] {
			want = append(want, t)
		}
	}
	if len(want) == 0 {
		return
	}
	p.ID = newID()
	body, err := json.Marshal(p)
	if err != nil { // a Payload always marshals; keep the promise not to panic
		n.log.Error("webhook payload", "err", err)
		return
	}
	for _, t := range want {
		select {
		case t.queue <- delivery{id: p.ID, kind: p.Event, body: body}:
			n.queued.Add(1)
			t.dropping.Store(false)
		default:
			n.dropped.Add(1)
			if t.dropping.CompareAndSwap(false, true) {
				n.log.Warn("webhook queue full; dropping events until it drains", "url", t.display, "event", p.Event, "host", p.Host)
			}
		}
	}
}

// Run delivers queued events until ctx is done, one worker per target, so
// a slow or dead receiver delays only its own events. Events still queued
// then are not delivered. Run may be called once.
func (n *Notifier) Run(ctx context.Context) error {
	if !n.running.CompareAndSwap(false, true) {
		return errors.New("webhook: Run called twice")
	}
	var wg sync.WaitGroup
	for _, t := range n.targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.work(ctx, t)
		}()
	}
	wg.Wait()
	return nil
}

func (n *Notifier) work(ctx context.Context, t *target) {
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-t.queue:
			n.deliver(ctx, t, d)
		}
	}
}

func (n *Notifier) deliver(ctx context.Context, t *target, d delivery) {
	var lastErr error
	for attempt := 0; attempt <= t.Retries; attempt++ {
		if attempt > 0 {
			n.retried.Add(1)
			wait := n.backoff(attempt)
			var ra retryAfterError
			if errors.As(lastErr, &ra) {
				wait = max(wait, min(ra.after, n.backoffMax))
			}
			if sleep.For(ctx, wait) != nil {
				return // shutting down
			}
		}
		retry, err := n.post(ctx, t, d)
		if err == nil {
			n.delivered.Add(1)
			return
		}
		lastErr = err
		if !retry || ctx.Err() != nil {
			break
		}
	}
	n.failed.Add(1)
	n.log.Warn("webhook not delivered", "url", t.display, "event", d.kind, "attempts", t.Retries+1, "err", lastErr)
}

// backoff is the wait before retry n: exponential, capped, with jitter in
// its upper half so receivers coming back are not hit in lockstep.
func (n *Notifier) backoff(retry int) time.Duration {
	return backoff.Policy{Base: n.backoffBase, Max: n.backoffMax}.Jittered(retry)
}

type retryAfterError struct {
	status int
	after  time.Duration
}

func (e retryAfterError) Error() string {
	return fmt.Sprintf("answered %d %s, retry after %s", e.status, http.StatusText(e.status), e.after)
}

// post makes one attempt; retry says whether another may succeed.
func (n *Notifier) post(ctx context.Context, t *target, d delivery) (retry bool, err error) {
	rctx, cancel := context.WithTimeout(ctx, t.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, t.URL, bytes.NewReader(d.body))
	if err != nil {
		return false, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "waitingroom-webhook")
	req.Header.Set(HeaderEvent, d.kind)
	req.Header.Set(HeaderDelivery, d.id)
	if len(t.Secret) > 0 {
		req.Header.Set(HeaderSignature, Sign(t.Secret, d.body))
	}
	resp, err := n.client.Do(req)
	if err != nil {
		// The URL may carry a token: report the error without it.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return true, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			return true, retryAfterError{status: resp.StatusCode, after: time.Duration(s) * time.Second}
		}
		return true, fmt.Errorf("answered %s", resp.Status)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout:
		return true, fmt.Errorf("answered %s", resp.Status)
	}
	return false, fmt.Errorf("answered %s (not retried)", resp.Status)
}

// Sign returns the X-Waitingroom-Signature value of body: "sha256=" and
// the hex HMAC-SHA256 of body keyed with secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Stats returns the counters.
func (n *Notifier) Stats() Stats {
	return Stats{
		Queued: n.queued.Load(), Delivered: n.delivered.Load(), Failed: n.failed.Load(),
		Dropped: n.dropped.Load(), Retried: n.retried.Load(), Suppressed: n.suppressed.Load(),
	}
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// WrapGate returns a controller.WakeGate that asks g and sends a
// budget_exhausted event when it refuses a wake with a *BudgetError: pass
// it as controller.Options.Gate so every refusal, whoever asked, is seen.
func (n *Notifier) WrapGate(g controller.WakeGate) controller.WakeGate {
	return budgetGate{inner: g, n: n}
}

type budgetGate struct {
	inner controller.WakeGate
	n     *Notifier
}

func (b budgetGate) AllowWake(ctx context.Context, h controller.Host, c controller.Client) error {
	if b.inner == nil {
		return nil
	}
	err := b.inner.AllowWake(ctx, h, c)
	var be *controller.BudgetError
	if errors.As(err, &be) {
		b.n.NotifyBudget(h.Name, c, be.Budget)
	}
	return err
}
