package hold

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/traefik"
)

// retryWaits are the pauses before retrying a forwarded request whose
// backend refused the connection: right after readiness a backend may
// still be binding its port (or one replica of several is), and a refused
// connection means nothing was sent, so replaying the buffered body is safe.
var retryWaits = [...]time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}

type forwardKey struct{}

// forwardInfo travels with a forwarded request to the proxy's Rewrite,
// ModifyResponse and ErrorHandler, which all run on the request's
// goroutine.
type forwardInfo struct {
	backend  *url.URL
	hs       *hostState
	released bool
	// handoff: the caller answers a backend that did not answer itself
	// (Handoff); the proxy then only records err and writes nothing,
	// unless the request may have reached the backend and must not be
	// sent again (answered).
	handoff  bool
	err      error
	answered bool
	body     *readTracker // the handed-off request's body; nil when it has none
}

// readTracker notes whether any of a request's body was read, that is,
// may have been sent to the backend.
type readTracker struct {
	io.ReadCloser
	read atomic.Bool
}

func (t *readTracker) Read(p []byte) (int, error) {
	t.read.Store(true)
	return t.ReadCloser.Read(p)
}

// mayResend reports whether a handed-off request that failed with err may
// still be held and sent again: its body is untouched, and either the
// backend never got it (the connection was not made) or sending it twice
// is harmless (a safe method).
func (f *forwardInfo) mayResend(r *http.Request, err error) bool {
	if f.body != nil && f.body.read.Load() {
		return false
	}
	var op *net.OpError
	return SafeMethod(r.Method) || (errors.As(err, &op) && op.Op == "dial")
}

// release gives the host's forward slot back. It happens when the
// backend's response headers arrive, not when the body ends: the cap
// protects a booting backend from a burst of requests it must work on, and
// a long stream (server-sent events, a websocket) must not keep other
// requests waiting.
func (f *forwardInfo) release() {
	if !f.released {
		f.released = true
		<-f.hs.forward
	}
}

// registryBackend is the default Options.Backend: the backend URL the
// generated Traefik configuration uses for the host (its `url`, or the
// origin of ready_url), with address placeholders filled from the
// provider's last reported status.
func registryBackend(live func(host string) (controller.Status, bool)) func(controller.Host) (*url.URL, error) {
	return func(h controller.Host) (*url.URL, error) {
		route, err := traefik.NewRoute(h, traefik.HostOptionsOf(h).URL)
		if err != nil {
			return nil, fmt.Errorf("backend of %s: %w", h.Name, err)
		}
		st, _ := live(h.Name)
		raw, ok := route.LiveURL(st)
		if !ok {
			return nil, fmt.Errorf("backend of %s: %s needs an address the provider has not reported", h.Name, route.BackendURL)
		}
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("backend of %s: %w", h.Name, err)
		}
		return u, nil
	}
}

// newTransport builds the default transport to backends.
func newTransport(perHost int) *http.Transport {
	return &http.Transport{
		// Backends are internal addresses: an HTTP_PROXY meant for the
		// internet must not capture them.
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   perHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Pass Accept-Encoding and the answer through as the client
		// asked, rather than gunzipping behind its back.
		DisableCompression: true,
	}
}

func (hd *Holder) newProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite:   hd.rewrite,
		Transport: &retryTransport{base: hd.transport},
		// Every write reaches the client at once: held requests are often
		// streams (server-sent events, chunked exports).
		FlushInterval: -1,
		ModifyResponse: func(resp *http.Response) error {
			resp.Request.Context().Value(forwardKey{}).(*forwardInfo).release()
			return nil
		},
		ErrorHandler: hd.proxyError,
		ErrorLog:     slog.NewLogLogger(hd.log.Handler(), slog.LevelDebug),
		// Without a pool every response costs a fresh 32 KiB copy buffer.
		BufferPool: &bufferPool{},
	}
}

// bufferPool recycles the proxy's copy buffers.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if buf, ok := b.p.Get().(*[]byte); ok {
		return *buf
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }

