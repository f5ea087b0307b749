package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/poll"
)

// startServer serves p over real TCP on loopback with the limits of
// p.Server.
func startServer(t *testing.T, p *Public) *httptest.Server {
	t.Helper()
	ts := httptest.NewUnstartedServer(p)
	cfg := p.Server("")
	cfg.Handler = p
	ts.Config = cfg
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}

// rawRequest writes req on a new connection and returns the status line.
func rawRequest(t *testing.T, addr, req string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	// The server may answer and close before the request is fully written:
	// write in the background, read the answer here.
	go func() { _, _ = io.WriteString(conn, req) }()
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return strings.TrimSpace(line)
}

func TestLimitsOverRealTCP(t *testing.T) {
	f := newFakeController("app.example.com")
	p := newTestPublic(t, f, nil)
	ts := startServer(t, p)
	addr := ts.Listener.Addr().String()
	tests := []struct {
		name, req, want string
	}{
		{"1 MB header is 431", "GET / HTTP/1.1\r\nHost: app.example.com\r\nX-Big: " + strings.Repeat("a", 1<<20) + "\r\n\r\n", "HTTP/1.1 431"},
		{"many headers over 16 KiB is 431", "GET / HTTP/1.1\r\nHost: app.example.com\r\n" + strings.Repeat("X-A: "+strings.Repeat("b", 100)+"\r\n", 250) + "\r\n", "HTTP/1.1 431"},
		{"10 KiB URL is 414", "GET /" + strings.Repeat("u", 10<<10) + " HTTP/1.1\r\nHost: app.example.com\r\n\r\n", "HTTP/1.1 414"},
		{"missing Host is 400", "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 400"},
		{"HTTP/1.0 without Host is 400", "GET / HTTP/1.0\r\n\r\n", "HTTP/1.0 400"},
		{"garbage Host is 400", "GET / HTTP/1.1\r\nHost: app.example.com/../x\r\n\r\n", "HTTP/1.1 400"},
		{"unknown Host is 404", "GET / HTTP/1.1\r\nHost: nope.example.com\r\n\r\n", "HTTP/1.1 404"},
		{"registered Host is 503", "GET / HTTP/1.1\r\nHost: APP.example.com:8080\r\n\r\n", "HTTP/1.1 503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rawRequest(t, addr, tt.req); !strings.HasPrefix(got, tt.want) {
				t.Errorf("got %q, want %s", got, tt.want)
			}
		})
	}
	if n := f.wakes.Load(); n != 1 {
		t.Errorf("%d wakes, want 1 (only the registered host)", n)
	}
}

func TestServerHasLimits(t *testing.T) {
	p := newTestPublic(t, newFakeController(), func(o *PublicOptions) { o.MaxHeaderBytes = 4096 })
	srv := p.Server(":0")
	if srv.MaxHeaderBytes != 4096 || srv.ReadHeaderTimeout != DefaultReadHeaderTimeout ||
		srv.ReadTimeout != DefaultReadTimeout || srv.IdleTimeout != DefaultIdleTimeout || srv.WriteTimeout != 0 {
		t.Errorf("server limits %+v", srv)
	}
}

// sseReader reads Server-Sent Events.
type sseReader struct {
	t   *testing.T
	r   *bufio.Reader
	res *http.Response
}

type sseEvent struct {
	name, data string
	comment    bool
}

func openEvents(t *testing.T, ctx context.Context, url, host string) *sseReader {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/.waitingroom/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("Accept", "text/event-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	return &sseReader{t: t, r: bufio.NewReader(res.Body), res: res}
}

// next returns the next event or comment; io.EOF when the stream ended.
func (s *sseReader) next() (sseEvent, error) {
	var e sseEvent
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return e, err
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if e.name != "" || e.data != "" || e.comment {
				return e, nil
			}
		case strings.HasPrefix(line, ":"):
			e.comment = true
		case strings.HasPrefix(line, "event: "):
			e.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			e.data += strings.TrimPrefix(line, "data: ")
		}
	}
}

// nextState skips comments and returns the next state event.
func (s *sseReader) nextState() eventJSON {
	s.t.Helper()
	for {
		e, err := s.next()
		if err != nil {
			s.t.Fatalf("event stream: %v", err)
		}
		if e.comment && e.name == "" {
			continue
		}
		if e.name != "state" {
			s.t.Fatalf("event %q, want state", e.name)
		}
		var ev eventJSON
		if err := json.Unmarshal([]byte(e.data), &ev); err != nil {
			s.t.Fatalf("event data %q: %v", e.data, err)
		}
		return ev
	}
}

// wantEnd reads until the stream ends and fails the test unless it ends
// cleanly (io.EOF) within d.
func (s *sseReader) wantEnd(d time.Duration) {
	s.t.Helper()
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := s.next(); err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		if err != io.EOF {
			s.t.Errorf("stream ended with %v, want a clean end (io.EOF)", err)
		}
	case <-time.After(d):
		s.t.Fatalf("the stream did not end within %s", d)
	}
}

// want reads the next state event and fails the test unless it is st.
func (s *sseReader) want(st controller.State) eventJSON {
	s.t.Helper()
	ev := s.nextState()
	if ev.State != st {
		s.t.Fatalf("event %+v, want %s", ev, st)
	}
	return ev
}

