package traefik

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

// ForwardAuthOptions configure a ForwardAuth endpoint.
type ForwardAuthOptions struct {
	// Known reports whether a normalised host is registered (e.g. a
	// Registry.Lookup); others are ignored without any bookkeeping. Nil:
	// every host counts, and the coalescing table grows with every name
	// seen — set it in production.
	Known func(host string) bool
	// Window: at most one Touch per host per Window; default 5s.
	Window time.Duration
	// Queue bounds the touches waiting for the background writer; default
	// 1024. When it is full a touch is dropped (the next request for that
	// host retries), never waited for.
	Queue int
	// TouchTimeout bounds one Touch; default 5s.
	TouchTimeout time.Duration
	// Clock; default the system clock.
	Clock controller.Clock
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// ForwardAuth is the handler of TouchPath for a Traefik ForwardAuth
// middleware: it answers 200 with an empty body at once, whatever happens,
// and records the request's host (X-Forwarded-Host) as active. Store
// writes are coalesced — at most one per host per window — and made by one
// background writer (Run), so a request never waits for the store.
type ForwardAuth struct {
	toucher Toucher
	known   func(string) bool
	window  int64 // nanoseconds
	timeout time.Duration
	clock   controller.Clock
	log     *slog.Logger
	queue   chan *touchEntry

	// entries is a copy-on-write map: the request path reads it without
	// locks or allocations; adding a host (once per host) copies it.
	entries atomic.Pointer[map[string]*touchEntry]
	mu      sync.Mutex // serialises copies of entries
}

type touchEntry struct {
	host string
	// next is when (unix nanoseconds) this host may be touched again.
	next atomic.Int64
}

// NewForwardAuth builds the endpoint; Run must run for touches to reach t.
func NewForwardAuth(t Toucher, opts ForwardAuthOptions) *ForwardAuth {
	if opts.Window <= 0 {
		opts.Window = 5 * time.Second
	}
	if opts.Queue <= 0 {
		opts.Queue = 1024
	}
	if opts.TouchTimeout <= 0 {
		opts.TouchTimeout = 5 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = controller.SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	f := &ForwardAuth{
		toucher: t, known: opts.Known, window: int64(opts.Window), timeout: opts.TouchTimeout,
		clock: opts.Clock, log: opts.Logger.With("source", SourceForwardAuth),
		queue: make(chan *touchEntry, opts.Queue),
	}
	f.entries.Store(&map[string]*touchEntry{})
	return f
}

var _ http.Handler = (*ForwardAuth)(nil)

// ServeHTTP answers 200 and notes activity; it never blocks on the store.
func (f *ForwardAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusOK)
	host := normalizeHost(r.Header.Get("X-Forwarded-Host"))
	if host == "" || (f.known != nil && !f.known(host)) {
		return
	}
	e := f.entry(host)
	now := f.clock.Now().UnixNano()
	next := e.next.Load()
	if now < next || !e.next.CompareAndSwap(next, now+f.window) {
		return // touched within the window, or another request is doing it
	}
	select {
	case f.queue <- e:
	default:
		// The writer is behind (slow store): drop, and let the next
		// request for this host try again rather than wait a window.
		e.next.CompareAndSwap(now+f.window, next)
	}
}

func (f *ForwardAuth) entry(host string) *touchEntry {
	if e, ok := (*f.entries.Load())[host]; ok {
		return e
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	old := *f.entries.Load()
	if e, ok := old[host]; ok {
		return e
	}
	m := make(map[string]*touchEntry, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	// Clone: host may point into the request's header memory.
	e := &touchEntry{host: strings.Clone(host)}
	m[e.host] = e
	f.entries.Store(&m)
	return e
}

// Run writes queued touches until ctx is done; it returns nil then.
func (f *ForwardAuth) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-f.queue:
			tctx, cancel := context.WithTimeout(ctx, f.timeout)
			err := f.toucher.Touch(tctx, e.host, SourceForwardAuth)
			cancel()
			switch {
			case errors.Is(err, controller.ErrUnknownHost):
				f.log.Debug("activity for a host no longer registered", "host", e.host)
			case err != nil:
				f.log.Warn("recording activity failed", "host", e.host, "err", err)
			}
		}
	}
}

// normalizeHost turns an X-Forwarded-Host value into a registry name: the
// first of a comma-separated list, lower case, without port or trailing
// dot. It allocates only when the name has upper-case letters.
func normalizeHost(h string) string {
	if i := strings.IndexByte(h, ','); i >= 0 {
		h = h[:i]
	}
	h = strings.TrimSpace(h)
	if h == "" || h[0] == '[' {
		return "" // an IP literal is never a registered host
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}
