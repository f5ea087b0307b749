package hold

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/traefik"
)

// The handoff: a request for a host that is already running reaches
// waitingroom when a proxy has not noticed yet (Traefik's health check
// marks a woken backend up only at its next check), when Traefik's
// failover.errors replays a request the backend answered with 502/504,
// or when nothing stands in front of waitingroom at all. Such a request
// is forwarded to the backend at once, through the same reverse proxy held
// requests use, so the visitor lands on the real site instead of a second
// waiting page.
//
// What the handoff must never do is send the backend a request it may have
// answered already. waitingroom cannot tell a replay from a first try, so
// only requests that may be sent twice are forwarded (Resendable): safe
// methods, and requests a proxy marked as never tried (UntriedPrefix).

// UntriedPrefix marks a request that a proxy sends to waitingroom without
// having tried the backend: the generated Traefik configuration points the
// failover of requests with unsafe methods (which has no failover.errors,
// so it never replays) at waitingroom's URL with this path prefix. The
// prefix is stripped and the request may be forwarded whatever its method.
// Anybody may send it: it only lets waitingroom forward a request to a
// running backend, which the same client reaches through the proxy anyway.
const UntriedPrefix = traefik.UntriedPath

// recheckTimeout bounds how long a request waits for the controller to
// re-read a backend that did not answer.
const recheckTimeout = 3 * time.Second

// ErrBackendDown is returned by Handoff when the backend did not answer
// (connection refused, dial or header timeout): nothing was written, and
// the controller was asked to re-read the host's backend.
var ErrBackendDown = errors.New("backend did not answer")

// ErrLoop is returned by Handoff when r is a request this Holder forwarded
// for the same host: the host's backend address leads back to
// waitingroom. Nothing was written.
var ErrLoop = errors.New("backend address leads back to waitingroom")

// HopHeader marks every request the Holder forwards with its own random
// mark and the host, so that a request that comes back (a backend address
// that is waitingroom itself, or a proxy that routes the host back to it)
// is answered 508 instead of being forwarded again and again until every
// forward slot of the host is taken.
const HopHeader = "X-Waitingroom-Hop"

// looped reports whether r is a request this Holder forwarded for hs.
func (hd *Holder) looped(r *http.Request, hs *hostState) bool {
	mark := hd.hop + " " + hs.name
	for _, v := range r.Header.Values(HopHeader) {
		if v == mark {
			return true
		}
	}
	return false
}

const loopWarning = "a forwarded request came back to waitingroom: the host's backend address leads to waitingroom, not to the backend"

// refuseLoop answers a request that came back to waitingroom.
func (hd *Holder) refuseLoop(w http.ResponseWriter, r *http.Request, hs *hostState) {
	hd.warnRarely(hs, loopWarning)
	hd.refuse(w, r, hs, http.StatusLoopDetected, ReasonLoop, controller.StateRunning, hd.retryAfter,
		hs.name+"'s backend address leads back to waitingroom")
}

// ErrNoAddress is returned by Handoff when the running backend's address
// is not known yet; nothing was written.
var ErrNoAddress = errors.New("backend address unknown")

type untriedKey struct{}

// Untried reports whether r is marked as never tried by the proxy in
// front, and returns it with the mark in its context and UntriedPrefix cut
// from its path. A request without the prefix comes back unchanged.
func Untried(r *http.Request) (*http.Request, bool) {
	rest, ok := strings.CutPrefix(r.URL.Path, UntriedPrefix)
	if !ok || (rest != "" && rest[0] != '/') {
		return r, false
	}
	if rest == "" {
		rest = "/"
	}
	out := r.WithContext(context.WithValue(r.Context(), untriedKey{}, true))
	u := *r.URL
	u.Path = rest
	u.RawPath = ""
	if raw, ok := strings.CutPrefix(r.URL.RawPath, UntriedPrefix); ok && raw != "" {
		u.RawPath = raw
	}
	out.URL = &u
	out.RequestURI = u.RequestURI()
	return out, true
}

