package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

// streamWriteTimeout bounds one write to a hijacked event stream. Writes
// are a few hundred bytes into the kernel's socket buffer and return at
// once; only a client that has not read for hours (its buffer full) makes
// one wait. Such a client is dropped rather than allowed to hold up the
// other streams of its host, which share one writer.
const streamWriteTimeout = time.Second

// streamSet keeps the open event streams of the public listener on
// hijacked connections, grouped by host.
//
// A crowd waiting on sleeping hosts is thousands of connections that carry
// a few events each. Served by net/http, each one holds a handler
// goroutine, a background reader, 10 KB of buffers, contexts and a hub
// subscription for its whole life (about 25 KB). Here a stream is its
// connection and one small goroutine blocked reading it (to notice the
// client leave); each host has one subscription and one goroutine that
// writes its events and heartbeats to all of its streams.
type streamSet struct {
	ctl       PublicController
	log       *slog.Logger
	heartbeat time.Duration
	ctx       context.Context // ends every stream
	// showReason: failures' reasons go to the pages (publicReason).
	showReason bool

	mu    sync.Mutex
	hosts map[string]*hostStreams
}

// hostStreams is one host's streams and their shared subscription.
type hostStreams struct {
	host   string
	cancel context.CancelFunc // ends the subscription and the writer
	// members counts conns plus streams still being set up, so a group
	// is not torn down under a joining stream. Guarded by streamSet.mu.
	members int
	// kick asks the writer to re-read the state now: a joining stream
	// read a newer state than the group's streams were sent.
	kick chan struct{}

	// mu guards the fields below. Only the writer goroutine writes to
	// the conns in the set, outside mu, so one stalled client delays its
	// host's events but never a joining stream; a joining stream writes
	// its first bytes under mu, before it is in the set.
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	last  eventJSON // the state the group's streams were sent last
	frame []byte    // last, framed
	ended bool      // the writer is gone: no stream may join
}

func newStreamSet(ctx context.Context, ctl PublicController, log *slog.Logger, heartbeat time.Duration) *streamSet {
	return &streamSet{ctl: ctl, log: log, heartbeat: heartbeat, ctx: ctx, hosts: map[string]*hostStreams{}}
}

// errNotHijackable says the connection cannot be taken over (HTTP/2, or
// a wrapper that hides it): the caller streams from the handler instead.
var errNotHijackable = errors.New("web: connection cannot be hijacked")

// errStreamsEnded: the server shut down while the stream was set up.
var errStreamsEnded = errors.New("web: event streams ended")

// serve takes the request's connection over and adds it to its host's
// streams. Nothing is written on errNotHijackable; on ok=false the host is
// not registered and nothing is written either.
//
// release frees the stream's slot in the caps (streamCaps): once the
// connection is taken over, closing it calls release; before that (ok
// false, or errNotHijackable) the caller still owns it.
func (s *streamSet) serve(w http.ResponseWriter, r *http.Request, host string, release func(), first func(context.Context) (eventJSON, bool)) (ok bool, err error) {
	if r.ProtoMajor != 1 {
		return true, errNotHijackable // HTTP/2 and later multiplex: nothing to take over
	}
	g := s.join(host)
	joined := false
	defer func() {
		if !joined {
			s.leave(g, nil)
		}
	}()
	// Read the state after the group's subscription exists, so a change
	// in between is either in the state read or delivered after it.
	ev, known := first(r.Context())
	if !known {
		return false, nil
	}
	rc := http.NewResponseController(w)
	// Headers first, into the same write as the first event.
	h := w.Header()
	setSSEHeaders(h)
	h.Set("X-Waitingroom-State", string(ev.State))
	raw, brw, err := rc.Hijack()
	if err != nil {
		for _, k := range sseHeaderKeys() {
			h.Del(k)
		}
		h.Del("X-Waitingroom-State")
		return true, errors.Join(errNotHijackable, err)
	}
	conn := net.Conn(&countedConn{Conn: raw, release: release})
	// Whatever the client sent after its request is not ours to answer
	// (EventSource sends nothing more): drop the buffers with brw.
	_ = brw

	var out bytes.Buffer
	out.WriteString("HTTP/1.1 200 OK\r\n")
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	// No length and no chunking: the stream ends when the connection
	// closes, which it does when the host's group or the server ends.
	h.Set("Connection", "close")
	_ = h.Write(&out)
	out.WriteString("\r\n")
	appendSSERetry(&out, publicRetry)

	var frame bytes.Buffer
	if err := appendEvent(&frame, ev); err != nil {
		conn.Close()
		s.log.Error("encoding state event", "err", err)
		return true, nil
	}
	out.Write(frame.Bytes())
	g.mu.Lock()
	switch {
	case g.frame == nil: // the first stream: what it read is what the group has
		g.last, g.frame = ev, frame.Bytes()
	case g.last.State == ev.State:
	case g.last.At.After(ev.At), ev.State == controller.StateUnknown:
		// An event went out while this stream read its state, newer than
		// what it read (or the store could not say): send that too.
		out.Write(g.frame)
	default:
		// What this stream read is newer than what the others were sent
		// (the subscription missed a change): the writer catches them up.
		select {
		case g.kick <- struct{}{}:
		default:
		}
	}
	werr := errStreamsEnded
	if !g.ended {
		werr = writeWithin(conn, out.Bytes())
	}
	if werr == nil {
		g.conns[conn] = struct{}{}
	}
	g.mu.Unlock()
	if werr != nil {
		conn.Close()
		return true, nil
	}
	joined = true
	go s.watch(g, conn)
	return true, nil
}

