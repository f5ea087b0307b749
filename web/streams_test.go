package web

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/poll"
)

func TestEventStreamsOfAHostShareOneSubscription(t *testing.T) {
	f := newFakeController("app.example.com", "other.example.com")
	p := newTestPublic(t, f, nil)
	ts := startServer(t, p)

	ctxs := make([]context.CancelFunc, 3)
	streams := make([]*sseReader, 3)
	for i := range streams {
		ctx, cancel := context.WithCancel(t.Context())
		ctxs[i] = cancel
		streams[i] = openEvents(t, ctx, ts.URL, "app.example.com")
		streams[i].nextState()
	}
	other := openEvents(t, t.Context(), ts.URL, "other.example.com")
	other.nextState()
	poll.Until(t, 5*time.Second, "one subscription per host", func() bool { return f.subscribers() == 2 })

	f.publish("app.example.com", controller.StateRunning, "")
	for i, s := range streams {
		if ev := s.nextState(); ev.State != controller.StateRunning {
			t.Fatalf("stream %d got %+v, want running", i, ev)
		}
	}
	// Streams leave one by one; the host's subscription ends with the last.
	ctxs[0]()
	ctxs[1]()
	f.publish("app.example.com", controller.StateStopping, "")
	if ev := streams[2].nextState(); ev.State != controller.StateStopping {
		t.Fatalf("remaining stream got %+v, want stopping", ev)
	}
	if n := f.subscribers(); n != 2 {
		t.Fatalf("%d subscriptions with one stream of each host left, want 2", n)
	}
	ctxs[2]()
	poll.Until(t, 5*time.Second, "the host's subscription to end with its last stream", func() bool { return f.subscribers() == 1 })
}

func TestEventStreamResponseIsPlainHTTP1(t *testing.T) {
	f := newFakeController("app.example.com")
	p := newTestPublic(t, f, nil)
	ts := startServer(t, p)
	conn, err := net.DialTimeout("tcp", ts.Listener.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, "GET /.waitingroom/events HTTP/1.1\r\nHost: App.Example.com\r\nAccept: text/event-stream\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"Content-Type":           "text/event-stream",
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff", // set before the stream: kept
		"X-Waitingroom-State":    "stopped",
	} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if !res.Close {
		t.Error("no Connection: close")
	}
	if res.Header.Get("Date") == "" || res.ContentLength != -1 || len(res.TransferEncoding) != 0 {
		t.Errorf("Date %q, length %d, transfer encoding %v: want a date and a body ended by closing",
			res.Header.Get("Date"), res.ContentLength, res.TransferEncoding)
	}
	s := &sseReader{t: t, r: bufio.NewReader(res.Body), res: res}
	if ev := s.nextState(); ev.State != controller.StateStopped || ev.Host != "app.example.com" {
		t.Fatalf("first event %+v", ev)
	}
}

// noHijack hides the connection from the handler, as HTTP/2 does.
type noHijack struct {
	http.ResponseWriter
}

func (w noHijack) Flush() { w.ResponseWriter.(http.Flusher).Flush() }

func TestEventsStreamFromHandlerWhenConnectionCannotBeHijacked(t *testing.T) {
	f := newFakeController("app.example.com")
	p := newTestPublic(t, f, nil)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.ServeHTTP(noHijack{w}, r)
	}))
	t.Cleanup(ts.Close)
	s := openEvents(t, t.Context(), ts.URL, "app.example.com")
	if s.res.Close || s.res.TransferEncoding == nil {
		t.Errorf("headers %v, transfer encoding %v: want net/http's chunked stream", s.res.Header, s.res.TransferEncoding)
	}
	s.want(controller.StateStopped)
	// The hijack attempt left a subscription of its own behind only until
	// it gave up: the handler's stream has the one that remains.
	poll.Until(t, 5*time.Second, "one subscription", func() bool { return f.subscribers() == 1 })
	f.publish("app.example.com", controller.StateStarting, "")
	s.want(controller.StateStarting)
}

// A state change the subscription missed (the hub drops events for a
// subscriber that falls behind) reaches the streams at the next heartbeat.
func TestEventStreamsCatchUpWithMissedChanges(t *testing.T) {
	f := newFakeController("app.example.com")
	p := newTestPublic(t, f, func(o *PublicOptions) { o.Heartbeat = 20 * time.Millisecond })
	ts := startServer(t, p)
	s := openEvents(t, t.Context(), ts.URL, "app.example.com")
	s.want(controller.StateStopped)
	f.set(controller.Record{Host: "app.example.com", State: controller.StateRunning, Changed: f.Now()})
	if ev := s.nextState(); ev.State != controller.StateRunning || ev.From != controller.StateStopped {
		t.Fatalf("event %+v, want stopped → running", ev)
	}
}