// forward sends the held request, with its buffered body, to the backend.
func (hd *Holder) forward(w http.ResponseWriter, r *http.Request, fwd *forwardInfo, body []byte) {
	out := r.WithContext(context.WithValue(r.Context(), forwardKey{}, fwd))
	out.TransferEncoding = nil
	out.ContentLength = int64(len(body))
	if len(body) == 0 {
		out.Body = http.NoBody
		out.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
	} else {
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	hd.proxy.ServeHTTP(w, out)
}

// rewrite points the request at the backend, keeping the Host the client
// asked for (as Traefik does) and setting X-Forwarded-*.
func (hd *Holder) rewrite(pr *httputil.ProxyRequest) {
	info := pr.In.Context().Value(forwardKey{}).(*forwardInfo)
	pr.SetURL(info.backend)
	pr.Out.Host = pr.In.Host
	pr.Out.Header.Add(HopHeader, hd.hop+" "+info.hs.name)

	peer := peerAddr(pr.In)
	if !peer.IsValid() || !hd.isTrusted(peer) {
		// Whatever an untrusted peer says about the client is forged or
		// meaningless: the backend learns what this connection shows.
		pr.SetXForwarded()
		if peer.IsValid() {
			pr.Out.Header.Set("X-Real-Ip", peer.String())
		} else {
			pr.Out.Header.Del("X-Real-Ip")
		}
		return
	}
	// A trusted proxy (Traefik) already said who the client is, under
	// which name and over which scheme: keep that, and append the proxy to
	// X-Forwarded-For as every hop does.
	xff := peer.String()
	if prior := pr.In.Header.Values("X-Forwarded-For"); len(prior) > 0 {
		xff = strings.Join(prior, ", ") + ", " + xff
	}
	pr.Out.Header.Set("X-Forwarded-For", xff)
	fwdHost := pr.In.Header.Get("X-Forwarded-Host")
	if fwdHost == "" {
		fwdHost = pr.In.Host
	}
	pr.Out.Header.Set("X-Forwarded-Host", fwdHost)
	proto := pr.In.Header.Get("X-Forwarded-Proto")
	if proto == "" {
		proto = "http"
		if pr.In.TLS != nil {
			proto = "https"
		}
	}
	pr.Out.Header.Set("X-Forwarded-Proto", proto)
}

func (hd *Holder) isTrusted(a netip.Addr) bool {
	for _, p := range hd.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func peerAddr(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// proxyError answers a forwarded request the backend did not answer.
func (hd *Holder) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client left
	}
	info := r.Context().Value(forwardKey{}).(*forwardInfo)
	if info.handoff {
		info.err = err
		if info.mayResend(r, err) {
			return
		}
		// The backend may have received it: answered here, never resent.
		info.answered = true
	}
	hd.warnRarely(info.hs, "forwarding held requests failed", "backend", info.backend.Redacted(), "err", err)
	// The host is recorded running, yet its backend does not answer.
	hd.recheckBackend(r.Context(), info.hs.name)
	hd.refuse(w, r, info.hs, http.StatusBadGateway, ReasonBackendError, controller.StateRunning, hd.retryAfter,
		info.hs.name+" did not answer; retry shortly")
}

// retryTransport retries requests whose connection the backend refused.
type retryTransport struct {
	base http.RoundTripper
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	for _, wait := range retryWaits {
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
			break
		}
		if req.Body != nil && req.Body != http.NoBody {
			if req.GetBody == nil {
				break
			}
			body, gerr := req.GetBody()
			if gerr != nil {
				break
			}
			again := *req // a RoundTripper must not change the caller's request
			again.Body = body
			req = &again
		}
		timer := time.NewTimer(wait)
		select {
		case <-req.Context().Done():
			timer.Stop()
			return nil, err
		case <-timer.C:
		}
		resp, err = t.base.RoundTrip(req)
	}
	return resp, err
}