// SafeMethod reports whether a request with this method may be sent to a
// backend twice without changing anything (RFC 9110 9.2.1): GET, HEAD,
// OPTIONS, TRACE.
func SafeMethod(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// Resendable reports whether r may be forwarded to a backend that is
// already running, which may have answered it before: a proxy in front
// (Traefik's failover.errors, nginx's proxy_next_upstream) replays a
// request to waitingroom after the backend failed it, and waitingroom
// cannot tell a replay from a first try. So it may go when its method is
// safe, when the proxy marked it untried (UntriedPrefix), or when it does
// not come through a trusted proxy at all (nothing in front replayed it).
func (hd *Holder) Resendable(r *http.Request) bool {
	if SafeMethod(r.Method) {
		return true
	}
	if untried, _ := r.Context().Value(untriedKey{}).(bool); untried {
		return true
	}
	peer := peerAddr(r)
	return peer.IsValid() && !hd.isTrusted(peer)
}

// Handoff forwards r to h's running backend at once and streams the
// backend's answer to w, whatever its status (the app's own 5xx pages
// reach the user). The caller has checked that h is running and r is
// Resendable. It records activity like a forwarded held request.
//
// When the backend does not answer, Handoff writes nothing, asks the
// controller to re-read the host (Recheck, bounded) and returns
// ErrBackendDown, so the caller can answer with the host's new state or
// hold r: r (its body included) is untouched, and the backend never got it
// or r's method is safe. A request the backend may have received (an
// unsafe method, or any part of the body read, before the connection
// broke) is never sent again: Handoff answers it itself with 502 and
// returns nil. ErrNoAddress: the address is not known; nothing was
// written.
func (hd *Holder) Handoff(w http.ResponseWriter, r *http.Request, h controller.Host) error {
	hs := hd.host(h.Name)
	if hd.looped(r, hs) {
		hd.warnRarely(hs, loopWarning)
		return ErrLoop
	}
	ctx := r.Context()
	backend, err := hd.backend(h)
	if err != nil {
		hd.warnRarely(hs, "cannot hand a request to the backend: address unknown", "err", err)
		return fmt.Errorf("%w: %w", ErrNoAddress, err)
	}
	select {
	case hs.forward <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	fwd := &forwardInfo{hs: hs, backend: backend, handoff: true}
	defer fwd.release()
	hd.touch(ctx, hs)
	out := r.WithContext(context.WithValue(ctx, forwardKey{}, fwd))
	if r.Body != nil && r.Body != http.NoBody {
		fwd.body = &readTracker{ReadCloser: r.Body}
		out.Body = fwd.body
	}
	hd.proxy.ServeHTTP(w, out)
	if fwd.err != nil {
		hd.metrics.handoffs.WithLabelValues(h.Name, "backend_down").Inc()
		if fwd.answered {
			return nil
		}
		hd.warnRarely(hs, "backend of a running host did not answer; re-reading it", "backend", backend.Redacted(), "err", fwd.err)
		hd.recheckBackend(ctx, hs.name)
		return fmt.Errorf("%w: %w", ErrBackendDown, fwd.err)
	}
	hd.metrics.handoffs.WithLabelValues(h.Name, "forwarded").Inc()
	return nil
}

// recheckBackend asks the controller to re-read host's backend, waiting at most
// recheckTimeout (even when the client has gone: the next visitor needs
// the answer).
func (hd *Holder) recheckBackend(ctx context.Context, host string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recheckTimeout)
	defer cancel()
	if err := hd.ctl.Recheck(ctx, host); err != nil {
		hd.log.Debug("recheck of a backend that did not answer failed", "host", host, "err", err)
	}
}

// Recheck asks the controller to re-read host's backend, for a request
// that found the host running but could not be forwarded (see Resendable).
func (hd *Holder) Recheck(ctx context.Context, host string) { hd.recheckBackend(ctx, host) }

// Untried is the package function Untried, for web.Holder.
func (hd *Holder) Untried(r *http.Request) (*http.Request, bool) { return Untried(r) }