// watch blocks reading conn until the client goes (or the connection is
// closed here), then removes it. The client sends nothing after its
// request, so any read ending means the stream is over.
func (s *streamSet) watch(g *hostStreams, conn net.Conn) {
	var b [1]byte
	_, _ = conn.Read(b[:])
	s.leave(g, conn)
}

// join returns host's group with the caller counted in, starting the
// group's subscription and writer when it is the first.
func (s *streamSet) join(host string) *hostStreams {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g, ok := s.hosts[host]; ok {
		g.members++
		return g
	}
	ctx, cancel := context.WithCancel(s.ctx)
	g := &hostStreams{host: host, cancel: cancel, members: 1, kick: make(chan struct{}, 1), conns: map[net.Conn]struct{}{}}
	s.hosts[host] = g
	events := s.ctl.Subscribe(ctx, host)
	go s.write(ctx, g, events)
	return g
}

// leave counts a member out (closing conn when given); the last one out
// ends the group's subscription and writer.
func (s *streamSet) leave(g *hostStreams, conn net.Conn) {
	if conn != nil {
		g.mu.Lock()
		delete(g.conns, conn)
		g.mu.Unlock()
		conn.Close()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g.members--
	if g.members == 0 {
		delete(s.hosts, g.host)
		g.cancel()
	}
}

// write is the host's writer: each state event and each heartbeat goes to
// every stream of the host. When the group ends (last stream gone, or the
// server shutting down) it closes the streams that are left.
func (s *streamSet) write(ctx context.Context, g *hostStreams, events <-chan controller.Event) {
	beat := time.NewTicker(s.heartbeat)
	heartbeat := []byte(sseHeartbeat)
	defer beat.Stop()
	defer g.closeAll()
	// drain sends the events already waiting, so that heal, which reads
	// the newest state, is not followed by an older one.
	drain := func() bool {
		for {
			select {
			case e, ok := <-events:
				if !ok {
					return false
				}
				g.publish(s.log, s.publicEvent(e))
			default:
				return true
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-events:
			if !ok {
				return
			}
			g.publish(s.log, s.publicEvent(e))
		case <-g.kick:
			if !drain() {
				return
			}
			s.heal(ctx, g)
		case <-beat.C:
			if !drain() {
				return
			}
			g.send(heartbeat)
			s.heal(ctx, g)
		}
	}
}

// publicEvent is what a waiting page may learn of e.
func (s *streamSet) publicEvent(e controller.Event) eventJSON {
	ev := eventJSON{Host: e.Host, State: e.To, From: e.From, At: e.At}
	if e.To == controller.StateFailed {
		// Only failures' reasons are public; others name clients.
		ev.Reason = publicReason(s.showReason, e.Reason)
	}
	return ev
}

// heal sends the host's current state when it differs from the last one
// the streams got. The hub drops events for a subscriber that falls
// behind (publish never blocks); a page must still learn that its backend
// is running, at the latest one heartbeat later.
func (s *streamSet) heal(ctx context.Context, g *hostStreams) {
	// The writer waits for this read: a slow store must not hold the
	// host's events and heartbeats up for long.
	rctx, cancel := context.WithTimeout(ctx, max(s.heartbeat/2, 100*time.Millisecond))
	_, rec, err := s.ctl.Status(rctx, g.host)
	cancel()
	if err != nil || !rec.State.Valid() {
		return
	}
	g.mu.Lock()
	last := g.last
	g.mu.Unlock()
	if rec.State == last.State && (rec.State != controller.StateFailed || rec.Reason == last.Reason) {
		return
	}
	ev := eventJSON{Host: g.host, State: rec.State, From: last.State, At: rec.Changed}
	if rec.State == controller.StateFailed {
		ev.Reason = publicReason(s.showReason, rec.Reason)
	}
	g.publish(s.log, ev)
}

// publish makes ev the group's state and writes it to every stream.
func (g *hostStreams) publish(log *slog.Logger, ev eventJSON) {
	var out bytes.Buffer
	if err := appendEvent(&out, ev); err != nil {
		log.Error("encoding state event", "err", err)
		return
	}
	g.mu.Lock()
	g.last, g.frame = ev, out.Bytes()
	conns := g.snapshotLocked()
	g.mu.Unlock()
	g.writeAll(conns, out.Bytes())
}

// send writes b to every stream.
func (g *hostStreams) send(b []byte) {
	g.mu.Lock()
	conns := g.snapshotLocked()
	g.mu.Unlock()
	g.writeAll(conns, b)
}

func (g *hostStreams) snapshotLocked() []net.Conn {
	conns := make([]net.Conn, 0, len(g.conns))
	for c := range g.conns {
		conns = append(conns, c)
	}
	return conns
}

// writeAll writes b to conns; a stream whose write fails is removed and
// closed (its watcher then counts it out).
func (g *hostStreams) writeAll(conns []net.Conn, b []byte) {
	for _, c := range conns {
		if err := writeWithin(c, b); err != nil {
			g.mu.Lock()
			delete(g.conns, c)
			g.mu.Unlock()
			c.Close()
		}
	}
}

func (g *hostStreams) closeAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ended = true
	for c := range g.conns {
		delete(g.conns, c)
		c.Close()
	}
}

func writeWithin(c net.Conn, b []byte) error {
	_ = c.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	_, err := c.Write(b)
	return err
}

// appendEvent frames ev as one `event: state` into out.
func appendEvent(out *bytes.Buffer, ev eventJSON) error {
	ev.StateWords = ev.State.Words()
	if !ev.At.IsZero() {
		ev.At = ev.At.UTC()
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	appendSSEEvent(out, "state", data)
	return nil
}