// A client that stops reading cannot hold up the other streams of its host
// for longer than one write timeout: it is dropped.
func TestStreamThatCannotBeWrittenIsDropped(t *testing.T) {
	g := &hostStreams{host: "app.example.com", kick: make(chan struct{}, 1), conns: map[net.Conn]struct{}{}}
	stuck, stuckPeer := net.Pipe() // never read: every write blocks
	defer stuckPeer.Close()
	live, livePeer := net.Pipe()
	defer livePeer.Close()
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, 64)
		n, _ := livePeer.Read(b)
		got <- b[:n]
	}()
	g.conns[stuck], g.conns[live] = struct{}{}, struct{}{}

	g.send([]byte(": heartbeat\n\n"))
	if b := <-got; !bytes.Equal(b, []byte(": heartbeat\n\n")) {
		t.Fatalf("the live stream got %q", b)
	}
	if _, ok := g.conns[stuck]; ok {
		t.Fatal("the stream that never reads is still there")
	}
	if _, ok := g.conns[live]; !ok {
		t.Fatal("the live stream was dropped")
	}
	if _, err := stuckPeer.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the dropped stream is not closed: read = %v", err)
	}
}

func TestEventsRefusedAfterStreamsEnded(t *testing.T) {
	f := newFakeController("app.example.com")
	base, cancel := context.WithCancel(t.Context())
	p := newTestPublic(t, f, func(o *PublicOptions) { o.BaseContext = base })
	cancel()
	req := httptest.NewRequest(http.MethodGet, "/.waitingroom/events", nil)
	req.Host = "app.example.com"
	req.Header.Set("Accept", "text/event-stream")
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503 once the server is shutting down", rec.Code)
	}
	if n := f.subscribers(); n != 0 {
		t.Fatalf("%d subscriptions left behind", n)
	}
}

