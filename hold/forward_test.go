package hold_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/hold"
)

func TestForwardedRequestCarriesClientIdentityAndOriginalHost(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		in      map[string]string
		want    map[string]string
	}{
		{
			name:    "behind a trusted proxy its headers are kept and the proxy appended",
			trusted: loopback,
			in: map[string]string{
				"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Host": testHost,
				"X-Forwarded-Proto": "https", "X-Real-Ip": "203.0.113.7",
			},
			want: map[string]string{
				"X-Forwarded-For": "203.0.113.7, 127.0.0.1", "X-Forwarded-Host": testHost,
				"X-Forwarded-Proto": "https", "X-Real-Ip": "203.0.113.7",
			},
		},
		{
			name:    "a trusted proxy that sent none gets them derived",
			trusted: loopback,
			want: map[string]string{
				"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Host": testHost, "X-Forwarded-Proto": "http",
			},
		},
		{
			name: "an untrusted peer's forged headers are replaced",
			in: map[string]string{
				"X-Forwarded-For": "10.9.9.9", "X-Forwarded-Host": "evil.example",
				"X-Forwarded-Proto": "https", "X-Real-Ip": "10.9.9.9",
			},
			want: map[string]string{
				"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Host": testHost,
				"X-Forwarded-Proto": "http", "X-Real-Ip": "127.0.0.1",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen := make(chan *http.Request, 1)
			e := newEnv(t, envOptions{
				delay: 50 * time.Millisecond,
				hold:  hold.Options{TrustedProxies: tc.trusted},
				backend: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					seen <- r.Clone(context.Background())
					w.WriteHeader(http.StatusCreated)
				}),
			})
			req := e.request(context.Background(), http.MethodPut, testHost, "/api/v1/items/7?x=1&y=2", strings.NewReader("{}"))
			req.Header.Set("X-Custom", "kept")
			req.Header.Set("Authorization", "Bearer t0k3n")
			for k, v := range tc.in {
				req.Header.Set(k, v)
			}
			status, _, body, err := e.do(req)
			if err != nil || status != http.StatusCreated {
				t.Fatalf("status %d, err %v: %s", status, err, body)
			}
			got := <-seen
			if got.Method != http.MethodPut || got.Host != testHost || got.URL.RequestURI() != "/api/v1/items/7?x=1&y=2" {
				t.Errorf("backend saw %s %s with Host %q, want PUT /api/v1/items/7?x=1&y=2 and Host %s",
					got.Method, got.URL.RequestURI(), got.Host, testHost)
			}
			if got.Header.Get("X-Custom") != "kept" || got.Header.Get("Authorization") != "Bearer t0k3n" {
				t.Errorf("end-to-end headers lost: %v", got.Header)
			}
			for k, v := range tc.want {
				if g := strings.Join(got.Header.Values(k), ", "); g != v {
					t.Errorf("backend saw %s %q, want %q", k, g, v)
				}
			}
		})
	}
}

