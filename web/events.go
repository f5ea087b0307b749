package web

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

// eventJSON is the data of one `event: state` on /.waitingroom/events.
type eventJSON struct {
	Host       string           `json:"host"`
	State      controller.State `json:"state"`
	From       controller.State `json:"from"`
	Reason     string           `json:"reason"`
	At         time.Time        `json:"at"`
	StateWords string           `json:"state_words"`
}

// serveEvents streams the host's state changes as Server-Sent Events: the
// current state first, then one `event: state` per change, a comment line
// every heartbeat. The stream ends when the client goes, when p's base
// context is done, or when the server built by p.Server shuts down.
// Watching is not activity and never wakes anything.
//
// HTTP/1 connections are handed to p.streamSet (see streams.go): a crowd of
// waiting pages then costs about a kilobyte each instead of net/http's
// 25 KB per open request.
func (p *Public) serveEvents(w http.ResponseWriter, r *http.Request, host string) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		p.refuse(w, r, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if !p.known(w, r, host) {
		return
	}
	if p.streams.Err() != nil {
		p.refuse(w, r, http.StatusServiceUnavailable, "shutting down")
		return
	}
	release, status, msg := p.streamCaps.acquire(p.clientIP(r))
	if release == nil {
		// Close the connection too: a refused client keeping it alive
		// would still hold the file descriptor the cap protects.
		w.Header().Set("Connection", "close")
		w.Header().Set("Retry-After", strconv.Itoa(int(p.maxRetry/time.Second)))
		p.refuse(w, r, status, msg)
		return
	}
	known, err := p.streamSet.serve(w, r, host, release, func(ctx context.Context) (eventJSON, bool) {
		return p.firstEvent(ctx, host)
	})
	switch {
	case !known:
		release()
		p.refuse(w, r, http.StatusNotFound, "no site is registered for this host name")
	case errors.Is(err, errNotHijackable):
		defer release()
		p.streamInHandler(w, r, host)
	}
}

// streamInHandler serves an event stream from the handler's goroutine
// through net/http: for connections that cannot be hijacked (HTTP/2, or
// a wrapping ResponseWriter that hides it). It returns when the client
// goes, when p's base context is done, or when the server built by
// p.Server shuts down.
func (p *Public) streamInHandler(w http.ResponseWriter, r *http.Request, host string) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(p.streams, cancel)
	defer stop()

	// Subscribe before reading the state, so a change in between is
	// delivered rather than lost.
	events := p.ctl.Subscribe(ctx, host)

	// No read deadline to lift: net/http clears ReadTimeout's once the
	// request is read (TestEventsOutliveReadTimeout keeps that true).
	rc := http.NewResponseController(w)
	// The stream's write deadlines must not outlive it on a kept-alive
	// connection (the server has no WriteTimeout to reset them).
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()

	first, known := p.firstEvent(ctx, host)
	if !known {
		p.refuse(w, r, http.StatusNotFound, "no site is registered for this host name")
		return
	}

	h := w.Header()
	setSSEHeaders(h)
	h.Set("X-Waitingroom-State", string(first.State))
	w.WriteHeader(http.StatusOK)

	var buf bytes.Buffer
	appendSSERetry(&buf, publicRetry)
	if !p.send(w, rc, &buf, first) {
		return
	}
	beat := time.NewTicker(p.heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-events:
			if !ok {
				return
			}
			if !p.send(w, rc, &buf, p.streamSet.publicEvent(e)) {
				return
			}
		case <-beat.C:
			buf.WriteString(sseHeartbeat)
			if !p.flush(w, rc, &buf) {
				return
			}
		}
	}
}

// firstEvent is the host's current state as the stream's first event;
// false when the host is not registered (any more).
//
// A function of its own, kept out of line, so the Host and Record it reads
// are not in serveEvents' stack frame: that frame stays on the stack for
// the whole stream, and with thousands of streams open every byte of it
// decides whether the runtime can shrink each goroutine's stack.
//
//go:noinline
func (p *Public) firstEvent(ctx context.Context, host string) (eventJSON, bool) {
	_, rec, err := p.ctl.Status(ctx, host)
	if errors.Is(err, controller.ErrUnknownHost) {
		return eventJSON{}, false
	}
	first := eventJSON{Host: host, State: rec.State, At: rec.Changed}
	if err != nil || !first.State.Valid() {
		// The store is unreachable: say "unknown"; the page asks
		// /.waitingroom/status for the details and events follow.
		first.State, first.At = controller.StateUnknown, p.ctl.Now()
	}
	if first.State == controller.StateFailed {
		first.Reason = publicReason(p.streamSet.showReason, rec.Reason)
	}
	return first, true
}

// send writes one state event and flushes it.
func (p *Public) send(w http.ResponseWriter, rc *http.ResponseController, buf *bytes.Buffer, ev eventJSON) bool {
	if err := appendEvent(buf, ev); err != nil {
		p.log.Error("encoding state event", "err", err)
		return false
	}
	return p.flush(w, rc, buf)
}

// flush writes buf to the client within a deadline and flushes it.
func (p *Public) flush(w http.ResponseWriter, rc *http.ResponseController, buf *bytes.Buffer) bool {
	_ = rc.SetWriteDeadline(time.Now().Add(p.heartbeat + 10*time.Second))
	_, err := w.Write(buf.Bytes())
	buf.Reset()
	if err == nil {
		err = rc.Flush()
	}
	return err == nil
}