// A change the group's subscription missed must still reach the streams
// already open when a new stream, which reads the newer state, joins.
func TestEventStreamJoinerCatchesTheOthersUp(t *testing.T) {
	f := newFakeController("app.example.com")
	// A heartbeat far away: the catch-up must not wait for it.
	p := newTestPublic(t, f, func(o *PublicOptions) { o.Heartbeat = time.Hour })
	ts := startServer(t, p)
	a := openEvents(t, t.Context(), ts.URL, "app.example.com")
	a.want(controller.StateStopped)
	f.set(controller.Record{Host: "app.example.com", State: controller.StateRunning, Changed: f.Now().Add(time.Second)}) // no event
	b := openEvents(t, t.Context(), ts.URL, "app.example.com")
	b.want(controller.StateRunning)
	got := make(chan eventJSON, 1)
	go func() { got <- a.nextState() }()
	select {
	case ev := <-got:
		if ev.State != controller.StateRunning {
			t.Fatalf("the first stream got %+v, want running", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first stream never learnt the host is running")
	}
}

func TestShutdownClosesEveryEventStream(t *testing.T) {
	f := newFakeController("app.example.com", "b.example.com")
	p := newTestPublic(t, f, nil)
	srv := p.Server("127.0.0.1:0")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	var streams []*sseReader
	for _, h := range []string{"app.example.com", "app.example.com", "b.example.com"} {
		s := openEvents(t, t.Context(), "http://"+ln.Addr().String(), h)
		s.nextState()
		streams = append(streams, s)
	}
	shutdownWithin(t, srv, 3*time.Second)
	for _, s := range streams {
		s.wantEnd(5 * time.Second)
	}
	poll.Until(t, 5*time.Second, "the subscriptions to end", func() bool { return f.subscribers() == 0 })
}

func TestEventsOverHTTP2StreamFromHandler(t *testing.T) {
	f := newFakeController("app.example.com")
	p := newTestPublic(t, f, nil)
	ts := httptest.NewUnstartedServer(p)
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(ts.Close)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, ts.URL+"/.waitingroom/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "app.example.com"
	res, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.ProtoMajor != 2 || res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("HTTP/%d %d %q", res.ProtoMajor, res.StatusCode, res.Header.Get("Content-Type"))
	}
	s := &sseReader{t: t, r: bufio.NewReader(res.Body), res: res}
	s.want(controller.StateStopped)
	poll.Until(t, 5*time.Second, "the stream to subscribe", func() bool { return f.subscribers() == 1 })
	f.publish("app.example.com", controller.StateRunning, "")
	s.want(controller.StateRunning)
}

// A stream that joins while the store cannot answer is told "unknown" and
// then the state the host's other streams have.
func TestEventStreamJoiningDuringStoreOutageGetsTheGroupsState(t *testing.T) {
	f := newFakeController("app.example.com")
	f.set(controller.Record{Host: "app.example.com", State: controller.StateStarting, Changed: f.Now()})
	p := newTestPublic(t, f, func(o *PublicOptions) { o.Heartbeat = time.Hour })
	ts := startServer(t, p)
	a := openEvents(t, t.Context(), ts.URL, "app.example.com")
	a.want(controller.StateStarting)
	f.mu.Lock()
	f.statusErr = fmt.Errorf("get: %w", controller.ErrStoreUnavailable)
	f.mu.Unlock()
	b := openEvents(t, t.Context(), ts.URL, "app.example.com")
	b.want(controller.StateUnknown)
	b.want(controller.StateStarting)
}

// One client's streams past MaxStreamsPerClient get 429, everybody's past
// MaxStreams 503, with the connection closed; a slot frees when its
// stream ends.
func TestEventStreamsAreCappedPerClientAndInTotal(t *testing.T) {
	ctl := newFakeController("app.example.com")
	p, err := NewPublic(PublicOptions{Controller: ctl, Logger: discardLogger(), MaxStreamsPerClient: 2, MaxStreams: 3,
		ClientIP: func(r *http.Request) netip.Addr { return netip.MustParseAddr(r.Header.Get("X-Test-Client")) }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	defer srv.Close()
	open := func(client string) (*http.Response, error) {
		req, _ := http.NewRequest("GET", srv.URL+"/.waitingroom/events", nil)
		req.Host = "app.example.com"
		req.Header.Set("X-Test-Client", client)
		return http.DefaultTransport.RoundTrip(req)
	}
	var opened []*http.Response
	defer func() {
		for _, r := range opened {
			r.Body.Close()
		}
	}()
	steps := []struct {
		client string
		want   int
	}{
		{"198.51.100.1", 200}, {"198.51.100.1", 200}, {"198.51.100.1", 429},
		{"2001:db8::1", 200}, {"2001:db8::2", 503}, {"198.51.100.2", 503},
	}
	for i, st := range steps {
		resp, err := open(st.client)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if resp.StatusCode != st.want {
			t.Fatalf("step %d (%s): %d, want %d", i, st.client, resp.StatusCode, st.want)
		}
		if st.want == 200 {
			opened = append(opened, resp)
			continue
		}
		if !resp.Close || resp.Header.Get("Retry-After") == "" {
			t.Errorf("step %d: refusal without Connection: close (%v) or Retry-After (%q)", i, resp.Close, resp.Header.Get("Retry-After"))
		}
		resp.Body.Close()
	}
	// The IPv6 client is counted by its /64: a second address there is
	// the same client.
	if _, n := p.streamCaps.counts(netip.MustParseAddr("2001:db8::99")); n != 1 {
		t.Errorf("the /64 holds %d streams, want 1", n)
	}
	opened[0].Body.Close()
	opened = opened[1:]
	poll.Until(t, 5*time.Second, "the closed stream's slot to free", func() bool {
		total, _ := p.streamCaps.counts(netip.Addr{})
		return total == 2
	})
	resp, err := open("198.51.100.2")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after a stream ended: %v %v", resp, err)
	}
	opened = append(opened, resp)
}

// The server never ends a stream because its host reached running (the
// page's wait.js closes its own stream on `running` and reloads): a stream
// opened while the previous one of the host closes, as the host goes
// running, stays open past its first event. Reported as a stream "closed
// right after its first event"; that was the page's own close.
func TestEventStreamReopenedAsHostRunsStaysOpen(t *testing.T) {
	f := newFakeController("app.example.com")
	p := newTestPublic(t, f, func(o *PublicOptions) { o.Heartbeat = 10 * time.Millisecond })
	ts := startServer(t, p)
	for i := range 100 {
		f.publish("app.example.com", controller.StateStopped, "")
		f.publish("app.example.com", controller.StateStarting, "")
		ctx, cancel := context.WithCancel(t.Context())
		a := openEvents(t, ctx, ts.URL, "app.example.com")
		a.nextState()
		closed := make(chan struct{})
		go func() { // the previous page hears running and goes
			defer close(closed)
			f.publish("app.example.com", controller.StateRunning, "")
			cancel()
			a.res.Body.Close()
		}()
		bctx, bcancel := context.WithCancel(t.Context())
		b := openEvents(t, bctx, ts.URL, "app.example.com")
		b.nextState()
		for range 3 { // heartbeats (or running) follow, not the end
			if _, err := b.next(); err != nil {
				t.Fatalf("round %d: the new stream ended after its first event: %v", i, err)
			}
		}
		<-closed
		bcancel()
		b.res.Body.Close()
	}
}