func TestStreamingResponseArrivesIncrementally(t *testing.T) {
	next := make(chan struct{})
	e := newEnv(t, envOptions{
		delay: 50 * time.Millisecond,
		backend: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte("first\n"))
			http.NewResponseController(w).Flush()
			// The second part exists only after the client has read the
			// first: a proxy that buffered the answer would deadlock here.
			select {
			case <-next:
			case <-r.Context().Done():
				return
			case <-time.After(10 * time.Second):
				return
			}
			_, _ = w.Write([]byte("second\n"))
		}),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := e.client.Do(e.request(ctx, http.MethodGet, testHost, "/stream", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewReader(resp.Body)
	firstAt := make(chan string, 1)
	go func() {
		l, _ := lines.ReadString('\n')
		firstAt <- l
	}()
	select {
	case l := <-firstAt:
		if l != "first\n" {
			t.Fatalf("first line %q", l)
		}
	case <-time.After(5 * time.Second):
		close(next)
		t.Fatal("the first part did not arrive before the backend finished: the response is buffered, not streamed")
	}
	close(next)
	if l, err := lines.ReadString('\n'); err != nil || l != "second\n" {
		t.Errorf("second line %q, %v", l, err)
	}
}

func TestForwardCapPerHostLimitsConcurrentBackendRequests(t *testing.T) {
	const capacity, n = 4, 40
	var inFlight, peak atomic.Int64
	e := newEnv(t, envOptions{
		delay: 100 * time.Millisecond,
		hold:  hold.Options{MaxForwardPerHost: capacity},
		backend: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			now := inFlight.Add(1)
			defer inFlight.Add(-1)
			for {
				p := peak.Load()
				if now <= p || peak.CompareAndSwap(p, now) {
					break
				}
			}
			// Stay busy a moment so concurrent requests overlap.
			select {
			case <-time.After(20 * time.Millisecond):
			case <-r.Context().Done():
			}
		}),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, _, _, err := e.do(e.request(ctx, http.MethodPost, testHost, "/work", strings.NewReader("job")))
			if err != nil || status != http.StatusOK {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Errorf("%d requests failed", failed.Load())
	}
	if p := peak.Load(); p > capacity || p < 2 {
		t.Errorf("backend saw up to %d concurrent requests, want between 2 and the cap %d", p, capacity)
	}
	t.Logf("peak concurrent forwarded requests: %d (cap %d)", peak.Load(), capacity)
}

func TestOpenStreamDoesNotKeepItsForwardSlot(t *testing.T) {
	end := make(chan struct{})
	e := newEnv(t, envOptions{
		running: true,
		hold:    hold.Options{MaxForwardPerHost: 1},
		backend: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/events" {
				echoHandler().ServeHTTP(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = w.Write([]byte("data: hello\n\n"))
			http.NewResponseController(w).Flush()
			select {
			case <-end:
			case <-r.Context().Done():
			}
		}),
	})
	t.Cleanup(func() { close(end) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := e.client.Do(e.request(ctx, http.MethodGet, testHost, "/events", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if l, err := bufio.NewReader(stream.Body).ReadString('\n'); err != nil || l != "data: hello\n" {
		t.Fatalf("stream: %q, %v", l, err)
	}
	// The stream is open; with one forward slot, another request still goes through.
	status, _, body, err := e.do(e.request(ctx, http.MethodPost, testHost, "/echo", strings.NewReader("next")))
	if err != nil || status != http.StatusOK || string(body) != "next" {
		t.Errorf("request beside an open stream: status %d, err %v, body %q", status, err, body)
	}
}

func TestHeldUpgradeBecomesATunnel(t *testing.T) {
	e := newEnv(t, envOptions{
		delay: 50 * time.Millisecond,
		hold:  hold.Options{MaxForwardPerHost: 1},
		backend: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Upgrade") != "echo" {
				http.Error(w, "upgrade to echo expected", http.StatusBadRequest)
				return
			}
			conn, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
			_ = rw.Flush()
			line, err := rw.ReadString('\n')
			if err != nil {
				return
			}
			_, _ = rw.WriteString("echo " + line)
			_ = rw.Flush()
		}),
	})
	conn, err := net.DialTimeout("tcp", e.front.Listener.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = conn.Write([]byte("GET /socket HTTP/1.1\r\nHost: " + testHost + "\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade answer %v, %v; want 101", resp, err)
	}
	if _, err := conn.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	if l, err := br.ReadString('\n'); err != nil || l != "echo ping\n" {
		t.Errorf("through the tunnel: %q, %v", l, err)
	}
	// The open tunnel does not keep the host's only forward slot.
	status, _, body, err := e.do(e.request(context.Background(), http.MethodGet, testHost, "/", nil))
	if err != nil || status != http.StatusBadRequest {
		t.Errorf("request beside the tunnel: status %d, err %v, %s", status, err, body)
	}
}

func TestRefusedConnectionRightAfterReadyIsRetried(t *testing.T) {
	// An address nobody listens on yet: the "backend" binds it a moment
	// after the controller already reports running.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	backendURL := &url.URL{Scheme: "http", Host: addr}

	e := newEnv(t, envOptions{
		noReadyURL: true, // provider status "running" is readiness
		running:    true,
		hold:       hold.Options{Backend: func(controller.Host) (*url.URL, error) { return backendURL, nil }},
	})
	late := httptest.NewUnstartedServer(echoHandler())
	t.Cleanup(late.Close)
	go func() {
		time.Sleep(150 * time.Millisecond) // the late bind is the scenario, not a wait for a condition
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("binding the late backend: %v", err)
			return
		}
		late.Listener = ln
		late.Start()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	status, _, body, err := e.do(e.request(ctx, http.MethodPost, testHost, "/late", strings.NewReader("replayed body")))
	if err != nil || status != http.StatusOK || string(body) != "replayed body" {
		t.Errorf("status %d, err %v, body %q; want the late backend's echo", status, err, body)
	}
}

func TestBackendThatNeverAnswersGets502(t *testing.T) {
	dead := deadURL(t)
	e := newEnv(t, envOptions{
		noReadyURL: true, running: true, quietLogs: true,
		hold: hold.Options{Backend: func(controller.Host) (*url.URL, error) { return dead, nil }},
	})
	calls := e.prov.StatusCalls()
	start := time.Now()
	status, h, body, err := e.do(e.request(context.Background(), http.MethodGet, testHost, "/", nil))
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusBadGateway || h.Get("Retry-After") == "" || decodeRefusal(t, body).Reason != hold.ReasonBackendError {
		t.Errorf("status %d, body %s; want 502 backend_error with Retry-After", status, body)
	}
	// Recorded running, yet not answering: the controller re-reads it now.
	if e.prov.StatusCalls() == calls {
		t.Errorf("the backend was not re-read (no provider Status call)")
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("took %s: retries should be quick", el)
	}
}

func TestDefaultBackendUsesProviderAddress(t *testing.T) {
	// ready_url names {internal_ip}: the backend address comes from the
	// provider's live status, as in the generated Traefik configuration.
	e := newEnv(t, envOptions{
		delay:  20 * time.Millisecond,
		status: controller.Status{InternalIP: "127.0.0.1"},
	})
	// newEnv's ready_url is the backend's literal address; rebuild the
	// registry with a placeholder in its place.
	port := e.backend.Listener.Addr().(*net.TCPAddr).Port
	h, _ := e.ctl.Registry().Lookup(testHost)
	h.ReadyURL = "http://{internal_ip}:" + strconv.Itoa(port) + "/healthz"
	e.ctl.Registry().Replace([]controller.Host{h}, e.ctl.Registry().Providers())

	status, hdr, body, err := e.do(e.request(context.Background(), http.MethodPost, testHost, "/addr", strings.NewReader("via status")))
	if err != nil || status != http.StatusOK || string(body) != "via status" || hdr.Get("X-Echo-Path") != "/addr" {
		t.Errorf("status %d, err %v, body %q", status, err, body)
	}
}

func TestRunningHostIsForwardedWithoutWaiting(t *testing.T) {
	e := newEnv(t, envOptions{running: true})
	start := time.Now()
	status, _, body, err := e.do(e.request(context.Background(), http.MethodPost, testHost, "/", strings.NewReader("now")))
	if err != nil || status != http.StatusOK || string(body) != "now" {
		t.Fatalf("status %d, err %v, body %q", status, err, body)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("a running host's request took %s", el)
	}
	// Held requests count as activity.
	_, rec, err := e.ctl.Status(context.Background(), testHost)
	if err != nil || rec.ActivitySource != "hold" {
		t.Errorf("last activity %q (%v), want hold", rec.ActivitySource, err)
	}
}

func TestHeadGetsHeadersOnly(t *testing.T) {
	e := newEnv(t, envOptions{never: true, holdTimeout: 200 * time.Millisecond})
	resp, err := e.client.Do(e.request(context.Background(), http.MethodHead, testHost, "/", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b [1]byte
	if n, _ := resp.Body.Read(b[:]); n != 0 || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("HEAD: status %d with %d body bytes; want 503 without a body", resp.StatusCode, n)
	}
}