func TestEventsFirstCurrentStateThenChanges(t *testing.T) {
	f := newFakeController("app.example.com", "other.example.com")
	f.set(controller.Record{Host: "app.example.com", State: controller.StateStarting, Changed: f.now})
	p := newTestPublic(t, f, func(o *PublicOptions) { o.ShowFailureReason = true })
	ts := startServer(t, p)
	s := openEvents(t, t.Context(), ts.URL, "app.example.com")
	if s.res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", s.res.Header.Get("Cache-Control"))
	}

	first := s.nextState()
	if first.Host != "app.example.com" || first.State != controller.StateStarting || first.StateWords != "waking up" {
		t.Fatalf("first event %+v, want the current state starting", first)
	}
	poll.Until(t, 5*time.Second, "the stream to subscribe", func() bool { return f.subscribers() == 1 })
	f.publish("other.example.com", controller.StateRunning, "") // someone else's host: not delivered
	f.publish("app.example.com", controller.StateFailed, "start: <exit 1>")
	ev := s.nextState()
	if ev.State != controller.StateFailed || ev.From != controller.StateStarting || ev.Reason != "start: <exit 1>" || ev.At.IsZero() {
		t.Fatalf("event %+v, want starting → failed with its reason", ev)
	}
	f.publish("app.example.com", controller.StateStarting, "wake requested by 203.0.113.x (browser)")
	if ev := s.nextState(); ev.State != controller.StateStarting || ev.Reason != "" {
		t.Fatalf("event %+v, want starting without the reason naming a client", ev)
	}
	f.publish("app.example.com", controller.StateRunning, "")
	if ev := s.nextState(); ev.State != controller.StateRunning || ev.From != controller.StateStarting {
		t.Fatalf("event %+v, want starting → running", ev)
	}
	if n := f.wakes.Load(); n != 0 {
		t.Errorf("the event stream woke the host %d times", n)
	}
}

func TestEventsHeartbeat(t *testing.T) {
	f := newFakeController("app.example.com")
	p := newTestPublic(t, f, func(o *PublicOptions) { o.Heartbeat = 20 * time.Millisecond })
	ts := startServer(t, p)
	s := openEvents(t, t.Context(), ts.URL, "app.example.com")
	s.nextState()
	deadline := time.Now().Add(5 * time.Second)
	for {
		e, err := s.next()
		if err != nil {
			t.Fatal(err)
		}
		if e.comment {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no heartbeat")
		}
	}
}

func TestEventsEndWhenBaseContextIsCancelled(t *testing.T) {
	f := newFakeController("app.example.com")
	base, cancel := context.WithCancel(t.Context())
	defer cancel()
	p := newTestPublic(t, f, func(o *PublicOptions) { o.BaseContext = base })
	// Served by a plain server, not p.Server: the base context alone ends it.
	ts := httptest.NewServer(p)
	t.Cleanup(ts.Close)
	s := openEvents(t, t.Context(), ts.URL, "app.example.com")
	s.nextState()
	poll.Until(t, 5*time.Second, "the stream to subscribe", func() bool { return f.subscribers() == 1 })
	cancel()
	s.wantEnd(5 * time.Second)
	poll.Until(t, 5*time.Second, "the subscription to end", func() bool { return f.subscribers() == 0 })
}

func TestEventsOutliveReadTimeout(t *testing.T) {
	f := newFakeController("app.example.com")
	p := newTestPublic(t, f, func(o *PublicOptions) {
		o.ReadTimeout = 100 * time.Millisecond
		o.Heartbeat = 50 * time.Millisecond
	})
	ts := startServer(t, p)
	s := openEvents(t, t.Context(), ts.URL, "app.example.com")
	s.nextState()
	poll.Until(t, 5*time.Second, "the stream to subscribe", func() bool { return f.subscribers() == 1 })
	// Read heartbeats for several read timeouts.
	until := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(until) {
		if _, err := s.next(); err != nil {
			t.Fatalf("the stream ended after %s: %v", 500*time.Millisecond-time.Until(until), err)
		}
	}
	f.publish("app.example.com", controller.StateRunning, "")
	s.want(controller.StateRunning)
}

func TestEventsWhenStoreUnavailable(t *testing.T) {
	f := newFakeController("app.example.com")
	f.statusErr = fmt.Errorf("get: %w", controller.ErrStoreUnavailable)
	p := newTestPublic(t, f, nil)
	ts := startServer(t, p)
	s := openEvents(t, t.Context(), ts.URL, "app.example.com")
	s.want(controller.StateUnknown)
	poll.Until(t, 5*time.Second, "the stream to subscribe", func() bool { return f.subscribers() == 1 })
	f.publish("app.example.com", controller.StateRunning, "")
	s.want(controller.StateRunning)
}

func TestEventsEndWhenClientGoes(t *testing.T) {
	f := newFakeController("app.example.com")
	p := newTestPublic(t, f, nil)
	ts := startServer(t, p)
	ctx, cancel := context.WithCancel(t.Context())
	s := openEvents(t, ctx, ts.URL, "app.example.com")
	s.nextState()
	poll.Until(t, 5*time.Second, "the stream to subscribe", func() bool { return f.subscribers() == 1 })
	cancel()
	poll.Until(t, 5*time.Second, "the handler to notice the client went", func() bool { return f.subscribers() == 0 })
}

// shutdownWithin shuts srv down and fails the test when that takes longer
// than limit: an open event stream must not hold the server up.
func shutdownWithin(t *testing.T, srv *http.Server, limit time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v (an event stream held it up)", err)
	}
	if d := time.Since(start); d > limit {
		t.Errorf("Shutdown took %s, want at most %s", d, limit)
	}
}
